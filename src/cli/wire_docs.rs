//! The `--json` documents, one serialize-only type per shape, built by the
//! commands and described by the JSON Schemas that `avfs schema` prints
//! (docs/schema/). Shared parts (entries, vaults, changes) live in `wire`.
//!
//! Invariant: every document a command prints is one of these types, so the
//! checked-in schemas cannot drift from the output (tests/cli_schema.rs).

use super::wire::{
    WireChange, WireCheckpoint, WireConflict, WireEntry, WirePath, WireSummary, WireVault,
};
use crate::vault::VaultPath;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Serializes a document for `Output::doc`.
pub fn to_json<T: Serialize>(doc: &T) -> Value {
    serde_json::to_value(doc).expect("wire documents always serialize")
}

/// Declares a path field other than `path` (`dest`, `src`, `from`, `cwd`):
/// the lossy string and, when it is not UTF-8, `<name>_b64` with the bytes.
macro_rules! named_path {
    ($(#[$doc:meta])* $ty:ident, $field:ident, $b64:ident) => {
        $(#[$doc])*
        #[derive(Serialize, JsonSchema, Debug)]
        pub struct $ty {
            /// The path, lossy where not UTF-8.
            pub $field: String,
            /// The exact bytes, base64, only when the path is not UTF-8.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub $b64: Option<String>,
        }

        impl $ty {
            /// Encodes a vault path.
            pub fn new(p: &VaultPath) -> Self {
                let w = WirePath::from_path(p);
                Self { $field: w.path, $b64: w.path_b64 }
            }
        }
    };
}

named_path!(
    /// `dest` of an import.
    DestPath, dest, dest_b64
);
named_path!(
    /// `src` of an export.
    SrcPath, src, src_b64
);
named_path!(
    /// `from` of a move.
    FromPath, from, from_b64
);
named_path!(
    /// `cwd` of a run.
    CwdPath, cwd, cwd_b64
);

/// `{"error": {...}}`: what every command prints when it fails.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ErrorDoc {
    /// The failure.
    pub error: ErrorBody,
}

/// The body of an error document.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ErrorBody {
    /// Stable snake_case code (docs/json.md, "Errors").
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Equals the process exit status.
    pub exit_status: u8,
    /// Something useful to try, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// `merge_conflict` only: the merge that was refused (`status: "conflict"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<Box<MergeDoc>>,
}

/// How a merge went.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum MergeStatusName {
    UpToDate,
    FastForward,
    Merged,
    Conflict,
}

/// What a merge does with conflicting paths.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum OnConflictName {
    Keep,
    Ours,
    Theirs,
}

/// `vault merge` (also the `merge` of a `merge_conflict` error).
#[derive(Serialize, JsonSchema, Debug, Clone)]
pub struct MergeDoc {
    /// The vault merged from.
    pub source: String,
    /// The vault merged into.
    pub target: String,
    /// `up_to_date`, `fast_forward`, `merged` or `conflict`.
    #[schemars(with = "MergeStatusName")]
    pub status: &'static str,
    /// Nothing was changed.
    pub dry_run: bool,
    /// `keep`, `ours` or `theirs`.
    #[schemars(with = "OnConflictName")]
    pub on_conflict: &'static str,
    /// The checkpoint of the target kept just before the merge, or null.
    pub checkpoint: Option<WireCheckpoint>,
    /// What the merge changed (would change) in the target.
    pub changes: Vec<WireChange>,
    /// Counts per change kind.
    pub summary: WireSummary,
    /// Paths both sides changed differently.
    pub conflicts: Vec<WireConflict>,
}

/// What `verify` checked.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VerifyChecked {
    /// Chunks hashed.
    pub chunks: u64,
    /// Chunk bytes hashed.
    pub bytes: u64,
    /// Contents checked against their chunk lists.
    pub contents: u64,
    /// Layers checked.
    pub layers: u64,
}

