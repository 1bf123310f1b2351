// Error mapping: one class per documented code, under its exit-status class.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import {
  AVFS, AVFSError, BadInput, NotFound, Conflict, StorageFailure, InternalError, Interrupted,
  VaultNotFound, VaultExists, InvalidName, UsageError, BinaryNotFound, ProtocolError, errorClasses,
} from "../index.mjs";
import { errorFromDocument } from "../lib/errors.js";
import { BINARY, freshVault, rejection, tempDir } from "./support.mjs";

const CATEGORY_BY_STATUS = { 1: InternalError, 2: BadInput, 3: NotFound, 4: Conflict, 5: StorageFailure, 130: Interrupted };

/** `{code: exitStatus}` from the exit-status table of docs/json.md (the contract's own list). */
async function documentedCodes() {
  const doc = await readFile(new URL("../../../docs/json.md", import.meta.url), "utf8");
  const codes = {};
  for (const [, status, cells] of doc.matchAll(/^\| (\d+) \| [^|]+ \| ([^|]*) \|$/gm)) {
    for (const [, code] of cells.matchAll(/`([a-z_]+)`/g)) codes[code] = Number(status);
  }
  return codes;
}

/** The codes of the history, search and quota commands, each with a call that makes the real binary raise it. */
const PROVOKE = {
  invalid_pattern: (avfs) => avfs.grep("(unclosed"),
  invalid_query: (avfs) => avfs.search("AND AND"),
  version_not_found: (avfs) => avfs.readText("/f", { version: 99 }),
  version_deleted: async (avfs) => {
    await avfs.rm("/gone");
    return avfs.readText("/gone", { version: 2 });
  },
  nothing_to_revert: async (avfs) => {
    await avfs.prune({ keepVersions: 1 });
    return avfs.revert("/f");
  },
  quota_exceeded: async (avfs) => {
    await avfs.quotaSet({ maxFiles: 2 });
    return avfs.write("/third", "x");
  },
  file_too_large: async (avfs) => {
    await avfs.quotaSet({ maxFileSize: 4 });
    return avfs.write("/f", "too large");
  },
};

/** The PascalCase class name of a code. */
function pascal(code) {
  return code.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
}

test("every code documented in docs/json.md has a class, under its exit status's class", async () => {
  const documented = await documentedCodes();
  assert.ok(Object.keys(documented).length >= 30, "the table was not parsed");
  for (const [code, status] of Object.entries(documented)) {
    const ErrorClass = errorClasses[code];
    assert.ok(ErrorClass, `no class for the documented code ${code}`);
    assert.equal(ErrorClass.name, pascal(code));
    const Category = CATEGORY_BY_STATUS[status];
    // `interrupted` is a category of its own.
    assert.ok(ErrorClass === Category || ErrorClass.prototype instanceof Category, `${code} is not under exit status ${status}`);
    assert.ok(ErrorClass.prototype instanceof AVFSError);
  }
});

test("every error class this package has is a code docs/json.md documents", async () => {
  const documented = await documentedCodes();
  const undocumented = Object.keys(errorClasses).filter((code) => !(code in documented));
  assert.deepEqual(undocumented, []);
});

test("the history, search and quota codes come from the real binary with their documented exit status", async (t) => {
  const documented = await documentedCodes();
  for (const [code, provoke] of Object.entries(PROVOKE)) {
    const { avfs } = await freshVault(t);
    await avfs.write("/f", "one");
    await avfs.write("/f", "two");
    await avfs.write("/gone", "x");
    const err = await rejection(provoke(avfs));
    assert.equal(err.code, code);
    assert.ok(err instanceof errorClasses[code], `${code}: ${err.name}`);
    assert.equal(err.exitStatus, documented[code], `${code}'s exit status`);
  }
});

