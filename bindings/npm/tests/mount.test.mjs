// FUSE mounts: mount, unmount, mounts, and withMount, which always unmounts.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AlreadyMounted, MountpointMissing, MountpointNotEmpty, NotMounted } from "../index.mjs";
import { SKIP_WITHOUT_FUSE, assertFuse, defer, freshVault, rejection, tempDir } from "./support.mjs";

// Without /dev/fuse these tests fail, saying so, unless skipped on purpose.
before(assertFuse);

/** A vault and an empty mount directory; whatever is still mounted there is unmounted when the test ends. */
async function mountSetup(t) {
  const { avfs } = await freshVault(t);
  const dir = join(await tempDir(t), "mnt");
  await mkdir(dir);
  defer(t, async () => {
    const { mounts } = await avfs.mounts();
    if (mounts.some((m) => m.mountpoint === dir)) await avfs.unmount(dir, { lazy: true });
  });
  return { avfs, dir };
}

test("mount, write through the host file system, unmount, read from the vault", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs, dir } = await mountSetup(t);
  await avfs.write("/before.txt", "from avfs");
  const mount = await avfs.mount(dir);
  // The data path is known once the kernel has answered the mount: maybe not yet.
  assert.ok([null, "fuse", "passthrough"].includes(mount.dataPath), mount.dataPath);
  // How requests reach the server: io_uring only with AVFS_FUSE_URING=on.
  assert.ok(["dev_fuse", "io_uring"].includes(mount.transport), mount.transport);
  assert.deepEqual(
    { ...mount },
    {
      mountpoint: dir, vault: "work", checkpoint: null, mode: "rw", pid: mount.pid,
      dataPath: mount.dataPath, transport: mount.transport,
    },
  );
  assert.equal(await readFile(join(dir, "before.txt"), "utf8"), "from avfs");
  await writeFile(join(dir, "made-by-tool.txt"), "from a tool");
  assert.deepEqual((await avfs.mounts()).mounts.map((m) => m.mountpoint), [dir]);
  assert.ok((await rejection(avfs.mount(dir))) instanceof AlreadyMounted);
  assert.deepEqual({ ...(await avfs.unmount(dir)) }, { unmounted: dir, vault: "work", lazy: false });
  assert.deepEqual((await avfs.mounts()).mounts, []);
  assert.equal(await avfs.readText("/made-by-tool.txt"), "from a tool");
});

test("withMount returns what the callback returns and unmounts", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs, dir } = await mountSetup(t);
  const result = await avfs.withMount(dir, async (mount) => {
    await writeFile(join(mount.mountpoint, "f.txt"), "inside");
    return "done";
  });
  assert.equal(result, "done");
  assert.deepEqual((await avfs.mounts()).mounts, []);
  assert.equal(await avfs.readText("/f.txt"), "inside");
});

test("withMount without a directory mounts on a temporary one and removes it", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/f.txt", "seen");
  const mountpoint = await avfs.withMount(async (mount) => {
    assert.equal(await readFile(join(mount.mountpoint, "f.txt"), "utf8"), "seen");
    return mount.mountpoint;
  }, { readonly: true });
  assert.equal(existsSync(mountpoint), false);
  assert.deepEqual((await avfs.mounts()).mounts, []);
});

test("withMount unmounts when the callback throws, and rethrows its error", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs, dir } = await mountSetup(t);
  const failure = new Error("the agent crashed");
  assert.equal(await rejection(avfs.withMount(dir, async () => { throw failure; })), failure);
  assert.deepEqual((await avfs.mounts()).mounts, []);
});

test("withMount unmounts lazily when a file is still open inside", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs, dir } = await mountSetup(t);
  let handle;
  await avfs.withMount(dir, async () => {
    handle = await open(join(dir, "held.txt"), "w");
  });
  assert.deepEqual((await avfs.mounts()).mounts, []);
  await handle.close();
});

test("readonly mounts and checkpoint mounts refuse writes", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs, dir } = await mountSetup(t);
  await avfs.write("/f.txt", "saved");
  await avfs.checkpointSave("c1");
  await avfs.write("/f.txt", "later");
  await avfs.withMount(dir, async (mount) => {
    assert.deepEqual([mount.checkpoint, mount.mode], ["c1", "ro"]);
    assert.equal(await readFile(join(dir, "f.txt"), "utf8"), "saved");
    await assert.rejects(writeFile(join(dir, "f.txt"), "no"), { code: "EROFS" });
  }, { checkpoint: "c1" });
  await avfs.withMount(dir, async (mount) => {
    assert.deepEqual([mount.checkpoint, mount.mode], [null, "ro"]);
    assert.equal(await readFile(join(dir, "f.txt"), "utf8"), "later");
    await assert.rejects(writeFile(join(dir, "f.txt"), "no"), { code: "EROFS" });
  }, { readonly: true });
});

test("mount errors: missing and non-empty mount points, unmount of what is not mounted", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  const { avfs, dir } = await mountSetup(t);
  assert.ok((await rejection(avfs.mount(join(dir, "missing")))) instanceof MountpointMissing);
  assert.ok((await rejection(avfs.unmount(dir))) instanceof NotMounted);
  await writeFile(join(dir, "occupied"), "x");
  assert.ok((await rejection(avfs.mount(dir))) instanceof MountpointNotEmpty);
  await assert.rejects(avfs.withMount(dir), TypeError);
});
