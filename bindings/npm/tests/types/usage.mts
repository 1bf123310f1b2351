// Type-checked (never run) by tests/package.test.mjs: the declarations as an ESM
// TypeScript user sees them. Each @ts-expect-error must be an error, or tsc fails.
import { AVFS, AVFSError, PolicyDenied, VaultNotFound, NotFound, exactBytes, errorClasses, QuotaExceeded, Conflict, InvalidQuery, MergeConflict } from "agentvfs";
import type { Run, Entry, Policy, WithRaw, Diff, Version, SearchHit, AuditEntry, Merge, PathConflict } from "agentvfs";
import agentvfs from "agentvfs";

const avfs = new AVFS("agent-workspace", { binary: "/usr/bin/avfs", home: "/tmp/h", env: { AVFS_RUN_CHECKPOINTS: "5" } });
const current: AVFS = new AVFS();
const vaultName: string | null = avfs.vault;

const vault = await avfs.createVault("agent-workspace", { use: true });
const forkedFrom: string | null = (await avfs.forkVault("agent-workspace", "task-001")).forkedFrom;
const entry: WithRaw<Entry> = await avfs.write("/src/main.py", Buffer.from("x"), { parents: true, mode: 0o644 });
const mtimeNs: bigint = entry.mtimeNs;
const exact: Buffer = exactBytes(entry);
const text: string = await avfs.readText("/src/main.py");
const bytes: Buffer = await avfs.readBytes("/src/main.py");
const entries: Entry[] = await avfs.tree();
const diff: Diff = await avfs.diff({ from: "pre-change", paths: ["/src"] });
const restored = await avfs.checkpointRestore("pre-change");
const previousName: string | undefined = restored.savedPrevious?.name;

const policy: Policy = { commands: { deny: ["git push *"] }, output_limit: "1MiB" };
await avfs.policySet(policy);
const decision = await avfs.policyCheck(["git", "push"], { policy: "/tmp/policy.json" });
const allowed: boolean = decision.allowed;

const run: Run = await avfs.proxyExec(["cargo", "test"], { timeout: "5m", check: false, policy });
const exitCode: number | null = run.exitCode;
const timedOut: boolean = run.timedOut;
const changed: string[] = run.changes.map((c) => c.path);
const changedFiles: string[] = run.changedFiles;
const catText: Promise<string> = avfs.cat("/src/main.py");
const rawRun: unknown = (await avfs.proxyShell("make", { timeout: 60_000 })).raw;

const value: number = await avfs.withMount("/mnt/w", async (mount) => mount.pid, { readonly: true });
const inTemp: string = await avfs.withMount((mount) => mount.mountpoint);
const currentVault: string | null = (await avfs.listVaults()).current;
const movedFrom: string = (await avfs.mv("/a", "/b")).from;
const succeeded: boolean = (await avfs.proxyExec(["make"], { signal: AbortSignal.timeout(1000) })).succeeded;
const attempt: Run = await avfs.proxyShell("make", { onConflict: "theirs" });
const keptFork: string | null = attempt.conflicted ? attempt.fork : null;
const conflictKinds: PathConflict["kind"][] = attempt.conflicts.map((c) => c.kind);
const forkMerge: Merge = await avfs.mergeVault("task-001", { into: "main", dryRun: true, onConflict: "keep" });
const mergeStatus: "fast_forward" | "merged" | "up_to_date" | "conflict" = forkMerge.status;
const isMergeConflict = (err: unknown): boolean => err instanceof MergeConflict && err.code === "merge_conflict";
const fork: AVFS = avfs.forVault("task-001");
await avfs.export("/src", "/tmp/out", { force: true });

try {
  await avfs.stat("/nope");
} catch (err) {
  if (err instanceof VaultNotFound) {
    const code: "vault_not_found" = err.code;
    const status: number | null = err.exitStatus;
  }
  if (err instanceof NotFound || err instanceof AVFSError) {
    const hint: string | null = err.hint;
  }
  if (err instanceof PolicyDenied) {
    const deniedRun: Run = err.result;
    const rule: string | null = err.decision.rule;
  }
}
const VaultNotFoundClass: typeof AVFSError = errorClasses.vault_not_found;
const sameClass: typeof AVFS = agentvfs.AVFS;

