// History: log, reading a version, checkout, revert, diffVersions, and diff with patches.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  NotFound, Conflict, NothingToRevert, PathNotFound, VersionDeleted, VersionNotFound,
} from "../index.mjs";
import { freshVault, rejection } from "./support.mjs";

/** The stable fields of a version (its time varies). */
function versionShape({ version, path, size, deleted, source, checkpoint, run, hash }) {
  return { version, path, size, deleted, source, checkpoint, run, hashed: hash !== null };
}

/** A vault whose /notes.txt has three versions: written, appended, removed. */
async function threeVersions(t) {
  const { avfs } = await freshVault(t);
  await avfs.write("/notes.txt", "one\n");
  await avfs.write("/notes.txt", "two\n", { append: true });
  await avfs.checkpointSave("c1");
  await avfs.rm("/notes.txt");
  return avfs;
}

test("log lists versions oldest first, with bigint times, deletions included", async (t) => {
  const avfs = await threeVersions(t);
  const versions = await avfs.log("/notes.txt");
  assert.deepEqual(versions.map(versionShape), [
    { version: 1, path: "/notes.txt", size: 4, deleted: false, source: "write", checkpoint: "c1", run: null, hashed: true },
    { version: 2, path: "/notes.txt", size: 8, deleted: false, source: "append", checkpoint: "c1", run: null, hashed: true },
    { version: 3, path: "/notes.txt", size: 0, deleted: true, source: "rm", checkpoint: null, run: null, hashed: false },
  ]);
  assert.equal(typeof versions[0].timeNs, "bigint");
  assert.ok(versions[0].timeNs <= versions[1].timeNs);
  await avfs.mkdir("/dir");
  assert.deepEqual(await avfs.log("/dir"), []);
  const missing = await rejection(avfs.log("/never"));
  assert.ok(missing instanceof PathNotFound);
});

test("readText and readBytes read a version, even of a deleted file", async (t) => {
  const avfs = await threeVersions(t);
  assert.equal(await avfs.readText("/notes.txt", { version: 1 }), "one\n");
  assert.deepEqual(await avfs.readBytes("/notes.txt", { version: 2 }), Buffer.from("one\ntwo\n"));
  const deleted = await rejection(avfs.readText("/notes.txt", { version: 3 }));
  assert.ok(deleted instanceof VersionDeleted && deleted instanceof Conflict);
  assert.equal(deleted.exitStatus, 4);
  const missing = await rejection(avfs.readBytes("/notes.txt", { version: 9 }));
  assert.ok(missing instanceof VersionNotFound && missing instanceof NotFound);
  assert.equal(missing.code, "version_not_found");
  await assert.rejects(avfs.readText("/notes.txt", { version: 0 }), TypeError);
  await assert.rejects(avfs.readText("/notes.txt", { version: 1.5 }), TypeError);
});

test("checkout gives a version back as a new one; revert undoes the newest change", async (t) => {
  const avfs = await threeVersions(t);
  const out = await avfs.checkout("/notes.txt", 1);
  assert.equal(out.path, "/notes.txt");
  assert.equal(out.fromVersion, 1);
  assert.equal(out.entry.size, 4);
  assert.deepEqual(versionShape(out.version),
    { version: 4, path: "/notes.txt", size: 4, deleted: false, source: "checkout", checkpoint: null, run: null, hashed: true });
  assert.equal(out.raw.from_version, 1);
  assert.equal(await avfs.readText("/notes.txt"), "one\n");

  // Reverting the checkout brings the deletion back: the file is gone, entry null.
  const reverted = await avfs.revert("/notes.txt");
  assert.equal(reverted.entry, null);
  assert.equal(reverted.version.deleted, true);
  assert.equal(reverted.version.source, "revert");
  assert.equal(await avfs.exists("/notes.txt"), false);
  // Reverting the revert redoes it.
  assert.equal((await avfs.revert("/notes.txt")).entry.size, 4);
  assert.equal(await avfs.readText("/notes.txt"), "one\n");

  assert.ok((await rejection(avfs.checkout("/notes.txt", 3))) instanceof VersionDeleted);
  assert.ok((await rejection(avfs.checkout("/notes.txt", 42))) instanceof VersionNotFound);
  assert.ok((await rejection(avfs.revert("/never"))) instanceof VersionNotFound);
});

test("revert with no earlier state left rejects with NothingToRevert", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/a", "one");
  await avfs.write("/a", "two");
  await avfs.prune({ keepVersions: 1 });
  const err = await rejection(avfs.revert("/a"));
  assert.ok(err instanceof NothingToRevert && err instanceof Conflict);
  assert.equal(err.code, "nothing_to_revert");
  assert.equal(await avfs.readText("/a"), "two");
});

test("diffVersions compares two versions, or one with the newest", async (t) => {
  const avfs = await threeVersions(t);
  const diff = await avfs.diffVersions("/notes.txt", 1, 2);
  assert.deepEqual({ ...diff, v1: { ...diff.v1, hash: null }, v2: { ...diff.v2, hash: null } }, {
    path: "/notes.txt",
    v1: { version: 1, size: 4, hash: null, deleted: false },
    v2: { version: 2, size: 8, hash: null, deleted: false },
    binary: false,
    tooLarge: false,
    patch: "--- /notes.txt@v1\n+++ /notes.txt@v2\n@@ -1 +1,2 @@\n one\n+two\n",
    addedLines: 1,
    removedLines: 0,
  });
  assert.equal(diff.raw.added_lines, 1);
  // Without v2: the newest version, here the deletion, which compares as empty.
  const toDeletion = await avfs.diffVersions("/notes.txt", 2);
  assert.deepEqual([toDeletion.v2.version, toDeletion.v2.deleted, toDeletion.removedLines], [3, true, 2]);
  assert.ok((await rejection(avfs.diffVersions("/notes.txt", 1, 7))) instanceof VersionNotFound);
});

test("diff({patch: true}) adds a unified diff to each change; without it there is none", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/a.txt", "hello\n");
  await avfs.checkpointSave("c1");
  await avfs.write("/a.txt", "hello, world\n");
  await avfs.write("/new.txt", "new\n");
  await avfs.mkdir("/dir");
  const diff = await avfs.diff({ patch: true });
  assert.deepEqual(diff.changes.map((c) => [c.path, c.patch]), [
    ["/a.txt", "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-hello\n+hello, world\n"],
    ["/dir", null],
    ["/new.txt", "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+new\n"],
  ]);
  assert.ok(!("patch" in (await avfs.diff()).changes[0]));
  assert.ok((await rejection(avfs.diff({ patch: true, from: "nope" }))) instanceof NotFound);
});