test("an error document becomes its class with code, message, exit status, hint and raw", () => {
  const doc = { error: { code: "vault_exists", message: "vault 'a' exists", exit_status: 4, hint: "pick another name" } };
  const err = errorFromDocument(doc, ["vault", "create", "a"]);
  assert.ok(err instanceof VaultExists && err instanceof Conflict && err instanceof Error);
  assert.deepEqual(
    { name: err.name, code: err.code, message: err.message, exitStatus: err.exitStatus, hint: err.hint, raw: err.raw, command: err.command },
    { name: "VaultExists", code: "vault_exists", message: "vault 'a' exists", exitStatus: 4, hint: "pick another name", raw: doc, command: ["vault", "create", "a"] },
  );
});

test("a code newer than this package falls back to the class of its exit status", () => {
  const err = errorFromDocument({ error: { code: "some_future_conflict", message: "m", exit_status: 4 } }, []);
  assert.equal(err.constructor, Conflict);
  assert.equal(err.code, "some_future_conflict");
  assert.equal(err.hint, null);
  assert.equal(errorFromDocument({ error: { code: "bug", message: "m", exit_status: 1 } }, []).constructor, InternalError);
  assert.equal(errorFromDocument({ error: { code: "odd", message: "m", exit_status: 9 } }, []).constructor, AVFSError);
});

test("a missing vault rejects with VaultNotFound from the real binary", async (t) => {
  const { avfs } = await freshVault(t);
  const err = await rejection(avfs.forVault("nope").ls());
  assert.ok(err instanceof VaultNotFound && err instanceof NotFound);
  assert.equal(err.code, "vault_not_found");
  assert.equal(err.exitStatus, 3);
  assert.equal(err.message, "vault 'nope' does not exist");
  assert.match(err.hint, /avfs vault create/);
  assert.equal(err.raw.error.code, "vault_not_found");
  assert.deepEqual(err.command, ["--json", "--vault", "nope", "ls", "--", "/"]);
});

test("bad input from the real binary: invalid name, and usage error", async (t) => {
  const { avfs } = await freshVault(t);
  const invalid = await rejection(avfs.createVault("-bad name"));
  assert.ok(invalid instanceof InvalidName && invalid instanceof BadInput);
  assert.equal(invalid.exitStatus, 2);
  const usage = await rejection(avfs.mkdir("/a", { mode: "xyz" }));
  assert.ok(usage instanceof UsageError && usage instanceof BadInput);
  assert.match(usage.message, /invalid value 'xyz' for '--mode <MODE>'/);
});

test("no binary: BinaryNotFound says where it looked", async (t) => {
  assert.throws(() => new AVFS("v", { binary: "/nonexistent/avfs" }),
    (err) => err instanceof BinaryNotFound && err.code === "binary_not_found" && /the binary option/.test(err.message));
  const saved = { AVFS_BIN: process.env.AVFS_BIN, PATH: process.env.PATH };
  t.after(() => Object.assign(process.env, saved));
  delete process.env.AVFS_BIN;
  process.env.PATH = await tempDir(t);
  assert.throws(() => new AVFS("v"), (err) => err instanceof BinaryNotFound && /set AVFS_BIN/.test(err.message));
  process.env.AVFS_BIN = "/nonexistent/avfs";
  assert.throws(() => new AVFS("v"), (err) => err instanceof BinaryNotFound && /from AVFS_BIN/.test(err.message));
  process.env.AVFS_BIN = BINARY;
  assert.equal(new AVFS("v").binary, BINARY);
});

test("output that is not one JSON document rejects with ProtocolError", async (t) => {
  const fake = join(await tempDir(t), "avfs");
  await writeFile(fake, "#!/bin/sh\necho 'not json'\necho 'it broke' >&2\nexit 1\n");
  await chmod(fake, 0o755);
  const err = await rejection(new AVFS("v", { binary: fake }).listVaults());
  assert.ok(err instanceof ProtocolError);
  assert.equal(err.exitStatus, 1);
  assert.equal(err.stdout, "not json\n");
  assert.equal(err.stderr, "it broke\n");
  assert.match(err.message, /printed no JSON document \(exit status 1\): it broke/);
});