/// A vault path a fault reaches.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VerifyPath {
    /// The vault.
    pub vault: String,
    /// The checkpoint, or null for the head.
    pub checkpoint: Option<String>,
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// The version whose bytes it reaches, or null for the file as it is in that state.
    pub version: Option<u64>,
}

/// One fault `verify` found.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VerifyFault {
    /// `integrity`, `chunk_hash_mismatch`, `chunk_missing`, ... (docs/json.md, "Verify").
    pub kind: &'static str,
    /// What is wrong.
    pub message: String,
    /// The chunk, or null.
    pub chunk: Option<i64>,
    /// The content hash, or null.
    pub content: Option<String>,
    /// Vault paths whose bytes it reaches (at most 100).
    pub paths: Vec<VerifyPath>,
}

/// The code of a damaged store.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum VerifyCode {
    StoreCorrupt,
}

/// `verify`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VerifyDoc {
    /// No fault found.
    pub intact: bool,
    /// null when intact, else `store_corrupt`.
    #[schemars(with = "Option<VerifyCode>")]
    pub code: Option<&'static str>,
    /// What was checked.
    pub checked: VerifyChecked,
    /// What is wrong.
    pub faults: Vec<VerifyFault>,
}

/// `retention`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RetentionDoc {
    /// Versions each file keeps, or null: every version.
    pub keep_versions: Option<u64>,
}

/// `vault create`, `vault info`, `vault fork`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VaultDoc {
    /// The vault (the fork, for `vault fork`).
    pub vault: WireVault,
}

/// `vault list`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VaultListDoc {
    /// Every vault, by name.
    pub vaults: Vec<WireVault>,
    /// The current vault, if one is set.
    pub current: Option<String>,
}

/// `vault use`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VaultUseDoc {
    /// The vault now current.
    pub current: String,
}

/// `vault delete`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VaultDeleteDoc {
    /// The deleted vault.
    pub deleted: String,
}

/// `mkdir`: one entry per argument.
#[derive(Serialize, JsonSchema, Debug)]
pub struct EntriesDoc {
    /// The directories.
    pub entries: Vec<WireEntry>,
}

/// `write`, `stat`, `cp`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct EntryDoc {
    /// The entry written, inspected or copied.
    pub entry: WireEntry,
}

/// `mv`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct MoveDoc {
    /// Where it was.
    #[serde(flatten)]
    pub from: FromPath,
    /// The entry at its new path.
    pub entry: WireEntry,
}

/// `cat --json` (also with `-v N`).
#[derive(Serialize, JsonSchema, Debug)]
pub struct FileContentDoc {
    /// The file.
    #[serde(flatten)]
    pub path: WirePath,
    /// Its size in bytes.
    pub size: u64,
    /// `utf-8` (content is the text) or `base64` (content is the bytes, encoded).
    #[schemars(with = "ContentEncoding")]
    pub encoding: &'static str,
    /// The content.
    pub content: String,
}

/// How `cat --json` carries content.
#[derive(JsonSchema)]
#[allow(dead_code)]
enum ContentEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "base64")]
    Base64,
}

/// `ls`, `tree`, `find`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ListingDoc {
    /// The listed path.
    #[serde(flatten)]
    pub path: WirePath,
    /// The entries.
    pub entries: Vec<WireEntry>,
}

/// `rm`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemovedDoc {
    /// The removed paths.
    pub removed: Vec<WirePath>,
}

/// What a transfer moved.
#[derive(Serialize, JsonSchema, Default, Debug)]
pub struct WireCounts {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Extra names of hard-linked files.
    pub hard_links: u64,
    /// Fifos, sockets and device nodes.
    pub special: u64,
    /// File bytes.
    pub bytes: u64,
    /// What was left out, and why.
    pub skipped: Vec<WireSkipped>,
}

/// A host path a transfer left out.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireSkipped {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// Why.
    pub reason: &'static str,
}

