// Maintenance: stats, gc, prune, compact, quotas, and the audit journal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  AVFS, BadInput, Conflict, FileTooLarge, InvalidArgument, IoError, QuotaExceeded, StorageFailure,
} from "../index.mjs";
import { BINARY, freshVault, rejection, tempDir } from "./support.mjs";

/** An AVFS whose store directory is a regular file: every store-wide command fails with io_error (exit 5). */
async function brokenStore(t) {
  const home = join(await tempDir(t), "not-a-directory");
  await writeFile(home, "");
  return new AVFS("work", { binary: BINARY, home });
}

test("stats counts every vault and the store", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/a.txt", "hello");
  await avfs.cp("/a.txt", "/b.txt");
  await avfs.forkVault("work", "fork");
  const stats = await avfs.stats();
  assert.deepEqual(stats.vaults.map((v) => [v.name, v.files, v.dirs, v.symlinks, v.logicalBytes]),
    [["fork", 2, 1, 0, 10], ["work", 2, 1, 0, 10]]);
  assert.equal(stats.store.vaults, 2);
  assert.equal(stats.store.logicalBytes, 20);
  assert.ok(stats.store.dedupRatio > 1, "the copies and the fork share their content");
  assert.ok(stats.store.dbBytes > 0);
  assert.equal(stats.store.segmentBytes, 0); // nothing of 64 KiB or more: no segment
  assert.equal(stats.raw.store.logical_bytes, 20);
  assert.deepEqual([stats.store.headBytes, stats.store.historyBytes, stats.store.dedupSavedBytes], [5, 0, 15]);
  assert.ok((await rejection((await brokenStore(t)).stats())) instanceof IoError);
});

test("gc frees what a deleted vault left; dryRun only counts it", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.createVault("scratch");
  await avfs.forVault("scratch").write("/big.txt", "only in scratch ".repeat(100));
  await avfs.deleteVault("scratch");
  const dry = await avfs.gc({ dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.equal(dry.sparedRecentChunks, false);
  assert.ok(dry.freed.contents >= 1 && dry.freed.bytes >= 1600, JSON.stringify(dry.freed));
  const done = await avfs.gc();
  assert.equal(done.dryRun, false);
  assert.deepEqual(done.freed, dry.freed);
  assert.deepEqual((await avfs.gc()).freed, { layers: 0, rows: 0, contents: 0, chunks: 0, bytes: 0 });
  assert.equal(done.raw.spared_recent_chunks, false);
  assert.ok((await rejection((await brokenStore(t)).gc())) instanceof IoError);
});

test("prune drops old versions and automatic checkpoints; needs a rule", async (t) => {
  const { avfs } = await freshVault(t);
  for (const text of ["one", "two", "three"]) await avfs.write("/a", text);
  await avfs.checkpointSave("named");
  await avfs.checkpointRestore("named");
  await avfs.write("/a", "four");
  await avfs.checkpointRestore("named"); // keeps the state with "four" as pre-restore-N
  const autos = (await avfs.checkpointList()).filter((c) => c.auto).map((c) => c.name);
  assert.equal(autos.length, 1);

  const dry = await avfs.prune({ keepVersions: 1, keepCheckpoints: 0, dryRun: true });
  assert.deepEqual({ ...dry }, { dryRun: true, pruned: [{ vault: "work", checkpoints: autos, versions: 2 }] });
  assert.equal((await avfs.log("/a")).length, 3);
  const done = await avfs.prune({ keepVersions: 1, keepCheckpoints: 0 });
  assert.deepEqual(done.pruned, [{ vault: "work", checkpoints: autos, versions: 2 }]);
  assert.deepEqual((await avfs.log("/a")).map((v) => v.version), [3]);
  assert.deepEqual((await avfs.checkpointList()).map((c) => c.name), ["named"]);
  // Named checkpoints only go with `named`; every vault with `allVaults`.
  await avfs.forkVault("work", "fork");
  await avfs.forVault("fork").checkpointSave("old");
  const all = await avfs.prune({ checkpointsOlderThan: new Date(Date.now() + 60_000), named: true, allVaults: true });
  assert.deepEqual(all.pruned.map((p) => [p.vault, p.checkpoints]), [["fork", ["old"]], ["work", ["named"]]]);
  assert.deepEqual(await avfs.checkpointList(), []);
  await avfs.write("/b", "x");
  assert.deepEqual((await avfs.prune({ versionsOlderThan: "1d" })).pruned, [{ vault: "work", checkpoints: [], versions: 0 }]);

  const err = await rejection(avfs.prune());
  assert.ok(err instanceof InvalidArgument && err instanceof BadInput);
  assert.match(err.hint, /--keep-versions/);
  await assert.rejects(avfs.prune({ keepVersions: 1.5 }), TypeError);
});

test("compact merges unnamed layers and keeps every state readable", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/a", "one");
  await avfs.checkpointSave("c1");
  await avfs.write("/a", "two");
  await avfs.checkpointSave("c2");
  await avfs.checkpointDelete("c1");
  const before = (await avfs.vaultInfo()).layerDepth;
  const result = await avfs.compact();
  assert.ok(result.layersMerged >= 1, JSON.stringify(result));
  assert.ok(result.dbBytesBefore > 0 && result.dbBytesAfter > 0);
  assert.ok((await avfs.vaultInfo()).layerDepth < before);
  assert.equal(await avfs.readText("/a"), "two");
  assert.equal(await avfs.readText("/a", { version: 1 }), "one");
  assert.equal(result.raw.layers_merged, result.layersMerged);
  assert.ok((await rejection((await brokenStore(t)).compact())) instanceof IoError);
});

