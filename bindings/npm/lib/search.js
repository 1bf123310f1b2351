"use strict";
/** Searching a vault: `avfs grep|find|search`. */

const { RUNNER } = require("./runner");
const { camelize, toResult } = require("./convert");
const { sizeArg, countArg } = require("./args");

/** `find --type` letters, from the letters themselves or the entry kinds results use. */
const FIND_TYPES = { f: "f", d: "d", l: "l", file: "f", dir: "d", symlink: "l" };

/** Methods of AVFS for grep, find and full-text search. */
const searchMethods = {
  /**
   * Lines matching a regular expression (Rust `regex` syntax) in the files at
   * or below `path` (default `/`). `ignoreCase`; `filesOnly`: only list
   * the files (`matches` empty). No match is not an error.
   */
  async grep(pattern, path = "/", { ignoreCase = false, filesOnly = false } = {}) {
    const args = ["grep", ...(ignoreCase ? ["--ignore-case"] : []), ...(filesOnly ? ["--files-with-matches"] : [])];
    const { doc } = await this[RUNNER].json([...args, "--", pattern, path]);
    return toResult(doc);
  },

  /**
   * Entries at or below `path` (default `/`) passing every filter given: `name`
   * (a glob on the entry's name), `type` ("f"/"file", "d"/"dir", "l"/"symlink"),
   * `minSize`/`maxSize` (files only; bytes or "10K", "1MiB"), `maxDepth` (0: `path` itself).
   */
  async find(path = "/", { name, type, minSize, maxSize, maxDepth } = {}) {
    const args = ["find"];
    if (name !== undefined) args.push("--name", name);
    if (type !== undefined) {
      if (!Object.hasOwn(FIND_TYPES, type)) throw new TypeError(`type must be "f", "d", "l", "file", "dir" or "symlink", got ${String(type)}`);
      args.push("--type", FIND_TYPES[type]);
    }
    if (minSize !== undefined) args.push("--min-size", sizeArg(minSize, "minSize"));
    if (maxSize !== undefined) args.push("--max-size", sizeArg(maxSize, "maxSize"));
    if (maxDepth !== undefined) args.push("--max-depth", countArg(maxDepth, "maxDepth"));
    const { doc } = await this[RUNNER].json([...args, "--", path]);
    return camelize(doc.entries);
  },

  /**
   * Text files ranked for a full-text query (FTS5: words, "exact phrases",
   * AND/OR/NOT, prefix*), best first, at most `limit` (avfs default: 20).
   */
  async search(query, { limit } = {}) {
    const args = ["search", ...(limit === undefined ? [] : ["--limit", countArg(limit, "limit")])];
    const { doc } = await this[RUNNER].json([...args, "--", query]);
    return camelize(doc.results);
  },
};

module.exports = { searchMethods };