/// `import`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ImportDoc {
    /// The vault written.
    pub vault: String,
    /// Where in the vault.
    #[serde(flatten)]
    pub dest: DestPath,
    /// What was imported.
    pub imported: WireCounts,
}

/// `export`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ExportDoc {
    /// The vault read.
    pub vault: String,
    /// The vault path exported.
    #[serde(flatten)]
    pub src: SrcPath,
    /// The host path written.
    pub host_path: String,
    /// What was exported.
    pub exported: WireCounts,
}

/// `checkpoint save`, `checkpoint info`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CheckpointDoc {
    /// The checkpoint.
    pub checkpoint: WireCheckpoint,
}

/// `checkpoint list`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CheckpointListDoc {
    /// The vault.
    pub vault: String,
    /// Its checkpoints, oldest first.
    pub checkpoints: Vec<WireCheckpoint>,
}

/// `checkpoint restore`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CheckpointRestoreDoc {
    /// The checkpoint restored.
    pub checkpoint: WireCheckpoint,
    /// The state it replaced, kept as `pre-restore-N`, unless it already was a checkpoint.
    pub saved_previous: Option<WireCheckpoint>,
}

/// `checkpoint delete`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CheckpointDeleteDoc {
    /// The deleted checkpoint.
    pub deleted: String,
    /// Its vault.
    pub vault: String,
}

/// A change in `diff`, with its patch under `--patch`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct DiffChange {
    /// The change.
    #[serde(flatten)]
    pub change: WireChange,
    /// Unified diff (`--patch` only); null for directories, symlinks, binary or huge files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Option<String>>,
}

/// `diff --from/--to`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct DiffDoc {
    /// `vault:NAME` or `vault:NAME@CHECKPOINT`.
    pub from: String,
    /// `vault:NAME` or `vault:NAME@CHECKPOINT`.
    pub to: String,
    /// The changes, by path.
    pub changes: Vec<DiffChange>,
    /// Counts per change kind.
    pub summary: WireSummary,
}

/// One version of a file.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireVersion {
    /// Version number, from 1 per path.
    pub version: u64,
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// Content size.
    pub size: u64,
    /// Content hash; null when the version records a deletion.
    pub hash: Option<String>,
    /// The version records the path's deletion.
    pub deleted: bool,
    /// When it was committed (RFC 3339).
    pub time: String,
    /// The same, nanoseconds since the epoch.
    pub time_ns: i64,
    /// What made the change (`write`, `mount`, `migration`, ...).
    pub source: String,
    /// The checkpoint that froze it, or null.
    pub checkpoint: Option<String>,
    /// The run checkpoint of the proxy run that made it, or null.
    pub run: Option<String>,
}

/// `log PATH`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct LogDoc {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// Its versions, oldest first.
    pub versions: Vec<WireVersion>,
}

/// `checkout PATH -v N`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CheckoutDoc {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// The file as it is now.
    pub entry: WireEntry,
    /// The version whose content was restored.
    pub from_version: u64,
    /// The new version.
    pub version: Option<WireVersion>,
}

/// `revert PATH`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RevertDoc {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// The file as it is now; null when the revert removed it.
    pub entry: Option<WireEntry>,
    /// The new version.
    pub version: Option<WireVersion>,
}

/// One side of `diff PATH --v1 N --v2 M`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VersionSide {
    /// Version number.
    pub version: u64,
    /// Content size.
    pub size: u64,
    /// Content hash, or null for a deletion.
    pub hash: Option<String>,
    /// The version records a deletion.
    pub deleted: bool,
}

/// `diff PATH --v1 N [--v2 M]`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct VersionDiffDoc {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// The older side.
    pub v1: VersionSide,
    /// The newer side.
    pub v2: VersionSide,
    /// Either side is binary.
    pub binary: bool,
    /// Either side is over 16 MiB.
    pub too_large: bool,
    /// Unified diff, or null when binary or too large.
    pub patch: Option<String>,
    /// Lines added.
    pub added_lines: u64,
    /// Lines removed.
    pub removed_lines: u64,
}

