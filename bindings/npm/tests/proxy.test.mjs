// proxy exec: runs in the vault, under the policy, with a checkpoint before and the changes after.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PolicyDenied, VaultNotFound, exactBytes } from "../index.mjs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { SKIP_WITHOUT_FUSE, assertFuse, defer, freshVault, rejection, tempDir } from "./support.mjs";

const DENY_RM = { commands: { deny: ["rm *"] } };

test("proxyShell runs in the vault: output, automatic checkpoint, changes", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/keep.txt", "kept\n");
  const script = "cat keep.txt; echo new > made.txt; echo oops >&2";
  const run = await avfs.proxyShell(script);
  assert.deepEqual(
    {
      vault: run.vault, command: run.command, shell: run.shell, cwd: run.cwd, decision: run.decision,
      exitCode: run.exitCode, signal: run.signal, timedOut: run.timedOut, interrupted: run.interrupted, execError: run.execError,
      stdout: run.stdout, stdoutTruncated: run.stdoutTruncated, stdoutBytes: run.stdoutBytes,
      stderr: run.stderr, stderrTruncated: run.stderrTruncated, stderrBytes: run.stderrBytes,
      changes: run.changes.map((c) => [c.path, c.change, c.kind, c.before, c.after?.size]),
      summary: run.summary, violations: run.violations, violationsTruncated: run.violationsTruncated,
      mountErrors: run.mountErrors,
    },
    {
      vault: "work", command: ["sh", "-c", script], shell: script, cwd: "/",
      decision: { allowed: true, rule: null, reason: run.decision.reason, policy: "none" },
      exitCode: 0, signal: null, timedOut: false, interrupted: null, execError: null,
      stdout: "kept\n", stdoutTruncated: false, stdoutBytes: 5,
      stderr: "oops\n", stderrTruncated: false, stderrBytes: 5,
      changes: [["/made.txt", "added", "file", null, 4]],
      summary: { added: 1, modified: 0, deleted: 0, typeChanged: 0, total: 1 },
      violations: [], violationsTruncated: false, mountErrors: [],
    },
  );
  assert.deepEqual(Object.keys(run).sort(), [
    "changedFiles", "changes", "changesMode", "checkpoint", "command", "conflicted", "conflicts", "cwd", "decision", "durationMs",
    "execError", "exitCode", "fork", "interrupted", "isolation", "merge", "mode", "mountErrors", "onConflict", "pathRules", "rollups", "shell",
    "signal", "stderr", "stderrBytes", "stderrTruncated", "stdout", "stdoutBytes", "stdoutTruncated", "succeeded", "summary", "timedOut",
    "vault", "violations", "violationsTruncated", "workdir",
  ], "every field of the run document, as index.d.ts declares it");
  assert.deepEqual([run.merge, run.onConflict, run.conflicts, run.fork, run.conflicted], ["fast_forward", "keep", [], null, false]);
  assert.equal(run.isolation, null);
  assert.ok(["fuse", "materialize"].includes(run.mode));
  assert.equal(typeof run.durationMs, "number");
  assert.match(run.checkpoint.name, /^run-\d{8}T\d{6}\.\d{6}Z(-\d+)?$/);
  assert.equal(run.checkpoint.auto, true);
  assert.equal(run.succeeded, true);
  assert.equal(run.raw.exit_code, 0);
  assert.equal(run.raw.stdout_bytes, 5);
  assert.equal(await avfs.readText("/made.txt"), "new\n");
});

test("a failing command resolves with its exit code; restoring the run's checkpoint undoes it", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/src/main.py", "print('good')\n", { parents: true });
  const run = await avfs.proxyExec(["sh", "-c", "echo broken > src/main.py; rm -f missing; exit 3"]);
  assert.deepEqual([run.exitCode, run.timedOut, run.succeeded], [3, false, false]);
  assert.deepEqual(run.changes.map((c) => [c.path, c.change]), [["/src/main.py", "modified"]]);
  assert.equal(await avfs.readText("/src/main.py"), "broken\n");
  await avfs.checkpointRestore(run.checkpoint.name);
  assert.equal(await avfs.readText("/src/main.py"), "print('good')\n");
});

