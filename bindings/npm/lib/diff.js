"use strict";
/** `avfs diff`: what changed between two states. */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");

/** Methods of AVFS for diffs. */
const diffMethods = {
  /**
   * Changes from `from` (default: the latest checkpoint) to `to` (default: now),
   * only at or below `paths` when given. References: `CHECKPOINT`, `vault:NAME`,
   * `vault:NAME@CHECKPOINT`.
   */
  async diff({ from, to, paths = [] } = {}) {
    const args = ["diff"];
    if (from !== undefined) args.push("--from", from);
    if (to !== undefined) args.push("--to", to);
    const { doc } = await this[RUNNER].json([...args, "--", ...paths]);
    return toResult(doc);
  },
};

module.exports = { diffMethods };