/// One `search` result.
#[derive(Serialize, JsonSchema, Debug)]
pub struct SearchResult {
    /// The file.
    #[serde(flatten)]
    pub path: WirePath,
    /// BM25 score, higher is better.
    pub score: f64,
    /// Content hash.
    pub hash: String,
    /// Best fragment, matches in `[` `]`.
    pub snippet: String,
}

/// `search QUERY`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct SearchDoc {
    /// The query.
    pub query: String,
    /// Best first.
    pub results: Vec<SearchResult>,
}

/// A vault's quota limits (null: no limit).
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireQuota {
    /// All files' sizes.
    pub max_bytes: Option<u64>,
    /// Files, directories and symlinks.
    pub max_files: Option<u64>,
    /// One file's size.
    pub max_file_size: Option<u64>,
}

/// A vault's usage against its quota.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireUsage {
    /// All files' sizes.
    pub bytes: u64,
    /// Files, directories and symlinks.
    pub files: u64,
}

/// `quota set`, `quota show`, `quota clear`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct QuotaDoc {
    /// The vault.
    pub vault: String,
    /// Its limits.
    pub quota: WireQuota,
    /// Its usage now.
    pub usage: WireUsage,
}

/// What `prune` removed in one vault.
#[derive(Serialize, JsonSchema, Debug)]
pub struct PrunedVault {
    /// The vault.
    pub vault: String,
    /// Checkpoints removed.
    pub checkpoints: Vec<String>,
    /// Versions dropped.
    pub versions: u64,
}

/// `prune`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct PruneDoc {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Per vault.
    pub pruned: Vec<PrunedVault>,
}

/// `compact`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CompactDoc {
    /// Frozen layers merged into their child.
    pub layers_merged: u64,
    /// Database size before.
    pub db_bytes_before: u64,
    /// Database size after.
    pub db_bytes_after: u64,
}

/// What `gc` freed (or would).
#[derive(Serialize, JsonSchema, Debug)]
pub struct GcFreed {
    /// Layers.
    pub layers: u64,
    /// Rows of those layers.
    pub rows: u64,
    /// Contents.
    pub contents: u64,
    /// Chunks.
    pub chunks: u64,
    /// Content bytes.
    pub bytes: u64,
}

/// `gc`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct GcDoc {
    /// Nothing was changed.
    pub dry_run: bool,
    /// A live mount kept chunks stored since the last gc.
    pub spared_recent_chunks: bool,
    /// What was freed.
    pub freed: GcFreed,
}

/// A live mount (`mount`, and each of `mounts`).
#[derive(Serialize, JsonSchema, Debug)]
pub struct MountDoc {
    /// The host directory.
    pub mountpoint: String,
    /// The vault.
    pub vault: String,
    /// The checkpoint mounted, or null for the head.
    pub checkpoint: Option<String>,
    /// `rw` or `ro`.
    #[schemars(with = "MountMode")]
    pub mode: &'static str,
    /// The serving process.
    pub pid: u32,
    /// How file data travels: `passthrough` (files the mount creates are
    /// read and written by the kernel on a local spool, without the server)
    /// or `fuse` (every byte through the server); null until the kernel has
    /// answered the mount's first request.
    #[schemars(with = "Option<DataPath>")]
    pub data_path: Option<String>,
    /// How requests reach the server: `io_uring` (a queue per CPU, where
    /// root has enabled it in the kernel) or `dev_fuse`; null when unknown
    /// (a mount recorded by an older avfs).
    #[schemars(with = "Option<Transport>")]
    pub transport: Option<String>,
}

/// How a mount's requests reach its server.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum Transport {
    IoUring,
    DevFuse,
}

/// How a mount's file data travels.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum DataPath {
    Passthrough,
    Fuse,
}

