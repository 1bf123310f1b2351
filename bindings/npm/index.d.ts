/// <reference types="node" />
// Types of agentvfs. The shapes are avfs's JSON documents (docs/json.md) with
// keys in camelCase; a policy stays in its file format (snake_case keys).

/** A JSON document exactly as avfs printed it (snake_case keys; `mtime_ns` as bigint). */
export type RawDocument = { [key: string]: unknown };

/** A result that also carries, non-enumerable, the whole document avfs printed. */
export type WithRaw<T> = T & { readonly raw: RawDocument };

/** The kind of an entry. */
export type Kind = "file" | "dir" | "symlink";

/** A file, directory or symlink in a vault. */
export interface Entry {
  /** Absolute vault path (lossy when not UTF-8: see `pathB64`). */
  path: string;
  /** The path's exact bytes, base64, present only when they are not UTF-8 (see `exactBytes`). */
  pathB64?: string;
  kind: Kind;
  /** Permission bits, four octal digits ("0644"). */
  mode: string;
  size: number;
  /** RFC 3339 UTC time with nanoseconds. */
  mtime: string;
  /** Nanoseconds since the epoch (a bigint: a number cannot hold it exactly). */
  mtimeNs: bigint;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
  /** avfs content hash (64 hex digits) for files, else null. */
  hash: string | null;
  /** Symlink target for symlinks, else null. */
  target: string | null;
}

/** A vault: a workspace with its own history of checkpoints. */
export interface Vault {
  name: string;
  createdAt: string;
  /** The vault it was forked from, or null. */
  forkedFrom: string | null;
  /** Number of checkpoints. */
  checkpoints: number;
  layerDepth: number;
  /** Whether it is the store's current vault. */
  current: boolean;
}

/** What `listVaults` returns. */
export interface VaultList {
  vaults: Vault[];
  /** The store's current vault, or null. */
  current: string | null;
}

/** A named, frozen state of a vault. */
export interface Checkpoint {
  name: string;
  vault: string;
  message: string | null;
  /** True when avfs took it itself (`pre-restore-N`, `run-...`). */
  auto: boolean;
  createdAt: string;
}

/** What `checkpointRestore` did. */
export interface RestoreResult {
  checkpoint: Checkpoint;
  /** The unsaved state before the restore, kept as an automatic checkpoint, or null if it was one already. */
  savedPrevious: Checkpoint | null;
}

/** One side of a change. */
export interface ChangeSide {
  kind: Kind;
  mode: string;
  size: number;
  hash: string | null;
  target: string | null;
}

/** How a path changed. */
export type ChangeType = "added" | "modified" | "deleted" | "type_changed";

/** One changed path. */
export interface Change {
  path: string;
  pathB64?: string;
  change: ChangeType;
  /** The kind after the change (before it, for deletions). */
  kind: Kind;
  /** Null for additions. */
  before: ChangeSide | null;
  /** Null for deletions. */
  after: ChangeSide | null;
  /**
   * Only with `diff({patch: true})`: a unified diff (`--- a/PATH` / `+++ b/PATH`,
   * `/dev/null` for an added or deleted file), or null for directories, symlinks,
   * binary files and files over 16 MiB.
   */
  patch?: string | null;
}

/** Counts of changes by type. */
export interface DiffSummary {
  added: number;
  modified: number;
  deleted: number;
  typeChanged: number;
  total: number;
}

/** The differences between two states. */
export interface Diff {
  /** Normalized reference: `vault:NAME` or `vault:NAME@CHECKPOINT`. */
  from: string;
  to: string;
  /** Sorted by path. */
  changes: Change[];
  summary: DiffSummary;
}

/** One version of a file: a committed change of its content at its path (docs/json.md "History"). */
export interface Version {
  /** Numbered from 1 per path; not reused after `prune`. */
  version: number;
  path: string;
  pathB64?: string;
  size: number;
  /** Content hash, or null for a deletion. */
  hash: string | null;
  /** True when this version records the file's deletion (or its move away). */
  deleted: boolean;
  /** RFC 3339 UTC time with nanoseconds. */
  time: string;
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  /** What made the change: a CLI command (`write`, `append`, `cp`, `mv`, `rm`, `checkout`, `revert`…), `mount` or `migration`. */
  source: string;
  /** The checkpoint that froze the change, or null while it is only in the vault's head. */
  checkpoint: string | null;
  /** For changes made through a mount during a proxy run, the run's automatic checkpoint, else null. */
  run: string | null;
}

/** What `checkout` did. */
export interface CheckoutResult {
  path: string;
  pathB64?: string;
  /** The file as it is now. */
  entry: Entry;
  /** The version whose content was given back. */
  fromVersion: number;
  /** The new version this made. */
  version: Version;
}

/** What `revert` did. */
export interface RevertResult {
  path: string;
  pathB64?: string;
  /** The file as it is now, or null when the revert removed it. */
  entry: Entry | null;
  /** The new version this made. */
  version: Version;
}

/** One side of a `diffVersions`. */
export interface VersionSide {
  version: number;
  size: number;
  hash: string | null;
  deleted: boolean;
}

/** The difference between two versions of one file. */
export interface VersionDiff {
  path: string;
  pathB64?: string;
  v1: VersionSide;
  v2: VersionSide;
  /** Either side is binary (a NUL byte in its first 8,000 bytes, or not UTF-8): `patch` is null. */
  binary: boolean;
  /** Either side is over 16 MiB: `patch` is null. */
  tooLarge: boolean;
  /** Unified diff (`--- PATH@vN` / `+++ PATH@vM`, 3 lines of context; empty when equal), or null. */
  patch: string | null;
  addedLines: number;
  removedLines: number;
}

/** A line `grep` matched. */
export interface GrepMatch {
  path: string;
  pathB64?: string;
  /** 1-based line number. */
  line: number;
  /** The line without its newline, cut at 4 KiB, lossy where not UTF-8. */
  text: string;
}

/** What `grep` found. */
export interface GrepResult {
  pattern: string;
  /** Each matching line, in `tree` order (empty with `filesOnly`). */
  matches: GrepMatch[];
  /** The files with a match. */
  files: { path: string; pathB64?: string }[];
  /** Binary files (a NUL byte in the first 8,000 bytes) skipped. */
  binarySkipped: number;
}