const versions: Version[] = await avfs.log("/src/main.py");
const versionNs: bigint = versions[0].timeNs;
const oldText: string = await avfs.readText("/src/main.py", { version: versions[0].version });
const oldBytes: Buffer = await avfs.readBytes("/src/main.py", { version: 1 });
const fromVersion: number = (await avfs.checkout("/src/main.py", 1)).fromVersion;
const revertedEntry: Entry | null = (await avfs.revert("/src/main.py")).entry;
const patch: string | null = (await avfs.diffVersions("/src/main.py", 1, 2)).patch;
const changePatch: string | null | undefined = (await avfs.diff({ patch: true })).changes[0].patch;
const grepLine: number = (await avfs.grep("TODO", "/src", { ignoreCase: true, filesOnly: false })).matches[0].line;
const found: Entry[] = await avfs.find("/", { name: "*.py", type: "file", minSize: "1K", maxSize: 1 << 20, maxDepth: 3 });
const hits: SearchHit[] = await avfs.search("hello OR world", { limit: 5 });
const dedup: number = (await avfs.stats()).store.dedupRatio;
const freedBytes: number = (await avfs.gc({ dryRun: true })).freed.bytes;
const prunedVersions: number = (await avfs.prune({ keepVersions: 3, checkpointsOlderThan: new Date(), allVaults: true })).pruned[0].versions;
const merged: number = (await avfs.compact()).layersMerged;
const maxBytes: number | null = (await avfs.quotaSet({ maxBytes: "1GiB", maxFiles: 1000 })).quota.maxBytes;
await avfs.quotaShow();
await avfs.quotaClear();
const journal: AuditEntry[] = await avfs.audit({ since: "2h", limit: 10 });
const intact: boolean = (await avfs.auditVerify()).intact;
try {
  await avfs.write("/big", "x");
} catch (err) {
  if (err instanceof QuotaExceeded) {
    const quotaCode: "quota_exceeded" = err.code;
    const asConflict: Conflict = err;
  }
  if (err instanceof InvalidQuery) {
    const queryCode: "invalid_query" = err.code;
  }
}
const QuotaClass: typeof AVFSError = errorClasses.quota_exceeded;

// @ts-expect-error checkout needs a version
await avfs.checkout("/src/main.py");
// @ts-expect-error a version is a number
await avfs.readText("/src/main.py", { version: versions[0] });
// @ts-expect-error find's type is f, d, l or a kind
await avfs.find("/", { type: "socket" });
// @ts-expect-error prune needs its options
await avfs.prune();
// @ts-expect-error search resolves with an array of hits, not a document
(await avfs.search("x")).results;
// @ts-expect-error a deleted version has no hash
const versionHash: string = versions[0].hash;

// @ts-expect-error proxyExec takes an array, not a command line
await avfs.proxyExec("cargo test");
// @ts-expect-error exitCode may be null
const notNull: number = run.exitCode;
// @ts-expect-error mtimeNs is a bigint
const asNumber: number = entry.mtimeNs;
// @ts-expect-error there is no such code
const badCode = errorClasses.no_such_code;
// @ts-expect-error write takes a string or bytes
await avfs.write("/f", 42);
// @ts-expect-error listVaults resolves with an object, not an array
(await avfs.listVaults()).map((v) => v.name);

export { versions, versionNs, oldText, oldBytes, fromVersion, revertedEntry, patch, changePatch, grepLine, found, hits, dedup,
  freedBytes, prunedVersions, merged, maxBytes, journal, intact, QuotaClass, versionHash };
export { vault, forkedFrom, mtimeNs, exact, text, bytes, entries, diff, previousName, allowed, exitCode, timedOut,
  changed, rawRun, value, inTemp, currentVault, movedFrom, succeeded, fork, current, vaultName, VaultNotFoundClass, sameClass, notNull, asNumber, badCode };
