// Shared test setup: the avfs binary from AVFS_BIN, and a private store per test.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { AVFS } from "../index.mjs";
import { validateForArgs } from "./schema-check.mjs";

// Every document the wrapper parses is first checked against docs/schema.
const { Runner } = createRequire(import.meta.url)("../lib/runner.js");
const parseAndReturn = Runner.prototype.json;
Runner.prototype.json = async function validatingJson(args, options) {
  // Stand-in binaries (tests of the wrapper's own error handling) are not avfs.
  if (this.binary !== BINARY) return parseAndReturn.call(this, args, options);
  let result;
  try {
    result = await parseAndReturn.call(this, args, options);
  } catch (err) {
    if (err && err.raw && typeof err.raw === "object" && err.command) validateForArgs(err.command, err.raw);
    throw err;
  }
  validateForArgs(result.args, result.doc);
  return result;
};

/** The avfs binary under test (required: these tests drive the real binary). */
export const BINARY = process.env.AVFS_BIN;
if (!BINARY) {
  throw new Error("AVFS_BIN is not set: point it at the avfs binary to test (e.g. AVFS_BIN=target/release/avfs)");
}

const cleanupStacks = new WeakMap();

/**
 * Runs `cleanup` when test `t` ends, last registered first (node:test runs
 * `after` hooks first registered first): a mount made in a store is unmounted
 * before the store's directory is removed.
 */
export function defer(t, cleanup) {
  let stack = cleanupStacks.get(t);
  if (!stack) {
    stack = [];
    cleanupStacks.set(t, stack);
    t.after(async () => {
      while (stack.length > 0) await stack.pop()();
    });
  }
  stack.push(cleanup);
}

/** A temporary directory removed when test `t` ends. */
export async function tempDir(t, prefix = "agentvfs-test-") {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An AVFS on a fresh private store (its own AVFS_HOME) with vault `name` created. */
export async function freshVault(t, name = "work") {
  const home = await tempDir(t, "agentvfs-home-");
  const avfs = new AVFS(name, { binary: BINARY, home });
  await avfs.createVault(name);
  return { avfs, home };
}

/** The rejection of `promise`, failing when it resolves. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

/** Stable fields of an entry (times and inode numbers vary from run to run). */
export function entryShape({ path, kind, mode, size, hash, target }) {
  return { path, kind, mode, size, hash, target };
}

const fuseMissing = !existsSync("/dev/fuse");

/** The `skip` option of tests that mount: a reason only when FUSE is missing and skipping was asked for. */
export const SKIP_WITHOUT_FUSE = fuseMissing && process.env.AVFS_SKIP_FUSE_TESTS === "1"
  ? "/dev/fuse is missing and AVFS_SKIP_FUSE_TESTS=1: test skipped"
  : false;

/** Fails, saying why and what to do, when FUSE is missing (and skipping was not asked for). */
export function assertFuse() {
  if (fuseMissing && !SKIP_WITHOUT_FUSE) {
    throw new Error("/dev/fuse is missing: this test mounts with FUSE. Run where /dev/fuse exists, or set AVFS_SKIP_FUSE_TESTS=1 to skip such tests explicitly");
  }
}