/** A file `search` ranked. */
export interface SearchHit {
  path: string;
  pathB64?: string;
  /** BM25 relevance, higher is better (three decimals). */
  score: number;
  /** Content hash: identical files are one document, each path a hit with the same score. */
  hash: string;
  /** The best fragment, matches in `[` `]`. */
  snippet: string;
}

/** Counts of one vault as it is now. */
export interface VaultStats {
  name: string;
  /** A hard-linked file counts once. */
  files: number;
  /** Includes `/`. */
  dirs: number;
  symlinks: number;
  logicalBytes: number;
  /** Layers a lookup may visit (the top included). */
  chainDepth: number;
  checkpoints: number;
}

/** Counts of the whole store. */
export interface StoreStats {
  vaults: number;
  layers: number;
  checkpoints: number;
  contents: number;
  chunks: number;
  /** Sum of the vaults' `logicalBytes`. */
  logicalBytes: number;
  /** What the store keeps of content (each chunk once), checkpoints, versions and unreachable content included. */
  storedBytes: number;
  /** Stored bytes the vaults' current files need (their chunks once). */
  headBytes: number;
  /** `storedBytes - headBytes`: kept only for checkpoints and versions (or by nothing, until gc). */
  historyBytes: number;
  /** `logicalBytes - headBytes`: what storing identical content once saves. */
  dedupSavedBytes: number;
  /** `logicalBytes / storedBytes`, three decimals (1.0 when nothing is stored). */
  dedupRatio: number;
  /** The database file's size, without its WAL. */
  dbBytes: number;
  /** Disk space of the segment files that hold large chunks' bytes. */
  segmentBytes: number;
}

/** What `stats` returns. */
export interface Stats {
  /** By name. */
  vaults: VaultStats[];
  store: StoreStats;
}

/** What `gc` freed (or, with `dryRun`, would free). */
export interface GcResult {
  dryRun: boolean;
  /** A mount is live: chunks stored since the previous gc were kept for the next one. */
  sparedRecentChunks: boolean;
  freed: { layers: number; rows: number; contents: number; chunks: number; bytes: number };
}

/** What `prune` removed (or, with `dryRun`, would remove). */
export interface PruneResult {
  dryRun: boolean;
  pruned: { vault: string; checkpoints: string[]; versions: number }[];
}

/** What `compact` did. */
export interface CompactResult {
  layersMerged: number;
  dbBytesBefore: number;
  dbBytesAfter: number;
}

/** A vault's quota (null: no limit) and what it uses now. */
export interface QuotaInfo {
  vault: string;
  quota: { maxBytes: number | null; maxFiles: number | null; maxFileSize: number | null };
  /** `files` counts files, directories and symlinks (not `/`). */
  usage: { bytes: number; files: number };
}

/** Options of `prune`; at least one rule (`keep*` or `*OlderThan`) is required. */
export interface PruneOptions {
  /** Keep only the newest N automatic checkpoints. */
  keepCheckpoints?: number;
  /** Delete automatic checkpoints older than this age ("7d", "12h"), RFC 3339 time or Date. */
  checkpointsOlderThan?: string | Date;
  /** Apply the checkpoint rules to named checkpoints too. */
  named?: boolean;
  /** Keep only the newest N (at least 1) versions of each file. */
  keepVersions?: number;
  /** Delete versions older than this (the current one always stays). */
  versionsOlderThan?: string | Date;
  /** Prune every vault, not only this one. */
  allVaults?: boolean;
  /** Report what would be removed; change nothing. */
  dryRun?: boolean;
}

/** An entry of the store's journal. */
export interface AuditEntry {
  id: number;
  time: string;
  timeNs: bigint;
  /** The vault, or null for store-wide operations. */
  vault: string | null;
  /** The command: `write`, `checkpoint.save`, `proxy.exec`, `mount.session`… */
  op: string;
  detail: string;
  /** Chains the entry to the previous one. */
  hash: string;
}

/** What `auditVerify` found. */
export interface AuditVerification {
  intact: boolean;
  /** Number of entries checked. */
  entries: number;
  problems: { id: number; problem: string }[];
}

/** A vault path a store fault reaches: a file of a head or checkpoint (`version` null), or one of its versions. */
export interface AffectedPath {
  vault: string;
  /** The checkpoint, or null for the vault's head. */
  checkpoint: string | null;
  path: string;
  pathB64?: string;
  version: number | null;
}

/** One thing `verify` found wrong (`kind` as in docs/json.md: `chunk_hash_mismatch`, `chunk_missing`…). */
export interface StoreFault {
  kind: string;
  message: string;
  chunk: number | null;
  content: string | null;
  paths: AffectedPath[];
}

/** What `verify` checked and found. */
export interface StoreVerification {
  intact: boolean;
  /** `"store_corrupt"` when not intact, else null. */
  code: string | null;
  checked: { chunks: number; bytes: number; contents: number; layers: number };
  faults: StoreFault[];
}

/** What `mv` did. */
export interface Moved {
  /** The source path, normalized. */
  from: string;
  fromB64?: string;
  /** The entry at its new path. */
  entry: Entry;
}

/** A path `rm` removed. */
export interface RemovedPath {
  path: string;
  pathB64?: string;
}

/** What an import or export copied. */
export interface Counts {
  files: number;
  dirs: number;
  symlinks: number;
  hardLinks: number;
  /** Fifos, sockets and device nodes. */
  special: number;
  bytes: number;
  /** What was not copied and why (a socket's name on export; a device node without root). */
  skipped: { path: string; pathB64?: string; reason: string }[];
}

/** What `importDir` did. */
export interface ImportResult {
  vault: string;
  dest: string;
  destB64?: string;
  imported: Counts;
}

/** What `export` did. */
export interface ExportResult {
  vault: string;
  src: string;
  srcB64?: string;
  hostPath: string;
  exported: Counts;
}

/** A live FUSE mount. */
export interface Mount {
  mountpoint: string;
  vault: string;
  /** The mounted checkpoint, or null for the vault as it is. */
  checkpoint: string | null;
  mode: "rw" | "ro";
  /** The serving process. */
  pid: number;
  /**
   * How file data travels: "passthrough" (files the mount creates bypass the
   * server) or "fuse"; null until the kernel has answered the mount.
   */
  dataPath: "passthrough" | "fuse" | null;
  /**
   * How requests reach the server: "io_uring" (a queue per CPU, where root
   * enabled it in the kernel) or "dev_fuse"; null when unknown.
   */
  transport: "io_uring" | "dev_fuse" | null;
}