test("quotaSet, quotaShow and quotaClear; a write past the quota rejects and changes nothing", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/a.txt", "hello");
  assert.deepEqual({ ...(await avfs.quotaShow()) }, {
    vault: "work", quota: { maxBytes: null, maxFiles: null, maxFileSize: null }, usage: { bytes: 5, files: 1 },
  });
  const set = await avfs.quotaSet({ maxBytes: "1KiB", maxFiles: 2, maxFileSize: 100 });
  assert.deepEqual(set.quota, { maxBytes: 1024, maxFiles: 2, maxFileSize: 100 });
  assert.equal(set.raw.quota.max_bytes, 1024);
  // Only the limits given change.
  assert.deepEqual((await avfs.quotaSet({ maxFiles: 3 })).quota, { maxBytes: 1024, maxFiles: 3, maxFileSize: 100 });

  const big = await rejection(avfs.write("/big.txt", "x".repeat(101)));
  assert.ok(big instanceof FileTooLarge && big instanceof Conflict);
  assert.equal(big.code, "file_too_large");
  await avfs.write("/b.txt", "b");
  await avfs.write("/c.txt", "c");
  const over = await rejection(avfs.write("/d.txt", "d"));
  assert.ok(over instanceof QuotaExceeded && over instanceof Conflict);
  assert.equal(over.exitStatus, 4);
  assert.equal(await avfs.exists("/d.txt"), false);

  const cleared = await avfs.quotaClear();
  assert.deepEqual(cleared.quota, { maxBytes: null, maxFiles: null, maxFileSize: null });
  assert.deepEqual(cleared.usage, { bytes: 7, files: 3 });
  await avfs.write("/d.txt", "d");
  assert.ok((await rejection(avfs.quotaSet({ maxBytes: "lots" }))) instanceof BadInput);
});

test("audit lists the journal oldest first, with since and limit", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/a", "x");
  await avfs.checkpointSave("c1");
  const entries = await avfs.audit();
  assert.deepEqual(entries.map((e) => [e.op, e.vault]), [["vault.create", "work"], ["write", "work"], ["checkpoint.save", "work"]]);
  assert.equal(typeof entries[0].timeNs, "bigint");
  assert.ok(entries[0].id < entries[1].id);
  assert.match(entries[2].hash, /^[0-9a-f]{64}$/);
  assert.deepEqual((await avfs.audit({ limit: 1 })).map((e) => e.op), ["checkpoint.save"]);
  assert.deepEqual(await avfs.audit({ since: new Date(Date.now() + 3_600_000) }), []);
  assert.equal((await avfs.audit({ since: "1h" })).length, 3);
  assert.ok((await rejection(avfs.audit({ since: "bogus" }))) instanceof InvalidArgument);
});

test("auditVerify resolves for an intact journal and for a tampered one (avfs exits 5)", async (t) => {
  const { avfs, home } = await freshVault(t);
  await avfs.write("/a", "x");
  assert.deepEqual({ ...(await avfs.auditVerify()) }, { intact: true, entries: 2, problems: [] });
  // Edit an entry behind avfs's back: its hash no longer matches.
  await promisify(execFile)("sqlite3", [join(home, "store.db"), "UPDATE journal SET detail = 'tampered' WHERE id = 1"]);
  const verdict = await avfs.auditVerify();
  assert.equal(verdict.intact, false);
  assert.equal(verdict.entries, 2);
  assert.deepEqual(verdict.problems.map((p) => p.id), [1]);
  assert.match(verdict.problems[0].problem, /hash/);
  assert.equal(verdict.raw.intact, false);
  // An error document also comes with exit status 5: that one rejects.
  const err = await rejection((await brokenStore(t)).auditVerify());
  assert.ok(err instanceof IoError && err instanceof StorageFailure);
  assert.equal(err.exitStatus, 5);
});

test("verify resolves for an intact store and for a damaged chunk (avfs exits 5)", async (t) => {
  const { avfs, home } = await freshVault(t);
  await avfs.write("/big", Buffer.alloc(256 * 1024 + 10, 7));
  const ok = await avfs.verify();
  assert.equal(ok.intact, true);
  assert.equal(ok.code, null);
  assert.equal(ok.checked.chunks, 2);
  assert.deepEqual(ok.faults, []);
  await promisify(execFile)("sqlite3", [join(home, "store.db"), "UPDATE chunks SET data = zeroblob(10) WHERE size = 10"]);
  const damaged = await avfs.verify();
  assert.equal(damaged.intact, false);
  assert.equal(damaged.code, "store_corrupt");
  assert.deepEqual(damaged.faults.map((f) => f.kind), ["chunk_hash_mismatch"]);
  assert.deepEqual(damaged.faults[0].paths.map((p) => [p.vault, p.checkpoint, p.path, p.version]),
    [["work", null, "/big", null], ["work", null, "/big", 1]]);
});

test("retention shows and sets how many versions each file keeps", async (t) => {
  const { avfs } = await freshVault(t);
  assert.equal(await avfs.retention(), 20);
  assert.equal(await avfs.retention({ keepVersions: 2 }), 2);
  for (let i = 0; i < 5; i++) await avfs.write("/f", `v${i}`);
  assert.deepEqual((await avfs.log("/f")).map((v) => v.version), [4, 5]);
  assert.equal(await avfs.retention({ keepAll: true }), null);
});