/// A mount's mode.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum MountMode {
    Rw,
    Ro,
}

/// `unmount`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct UnmountDoc {
    /// The host directory.
    pub unmounted: String,
    /// Its vault, when avfs knew the mount.
    pub vault: Option<String>,
    /// Detached while busy.
    pub lazy: bool,
}

/// `mounts`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct MountsDoc {
    /// Live mounts.
    pub mounts: Vec<MountDoc>,
    /// Dead mounts this call detached.
    pub cleaned: Vec<String>,
}

/// `policy set`, `policy show`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct PolicyDoc {
    /// The vault.
    pub vault: String,
    /// The normalized policy, or null when the vault has none.
    #[schemars(with = "Option<crate::policy::PolicySpec>")]
    pub policy: Option<Value>,
}

/// Where a decision's policy came from.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum PolicySourceName {
    Vault,
    File,
    None,
}

/// `policy check`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct PolicyCheckDoc {
    /// The command may run.
    pub allowed: bool,
    /// The command, one string per argument.
    pub command: Vec<String>,
    /// The glob that decided, or null.
    pub rule: Option<String>,
    /// Why, for people.
    pub reason: String,
    /// `vault`, `file` or `none`.
    #[schemars(with = "PolicySourceName")]
    pub policy: &'static str,
}

/// One journal entry.
#[derive(Serialize, JsonSchema, Debug)]
pub struct AuditEntry {
    /// Its id.
    pub id: i64,
    /// When (RFC 3339).
    pub time: String,
    /// The same, nanoseconds since the epoch.
    pub time_ns: i64,
    /// The vault, or null for store-wide operations.
    pub vault: Option<String>,
    /// The operation (`write`, `checkpoint.save`, ...).
    pub op: String,
    /// Its detail.
    pub detail: String,
    /// Hash chaining it to the previous entry.
    pub hash: String,
}

/// `audit`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct AuditDoc {
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
}

/// A problem `audit verify` found.
#[derive(Serialize, JsonSchema, Debug)]
pub struct AuditProblem {
    /// The entry.
    pub id: i64,
    /// What is wrong.
    pub problem: String,
}

/// `audit verify`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct AuditVerifyDoc {
    /// No problem found.
    pub intact: bool,
    /// Entries checked.
    pub entries: u64,
    /// What is wrong.
    pub problems: Vec<AuditProblem>,
}

/// One `grep` match.
#[derive(Serialize, JsonSchema, Debug)]
pub struct GrepMatch {
    /// The file.
    #[serde(flatten)]
    pub path: WirePath,
    /// 1-based line number.
    pub line: u64,
    /// The line, without its newline, cut at 4 KiB.
    pub text: String,
}

/// `grep`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct GrepDoc {
    /// The regular expression.
    pub pattern: String,
    /// Matching lines (empty with `-l`).
    pub matches: Vec<GrepMatch>,
    /// Files with a match.
    pub files: Vec<WirePath>,
    /// Binary files skipped.
    pub binary_skipped: u64,
}

/// One vault in `stats`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireVaultStats {
    /// The vault.
    pub name: String,
    /// Files (hard links once).
    pub files: u64,
    /// Directories, `/` included.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Sum of the files' sizes.
    pub logical_bytes: u64,
    /// Layers a lookup may visit.
    pub chain_depth: u64,
    /// Checkpoints.
    pub checkpoints: u64,
}