/** What `mounts` lists. */
export interface MountList {
  mounts: Mount[];
  /** Dead mounts this call detached. */
  cleaned: string[];
}

/** What `unmount` did. */
export interface UnmountResult {
  unmounted: string;
  vault: string | null;
  lazy: boolean;
}

/** An operation a path rule can grant. */
export type PathOp = "read" | "write" | "create" | "delete";

/** When `proxy exec` checkpoints before a run. */
export type CheckpointMode = "auto" | "always" | "never";

/** A path rule of a policy. */
export interface PathRule {
  /** Vault-relative glob (`*` within a component, `**` across them). */
  glob: string;
  ops: PathOp[];
  deny?: boolean;
}

/** A policy, in the policy file format (docs/json.md "Policies"; keys stay snake_case). */
export interface Policy {
  commands?: { allow?: string[]; deny?: string[] };
  paths?: PathRule[];
  env?: { pass?: string[]; set?: Record<string, string> };
  /** Duration: an integer and ms, s, m or h ("10m"). */
  timeout?: string;
  grace?: string;
  checkpoint?: CheckpointMode;
  /** Size: an integer, optionally with B, KiB, MiB or GiB. */
  output_limit?: string;
  /** What a run's merge does with conflicts (default keep). */
  on_conflict?: OnConflict;
  /** The absolute path the vault appears at inside a run (default /workspace). */
  workdir?: string;
}

/** What a merge does with paths both sides changed differently. */
export type OnConflict = "keep" | "ours" | "theirs";

/** A path both sides of a merge changed differently; ours is the target, theirs the source (run or fork). */
export interface PathConflict {
  path: string;
  pathB64?: string;
  kind: "content" | "add_add" | "modify_delete" | "type" | "mode";
  /** What each side has at the path, or null for nothing. */
  base: ChangeSide | null;
  ours: ChangeSide | null;
  theirs: ChangeSide | null;
}

/** What `mergeVault` did (docs/json.md "Merges"). */
export interface Merge {
  source: string;
  target: string;
  status: "fast_forward" | "merged" | "up_to_date" | "conflict";
  dryRun: boolean;
  onConflict: OnConflict;
  /** The automatic `pre-merge-N` checkpoint of the target, or null (dry run, nothing merged). */
  checkpoint: Checkpoint | null;
  /** What the merge changed in the target. */
  changes: Change[];
  summary: DiffSummary;
  /** Listed even when `onConflict` resolved them. */
  conflicts: PathConflict[];
}

/** What a policy decides for a command. */
export interface Decision {
  allowed: boolean;
  /** The command as matched (non-UTF-8 bytes shown lossily). */
  command: string[];
  /** The glob that decided, or null when none matched. */
  rule: string | null;
  reason: string;
  /** Which policy decided: the vault's, a `--policy` file, or none. */
  policy: "vault" | "file" | "none";
}

/** The decision inside a run (the command is the run's `command`). */
export type RunDecision = Omit<Decision, "command">;

/** An operation the path rules refused during a run. */
export interface Violation {
  path: string;
  pathB64?: string;
  op: PathOp;
  /** The glob of the rule that denied, or null when no rule granted the op. */
  rule: string | null;
}

/** A directory a summarized run reports once: counts by change kind and bytes. */
export interface Rollup {
  path: string;
  pathB64?: string;
  added: number;
  modified: number;
  deleted: number;
  typeChanged: number;
  total: number;
  bytesAdded: number;
  bytesRemoved: number;
}

/** What a `proxyExec` / `proxyShell` run did (docs/json.md "Proxy runs"). */
export interface Run {
  vault: string;
  /** The argument vector run (`["sh", "-c", script]` for a shell run). */
  command: string[];
  /** The script of a shell run, else null. */
  shell: string | null;
  /** The vault directory the command ran in. */
  cwd: string;
  /** The exact bytes of `cwd`, base64, present only when they are not UTF-8. */
  cwdB64?: string;
  /** `fuse` (mounted) or `materialize` (copied out and written back). */
  mode: "fuse" | "materialize";
  pathRules: "none" | "enforced" | "write_back";
  decision: RunDecision;
  /** The checkpoint taken before the run, or null. */
  checkpoint: Checkpoint | null;
  /** The child's exit status; null if killed by a signal or never started. */
  exitCode: number | null;
  /** The signal number that ended the child, or null. */
  signal: number | null;
  timedOut: boolean;
  /** The signal avfs itself got during the run, or null. */
  interrupted: "SIGINT" | "SIGTERM" | "SIGHUP" | null;
  /** Why the program could not be started (e.g. not found), or null. */
  execError: string | null;
  durationMs: number;
  /** Output up to the output limit (first and last halves kept around an omission line when over). */
  stdout: string;
  stdoutTruncated: boolean;
  /** Number of bytes the stream produced in all. */
  stdoutBytes: number;
  /** Exact output bytes, base64, present only when not UTF-8 (see `exactBytes(run, "stdout")`). */
  stdoutB64?: string;
  stderr: string;
  stderrTruncated: boolean;
  stderrBytes: number;
  stderrB64?: string;
  /** `full` (every change in `changes`) or `summary` (rolled-up directories in `rollups`). */
  changesMode: "full" | "summary";
  /** What the run changed (less what is under a rolled-up directory). */
  changes: Change[];
  /** With `changes: "summary"`: each rolled-up directory once (else empty). */
  rollups: Rollup[];
  summary: DiffSummary;
  violations: Violation[];
  violationsTruncated: boolean;
  /** What the run's own mount logged while serving the command: a commit that failed (on a full disk, say: the writes it held are not in the vault, nor in `changes`), a request that failed inside avfs (the program got EIO). Empty when all went well. */
  mountErrors: string[];
  /** How the run's attempt went into the vault; null when denied or with `keepMount` (no attempt). */
  merge: "fast_forward" | "merged" | "up_to_date" | "conflict" | null;
  onConflict: OnConflict;
  /** Paths the vault changed differently during the run. */
  conflicts: PathConflict[];
  /** With `merge: "conflict"`, the fork that keeps the run's changes; else null. */
  fork: string | null;
  /** Where the vault appeared inside the run's mount namespace (`/workspace` by default); null where the caller cannot make namespaces (not root, and user namespaces forbidden). */
  workdir: string | null;
  /** The isolation in force (`isolate`, or a policy's "isolation"); null when the run was not isolated. */
  isolation: { network: "none" | "host"; hide: string[] } | null;
  /** Added by agentvfs: the run's changes conflicted and were not applied (see `fork`). */
  conflicted: boolean;
  /** Added by agentvfs: the command ran to completion with exit code 0 (not timed out, not interrupted) and its changes were applied. */
  succeeded: boolean;
  /** Added by agentvfs (agentvfs's name): the changed paths, `changes.map((c) => c.path)`. */
  changedFiles: string[];
  /** The push after the run (`push: true`, or the policy's `remote`); absent otherwise. */
  push?: RunPush;
}

