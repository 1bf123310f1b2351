// Policies: set (object or file), show, check (allowed and denied both resolve).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidPolicy } from "../index.mjs";
import { freshVault, rejection, tempDir } from "./support.mjs";

const POLICY = {
  commands: { allow: ["cargo *", "git *"], deny: ["git push *"] },
  paths: [{ glob: "secrets/**", ops: [], deny: true }],
  env: { pass: ["PATH"], set: { CI_MODE: "1" } },
  timeout: "600s",
  output_limit: "1024KiB",
};

test("policySet stores an object and returns it normalized, in the policy file format", async (t) => {
  const { avfs } = await freshVault(t);
  assert.equal(await avfs.policyShow(), null);
  // A private TMPDIR, to see that the temporary policy file is removed.
  const privateTmp = await tempDir(t);
  const savedTmp = process.env.TMPDIR;
  t.after(() => { if (savedTmp === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = savedTmp; });
  process.env.TMPDIR = privateTmp;
  const expected = {
    commands: { allow: ["cargo *", "git *"], deny: ["git push *"] },
    paths: [{ glob: "secrets/**", ops: [], deny: true }],
    env: { pass: ["PATH"], set: { CI_MODE: "1" } },
    timeout: "10m",
    output_limit: "1MiB",
  };
  assert.deepEqual(await avfs.policySet(POLICY), expected);
  assert.equal(tmpdir(), privateTmp);
  assert.deepEqual(await readdir(privateTmp), [], "the temporary policy file is removed");
  assert.deepEqual(await avfs.policyShow(), expected);
  await avfs.forkVault("work", "fork");
  assert.deepEqual(await avfs.forVault("fork").policyShow(), expected, "a fork starts with its source's policy");
});

test("policySet takes a file path too; an invalid policy names the bad field", async (t) => {
  const { avfs } = await freshVault(t);
  const file = join(await tempDir(t), "policy.json");
  await writeFile(file, JSON.stringify({ commands: { deny: ["curl *"] } }));
  assert.deepEqual(await avfs.policySet(file), { commands: { deny: ["curl *"] } });
  const err = await rejection(avfs.policySet({ paths: [{ glob: "**", ops: ["exec"] }] }));
  assert.ok(err instanceof InvalidPolicy);
  assert.match(err.message, /paths\[0\]\.ops\[0\]: unknown op "exec"/);
  assert.deepEqual(await avfs.policyShow(), { commands: { deny: ["curl *"] } }, "a failed set changes nothing");
  await assert.rejects(avfs.policySet(["not", "a", "policy"]), TypeError);
});

test("policyCheck resolves for allowed and denied commands", async (t) => {
  const { avfs } = await freshVault(t);
  const none = await avfs.policyCheck(["git", "push"]);
  assert.deepEqual({ ...none }, {
    allowed: true, command: ["git", "push"], rule: null,
    reason: "there is no policy, so every command is allowed", policy: "none",
  });
  await avfs.policySet(POLICY);
  const denied = await avfs.policyCheck(["/usr/bin/git", "push", "origin"]);
  assert.deepEqual([denied.allowed, denied.rule, denied.policy], [false, "git push *", "vault"]);
  assert.equal(denied.raw.allowed, false);
  assert.deepEqual([(await avfs.policyCheck(["cargo", "test"])).allowed, (await avfs.policyCheck(["curl", "x"])).allowed], [true, false]);
  const withFile = await avfs.policyCheck(["curl", "x"], { policy: { commands: { allow: ["curl *"] } } });
  assert.deepEqual([withFile.allowed, withFile.rule, withFile.policy], [true, "curl *", "file"]);
});