/// Store-wide counts in `stats`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireStoreStats {
    /// Vaults.
    pub vaults: u64,
    /// Layers.
    pub layers: u64,
    /// Checkpoints.
    pub checkpoints: u64,
    /// Distinct contents.
    pub contents: u64,
    /// Distinct chunks.
    pub chunks: u64,
    /// Sum of the vaults' logical bytes.
    pub logical_bytes: u64,
    /// Content bytes the store keeps (each chunk once), history and unreachable content included.
    pub stored_bytes: u64,
    /// Content bytes the vaults' current files need, each distinct content once.
    pub head_bytes: u64,
    /// `stored_bytes - head_bytes`: kept only for checkpoints, versions and (until gc) unreachable content.
    pub history_bytes: u64,
    /// `logical_bytes - head_bytes`: what identical content shared across files and vaults saves.
    pub dedup_saved_bytes: u64,
    /// `logical_bytes / stored_bytes`, three decimals.
    pub dedup_ratio: f64,
    /// Database file size, without its WAL.
    pub db_bytes: u64,
    /// Disk space of the segment files that hold large chunks' bytes.
    pub segment_bytes: u64,
}

/// `stats`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct StatsDoc {
    /// Per vault, by name (only the selected one with `--vault`).
    pub vaults: Vec<WireVaultStats>,
    /// Store-wide.
    pub store: WireStoreStats,
}

/// Declares a captured stream's fields: `<name>`, `<name>_b64` (when the
/// bytes are not UTF-8), `<name>_truncated`, `<name>_bytes`.
macro_rules! stream_fields {
    ($ty:ident, $text:ident, $b64:ident, $truncated:ident, $bytes:ident) => {
        /// One captured output stream of a run.
        #[derive(Serialize, JsonSchema, Debug)]
        pub struct $ty {
            /// What was kept, lossy where not UTF-8.
            pub $text: String,
            /// The kept bytes, base64, only when they are not UTF-8.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub $b64: Option<String>,
            /// More was written than kept.
            pub $truncated: bool,
            /// Bytes written in all.
            pub $bytes: u64,
        }

        impl $ty {
            /// Encodes captured output.
            pub fn new(out: &crate::proxy::output::CapturedOutput) -> Self {
                let shown = WirePath::from_bytes(&out.bytes);
                Self {
                    $text: shown.path,
                    $b64: shown.path_b64,
                    $truncated: out.truncated,
                    $bytes: out.total,
                }
            }
        }
    };
}

stream_fields!(
    StdoutFields,
    stdout,
    stdout_b64,
    stdout_truncated,
    stdout_bytes
);
stream_fields!(
    StderrFields,
    stderr,
    stderr_b64,
    stderr_truncated,
    stderr_bytes
);

/// A run's policy decision.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RunDecision {
    /// The command was allowed to run.
    pub allowed: bool,
    /// The glob that decided, or null.
    pub rule: Option<String>,
    /// Why, for people.
    pub reason: String,
    /// `vault`, `file` or `none`.
    #[schemars(with = "PolicySourceName")]
    pub policy: &'static str,
}

/// A path operation the policy refused during a run.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RunViolation {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// `read`, `write`, `create` or `delete`.
    pub op: &'static str,
    /// The rule that refused it, or null when no rule grants it.
    pub rule: Option<String>,
}

/// A directory `proxy exec --changes summary` reports once.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireRollup {
    /// The directory.
    #[serde(flatten)]
    pub path: WirePath,
    /// Paths added at or below it.
    pub added: u64,
    /// Paths modified.
    pub modified: u64,
    /// Paths deleted.
    pub deleted: u64,
    /// Paths whose kind changed.
    pub type_changed: u64,
    /// All of those.
    pub total: u64,
    /// File bytes after the change (added, modified, retyped files).
    pub bytes_added: u64,
    /// File bytes before the change (deleted, modified, retyped files).
    pub bytes_removed: u64,
}

impl From<&crate::proxy::rollup::Rollup> for WireRollup {
    fn from(r: &crate::proxy::rollup::Rollup) -> Self {
        Self {
            path: WirePath::from_path(&r.path),
            added: r.added,
            modified: r.modified,
            deleted: r.deleted,
            type_changed: r.type_changed,
            total: r.total(),
            bytes_added: r.bytes_added,
            bytes_removed: r.bytes_removed,
        }
    }
}

