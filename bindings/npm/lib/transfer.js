"use strict";
/** Host transfer commands: `avfs import` and `avfs export`. */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");

/** Methods of AVFS for copying between the host and a vault. */
const transferMethods = {
  /** Copies a host directory into the vault at `dest` (default `/`), keeping modes, symlinks, hard links and mtimes. */
  async importDir(hostDir, dest = "/") {
    const { doc } = await this[RUNNER].json(["import", "--", hostDir, dest]);
    return toResult(doc);
  },

  /** Copies a vault path out to a new host path (`force`: into an existing non-empty directory, replacing files). */
  async export(src, hostPath, { force = false } = {}) {
    const { doc } = await this[RUNNER].json(["export", ...(force ? ["--force"] : []), "--", src, hostPath]);
    return toResult(doc);
  },
};

module.exports = { transferMethods };
