"use strict";
/**
 * The AVFS class: settings (binary, store, vault) plus the methods of each
 * command family, each family in its own module. A new command family is a
 * module of methods and one line in the list below.
 */

const { resolveBinary } = require("./binary");
const { Runner, RUNNER } = require("./runner");
const { vaultMethods } = require("./vaults");
const { fileMethods } = require("./files");
const { transferMethods } = require("./transfer");
const { checkpointMethods } = require("./checkpoints");
const { diffMethods } = require("./diff");
const { policyMethods } = require("./policy");
const { proxyMethods } = require("./proxy");
const { mountMethods } = require("./mounts");
const { historyMethods } = require("./history");
const { searchMethods } = require("./search");
const { maintenanceMethods } = require("./maintenance");
const { remoteMethods } = require("./remotes");

/** A handle on an avfs store and (optionally) one vault in it; every method runs the avfs binary. */
class AVFS {
  /**
   * @param {string|null} [vault] the vault commands work on (`--vault`); default:
   *   `AVFS_VAULT`, else the store's current vault
   * @param {{binary?: string, home?: string, env?: Record<string, string>}} [options]
   *   `binary`: the avfs binary (default: `AVFS_BIN`, else `avfs` on PATH);
   *   `home`: the store directory (`AVFS_HOME`); `env`: more environment for avfs
   */
  constructor(vault = null, { binary, home, env = {} } = {}) {
    if (vault !== null && typeof vault !== "string") throw new TypeError("vault must be a string or null");
    const fullEnv = { ...process.env, ...env, ...(home === undefined ? {} : { AVFS_HOME: home }) };
    Object.defineProperty(this, RUNNER, {
      value: new Runner({ binary: resolveBinary(binary, fullEnv), env: fullEnv, vault }),
    });
  }

  /** The vault this object works on, or null for the default one. */
  get vault() {
    return this[RUNNER].vault;
  }

  /** The avfs binary this object runs (an absolute path). */
  get binary() {
    return this[RUNNER].binary;
  }

  /** The same settings, working on another vault (e.g. a fork). */
  forVault(vault) {
    if (typeof vault !== "string") throw new TypeError("vault must be a string");
    const { binary, env } = this[RUNNER];
    const other = Object.create(AVFS.prototype);
    Object.defineProperty(other, RUNNER, { value: new Runner({ binary, env, vault }) });
    return other;
  }
}

Object.assign(
  AVFS.prototype,
  vaultMethods,
  fileMethods,
  transferMethods,
  checkpointMethods,
  diffMethods,
  policyMethods,
  proxyMethods,
  mountMethods,
  historyMethods,
  searchMethods,
  maintenanceMethods,
  remoteMethods,
);

module.exports = { AVFS };