/** The `push` field of a Run: what the push did, or its error (a failed push never changes the run's status). */
export type RunPush =
  | {
      remote: string;
      remoteVault: string;
      generation: number;
      upToDate: boolean;
      uploaded: Transferred;
      checkpointsPushed: string[];
    }
  | { error: { code: ErrorCode; message: string; exitStatus: number } };

/** A configured remote (never credentials). */
export interface Remote {
  name: string;
  /** `s3://bucket/prefix` */
  url: string;
  /** The S3-compatible server; null: AWS. */
  endpoint: string | null;
  region: string | null;
  /** Pushes overwrite the head without a condition (servers without conditional writes). */
  unsafeSingleWriter: boolean;
  /** What the last `remoteCheck` (or first push) found; null until then. */
  conditionalWrites: boolean | null;
  created: string;
}

/** What `remoteCheck` found. */
export interface RemoteCheck {
  remote: string;
  url: string;
  reachable: boolean;
  credentials: boolean;
  /** Atomic conditional writes (false on Garage: pushes refuse unless `unsafeSingleWriter`). */
  conditionalWrites: boolean;
  unsafeSingleWriter: boolean;
  vaults: string[];
  requests: number;
}

/** Objects moved to or from a remote. */
export interface Transferred {
  layers: number;
  chunks: number;
  bytes: number;
}

/** What `push` did (`upToDate`: nothing written; `keptAs`: the checkpoint keeping a head replaced by `force`). */
export interface PushResult {
  vault: string;
  remote: string;
  remoteVault: string;
  generation: number;
  upToDate: boolean;
  forced: boolean;
  keptAs: string | null;
  uploaded: Transferred;
  checkpointsPushed: string[];
  checkpointsSkipped: string[];
  requests: number;
}

/** What `clone` made (`lazy`: no chunk bytes yet; fetched on first read). */
export interface CloneResult {
  vault: string;
  remote: string;
  remoteVault: string;
  generation: number;
  lazy: boolean;
  downloaded: Transferred;
  checkpoints: string[];
  requests: number;
}

/** What `pull` did. */
export interface PullResult {
  vault: string;
  remote: string;
  remoteVault: string;
  generation: number;
  status: "fast_forward" | "up_to_date" | "ahead";
  downloaded: Transferred;
  checkpointsAdded: string[];
  requests: number;
}

/** The vaults on one remote (`vault list --remote`). */
export interface RemoteVaultList {
  remote: string;
  vaults: { name: string; generation: number; checkpoints: string[]; pushed: string }[];
}

/** What `remoteGc` deleted (or, with `dryRun`, would delete). */
export interface RemoteGcResult {
  remote: string;
  dryRun: boolean;
  graceS: number;
  vaults: number;
  reachable: { layers: number; chunks: number };
  deleted: Transferred;
  /** Unreachable objects kept because they are younger than the grace period. */
  keptYoung: number;
  requests: number;
}

/** Options of `proxyExec` and `proxyShell`; absent ones come from the policy, then avfs defaults. */
export interface RunOptions {
  /** Time limit: a duration string ("5m", "1500ms") or milliseconds. */
  timeout?: string | number;
  /** Between SIGTERM and SIGKILL on timeout: a duration string or milliseconds. */
  grace?: string | number;
  /** The vault directory to run in (default `/`). */
  cwd?: string;
  /** Refuse every change. */
  readonly?: boolean;
  checkpoint?: CheckpointMode;
  /** Per-stream output limit: a size string ("1MiB") or bytes. */
  outputLimit?: string | number;
  /** "summary": report rolled-up directories (node_modules, target...) once each in `rollups`. */
  changes?: "full" | "summary";
  /** Environment variables for the command; they override the policy's. */
  env?: Record<string, string>;
  /** `fuse` (mount), `materialize` (copy out, write back), or `auto` (default: fuse when it works). */
  mode?: "auto" | "fuse" | "materialize";
  /** Run in a mount at this host directory and leave it mounted (reused if the vault is mounted there already); such a run is not an attempt. */
  keepMount?: string;
  /** When the vault changed the same paths during the run: keep (apply nothing, keep a fork), ours, theirs. */
  onConflict?: OnConflict;
  /** Where the vault appears inside the run (default: the policy's, else /workspace). */
  workdir?: string;
  /** Isolate the run: host read-only but the workspace, private /tmp and $HOME, no network (`--isolate`). */
  isolate?: boolean;
  /** Push the vault (with its checkpoints) after the run; the outcome is the run's `push`. */
  push?: boolean;
  /** Run under this policy (object, or policy file path) instead of the vault's. */
  policy?: Policy | string;
  /** Reject with PolicyDenied when denied (default true); false resolves with the denied run. */
  check?: boolean;
  /** Aborting it sends avfs SIGTERM: the command is stopped and the run resolves with `interrupted: "SIGTERM"`. */
  signal?: AbortSignal;
}

/** Options of the AVFS constructor. */
export interface AVFSOptions {
  /** The avfs binary: a path, or a name on PATH (default: `AVFS_BIN`, else `avfs` on PATH). */
  binary?: string;
  /** The store directory, passed as `AVFS_HOME` (default: the environment's, else the XDG data dir). */
  home?: string;
  /** More environment variables for avfs (e.g. `AVFS_RUN_CHECKPOINTS`). */
  env?: Record<string, string>;
}

