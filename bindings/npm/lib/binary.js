"use strict";
/** Finding the avfs binary: the `binary` option, else `AVFS_BIN`, else `avfs` on `PATH`. */

const fs = require("node:fs");
const path = require("node:path");
const { BinaryNotFound } = require("./errors");

/** True when `file` is a regular file this process may execute. */
function isExecutableFile(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The absolute path of `name` in the `PATH` directories, or null. A name with
 * a slash is a path already, as for a shell.
 * @param {string} name
 * @param {string} [searchPath]
 */
function which(name, searchPath = process.env.PATH || "") {
  if (name.includes("/")) return isExecutableFile(name) ? path.resolve(name) : null;
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * The avfs binary to run. Resolved once, so a missing binary fails when the
 * AVFS object is made, not in the middle of an agent's work.
 * @param {string} [binary] the `binary` option: a path, or a name to find on PATH
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string}
 */
function resolveBinary(binary, env = process.env) {
  const [wanted, source] =
    binary ? [binary, "the binary option"] : env.AVFS_BIN ? [env.AVFS_BIN, "AVFS_BIN"] : ["avfs", "PATH"];
  const found = which(wanted, env.PATH || "");
  if (found) return found;
  throw new BinaryNotFound(
    source === "PATH"
      ? "avfs binary not found: pass {binary: \"/path/to/avfs\"}, set AVFS_BIN, or put avfs on PATH"
      : `avfs binary not found: ${JSON.stringify(wanted)} (from ${source}) is not an executable file`,
  );
}

module.exports = { resolveBinary, which };
