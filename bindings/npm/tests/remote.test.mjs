// Remotes against the real S3 servers scripts/test starts on 127.0.0.1 (Ceph
// RGW, and Garage for a server without conditional writes), named by
// AVFS_TEST_S3_* and AVFS_TEST_GARAGE_*; AVFS_SKIP_REMOTE_TESTS=1 skips them.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AVFS, Conflict, RemoteAuth, RemoteDiverged, RemoteExists, RemoteNoConditionalWrites, RemoteNotFound,
  RemoteUnreachable,
} from "../index.mjs";
import { BINARY, rejection, tempDir } from "./support.mjs";

/** One S3 server from the environment, or null when remote tests are skipped explicitly. */
function server(part, start) {
  const env = process.env;
  if (env[`AVFS_TEST_${part}_ENDPOINT`]) {
    return {
      endpoint: env[`AVFS_TEST_${part}_ENDPOINT`],
      accessKey: env[`AVFS_TEST_${part}_ACCESS_KEY`],
      secretKey: env[`AVFS_TEST_${part}_SECRET_KEY`],
      bucket: env[`AVFS_TEST_${part}_BUCKET`] || "avfs-test",
      region: env[`AVFS_TEST_${part}_REGION`] || "us-east-1",
    };
  }
  if (env.AVFS_SKIP_REMOTE_TESTS === "1") return null;
  throw new Error(`the remote tests need a real S3 server: run them through scripts/test, or `
    + `\`export $(scripts/s3-server ${start} start | xargs)\`; AVFS_SKIP_REMOTE_TESTS=1 skips them`);
}

/** A client on a fresh store whose avfs has `s3`'s keys in its environment. */
async function home(t, s3, vault = "work", env = {}) {
  const dir = await tempDir(t, "agentvfs-remote-");
  return new AVFS(vault, {
    binary: BINARY,
    home: dir,
    env: { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey, ...env },
  });
}

const url = (s3, name) => `s3://${s3.bucket}/npm-${name}-${process.pid}-${Date.now()}`;

test("push, clone, pull and the remote commands on Ceph RGW", async (t) => {
  const s3 = server("S3", "ceph");
  if (!s3) return t.skip("AVFS_SKIP_REMOTE_TESTS=1");
  const where = url(s3, "handoff");
  const a = await home(t, s3);
  const remote = await a.remoteAdd("origin", where, { endpoint: s3.endpoint, region: s3.region });
  assert.deepEqual([remote.name, remote.url, remote.endpoint, remote.region, remote.conditionalWrites, remote.unsafeSingleWriter],
    ["origin", where, s3.endpoint, s3.region, null, false]);
  assert.ok((await rejection(a.remoteAdd("origin", where))) instanceof RemoteExists);
  const check = await a.remoteCheck("origin");
  assert.deepEqual([check.reachable, check.credentials, check.conditionalWrites, check.vaults], [true, true, true, []]);
  assert.deepEqual((await a.remoteList()).map((r) => r.conditionalWrites), [true]);

  await a.createVault("work");
  await a.write("/notes.txt", "from a\n");
  await a.checkpointSave("on-a");
  const pushed = await a.push({ checkpoints: true });
  assert.deepEqual([pushed.vault, pushed.remote, pushed.remoteVault, pushed.generation, pushed.upToDate, pushed.keptAs],
    ["work", "origin", "work", 1, false, null]);
  assert.deepEqual(pushed.checkpointsPushed, ["on-a"]);
  assert.ok(pushed.uploaded.layers >= 1);
  assert.equal((await a.push()).upToDate, true);
  const listed = await a.listRemoteVaults("origin");
  assert.deepEqual(listed.vaults.map((v) => [v.name, v.generation, v.checkpoints]), [["work", 1, ["on-a"]]]);

  // B clones lazily, a run pushes its work, A pulls it.
  const b = await home(t, s3, "mine");
  await b.remoteAdd("origin", where, { endpoint: s3.endpoint, region: s3.region });
  const cloned = await b.clone("origin", "work", { localName: "mine", lazy: true });
  assert.deepEqual([cloned.vault, cloned.remoteVault, cloned.lazy, cloned.generation, cloned.downloaded.chunks],
    ["mine", "work", true, 1, 0]);
  assert.equal(await b.cat("/notes.txt"), "from a\n");
  const run = await b.proxyShell("echo 'from b' >> notes.txt", { mode: "materialize", push: true });
  assert.equal(run.succeeded, true);
  assert.deepEqual([run.push.remote, run.push.remoteVault, run.push.generation], ["origin", "work", 2]);
  const pulled = await a.pull();
  assert.deepEqual([pulled.status, pulled.generation], ["fast_forward", 2]);
  assert.equal(await a.cat("/notes.txt"), "from a\nfrom b\n");

  // A stale push rejects (a Conflict, exit 4); force keeps the replaced head.
  await a.write("/notes.txt", "a again\n");
  await b.write("/notes.txt", "b again\n");
  await b.push();
  const refused = await rejection(a.push());
  assert.ok(refused instanceof RemoteDiverged && refused instanceof Conflict);
  assert.equal(refused.exitStatus, 4);
  const forced = await a.push({ force: true });
  assert.deepEqual([forced.forced, forced.keptAs], [true, "overwritten-3"]);

  assert.equal(await a.remoteRemove("origin"), "origin");
  assert.ok((await rejection(a.remoteCheck("origin"))) instanceof RemoteNotFound);
});