/** A handle on an avfs store and (optionally) one vault in it; every method runs the avfs binary. */
export class AVFS {
  /**
   * @param vault the vault commands work on (`--vault`); default: `AVFS_VAULT`, else the store's current vault
   * @throws BinaryNotFound when the avfs binary cannot be found
   */
  constructor(vault?: string | null, options?: AVFSOptions);
  /** The vault this object works on, or null for the default one. */
  readonly vault: string | null;
  /** The avfs binary this object runs (an absolute path). */
  readonly binary: string;
  /** The same settings, working on another vault (e.g. a fork). */
  forVault(vault: string): AVFS;

  // Vaults
  /** Creates an empty vault (`use`: make it the current vault). */
  createVault(name: string, options?: { use?: boolean }): Promise<WithRaw<Vault>>;
  /** Lists every vault of the store, and which one is current. */
  listVaults(): Promise<WithRaw<VaultList>>;
  /** Shows one vault (default: this object's vault, else the current one). */
  vaultInfo(name?: string): Promise<WithRaw<Vault>>;
  /** Makes a vault the store's current vault; returns its name. */
  useVault(name: string): Promise<string>;
  /** Deletes a vault and its checkpoints (its forks keep their data); returns its name. */
  deleteVault(name: string): Promise<string>;
  /** Forks `source` into a new vault `name`, in O(1); returns the fork. */
  forkVault(source: string, name: string, options?: { use?: boolean }): Promise<WithRaw<Vault>>;
  /** Merges fork `source` into `into` (default: its parent); rejects with MergeConflict on a conflict under "keep". */
  mergeVault(source: string, options?: { into?: string; dryRun?: boolean; onConflict?: OnConflict }): Promise<WithRaw<Merge>>;

  // Files
  /** Creates directories (`parents`: also missing parents, no error if one exists); one entry per path. */
  mkdir(paths: string | string[], options?: { parents?: boolean; mode?: number | string }): Promise<Entry[]>;
  /**
   * Writes a file from a string (UTF-8) or bytes. `parents` (default true) creates
   * missing directories; `mode` (e.g. 0o600 or "600") applies to a new file.
   */
  write(
    path: string,
    content: string | Uint8Array,
    options?: { append?: boolean; parents?: boolean; mode?: number | string },
  ): Promise<WithRaw<Entry>>;
  /** Reads a file's bytes, of any size (`version`: that version of it, see `log`). */
  readBytes(path: string, options?: { version?: number }): Promise<Buffer>;
  /** Reads a file (`version`: that version of it) as UTF-8 text (invalid bytes become U+FFFD). */
  readText(path: string, options?: { version?: number }): Promise<string>;
  /** agentvfs's name for `readText`. */
  cat(path: string, options?: { version?: number }): Promise<string>;
  /** Lists a directory (default `/`); a file lists itself. */
  ls(path?: string): Promise<Entry[]>;
  /** Every entry under `path` (default `/`), depth-first, parents first. */
  tree(path?: string): Promise<Entry[]>;
  /** A path's attributes (symlinks are not followed). */
  stat(path: string): Promise<WithRaw<Entry>>;
  /** Whether `path` exists. */
  exists(path: string): Promise<boolean>;
  /** Copies a file, or a directory with `recursive`; returns the copy. */
  cp(src: string, dst: string, options?: { recursive?: boolean }): Promise<WithRaw<Entry>>;
  /** Moves or renames a path (into `dst` if it is a directory). */
  mv(src: string, dst: string): Promise<WithRaw<Moved>>;
  /** Removes paths (`recursive` for directories, `force` to skip missing ones); returns what was removed. */
  rm(paths: string | string[], options?: { recursive?: boolean; force?: boolean }): Promise<RemovedPath[]>;
  /** Copies a host directory into the vault at `dest` (default `/`). */
  importDir(hostDir: string, dest?: string): Promise<WithRaw<ImportResult>>;
  /** Copies a vault path out to a new host path (`force`: into an existing non-empty directory). */
  export(src: string, hostPath: string, options?: { force?: boolean }): Promise<WithRaw<ExportResult>>;

  // Checkpoints and diff
  /** Saves the vault's current state under `name`, in O(1). */
  checkpointSave(name: string, options?: { message?: string }): Promise<WithRaw<Checkpoint>>;
  /** Lists the vault's checkpoints, oldest first. */
  checkpointList(): Promise<Checkpoint[]>;
  /** Shows one checkpoint. */
  checkpointInfo(name: string): Promise<WithRaw<Checkpoint>>;
  /** Puts the vault back to a checkpoint; unsaved work is kept as `savedPrevious`. */
  checkpointRestore(name: string): Promise<WithRaw<RestoreResult>>;
  /** Deletes a checkpoint's name; returns it. */
  checkpointDelete(name: string): Promise<string>;
  /**
   * Changes from `from` (default: latest checkpoint) to `to` (default: now), under
   * `paths` if given; `patch`: each change gets a unified diff in `patch`.
   */
  diff(options?: { from?: string; to?: string; paths?: string[]; patch?: boolean }): Promise<WithRaw<Diff>>;

  // History
  /** The versions of the file at `path`, oldest first (an existing directory: none). */
  log(path: string): Promise<Version[]>;
  /** Gives version `version`'s content back as a new version (recreates a deleted file). */
  checkout(path: string, version: number): Promise<WithRaw<CheckoutResult>>;
  /** Undoes the file's newest change (`entry` null: the file is gone again); reverting a revert redoes. */
  revert(path: string): Promise<WithRaw<RevertResult>>;
  /** Unified diff between versions `v1` and `v2` (default: the newest) of one file. */
  diffVersions(path: string, v1: number, v2?: number): Promise<WithRaw<VersionDiff>>;

  // Search
  /** Lines matching a Rust regex in the files at or below `path` (default `/`); no match is not an error. */
  grep(pattern: string, path?: string, options?: { ignoreCase?: boolean; filesOnly?: boolean }): Promise<WithRaw<GrepResult>>;
  /** Entries at or below `path` (default `/`) passing every filter given, in `tree` order. */
  find(
    path?: string,
    options?: {
      /** Glob on the entry's name: `*`, `?`, `[ab]`, `{x,y}`. */
      name?: string;
      type?: "f" | "d" | "l" | Kind;
      /** Files only: bytes, or "10K", "1MiB"… */
      minSize?: number | string;
      maxSize?: number | string;
      /** 0: `path` itself. */
      maxDepth?: number;
    },
  ): Promise<Entry[]>;
  /** Text files ranked for an FTS5 query, best first, at most `limit` (default 20). */
  search(query: string, options?: { limit?: number }): Promise<SearchHit[]>;

