"use strict";
/** Mount commands: `avfs mount|unmount|mounts`, and a mount that always ends. */

const fs = require("node:fs/promises");
const os = require("node:os");
const path = require("node:path");
const { RUNNER } = require("./runner");
const { toResult } = require("./convert");
const { errorClasses } = require("./errors");

/** Methods of AVFS for FUSE mounts. */
const mountMethods = {
  /**
   * Mounts the vault (or, with `checkpoint`, one of its checkpoints, read-only)
   * on an existing empty directory; resolves once the mount is live.
   */
  async mount(dir, { readonly = false, checkpoint } = {}) {
    const args = ["mount", ...(readonly ? ["--readonly"] : [])];
    if (checkpoint !== undefined) args.push("--checkpoint", checkpoint);
    const vault = this.vault === null ? [] : [this.vault];
    const { doc } = await this[RUNNER].json([...args, "--", ...vault, dir]);
    return toResult(doc);
  },

  /** Unmounts, once everything written is committed (`lazy`: detach even while files are open). */
  async unmount(dir, { lazy = false } = {}) {
    const { doc } = await this[RUNNER].json(["unmount", ...(lazy ? ["--lazy"] : []), "--", dir]);
    return toResult(doc);
  },

  /** Live mounts of the store (`cleaned`: dead mounts this call detached). */
  async mounts() {
    const { doc } = await this[RUNNER].json(["mounts"]);
    return toResult(doc);
  },

  /**
   * Mounts on `dir` (or, when `dir` is left out, a new temporary directory,
   * removed afterwards), calls `use(mount)`, and unmounts whatever happens,
   * lazily if files are still open; resolves with what `use` returned.
   * Call as `withMount(dir, use, options)` or `withMount(use, options)`.
   */
  async withMount(...args) {
    const [dir, use, options = {}] = typeof args[0] === "function" ? [null, ...args] : args;
    if (typeof use !== "function") throw new TypeError("withMount takes a function to call while mounted");
    if (dir !== null) return mountAndUse(this, dir, use, options);
    const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), "agentvfs-mount-"));
    try {
      return await mountAndUse(this, tempDir, use, options);
    } finally {
      // rmdir, never a recursive rm: were the vault still mounted there, that
      // would delete its files.
      await fs.rmdir(tempDir).catch(() => {});
    }
  },
};

/** Mounts on `dir`, calls `use(mount)`, and unmounts whatever happens. */
async function mountAndUse(avfs, dir, use, options) {
  const mount = await avfs.mount(dir, options);
  let result;
  try {
    result = await use(mount);
  } catch (err) {
    await unmountEventually(avfs, dir).catch(() => {}); // the caller's error matters more
    throw err;
  }
  await unmountEventually(avfs, dir);
  return result;
}

/** Unmounts `dir`; when files inside are still open, detaches it lazily instead of leaving it mounted. */
async function unmountEventually(avfs, dir) {
  try {
    return await avfs.unmount(dir);
  } catch (err) {
    if (!(err instanceof errorClasses.mount_busy)) throw err;
    return avfs.unmount(dir, { lazy: true });
  }
}

module.exports = { mountMethods };