/// How a run lists its changes.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ChangesMode {
    Full,
    Summary,
}

/// A run's isolation.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireIsolation {
    /// `none` (only loopback) or `host`.
    #[schemars(with = "IsolationNetwork")]
    pub network: &'static str,
    /// Host paths made invisible to the run.
    pub hide: Vec<String>,
}

/// A run's network under isolation.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum IsolationNetwork {
    None,
    Host,
}

impl From<&crate::proxy::namespace::Isolation> for WireIsolation {
    fn from(i: &crate::proxy::namespace::Isolation) -> Self {
        Self {
            network: if i.no_network { "none" } else { "host" },
            hide: i
                .hide
                .iter()
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .collect(),
        }
    }
}

/// `proxy exec`: one run.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RunDoc {
    /// The vault.
    pub vault: String,
    /// The command, one string per argument.
    pub command: Vec<String>,
    /// The `--shell` script, or null.
    pub shell: Option<String>,
    /// Where it ran in the vault.
    #[serde(flatten)]
    pub cwd: CwdPath,
    /// `fuse` or `materialize`.
    pub mode: &'static str,
    /// `none`, `enforced` or `write_back`.
    pub path_rules: &'static str,
    /// The policy decision.
    pub decision: RunDecision,
    /// The checkpoint taken before the run, or null.
    pub checkpoint: Option<WireCheckpoint>,
    /// The exit code, or null.
    pub exit_code: Option<i32>,
    /// The signal that ended it, or null.
    pub signal: Option<i32>,
    /// Stopped at the timeout.
    pub timed_out: bool,
    /// The signal that interrupted avfs, or null.
    pub interrupted: Option<&'static str>,
    /// Why the program could not be started, or null.
    pub exec_error: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// Standard output.
    #[serde(flatten)]
    pub stdout: StdoutFields,
    /// Standard error.
    #[serde(flatten)]
    pub stderr: StderrFields,
    /// `full` (every change in `changes`) or `summary` (rolled-up directories in
    /// `rollups` instead; `avfs diff --from CHECKPOINT` lists them all).
    #[schemars(with = "ChangesMode")]
    pub changes_mode: &'static str,
    /// Every changed path, less those under a rolled-up directory.
    pub changes: Vec<WireChange>,
    /// The rolled-up directories, by path (empty in `full` mode).
    pub rollups: Vec<WireRollup>,
    /// Counts per change kind, over every change (rolled up or not).
    pub summary: WireSummary,
    /// Path operations the policy refused.
    pub violations: Vec<RunViolation>,
    /// More violations happened than are listed.
    pub violations_truncated: bool,
    /// What the run's own mount logged while serving the command, in order:
    /// a commit that failed (on a full disk, say: the writes it held are not
    /// in the vault and not in `changes`), a request that failed inside avfs
    /// (the program got EIO). Empty when all went well; at most 100 lines and
    /// one counting the rest.
    pub mount_errors: Vec<String>,
    /// How the run's attempt went into the vault (`up_to_date`, `fast_forward`,
    /// `merged`, `conflict`); null when there was none (denied, `--keep-mount`).
    #[schemars(with = "Option<MergeStatusName>")]
    pub merge: Option<&'static str>,
    /// The conflict policy in force: `keep`, `ours` or `theirs`.
    #[schemars(with = "OnConflictName")]
    pub on_conflict: &'static str,
    /// Paths the vault changed differently during the run.
    pub conflicts: Vec<WireConflict>,
    /// With `merge: "conflict"`, the fork that keeps the run's changes; else null.
    pub fork: Option<String>,
    /// Where the vault appeared inside the run's mount namespace; null without one.
    pub workdir: Option<String>,
    /// The isolation in force (`--isolate` or the policy's `isolation`); null without.
    pub isolation: Option<WireIsolation>,
    /// Only after a push (`--push`, or the policy's `remote.push: after_run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<super::wire_remote::RunPush>,
}