  // Maintenance
  /** Counts and sizes of every vault and of the store. */
  stats(): Promise<WithRaw<Stats>>;
  /** Frees what nothing reaches any more (`dryRun`: only count it). */
  gc(options?: { dryRun?: boolean }): Promise<WithRaw<GcResult>>;
  /** Removes old automatic checkpoints and old versions; `gc` then frees the space. */
  prune(options: PruneOptions): Promise<WithRaw<PruneResult>>;
  /** Merges unnamed layers into their child, then VACUUMs the database. */
  compact(): Promise<WithRaw<CompactResult>>;
  /** Sets the limits given (sizes: bytes or "1MiB"), keeps the others. */
  quotaSet(limits: { maxBytes?: number | string; maxFiles?: number; maxFileSize?: number | string }): Promise<WithRaw<QuotaInfo>>;
  /** The vault's quota and usage. */
  quotaShow(): Promise<WithRaw<QuotaInfo>>;
  /** Removes every limit. */
  quotaClear(): Promise<WithRaw<QuotaInfo>>;
  /** The store's journal, oldest first: the newest `limit` (default 100) entries at or after `since` (age, RFC 3339 or Date). */
  audit(options?: { since?: string | Date; limit?: number }): Promise<AuditEntry[]>;
  /** Checks the journal's hash chain; resolves whether intact or not (see `intact`). */
  auditVerify(): Promise<WithRaw<AuditVerification>>;
  /** Checks the whole store (chunk hashes, references, integrity); resolves whether intact or not (see `intact`). */
  verify(): Promise<WithRaw<StoreVerification>>;
  /** Versions each file keeps (null: all); sets it first when `keepVersions` or `keepAll` is given. */
  retention(options?: { keepVersions?: number; keepAll?: boolean }): Promise<number | null>;

  // Policy
  /** Validates a policy (object or file path) and makes it the vault's; returns it normalized. */
  policySet(policy: Policy | string): Promise<Policy>;
  /** The vault's policy, or null when it has none. */
  policyShow(): Promise<Policy | null>;
  /** What the policy decides for `argv`; runs nothing; resolves whether allowed or not. */
  policyCheck(argv: string[], options?: { policy?: Policy | string }): Promise<WithRaw<Decision>>;

  // Proxy
  /**
   * Runs `argv` (program and arguments, no shell) in the vault under its policy.
   * Resolves whatever the command did (see `exitCode`, `timedOut`, `execError`);
   * rejects with PolicyDenied when the policy denies it, unless `check: false`.
   */
  proxyExec(argv: string[], options?: RunOptions): Promise<WithRaw<Run>>;
  /** Runs a shell script (`sh -c script`) in the vault, as proxyExec does. */
  proxyShell(script: string, options?: RunOptions): Promise<WithRaw<Run>>;

  // Mounts
  /** Mounts the vault (or a checkpoint, read-only) on an existing empty directory. */
  mount(dir: string, options?: { readonly?: boolean; checkpoint?: string }): Promise<WithRaw<Mount>>;
  /** Unmounts, once everything written is committed (`lazy`: even while files are open). */
  unmount(dir: string, options?: { lazy?: boolean }): Promise<WithRaw<UnmountResult>>;
  /** Live mounts of the store. */
  mounts(): Promise<WithRaw<MountList>>;

  // Remotes (credentials come from the AWS variables of avfs's environment, never arguments)
  /** Adds a remote at "s3://bucket/prefix"; `unsafeSingleWriter`: push without conditional writes (one pusher at a time only). */
  remoteAdd(
    name: string,
    url: string,
    options?: { endpoint?: string; region?: string; unsafeSingleWriter?: boolean },
  ): Promise<WithRaw<Remote>>;
  /** The configured remotes. */
  remoteList(): Promise<Remote[]>;
  /** Forgets a remote; resolves with its name. */
  remoteRemove(name: string): Promise<string>;
  /** Reachable, credentials accepted, conditional writes; its vaults. */
  remoteCheck(name: string): Promise<WithRaw<RemoteCheck>>;
  /** Deletes unreachable remote objects older than `grace` (default "24h"; a number is milliseconds). */
  remoteGc(name: string, options?: { grace?: string | number; dryRun?: boolean }): Promise<WithRaw<RemoteGcResult>>;
  /** Pushes this vault; rejects with RemoteDiverged (stale base) or RemoteNoConditionalWrites. */
  push(options?: { remote?: string; remoteVault?: string; checkpoints?: boolean; force?: boolean }): Promise<WithRaw<PushResult>>;
  /** Fast-forwards this vault to the remote head; rejects with RemoteDiverged when it has changes the remote lacks. */
  pull(options?: { remote?: string; remoteVault?: string }): Promise<WithRaw<PullResult>>;
  /** Clones a remote vault into a new local vault (`lazy`: chunk bytes on first read). */
  clone(
    remote: string,
    remoteVault: string,
    options?: { localName?: string; lazy?: boolean; use?: boolean },
  ): Promise<WithRaw<CloneResult>>;
  /** The vaults on a remote. */
  listRemoteVaults(remote: string): Promise<WithRaw<RemoteVaultList>>;
  /** Mounts on `dir`, calls `use`, and always unmounts (lazily if busy); resolves with what `use` returned. */
  withMount<T>(
    dir: string,
    use: (mount: WithRaw<Mount>) => T | Promise<T>,
    options?: { readonly?: boolean; checkpoint?: string },
  ): Promise<T>;
  /** As above, on a new temporary directory, removed afterwards. */
  withMount<T>(
    use: (mount: WithRaw<Mount>) => T | Promise<T>,
    options?: { readonly?: boolean; checkpoint?: string },
  ): Promise<T>;
}

/** The exact bytes of a field avfs may show lossily (`path`, `dest`, `src`, `from`, `stdout`, `stderr`). */
export function exactBytes(obj: object, field?: string): Buffer;

