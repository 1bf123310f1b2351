// Checkpoints (save, list, info, restore, delete) and diff.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CheckpointExists, CheckpointNotFound, NoCheckpoints } from "../index.mjs";
import { freshVault, rejection } from "./support.mjs";

/** A checkpoint without its creation time. */
function checkpointShape({ createdAt, ...rest }) {
  assert.match(createdAt, /Z$/);
  return rest;
}

test("save, list, info and delete checkpoints", async (t) => {
  const { avfs } = await freshVault(t);
  const saved = await avfs.checkpointSave("pre-change", { message: "before the agent runs" });
  assert.deepEqual(checkpointShape(saved), { name: "pre-change", vault: "work", message: "before the agent runs", auto: false });
  await avfs.checkpointSave("second");
  assert.deepEqual((await avfs.checkpointList()).map(checkpointShape), [
    { name: "pre-change", vault: "work", message: "before the agent runs", auto: false },
    { name: "second", vault: "work", message: null, auto: false },
  ]);
  assert.deepEqual(checkpointShape(await avfs.checkpointInfo("second")), { name: "second", vault: "work", message: null, auto: false });
  assert.equal(await avfs.checkpointDelete("second"), "second");
  assert.deepEqual((await avfs.checkpointList()).map((c) => c.name), ["pre-change"]);
  assert.ok((await rejection(avfs.checkpointInfo("second"))) instanceof CheckpointNotFound);
  assert.ok((await rejection(avfs.checkpointSave("pre-change"))) instanceof CheckpointExists);
});

test("checkpointRestore puts files back and keeps the unsaved state as savedPrevious", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/src/main.py", "print('hi')", { parents: true });
  await avfs.checkpointSave("pre-change");
  await avfs.write("/src/main.py", "broken");
  await avfs.write("/src/new.py", "new");
  const restored = await avfs.checkpointRestore("pre-change");
  assert.equal(restored.checkpoint.name, "pre-change");
  assert.deepEqual(checkpointShape(restored.savedPrevious), {
    name: "pre-restore-2", vault: "work", message: "state before restoring 'pre-change'", auto: true,
  });
  assert.equal(restored.raw.saved_previous.name, "pre-restore-2");
  assert.equal(await avfs.readText("/src/main.py"), "print('hi')");
  assert.equal(await avfs.exists("/src/new.py"), false);
  // Restoring again from a saved state keeps nothing new.
  assert.equal((await avfs.checkpointRestore("pre-change")).savedPrevious, null);
  assert.ok((await rejection(avfs.checkpointRestore("nope"))) instanceof CheckpointNotFound);
});

test("diff from the latest checkpoint, between checkpoints, under paths, and between vaults", async (t) => {
  const { avfs } = await freshVault(t);
  assert.ok((await rejection(avfs.diff())) instanceof NoCheckpoints);
  await avfs.write("/a.txt", "hello");
  await avfs.write("/gone.txt", "bye");
  await avfs.checkpointSave("c1");
  await avfs.write("/a.txt", "hello, world");
  await avfs.rm("/gone.txt");
  await avfs.mkdir("/dir");
  const diff = await avfs.diff();
  assert.deepEqual({ ...diff }, {
    from: "vault:work@c1",
    to: "vault:work",
    changes: [
      {
        path: "/a.txt", change: "modified", kind: "file",
        before: { kind: "file", mode: "0644", size: 5, hash: "07dc8bee63e52a444ab3080cdfde1c2c0d7831ea2acc9b021952f1e032687398", target: null },
        after: { kind: "file", mode: "0644", size: 12, hash: diff.changes[0].after.hash, target: null },
      },
      { path: "/dir", change: "added", kind: "dir", before: null, after: { kind: "dir", mode: "0755", size: 0, hash: null, target: null } },
      { path: "/gone.txt", change: "deleted", kind: "file", before: diff.changes[2].before, after: null },
    ],
    summary: { added: 1, modified: 1, deleted: 1, typeChanged: 0, total: 3 },
  });
  assert.equal(diff.raw.summary.type_changed, 0);

  await avfs.checkpointSave("c2");
  assert.deepEqual((await avfs.diff({ from: "c1", to: "c2", paths: ["/a.txt"] })).changes.map((c) => c.path), ["/a.txt"]);
  await avfs.forkVault("work", "fork");
  await avfs.forVault("fork").write("/fork-only", "x");
  const between = await avfs.diff({ from: "vault:work", to: "vault:fork" });
  assert.deepEqual([between.from, between.to, between.changes.map((c) => [c.path, c.change])],
    ["vault:work", "vault:fork", [["/fork-only", "added"]]]);
});
