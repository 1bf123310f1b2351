"use strict";
/** `avfs proxy exec`: run a command in the vault under its policy, and report what it did. */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");
const { PolicyDenied } = require("./errors");
const { withPolicyFile } = require("./policy-file");

/** A duration as avfs takes it: a string as is ("5m", "1500ms"), a number as milliseconds. */
function duration(value) {
  return typeof value === "number" ? `${Math.round(value)}ms` : String(value);
}

/**
 * The `proxy exec` flags for the run options (all optional; absent ones fall
 * back to the policy, then to avfs defaults).
 */
function runFlags({ timeout, grace, cwd, readonly = false, checkpoint, outputLimit, env = {}, mode, keepMount, changes, onConflict, workdir, isolate = false, push = false }) {
  const flags = [];
  if (timeout !== undefined) flags.push("--timeout", duration(timeout));
  if (grace !== undefined) flags.push("--grace", duration(grace));
  if (cwd !== undefined) flags.push("--cwd", cwd);
  if (readonly) flags.push("--readonly");
  if (checkpoint !== undefined) flags.push("--checkpoint", checkpoint);
  if (outputLimit !== undefined) flags.push("--output-limit", String(outputLimit));
  for (const [name, value] of Object.entries(env)) flags.push("--env", `${name}=${value}`);
  if (mode !== undefined) flags.push("--mode", mode);
  if (keepMount !== undefined) flags.push("--keep-mount", keepMount);
  if (changes !== undefined) flags.push("--changes", changes);
  if (onConflict !== undefined) flags.push("--on-conflict", onConflict);
  if (workdir !== undefined) flags.push("--workdir", workdir);
  if (isolate) flags.push("--isolate");
  if (push) flags.push("--push");
  return flags;
}

/**
 * Runs `proxy exec` with `tail` (the command after the flags) and returns the run.
 * Whatever the command did (failed, timed out, was not found) resolves: only a
 * denial rejects, with PolicyDenied, unless `check` is false. Aborting `signal`
 * sends avfs SIGTERM: it stops the command and reports the run as interrupted.
 */
async function proxyRun(avfs, tail, { policy, check = true, signal, ...options }) {
  const exec = (file) => avfs[RUNNER].json(
    ["proxy", "exec", ...runFlags(options), ...(file === undefined ? [] : ["--policy", file]), ...tail],
    // The exit status is the command's own (or 124, 126, 127, 128+N, 4 on a conflict): the
    // document, not the status, says whether avfs itself failed.
    { acceptStatus: () => true, signal },
  );
  const { doc, args } = policy === undefined ? await exec(undefined) : await withPolicyFile(policy, exec);
  const run = toResult(doc);
  // A run whose changes conflicted with the vault was not applied (avfs exits 4; see `fork`).
  run.conflicted = run.merge === "conflict";
  run.succeeded = run.exitCode === 0 && !run.timedOut && run.interrupted === null && !run.conflicted;
  // agentvfs's name for the changed paths.
  run.changedFiles = run.changes.map((change) => change.path);
  if (check && !run.decision.allowed) throw new PolicyDenied(run, args);
  return run;
}

/** Methods of AVFS for proxied runs. */
const proxyMethods = {
  /**
   * Runs `argv` (program and arguments, no shell) in the vault under its policy,
   * after an automatic checkpoint; resolves with the run (exit code, output,
   * changed files, violations). Rejects with PolicyDenied when the policy denies it.
   */
  async proxyExec(argv, options = {}) {
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((arg) => typeof arg === "string")) {
      throw new TypeError("proxyExec takes the command as a non-empty array of strings; use proxyShell for a shell script");
    }
    return proxyRun(this, ["--", ...argv], options);
  },

  /** Runs a shell script (`sh -c SCRIPT`) in the vault, as proxyExec does. */
  async proxyShell(script, options = {}) {
    if (typeof script !== "string") throw new TypeError("proxyShell takes the script as a string");
    return proxyRun(this, ["--shell", script], options);
  },
};

module.exports = { proxyMethods };
