"use strict";
/** `avfs diff`: what changed between two states. */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");

/** Methods of AVFS for diffs. */
const diffMethods = {
  /**
   * Changes from `from` (default: the latest checkpoint) to `to` (default: now),
   * only at or below `paths` when given. References: `CHECKPOINT`, `vault:NAME`,
   * `vault:NAME@CHECKPOINT`. `patch`: add a unified diff to each change (null
   * for directories, symlinks, binary or huge files). Versions of one file: `diffVersions`.
   */
  async diff({ from, to, paths = [], patch = false } = {}) {
    const args = ["diff", ...(patch ? ["--patch"] : [])];
    if (from !== undefined) args.push("--from", from);
    if (to !== undefined) args.push("--to", to);
    const { doc } = await this[RUNNER].json([...args, "--", ...paths]);
    return toResult(doc);
  },
};

module.exports = { diffMethods };
