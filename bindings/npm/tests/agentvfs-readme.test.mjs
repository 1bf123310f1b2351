// The npm twin of agentvfs's own README example (the agentvfs 0.1.6 crate's
// "Agent Integration (Python)" block), with this package's names: its users'
// code keeps working, `changedFiles` and `cat` included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AVFS } from "../index.mjs";
import { BINARY, tempDir } from "./support.mjs";

test("agentvfs's README example, in JavaScript, gives changedFiles", async (t) => {
  const home = await tempDir(t, "agentvfs-home-");

  const avfs = new AVFS("agent-workspace", { binary: BINARY, home });

  // Create isolated workspace
  await avfs.createVault("agent-workspace");
  await avfs.forkVault("agent-workspace", "task-001");

  // Checkpoint, execute, get structured result
  await avfs.checkpointSave("pre-change");
  const result = await avfs.proxyExec(["cargo", "test"]);
  // result contains: stdout, stderr, exitCode, changedFiles

  // An empty vault has no Cargo.toml: cargo fails, and the run says so.
  assert.notEqual(result.exitCode, 0);
  assert.notEqual(result.exitCode, null);
  assert.match(result.stderr, /Cargo\.toml/);
  assert.equal(typeof result.stdout, "string");
  assert.deepEqual(result.changedFiles, []);

  await avfs.write("/src/main.py", "print('hi')\n", { parents: true });
  const run = await avfs.proxyShell("echo more >> src/main.py; echo new > notes.txt");
  assert.deepEqual(run.changedFiles, ["/notes.txt", "/src/main.py"]);
  assert.deepEqual(run.changedFiles, run.changes.map((c) => c.path));
  assert.equal(await avfs.cat("/src/main.py"), "print('hi')\nmore\n");
});