/** Every error code avfs documents. */
export type ErrorCode =
  | "isolation_unavailable"
  | "usage_error" | "invalid_argument" | "invalid_pattern" | "invalid_query" | "invalid_policy" | "invalid_path"
  | "path_too_long" | "invalid_name" | "invalid_move" | "too_large" | "no_store_location" | "invalid_remote" | "unknown_tool" | "vault_not_served"
  | "document_not_found" | "vault_not_found" | "checkpoint_not_found" | "path_not_found" | "version_not_found" | "no_current_vault"
  | "no_checkpoints" | "mountpoint_missing" | "not_mounted" | "remote_not_found" | "remote_vault_not_found"
  | "remote_bucket_not_found"
  | "merge_conflict" | "no_merge_base" | "quota_exceeded" | "file_too_large" | "version_deleted" | "nothing_to_revert" | "vault_exists" | "checkpoint_exists" | "path_exists" | "not_a_directory" | "is_a_directory"
  | "directory_not_empty" | "not_a_file" | "destination_exists" | "mountpoint_not_empty"
  | "already_mounted" | "mount_busy" | "remote_exists" | "remote_diverged" | "remote_no_conditional_writes"
  | "vault_changed"
  | "disk_full" | "storage_error" | "store_corrupt" | "schema_too_new" | "io_error"
  | "fuse_unavailable" | "mount_failed" | "remote_unreachable" | "remote_auth" | "remote_corrupt" | "mcp_failed"
  | "interrupted";

/** Details every AVFSError carries. */
export interface ErrorDetails {
  code: string;
  exitStatus?: number | null;
  hint?: string | null;
  raw?: RawDocument | null;
  command?: string[] | null;
}

/** Base class of every error agentvfs raises. */
export class AVFSError extends Error {
  constructor(message: string, details: ErrorDetails);
  /** Stable snake_case code (an avfs code, or `policy_denied`, `binary_not_found`, `protocol_error`). */
  readonly code: string;
  /** avfs's exit status, or null when it did not run or was killed. */
  readonly exitStatus: number | null;
  /** Something to try, when avfs had a suggestion. */
  readonly hint: string | null;
  /** The document avfs printed for this error, unconverted. */
  readonly raw: RawDocument | null;
  /** The avfs arguments that failed (without the binary). */
  readonly command: string[] | null;
}

/** Exit status 1: a bug in avfs or an environment problem. */
export class InternalError extends AVFSError {}
/** Exit status 2: the command line or an argument is wrong. */
export class BadInput extends AVFSError {}
/** Exit status 3: a vault, checkpoint, path or mount does not exist. */
export class NotFound extends AVFSError {}
/** Exit status 4: the operation conflicts with what exists. */
export class Conflict extends AVFSError {}
/** Exit status 5: storage or host I/O failure. */
export class StorageFailure extends AVFSError {}
/** `interrupted`: a signal stopped avfs (exit status 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP); what the command had not committed was rolled back. */
export class Interrupted extends AVFSError { readonly code: "interrupted"; }

/** The policy denied the command (exit status 126); nothing ran. */
export class PolicyDenied extends AVFSError {
  readonly code: "policy_denied";
  /** Why it was denied. */
  readonly decision: RunDecision;
  /** The denied run, for proxyExec / proxyShell. */
  readonly result: WithRaw<Run>;
}
/** The avfs binary was not found or cannot be run. */
export class BinaryNotFound extends AVFSError {
  readonly code: "binary_not_found";
}
/** avfs did not print the one JSON document the contract promises. */
export class ProtocolError extends AVFSError {
  readonly code: "protocol_error";
  /** What avfs printed on stdout. */
  readonly stdout: string;
  /** What avfs printed on stderr. */
  readonly stderr: string;
}

