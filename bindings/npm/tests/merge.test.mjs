// Runs as attempts and vault merge: typed merges, conflicts, and runs at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Conflict, MergeConflict, NoMergeBase } from "../index.mjs";
import { join } from "node:path";
import { SKIP_WITHOUT_FUSE, assertFuse, freshVault, rejection, tempDir } from "./support.mjs";

test("mergeVault fast-forwards a fork into its parent; dryRun changes nothing", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/notes.txt", "one\n");
  await avfs.forkVault("work", "fix");
  await avfs.forVault("fix").write("/new.txt", "new\n");
  const dry = await avfs.mergeVault("fix", { dryRun: true });
  assert.deepEqual([dry.status, dry.dryRun, dry.checkpoint], ["fast_forward", true, null]);
  assert.equal(await avfs.exists("/new.txt"), false);
  const merged = await avfs.mergeVault("fix");
  assert.deepEqual([merged.source, merged.target, merged.status, merged.onConflict], ["fix", "work", "fast_forward", "keep"]);
  assert.deepEqual(merged.changes.map((c) => [c.change, c.path]), [["added", "/new.txt"]]);
  assert.match(merged.checkpoint.name, /^pre-merge-/);
  assert.equal(await avfs.readText("/new.txt"), "new\n");
});

test("a conflict rejects with MergeConflict carrying the merge; theirs resolves it", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/notes.txt", "one\ntwo\nthree\n");
  await avfs.forkVault("work", "fix");
  await avfs.write("/notes.txt", "one\nTWO work\nthree\n");
  await avfs.forVault("fix").write("/notes.txt", "one\nTWO fix\nthree\n");
  const err = await rejection(avfs.mergeVault("fix"));
  assert.ok(err instanceof MergeConflict && err instanceof Conflict);
  assert.equal(err.exitStatus, 4);
  const merge = err.raw.error.merge;
  assert.equal(merge.status, "conflict");
  assert.deepEqual(merge.conflicts.map((c) => [c.path, c.kind]), [["/notes.txt", "content"]]);
  const theirs = await avfs.mergeVault("fix", { onConflict: "theirs" });
  assert.equal(theirs.status, "merged");
  assert.equal(theirs.conflicts[0].theirs.hash !== theirs.conflicts[0].ours.hash, true);
  assert.equal(await avfs.readText("/notes.txt"), "one\nTWO fix\nthree\n");
  await avfs.createVault("other");
  assert.ok((await rejection(avfs.mergeVault("other", { into: "work" }))) instanceof NoMergeBase);
});

test("two runs at once: appends merge, overwrites keep the second as a fork", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  assertFuse();
  const { avfs } = await freshVault(t);
  await avfs.write("/log.txt", "base\n");
  const race = async (scripts) => {
    const dir = await tempDir(t);
    const mark = (i) => join(dir, String(i));
    return Promise.all(scripts.map((s, i) =>
      avfs.proxyShell(`touch '${mark(i)}'; while [ ! -e '${mark(1 - i)}' ]; do sleep 0.01; done; ${s}`)));
  };
  let runs = await race(["echo A >> log.txt", "echo B >> log.txt"]);
  assert.deepEqual(runs.map((r) => r.merge).sort(), ["fast_forward", "merged"]);
  assert.ok(runs.every((r) => r.succeeded && !r.conflicted && r.fork === null));
  assert.deepEqual((await avfs.readText("/log.txt")).split("\n").filter(Boolean).sort(), ["A", "B", "base"]);

  runs = await race(["echo A > log.txt", "echo B > log.txt"]);
  const lost = runs.filter((r) => r.conflicted);
  assert.equal(lost.length, 1);
  assert.equal(lost[0].succeeded, false);
  assert.deepEqual(lost[0].conflicts.map((c) => [c.path, c.kind]), [["/log.txt", "content"]]);
  assert.equal(typeof lost[0].fork, "string");
  const kept = await avfs.forVault(lost[0].fork).readText("/log.txt");
  assert.ok(["A\n", "B\n"].includes(kept) && kept !== (await avfs.readText("/log.txt")));
});