test("remote errors reject with their classes; remote gc reports", async (t) => {
  const s3 = server("S3", "ceph");
  if (!s3) return t.skip("AVFS_SKIP_REMOTE_TESTS=1");
  const a = await home(t, s3);
  await a.remoteAdd("origin", url(s3, "errors"), { endpoint: s3.endpoint });
  await a.remoteAdd("nowhere", "s3://bucket/x", { endpoint: "http://127.0.0.1:9" });
  assert.ok((await rejection(a.remoteCheck("nowhere"))) instanceof RemoteUnreachable);
  const refused = await home(t, s3, "work", { AWS_SECRET_ACCESS_KEY: "not-the-secret" });
  await refused.remoteAdd("origin", url(s3, "auth"), { endpoint: s3.endpoint });
  assert.ok((await rejection(refused.remoteCheck("origin"))) instanceof RemoteAuth);
  const gc = await a.remoteGc("origin", { grace: "1h", dryRun: true });
  assert.deepEqual([gc.dryRun, gc.graceS, gc.vaults, gc.deleted.chunks], [true, 3600, 0, 0]);
});

test("Garage has no conditional writes: pushes refuse unless unsafeSingleWriter", async (t) => {
  const s3 = server("GARAGE", "garage");
  if (!s3) return t.skip("AVFS_SKIP_REMOTE_TESTS=1");
  const where = url(s3, "garage");
  const a = await home(t, s3);
  await a.remoteAdd("origin", where, { endpoint: s3.endpoint, region: s3.region });
  assert.equal((await a.remoteCheck("origin")).conditionalWrites, false);
  await a.createVault("work");
  await a.write("/f", "x");
  const refused = await rejection(a.push());
  assert.ok(refused instanceof RemoteNoConditionalWrites && refused instanceof Conflict);
  const single = await a.remoteAdd("single", where, { endpoint: s3.endpoint, region: s3.region, unsafeSingleWriter: true });
  assert.equal(single.unsafeSingleWriter, true);
  assert.equal((await a.push({ remote: "single" })).generation, 1);
  const b = await home(t, s3);
  await b.remoteAdd("origin", where, { endpoint: s3.endpoint, region: s3.region });
  await b.clone("origin", "work");
  assert.equal(await b.cat("/f"), "x");
});
