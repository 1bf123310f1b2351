//! Drives the real `avfs` binary in a pinned environment: a private
//! `AVFS_HOME`, no inherited `AVFS_*` variables, no stdin unless given.
//! JSON output is parsed into test-owned structs, so a change in the wire
//! format breaks a test instead of slipping through.
#![allow(dead_code)]

pub mod fuse;
pub mod s3;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A private store and the binary under test.
pub struct Avfs {
    pub home: tempfile::TempDir,
}

/// What one run of the binary did.
pub struct Run {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("utf-8 stdout")
    }
}

impl Avfs {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A fresh store with one vault `main`, current.
    pub fn with_vault() -> Self {
        let avfs = Self::new();
        avfs.ok(["vault", "create", "main"]);
        avfs
    }

    pub fn store_path(&self) -> PathBuf {
        self.home.path().join("store.db")
    }

    /// The files that hold the store's bytes: the database, its WAL and its
    /// segments (large chunks live in `store.db-segments/`).
    pub fn store_files(&self) -> Vec<PathBuf> {
        let db = self.store_path();
        let mut files = vec![db.clone()];
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        if wal.exists() {
            files.push(wal);
        }
        if let Ok(dir) = std::fs::read_dir(format!("{}-segments", db.display())) {
            let mut segments: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
            segments.sort();
            files.extend(segments);
        }
        files
    }

    /// Disk space the store's files take (holes do not count).
    pub fn store_disk_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        self.store_files()
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().blocks() * 512)
            .sum()
    }

    /// Flips a byte inside the first stored copy of `needle` (no avfs process
    /// may be running), wherever the store keeps it; panics when none is found.
    pub fn flip_stored_byte(&self, needle: &[u8]) {
        for file in self.store_files() {
            let mut bytes = std::fs::read(&file).unwrap();
            if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
                bytes[at + needle.len() / 2] ^= 0xFF;
                std::fs::write(&file, &bytes).unwrap();
                return;
            }
        }
        panic!("the bytes are in none of the store's files");
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_avfs"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AVFS_HOME", self.home.path())
            .env("NO_COLOR", "1");
        // The data path and transport under test: `scripts/test` runs the FUSE
        // tests again with each.
        for var in ["AVFS_PASSTHROUGH", "AVFS_FUSE_URING"] {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
        cmd
    }

    fn finish(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs with no stdin.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn avfs");
        Self::finish(out)
    }

    /// Runs with `input` on stdin.
    pub fn run_stdin<I, S>(&self, args: I, input: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn avfs");
        child.stdin.take().unwrap().write_all(input).unwrap();
        Self::finish(child.wait_with_output().unwrap())
    }

    /// Runs a human-output command that must succeed; returns stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let run = self.run(&args);
        assert_eq!(run.status, 0, "avfs {args:?} failed: {}", run.stderr);
        run.stdout_str()
    }

    /// Runs with `--json`, expects success, and parses the one document.
    pub fn json<T: DeserializeOwned, I, S>(&self, args: I) -> T
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let run = self.run(&all);
        assert_eq!(run.status, 0, "avfs {all:?} failed: {}", run.stdout_str());
        assert!(
            run.stderr.is_empty(),
            "--json wrote to stderr: {}",
            run.stderr
        );
        parse_one(&run.stdout)
    }

    /// Runs with `--json`, expects failure, and returns the error and exit status.
    pub fn fails<I, S>(&self, args: I) -> (ErrorBody, i32)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let run = self.run(&all);
        assert_ne!(run.status, 0, "avfs {all:?} should have failed");
        let doc: ErrorDoc = parse_one(&run.stdout);
        assert_eq!(
            doc.error.exit_status, run.status,
            "exit_status field matches the exit code"
        );
        (doc.error, run.status)
    }

    /// The bytes of a vault file, through `avfs cat`.
    pub fn cat(&self, path: &str) -> Vec<u8> {
        let run = self.run(["cat", path]);
        assert_eq!(run.status, 0, "cat {path}: {}", run.stderr);
        run.stdout
    }
}