test("a denied command rejects with PolicyDenied carrying the run, and nothing runs", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/keep.txt", "x");
  await avfs.policySet(DENY_RM);
  const err = await rejection(avfs.proxyExec(["rm", "-f", "keep.txt"]));
  assert.ok(err instanceof PolicyDenied, `got ${err.name}: ${err.message}`);
  assert.deepEqual([err.code, err.exitStatus, err.message], ["policy_denied", 126, err.result.decision.reason]);
  assert.deepEqual([err.decision.allowed, err.decision.rule, err.decision.policy], [false, "rm *", "vault"]);
  assert.deepEqual([err.result.exitCode, err.result.signal, err.result.checkpoint, err.result.changes], [null, null, null, []]);
  assert.equal(err.raw.decision.allowed, false);
  assert.deepEqual(err.command, ["--json", "--vault", "work", "proxy", "exec", "--", "rm", "-f", "keep.txt"]);
  assert.equal(await avfs.readText("/keep.txt"), "x");

  const unchecked = await avfs.proxyExec(["rm", "-f", "keep.txt"], { check: false });
  assert.equal(unchecked.decision.allowed, false);
  assert.equal(unchecked.exitCode, null);
  assert.equal(await avfs.exists("/keep.txt"), true);
});

test("the policy option runs under a given policy instead of the vault's", async (t) => {
  const { avfs } = await freshVault(t);
  const err = await rejection(avfs.proxyShell("rm -f x", { policy: { commands: { deny: ["sh *"] } } }));
  assert.ok(err instanceof PolicyDenied);
  assert.deepEqual([err.decision.rule, err.decision.policy], ["sh *", "file"]);
  assert.equal((await avfs.proxyExec(["true"], { policy: DENY_RM })).decision.policy, "file");
});

test("a timeout resolves with timedOut, string or milliseconds", async (t) => {
  const { avfs } = await freshVault(t);
  const started = Date.now();
  const run = await avfs.proxyExec(["sleep", "30"], { timeout: "300ms", grace: "200ms" });
  assert.deepEqual([run.timedOut, run.exitCode, run.succeeded], [true, null, false]);
  assert.equal(typeof run.signal, "number");
  const shellRun = await avfs.proxyShell("sleep 30", { timeout: 300 });
  assert.equal(shellRun.timedOut, true);
  assert.ok(Date.now() - started < 15_000, "the commands were stopped");
});

test("aborting the signal stops the command; the run resolves as interrupted", async (t) => {
  const { avfs } = await freshVault(t);
  const controller = new AbortController();
  let settled = false;
  const pending = avfs.proxyShell("echo started > started.txt; sleep 30", { signal: controller.signal })
    .finally(() => { settled = true; });
  pending.catch(() => {}); // awaited below; this marks it handled while we poll
  // Abort once the command runs (its file is in the vault once closed), or after 3 s.
  for (let waited = 0; waited < 3000 && !settled && !(await avfs.exists("/started.txt")); waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const started = Date.now();
  controller.abort();
  const run = await pending;
  assert.deepEqual([run.interrupted, run.succeeded, run.timedOut], ["SIGTERM", false, false]);
  assert.ok(Date.now() - started < 10_000);
});

test("an already aborted signal rejects before anything runs", async (t) => {
  const { avfs } = await freshVault(t);
  const err = await rejection(avfs.proxyShell("echo ran > ran.txt", { signal: AbortSignal.abort() }));
  assert.equal(err.name, "AbortError");
  assert.equal(await avfs.exists("/ran.txt"), false);
});

test("a missing vault rejects with VaultNotFound", async (t) => {
  const { avfs } = await freshVault(t);
  const err = await rejection(avfs.forVault("nope").proxyExec(["true"]));
  assert.ok(err instanceof VaultNotFound, `got ${err.name}: ${err.message}`);
  assert.equal(err.exitStatus, 3);
});

test("a program that does not exist resolves with execError", async (t) => {
  const { avfs } = await freshVault(t);
  const run = await avfs.proxyExec(["no-such-program-agentvfs"]);
  assert.equal(run.exitCode, null);
  assert.equal(typeof run.execError, "string");
  assert.equal(run.decision.allowed, true);
});

test("output over the limit is cut in the middle and counted; large documents arrive whole", async (t) => {
  const { avfs } = await freshVault(t);
  const script = "head -c 3000000 /dev/zero | tr '\\0' a";
  const limited = await avfs.proxyShell(script, { outputLimit: "64KiB" });
  assert.deepEqual([limited.stdoutTruncated, limited.stdoutBytes], [true, 3_000_000]);
  assert.match(limited.stdout, /^a+\n?\[… \d+ bytes omitted …\]\n?a+$/);
  const byDefault = await avfs.proxyShell(script);
  assert.equal(byDefault.stdoutTruncated, true);
  assert.ok(byDefault.stdout.length > 1_000_000, "the 1 MiB default limit, not a pipe buffer, bounds the output");
});

test("output that is not UTF-8 comes with its exact bytes", async (t) => {
  const { avfs } = await freshVault(t);
  const run = await avfs.proxyShell("printf 'a\\377b'");
  assert.equal(run.stdout, "a\uFFFDb");
  assert.deepEqual(exactBytes(run, "stdout"), Buffer.from([0x61, 0xff, 0x62]));
  assert.deepEqual(exactBytes(run, "stderr"), Buffer.alloc(0));
});

test("cwd, readonly and checkpoint options", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.mkdir("/sub");
  const inSub = await avfs.proxyShell("echo here > here.txt", { cwd: "/sub", checkpoint: "never" });
  assert.deepEqual([inSub.cwd, inSub.checkpoint, inSub.exitCode], ["/sub", null, 0]);
  assert.equal(await avfs.readText("/sub/here.txt"), "here\n");
  const readonly = await avfs.proxyShell("echo x > ro.txt", { readonly: true });
  assert.notEqual(readonly.exitCode, 0);
  assert.deepEqual([readonly.checkpoint, readonly.changes], [null, []]);
  assert.equal(await avfs.exists("/ro.txt"), false);
});

