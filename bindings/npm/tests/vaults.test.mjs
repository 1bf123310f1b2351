// Vaults: create, list, info, use, fork, delete.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AVFS, VaultExists, VaultNotFound } from "../index.mjs";
import { BINARY, freshVault, rejection, tempDir } from "./support.mjs";

/** A vault without its creation time. */
function vaultShape({ createdAt, ...rest }) {
  assert.match(createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
  return rest;
}

test("createVault returns the vault in camelCase, with the printed document in raw", async (t) => {
  const home = await tempDir(t);
  const avfs = new AVFS("main", { binary: BINARY, home });
  const vault = await avfs.createVault("main");
  assert.deepEqual(vaultShape(vault), { name: "main", forkedFrom: null, checkpoints: 0, layerDepth: 0, current: true });
  assert.equal(vault.raw.vault.forked_from, null);
  assert.equal(vault.raw.vault.created_at, vault.createdAt);
  assert.ok(!Object.keys(vault).includes("raw"), "raw is not enumerable");
  assert.ok(!JSON.stringify(vault).includes("created_at"));
});

test("listVaults, vaultInfo, useVault and deleteVault", async (t) => {
  const { avfs } = await freshVault(t, "a");
  await avfs.createVault("b");
  const list = await avfs.listVaults();
  assert.deepEqual(list.vaults.map(vaultShape), [
    { name: "a", forkedFrom: null, checkpoints: 0, layerDepth: 0, current: true },
    { name: "b", forkedFrom: null, checkpoints: 0, layerDepth: 0, current: false },
  ]);
  assert.equal(list.current, "a");
  assert.equal((await avfs.vaultInfo()).name, "a", "default: this object's vault");
  assert.equal((await avfs.vaultInfo("b")).name, "b");
  assert.equal(await avfs.useVault("b"), "b");
  assert.deepEqual((await avfs.listVaults()).vaults.map((v) => [v.name, v.current]), [["a", false], ["b", true]]);
  assert.equal(await avfs.deleteVault("b"), "b");
  assert.deepEqual((await avfs.listVaults()).vaults.map((v) => v.name), ["a"]);
  assert.ok((await rejection(avfs.vaultInfo("b"))) instanceof VaultNotFound);
});

test("an AVFS without a vault works on the current one", async (t) => {
  const { avfs, home } = await freshVault(t, "first");
  await avfs.write("/f", "in first");
  const current = new AVFS(null, { binary: BINARY, home });
  assert.equal(current.vault, null);
  assert.equal(await current.readText("/f"), "in first");
});

test("forkVault: both sides evolve independently; forVault works on the fork", async (t) => {
  const { avfs } = await freshVault(t, "agent-workspace");
  await avfs.write("/src/main.py", "print('hi')", { parents: true });
  const fork = await avfs.forkVault("agent-workspace", "task-001");
  assert.deepEqual(vaultShape(fork), { name: "task-001", forkedFrom: "agent-workspace", checkpoints: 0, layerDepth: fork.layerDepth, current: false });
  const task = avfs.forVault("task-001");
  assert.equal(task.vault, "task-001");
  await task.write("/src/main.py", "print('task')");
  await avfs.write("/src/other.py", "parent only");
  assert.equal(await avfs.readText("/src/main.py"), "print('hi')");
  assert.equal(await task.readText("/src/main.py"), "print('task')");
  assert.equal(await task.exists("/src/other.py"), false);
});

test("creating an existing vault rejects with VaultExists and changes nothing", async (t) => {
  const { avfs } = await freshVault(t, "a");
  await avfs.write("/keep", "x");
  const err = await rejection(avfs.createVault("a"));
  assert.ok(err instanceof VaultExists);
  assert.equal(err.exitStatus, 4);
  assert.equal(await avfs.readText("/keep"), "x");
});

test("createVault and forkVault with use make the vault current", async (t) => {
  const { avfs } = await freshVault(t, "a");
  await avfs.createVault("b", { use: true });
  assert.equal((await avfs.listVaults()).current, "b");
  await avfs.forkVault("a", "c", { use: true });
  assert.equal((await avfs.listVaults()).current, "c");
});
