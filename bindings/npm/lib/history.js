"use strict";
/** History commands: `avfs log|checkout|revert` and `avfs diff PATH --v1 N [--v2 M]`. */

const { RUNNER } = require("./runner");
const { camelize, toResult } = require("./convert");
const { versionArg } = require("./args");

/** Methods of AVFS for file history. */
const historyMethods = {
  /** The versions of the file at `path`, oldest first (an existing directory: none). */
  async log(path) {
    const { doc } = await this[RUNNER].json(["log", "--", path]);
    return camelize(doc.versions);
  },

  /** Gives the file version `version`'s content again, as a new version; recreates a deleted file. */
  async checkout(path, version) {
    const { doc } = await this[RUNNER].json(["checkout", "--version", versionArg(version), "--", path]);
    return toResult(doc);
  },

  /** Undoes the newest change of the file: back to the version before it, or removed (`entry` null). */
  async revert(path) {
    const { doc } = await this[RUNNER].json(["revert", "--", path]);
    return toResult(doc);
  },

  /** A unified diff between two versions of one file (`v2` default: the newest). */
  async diffVersions(path, v1, v2) {
    const args = ["diff", "--v1", versionArg(v1, "v1"), ...(v2 === undefined ? [] : ["--v2", versionArg(v2, "v2")])];
    const { doc } = await this[RUNNER].json([...args, "--", path]);
    return toResult(doc);
  },
};

module.exports = { historyMethods };
