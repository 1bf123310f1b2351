"use strict";
/** Vault commands: `avfs vault create|list|info|use|delete|fork`. */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");

/** Methods of AVFS for vaults. */
const vaultMethods = {
  /** Creates an empty vault (`{use: true}` makes it the current vault). */
  async createVault(name, { use = false } = {}) {
    const { doc } = await this[RUNNER].json(["vault", "create", ...(use ? ["--use"] : []), "--", name]);
    return toResult(doc, doc.vault);
  },

  /** Lists every vault of the store, and which one is current. */
  async listVaults() {
    const { doc } = await this[RUNNER].json(["vault", "list"]);
    return toResult(doc);
  },

  /** Shows one vault (default: this object's vault, else the current one). */
  async vaultInfo(name) {
    const { doc } = await this[RUNNER].json(["vault", "info", ...(name === undefined ? [] : ["--", name])]);
    return toResult(doc, doc.vault);
  },

  /** Makes a vault the store's current vault; returns its name. */
  async useVault(name) {
    const { doc } = await this[RUNNER].json(["vault", "use", "--", name]);
    return doc.current;
  },

  /** Deletes a vault and its checkpoints (its forks keep their data); returns its name. */
  async deleteVault(name) {
    const { doc } = await this[RUNNER].json(["vault", "delete", "--", name]);
    return doc.deleted;
  },

  /** Forks `source` into a new vault `name`, in O(1); returns the fork. */
  async forkVault(source, name, { use = false } = {}) {
    const { doc } = await this[RUNNER].json(["vault", "fork", ...(use ? ["--use"] : []), "--", source, name]);
    return toResult(doc, doc.vault);
  },

  /**
   * Merges fork `source` into `into` (default: the vault it was forked from, else
   * this object's vault): fast-forward or three-way by path, after a `pre-merge-N`
   * checkpoint. With conflicts and `onConflict` "keep" (default) nothing is merged
   * and it rejects with MergeConflict (`err.raw.error.merge` lists them).
   */
  async mergeVault(source, { into, dryRun = false, onConflict } = {}) {
    const flags = [];
    if (into !== undefined) flags.push("--into", into);
    if (dryRun) flags.push("--dry-run");
    if (onConflict !== undefined) flags.push("--on-conflict", onConflict);
    const { doc } = await this[RUNNER].json(["vault", "merge", ...flags, "--", source]);
    return toResult(doc);
  },
};

module.exports = { vaultMethods };
