"use strict";
/** File commands: `avfs mkdir|write|cat|ls|tree|stat|cp|mv|rm`. */

const { RUNNER } = require("./runner");
const { camelize, toResult } = require("./convert");
const { errorClasses } = require("./errors");
const { versionArg } = require("./args");

/** Permission bits as avfs takes them (octal digits): 0o644 and "644" both give "644". */
function octal(mode) {
  return typeof mode === "number" ? mode.toString(8) : String(mode);
}

/** The bytes to write: a string as UTF-8, a Buffer or other Uint8Array as is. */
function contentBytes(content) {
  if (typeof content === "string") return Buffer.from(content, "utf8");
  if (content instanceof Uint8Array) return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  throw new TypeError("content must be a string, a Buffer or a Uint8Array");
}

/** One path or several, as an array. */
function pathList(paths) {
  return Array.isArray(paths) ? paths : [paths];
}

/** Methods of AVFS for files and directories. */
const fileMethods = {
  /** Creates directories (`parents`: also missing parents, no error if one exists); one entry per path. */
  async mkdir(paths, { parents = false, mode } = {}) {
    const args = ["mkdir", ...(parents ? ["--parents"] : []), ...(mode === undefined ? [] : ["--mode", octal(mode)])];
    const { doc } = await this[RUNNER].json([...args, "--", ...pathList(paths)]);
    return camelize(doc.entries);
  },

  /**
   * Writes a file from a string (UTF-8) or bytes; `append`; `parents` (default
   * true, as in the Python wrapper: missing directories are created); `mode` of a new file.
   */
  async write(path, content, { append = false, parents = true, mode } = {}) {
    const args = ["write"];
    if (append) args.push("--append");
    if (parents) args.push("--parents");
    if (mode !== undefined) args.push("--mode", octal(mode));
    // Content goes through stdin: any size, any bytes, nothing on the command line.
    const { doc } = await this[RUNNER].json([...args, "--", path], { input: contentBytes(content) });
    return toResult(doc, doc.entry);
  },

  /**
   * Reads a file's bytes, of any size (plain `avfs cat` streams them); with
   * `version`, that version of the file (see `log`), even after its deletion.
   */
  async readBytes(path, { version } = {}) {
    const args = ["cat", ...(version === undefined ? [] : ["--version", versionArg(version)])];
    return this[RUNNER].bytes([...args, "--", path]);
  },

  /** agentvfs's name for `readText`: a file's content as UTF-8 text. */
  async cat(path, options = {}) {
    return this.readText(path, options);
  },

  /** Reads a file (or, with `version`, that version) as UTF-8 text (bytes that are not UTF-8 become U+FFFD, as in `fs.readFile(f, "utf8")`). */
  async readText(path, { version } = {}) {
    return (await this.readBytes(path, { version })).toString("utf8");
  },

  /** Lists a directory (default `/`); a file lists itself. */
  async ls(path = "/") {
    const { doc } = await this[RUNNER].json(["ls", "--", path]);
    return camelize(doc.entries);
  },

  /** Every entry under `path` (default `/`), depth-first, parents first, names in byte order. */
  async tree(path = "/") {
    const { doc } = await this[RUNNER].json(["tree", "--", path]);
    return camelize(doc.entries);
  },

  /** A path's attributes (symlinks are not followed). */
  async stat(path) {
    const { doc } = await this[RUNNER].json(["stat", "--", path]);
    return toResult(doc, doc.entry);
  },

  /** Whether `path` exists (a symlink exists even when its target does not). */
  async exists(path) {
    try {
      await this.stat(path);
      return true;
    } catch (err) {
      if (err instanceof errorClasses.path_not_found) return false;
      throw err;
    }
  },

  /** Copies a file, or a directory with `recursive`; content is shared, not duplicated. Returns the copy. */
  async cp(src, dst, { recursive = false } = {}) {
    const { doc } = await this[RUNNER].json(["cp", ...(recursive ? ["--recursive"] : []), "--", src, dst]);
    return toResult(doc, doc.entry);
  },

  /** Moves or renames a path (into `dst` if it is a directory); returns where from and the entry at its new path. */
  async mv(src, dst) {
    const { doc } = await this[RUNNER].json(["mv", "--", src, dst]);
    return toResult(doc);
  },

  /** Removes paths (`recursive` for directories, `force` to skip missing ones); returns what was removed. */
  async rm(paths, { recursive = false, force = false } = {}) {
    const args = ["rm", ...(recursive ? ["--recursive"] : []), ...(force ? ["--force"] : [])];
    const { doc } = await this[RUNNER].json([...args, "--", ...pathList(paths)]);
    return camelize(doc.removed);
  },
};

module.exports = { fileMethods };