/** `usage_error`: unknown command or flag, missing argument, bad flag value. */
export class UsageError extends BadInput { readonly code: "usage_error"; }
/** `invalid_argument`: an argument is well-formed but unusable. */
export class InvalidArgument extends BadInput { readonly code: "invalid_argument"; }
/** `invalid_pattern`: a `grep` regular expression or a `find` name glob does not compile. */
export class InvalidPattern extends BadInput { readonly code: "invalid_pattern"; }
/** `invalid_query`: a `search` query FTS5 cannot parse, or an empty one. */
export class InvalidQuery extends BadInput { readonly code: "invalid_query"; }
/** `invalid_policy`: a policy is not valid (the message names the field). */
export class InvalidPolicy extends BadInput { readonly code: "invalid_policy"; }
/** `invalid_path`: `..` above the root, NUL byte, empty path. */
export class InvalidPath extends BadInput { readonly code: "invalid_path"; }
/** `path_too_long`: a name over 255 bytes or a path over 4096 bytes. */
export class PathTooLong extends BadInput { readonly code: "path_too_long"; }
/** `invalid_name`: a vault or checkpoint name is not 1–128 of `[A-Za-z0-9._-]`. */
export class InvalidName extends BadInput { readonly code: "invalid_name"; }
/** `invalid_move`: moving or copying a directory into itself. */
export class InvalidMove extends BadInput { readonly code: "invalid_move"; }
/** `too_large`: `cat --json` of a file over 16 MiB. */
export class TooLarge extends BadInput { readonly code: "too_large"; }
/** `no_store_location`: neither AVFS_HOME, XDG_DATA_HOME nor HOME is set. */
export class NoStoreLocation extends BadInput { readonly code: "no_store_location"; }
/** `isolation_unavailable`: a run's namespaces cannot be made here, and the run asked for them; nothing ran. */
export class IsolationUnavailable extends InternalError { readonly code: "isolation_unavailable"; }
/** `mcp_failed`: `avfs mcp` could not start or keep its stdio transport. */
export class McpFailed extends StorageFailure { readonly code: "mcp_failed"; }
/** `unknown_tool`: an `avfs mcp` tool call names no avfs tool. */
export class UnknownTool extends BadInput { readonly code: "unknown_tool"; }
/** `vault_not_served`: an `avfs mcp --vault V` call names another vault, or creates or forks one. */
export class VaultNotServed extends BadInput { readonly code: "vault_not_served"; }
/** `document_not_found`: `avfs schema NAME` of a document that does not exist. */
export class DocumentNotFound extends NotFound { readonly code: "document_not_found"; }
/** `vault_not_found`: no such vault. */
export class VaultNotFound extends NotFound { readonly code: "vault_not_found"; }
/** `checkpoint_not_found`: no such checkpoint. */
export class CheckpointNotFound extends NotFound { readonly code: "checkpoint_not_found"; }
/** `path_not_found`: no such file or directory in the vault. */
export class PathNotFound extends NotFound { readonly code: "path_not_found"; }
/** `version_not_found`: the path has no such version (see `log`), or no history to revert. */
export class VersionNotFound extends NotFound { readonly code: "version_not_found"; }
/** `no_current_vault`: no vault given and no current vault. */
export class NoCurrentVault extends NotFound { readonly code: "no_current_vault"; }
/** `no_checkpoints`: `diff` without `from` in a vault with no checkpoint. */
export class NoCheckpoints extends NotFound { readonly code: "no_checkpoints"; }
/** `mountpoint_missing`: the mount directory does not exist. */
export class MountpointMissing extends NotFound { readonly code: "mountpoint_missing"; }
/** `not_mounted`: unmount of a directory avfs has not mounted. */
export class NotMounted extends NotFound { readonly code: "not_mounted"; }
/** `quota_exceeded`: the write would pass the vault's `maxBytes` or `maxFiles`; nothing changed. */
export class QuotaExceeded extends Conflict { readonly code: "quota_exceeded"; }
/** `file_too_large`: the write would make a file larger than `maxFileSize`; nothing changed. */
export class FileTooLarge extends Conflict { readonly code: "file_too_large"; }
/** `version_deleted`: reading or checking out a version that records the file's deletion. */
export class VersionDeleted extends Conflict { readonly code: "version_deleted"; }
/** `nothing_to_revert`: no earlier state of the file is left (its only version is a deletion, or the others were pruned). */
export class NothingToRevert extends Conflict { readonly code: "nothing_to_revert"; }
/** `vault_exists`: a vault of that name exists. */
export class VaultExists extends Conflict { readonly code: "vault_exists"; }
/** `checkpoint_exists`: a checkpoint of that name exists. */
export class CheckpointExists extends Conflict { readonly code: "checkpoint_exists"; }
/** `path_exists`: the path exists. */
export class PathExists extends Conflict { readonly code: "path_exists"; }
/** `not_a_directory`: a path component is not a directory. */
export class NotADirectory extends Conflict { readonly code: "not_a_directory"; }
/** `is_a_directory`: a file operation on a directory. */
export class IsADirectory extends Conflict { readonly code: "is_a_directory"; }
/** `directory_not_empty`: removing a non-empty directory without `recursive`. */
export class DirectoryNotEmpty extends Conflict { readonly code: "directory_not_empty"; }
/** `not_a_file`: reading a symlink (avfs never follows symlinks). */
export class NotAFile extends Conflict { readonly code: "not_a_file"; }
/** `destination_exists`: export into an existing non-empty directory without `force`. */
export class DestinationExists extends Conflict { readonly code: "destination_exists"; }
/** `mountpoint_not_empty`: the mount directory is not empty. */
export class MountpointNotEmpty extends Conflict { readonly code: "mountpoint_not_empty"; }
/** `already_mounted`: the directory is a mount point already. */
export class AlreadyMounted extends Conflict { readonly code: "already_mounted"; }
/** `mount_busy`: unmount while files are open inside (use `lazy`). */
export class MountBusy extends Conflict { readonly code: "mount_busy"; }
/** `merge_conflict`: `mergeVault` found conflicts and merged nothing; `raw.error.merge` is the Merge. */
export class MergeConflict extends Conflict { readonly code: "merge_conflict"; }
/** `no_merge_base`: the merge source is not a fork and shares no state with the target. */
export class NoMergeBase extends Conflict { readonly code: "no_merge_base"; }
/** `disk_full`: the disk holding the store is full; nothing changed. */
export class DiskFull extends StorageFailure { readonly code: "disk_full"; }
/** `storage_error`: SQLite failed. */
export class StorageError extends StorageFailure { readonly code: "storage_error"; }
/** `store_corrupt`: a store consistency rule is broken. */
export class StoreCorrupt extends StorageFailure { readonly code: "store_corrupt"; }
/** `schema_too_new`: the store was written by a newer avfs. */
export class SchemaTooNew extends StorageFailure { readonly code: "schema_too_new"; }
/** `io_error`: reading or writing a host file failed. */
export class IoError extends StorageFailure { readonly code: "io_error"; }
/** `fuse_unavailable`: no /dev/fuse, or the kernel refused the mount. */
export class FuseUnavailable extends StorageFailure { readonly code: "fuse_unavailable"; }
/** `mount_failed`: the serving process failed or did not answer. */
export class MountFailed extends StorageFailure { readonly code: "mount_failed"; }
/** `invalid_remote`: a remote name or URL that is not allowed. */
export class InvalidRemote extends BadInput { readonly code: "invalid_remote"; }
/** `remote_not_found`: no remote has that name. */
export class RemoteNotFound extends NotFound { readonly code: "remote_not_found"; }
/** `remote_vault_not_found`: the remote holds no vault of that name. */
export class RemoteVaultNotFound extends NotFound { readonly code: "remote_vault_not_found"; }
/** `remote_bucket_not_found`: the remote's bucket does not exist. */
export class RemoteBucketNotFound extends NotFound { readonly code: "remote_bucket_not_found"; }
/** `remote_exists`: a remote with that name exists already. */
export class RemoteExists extends Conflict { readonly code: "remote_exists"; }
/** `remote_diverged`: the remote head moved since this vault's base: pull first (a push never overwrites silently). */
export class RemoteDiverged extends Conflict { readonly code: "remote_diverged"; }
/** `remote_no_conditional_writes`: the server has no conditional writes and the remote was not added as an unsafe single writer. */
export class RemoteNoConditionalWrites extends Conflict { readonly code: "remote_no_conditional_writes"; }
/** `vault_changed`: the vault changed locally in a way the remote operation would lose. */
export class VaultChanged extends Conflict { readonly code: "vault_changed"; }
/** `remote_unreachable`: the object store did not answer. */
export class RemoteUnreachable extends StorageFailure { readonly code: "remote_unreachable"; }
/** `remote_auth`: the object store refused the credentials, or there are none. */
export class RemoteAuth extends StorageFailure { readonly code: "remote_auth"; }
/** `remote_corrupt`: an object downloaded from the remote does not match its hash; nothing of it was stored. */
export class RemoteCorrupt extends StorageFailure { readonly code: "remote_corrupt"; }

/** The error class of each avfs error code. */
export const errorClasses: Readonly<Record<ErrorCode, typeof AVFSError>>;