test("env, mode and keepMount options", { skip: SKIP_WITHOUT_FUSE }, async (t) => {
  assertFuse();
  const { avfs } = await freshVault(t);
  const withEnv = await avfs.proxyShell('printf "%s" "$GREETING"', { env: { GREETING: "hello there" }, mode: "materialize" });
  assert.deepEqual([withEnv.stdout, withEnv.mode], ["hello there", "materialize"]);
  const keep = join(await tempDir(t), "kept");
  await mkdir(keep);
  defer(t, () => avfs.unmount(keep, { lazy: true }).catch(() => {}));
  const kept = await avfs.proxyShell("echo kept > kept.txt", { keepMount: keep });
  assert.deepEqual([kept.exitCode, kept.mode], [0, "fuse"]);
  assert.equal(await readFile(join(keep, "kept.txt"), "utf8"), "kept\n", "still mounted after the run");
  assert.deepEqual((await avfs.mounts()).mounts.map((m) => m.mountpoint), [keep]);
});

test("path rules: a refused read is a violation", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/secrets/key", "k", { parents: true });
  await avfs.policySet({
    paths: [{ glob: "**", ops: ["read", "write", "create", "delete"] }, { glob: "secrets/**", ops: [], deny: true }],
  });
  const run = await avfs.proxyShell("cat secrets/key");
  assert.notEqual(run.exitCode, 0);
  assert.notEqual(run.pathRules, "none");
  assert.deepEqual(run.violations, [{ path: "/secrets/key", op: "read", rule: "secrets/**" }]);
});

test("proxyExec takes the command as an array; proxyShell as a string", async (t) => {
  const { avfs } = await freshVault(t);
  await assert.rejects(avfs.proxyExec("cargo test"), TypeError);
  await assert.rejects(avfs.proxyExec([]), TypeError);
  await assert.rejects(avfs.proxyShell(["echo", "hi"]), TypeError);
});

test("changes: summary rolls up node_modules once, with counts and bytes", async (t) => {
  const { avfs } = await freshVault(t);
  const run = await avfs.proxyShell(
    "mkdir -p node_modules/a src && for i in 1 2 3; do echo $i > node_modules/a/f$i; done; echo x > src/app.js",
    { mode: "materialize", changes: "summary" },
  );
  assert.equal(run.changesMode, "summary");
  assert.deepEqual(run.changedFiles, ["/src", "/src/app.js"]);
  assert.deepEqual(run.rollups.map((r) => [r.path, r.added, r.total, r.bytesAdded]), [["/node_modules", 5, 5, 6]]);
  assert.equal(run.summary.total, 7);
});

test("a real npm ci through proxyExec, summarized, fits in 20 KB; diff lists every file", async (t) => {
  const { avfs } = await freshVault(t);
  // This package's own manifest and lock file: a real install from the npm registry.
  const here = new URL("..", import.meta.url);
  await avfs.write("/package.json", await readFile(new URL("package.json", here)));
  await avfs.write("/package-lock.json", await readFile(new URL("package-lock.json", here)));
  const run = await avfs.proxyExec(["npm", "ci", "--no-audit", "--no-fund"], { changes: "summary", timeout: "8m" });
  assert.equal(run.exitCode, 0, run.stderr);
  assert.deepEqual(run.rollups.map((r) => r.path), ["/node_modules"]);
  const [modules] = run.rollups;
  assert.ok(modules.added > 100 && modules.bytesAdded > 1_000_000, JSON.stringify(modules));
  assert.equal(run.summary.total, run.changes.length + modules.total);
  const size = JSON.stringify(run.raw).length;
  assert.ok(size < 20 * 1024, `the summarized run document is ${size} bytes`);
  const diff = await avfs.diff({ from: run.checkpoint.name });
  assert.equal(diff.changes.length, run.summary.total);
});