/// Parses stdout that must hold exactly one JSON document and nothing else.
pub fn parse_one<T: DeserializeOwned>(stdout: &[u8]) -> T {
    let mut stream = serde_json::Deserializer::from_slice(stdout).into_iter::<serde_json::Value>();
    let first = stream
        .next()
        .expect("one JSON document")
        .expect("valid JSON");
    assert!(
        stream.next().is_none(),
        "more than one JSON document on stdout"
    );
    serde_json::from_value(first.clone())
        .unwrap_or_else(|e| panic!("unexpected shape {e}: {first}"))
}

// ----- test-owned wire structs (deny_unknown_fields pins the contract) -----

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ErrorDoc {
    pub error: ErrorBody,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub exit_status: i32,
    pub hint: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub path: String,
    pub path_b64: Option<String>,
    pub kind: String,
    pub mode: String,
    pub size: u64,
    pub mtime: String,
    pub mtime_ns: i64,
    pub ino: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub hash: Option<String>,
    pub target: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EntryDoc {
    pub entry: Entry,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EntriesDoc {
    pub path: Option<String>,
    pub path_b64: Option<String>,
    pub entries: Vec<Entry>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    pub name: String,
    pub created_at: String,
    pub forked_from: Option<String>,
    pub checkpoints: i64,
    pub layer_depth: i64,
    pub current: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VaultDoc {
    pub vault: Vault,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VaultList {
    pub vaults: Vec<Vault>,
    pub current: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub name: String,
    pub vault: String,
    pub message: Option<String>,
    pub auto: bool,
    pub created_at: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CheckpointDoc {
    pub checkpoint: Checkpoint,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CheckpointList {
    pub vault: String,
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RestoreDoc {
    pub checkpoint: Checkpoint,
    pub saved_previous: Option<Checkpoint>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Side {
    pub kind: String,
    pub mode: String,
    pub size: u64,
    pub hash: Option<String>,
    pub target: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub path: String,
    pub path_b64: Option<String>,
    pub change: String,
    pub kind: String,
    pub before: Option<Side>,
    pub after: Option<Side>,
}

/// A path a merge could not settle (a `Run`'s or a `Merge`'s `conflicts`).
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    pub path: String,
    pub path_b64: Option<String>,
    pub kind: String,
    pub base: Option<Side>,
    pub ours: Option<Side>,
    pub theirs: Option<Side>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub type_changed: usize,
    pub total: usize,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct DiffDoc {
    pub from: String,
    pub to: String,
    pub changes: Vec<Change>,
    pub summary: Summary,
}

impl DiffDoc {
    /// `(change, path)` pairs, for whole-list comparisons.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.changes
            .iter()
            .map(|c| (c.change.clone(), c.path.clone()))
            .collect()
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub special: u64,
    pub bytes: u64,
    pub skipped: Vec<serde_json::Value>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ImportDoc {
    pub vault: String,
    pub dest: String,
    pub imported: Counts,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExportDoc {
    pub vault: String,
    pub src: String,
    pub host_path: String,
    pub exported: Counts,
}

/// Compares bytes without printing megabytes when they differ.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let first = actual
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(actual.len().min(expected.len()));
        let show = |b: &[u8]| {
            String::from_utf8_lossy(&b[first.min(b.len())..(first + 24).min(b.len())]).into_owned()
        };
        panic!(
            "{what}: got {} bytes, expected {}; first difference at offset {first} (got {:?}, expected {:?})",
            actual.len(),
            expected.len(),
            show(actual),
            show(expected),
        );
    }
}

/// Bytes no other file shares: a xorshift stream from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Builds `(change, path)` pairs from string literals.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(c, p)| (c.to_string(), p.to_string()))
        .collect()
}

/// Writes a host file, creating parents.
pub fn host_file(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub id: i64,
    pub time: String,
    pub time_ns: i64,
    pub vault: Option<String>,
    pub op: String,
    pub detail: String,
    pub hash: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AuditDoc {
    pub entries: Vec<AuditEntry>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditProblem {
    pub id: i64,
    pub problem: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VerifyDoc {
    pub intact: bool,
    pub entries: u64,
    pub problems: Vec<AuditProblem>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VaultStats {
    pub name: String,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub logical_bytes: u64,
    pub chain_depth: u64,
    pub checkpoints: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct StoreStats {
    pub vaults: u64,
    pub layers: u64,
    pub checkpoints: u64,
    pub contents: u64,
    pub chunks: u64,
    pub logical_bytes: u64,
    pub stored_bytes: u64,
    pub head_bytes: u64,
    pub history_bytes: u64,
    pub dedup_saved_bytes: u64,
    pub dedup_ratio: f64,
    pub db_bytes: u64,
    pub segment_bytes: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct StatsDoc {
    pub vaults: Vec<VaultStats>,
    pub store: StoreStats,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrepMatch {
    pub path: String,
    pub path_b64: Option<String>,
    pub line: u64,
    pub text: String,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PathOnly {
    pub path: String,
    pub path_b64: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct GrepDoc {
    pub pattern: String,
    pub matches: Vec<GrepMatch>,
    pub files: Vec<PathOnly>,
    pub binary_skipped: u64,
}

impl GrepDoc {
    /// `(path, line, text)` triples, for whole-list comparisons.
    pub fn triples(&self) -> Vec<(String, u64, String)> {
        self.matches
            .iter()
            .map(|m| (m.path.clone(), m.line, m.text.clone()))
            .collect()
    }
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Version {
    pub version: u64,
    pub path: String,
    pub path_b64: Option<String>,
    pub size: u64,
    pub hash: Option<String>,
    pub deleted: bool,
    pub time: String,
    pub time_ns: i64,
    pub source: String,
    pub checkpoint: Option<String>,
    pub run: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct LogDoc {
    pub path: String,
    pub path_b64: Option<String>,
    pub versions: Vec<Version>,
}

impl LogDoc {
    /// `(version, size, source)` triples; a deletion has size 0 and `deleted`.
    pub fn summary(&self) -> Vec<(u64, u64, String)> {
        self.versions
            .iter()
            .map(|v| (v.version, v.size, v.source.clone()))
            .collect()
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CatDoc {
    pub path: String,
    pub path_b64: Option<String>,
    pub size: u64,
    pub encoding: String,
    pub content: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CheckoutDoc {
    pub path: String,
    pub path_b64: Option<String>,
    pub entry: Entry,
    pub from_version: u64,
    pub version: Version,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RevertDoc {
    pub path: String,
    pub path_b64: Option<String>,
    pub entry: Option<Entry>,
    pub version: Version,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionSide {
    pub version: u64,
    pub size: u64,
    pub hash: Option<String>,
    pub deleted: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VersionDiffDoc {
    pub path: String,
    pub path_b64: Option<String>,
    pub v1: VersionSide,
    pub v2: VersionSide,
    pub binary: bool,
    pub too_large: bool,
    pub patch: Option<String>,
    pub added_lines: usize,
    pub removed_lines: usize,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PatchedChange {
    pub path: String,
    pub path_b64: Option<String>,
    pub change: String,
    pub kind: String,
    pub before: Option<Side>,
    pub after: Option<Side>,
    pub patch: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PatchedDiffDoc {
    pub from: String,
    pub to: String,
    pub changes: Vec<PatchedChange>,
    pub summary: Summary,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchHit {
    pub path: String,
    pub path_b64: Option<String>,
    pub score: f64,
    pub hash: String,
    pub snippet: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SearchDoc {
    pub query: String,
    pub results: Vec<SearchHit>,
}

impl SearchDoc {
    pub fn paths(&self) -> Vec<String> {
        self.results.iter().map(|r| r.path.clone()).collect()
    }
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    pub max_bytes: Option<u64>,
    pub max_files: Option<u64>,
    pub max_file_size: Option<u64>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuotaUsage {
    pub bytes: u64,
    pub files: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct QuotaDoc {
    pub vault: String,
    pub quota: QuotaLimits,
    pub usage: QuotaUsage,
}
