//! JSON wire types: serialize-only, converted by hand from domain types, so a
//! change in the store never silently changes the contract (docs/json.md).
//!
//! Paths are strings; a path that is not valid UTF-8 is shown lossily in
//! `path` and given exactly, base64-encoded, in `path_b64`.

use crate::vault::{
    Attr, Change, ChangeKind, Checkpoint, Conflict, EntryState, VaultInfo, VaultPath,
};
use base64::Engine;
use schemars::JsonSchema;
use serde::Serialize;

/// Formats nanoseconds since the epoch as RFC 3339 UTC.
pub fn timestamp(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns as i128)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ns.to_string())
}

/// A path as it appears in JSON.
#[derive(Serialize, JsonSchema, Debug, Clone)]
pub struct WirePath {
    /// The path, lossy where not UTF-8.
    pub path: String,
    /// The exact bytes, base64, only when `path` is lossy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_b64: Option<String>,
}

impl WirePath {
    /// Encodes raw path bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => Self {
                path: s.to_string(),
                path_b64: None,
            },
            Err(_) => Self {
                path: String::from_utf8_lossy(bytes).into_owned(),
                path_b64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            },
        }
    }

    /// Encodes a vault path.
    pub fn from_path(path: &VaultPath) -> Self {
        Self::from_bytes(&path.to_bytes())
    }
}

/// Sets `doc[key]` to a path string, plus `doc[key_b64]` when the path is not UTF-8.
pub fn put_path(doc: &mut serde_json::Value, key: &str, path: &VaultPath) {
    let wire = WirePath::from_path(path);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(key.to_string(), serde_json::Value::String(wire.path));
        if let Some(b64) = wire.path_b64 {
            obj.insert(format!("{key}_b64"), serde_json::Value::String(b64));
        }
    }
}

/// `0644`-style mode string.
pub fn mode_octal(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Bytes as a string if UTF-8, else lossy (for symlink targets).
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An entry's kind, for the schema.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum KindName {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

/// A change's kind, for the schema.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ChangeName {
    Added,
    Modified,
    Deleted,
    TypeChanged,
}

/// One file, directory or symlink.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireEntry {
    #[serde(flatten)]
    pub path: WirePath,
    #[schemars(with = "KindName")]
    pub kind: &'static str,
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

impl WireEntry {
    /// The entry at `path` with attributes `attr`.
    pub fn new(path: &VaultPath, attr: &Attr) -> Self {
        Self {
            path: WirePath::from_path(path),
            kind: attr.kind.as_str(),
            mode: mode_octal(attr.mode),
            size: attr.size,
            mtime: timestamp(attr.mtime_ns),
            mtime_ns: attr.mtime_ns,
            ino: attr.ino,
            nlink: attr.nlink,
            uid: attr.uid,
            gid: attr.gid,
            hash: attr.content.map(|h| h.to_hex()),
            target: attr.target.as_deref().map(lossy),
        }
    }
}

/// A vault.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireVault {
    pub name: String,
    pub created_at: String,
    pub forked_from: Option<String>,
    pub checkpoints: i64,
    pub layer_depth: i64,
    pub current: bool,
}

impl WireVault {
    /// Converts, marking whether it is the current vault.
    pub fn new(v: &VaultInfo, current: Option<&str>) -> Self {
        Self {
            name: v.name.clone(),
            created_at: timestamp(v.created_ns),
            forked_from: v.forked_from.clone(),
            checkpoints: v.checkpoints,
            layer_depth: v.depth,
            current: current == Some(v.name.as_str()),
        }
    }
}

/// A checkpoint.
#[derive(Serialize, JsonSchema, Debug, Clone)]
pub struct WireCheckpoint {
    pub name: String,
    pub vault: String,
    pub message: Option<String>,
    pub auto: bool,
    pub created_at: String,
}

impl From<&Checkpoint> for WireCheckpoint {
    fn from(c: &Checkpoint) -> Self {
        Self {
            name: c.name.clone(),
            vault: c.vault.clone(),
            message: c.message.clone(),
            auto: c.auto,
            created_at: timestamp(c.created_ns),
        }
    }
}

/// One side of a change.
#[derive(Serialize, JsonSchema, Debug, Clone)]
pub struct WireSide {
    #[schemars(with = "KindName")]
    pub kind: &'static str,
    pub mode: String,
    pub size: u64,
    pub hash: Option<String>,
    pub target: Option<String>,
}

impl From<&EntryState> for WireSide {
    fn from(e: &EntryState) -> Self {
        Self {
            kind: e.kind.as_str(),
            mode: mode_octal(e.mode),
            size: e.size,
            hash: e.content.map(|h| h.to_hex()),
            target: e.target.as_deref().map(lossy),
        }
    }
}

/// One changed path.
#[derive(Serialize, JsonSchema, Debug, Clone)]
pub struct WireChange {
    #[serde(flatten)]
    pub path: WirePath,
    #[schemars(with = "ChangeName")]
    pub change: &'static str,
    /// The kind after the change (before it, for deletions).
    #[schemars(with = "KindName")]
    pub kind: &'static str,
    pub before: Option<WireSide>,
    pub after: Option<WireSide>,
}

impl From<&Change> for WireChange {
    fn from(c: &Change) -> Self {
        let kind = c
            .after
            .as_ref()
            .or(c.before.as_ref())
            .map(|e| e.kind.as_str())
            .unwrap_or("file");
        Self {
            path: WirePath::from_path(&c.path),
            change: c.change.as_str(),
            kind,
            before: c.before.as_ref().map(WireSide::from),
            after: c.after.as_ref().map(WireSide::from),
        }
    }
}

/// Counts per change kind.
#[derive(Serialize, JsonSchema, Debug, Default, Clone)]
pub struct WireSummary {
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub type_changed: usize,
    pub total: usize,
}

impl WireSummary {
    /// Counts a change list.
    pub fn of(changes: &[Change]) -> Self {
        let mut s = Self::default();
        for c in changes {
            match c.change {
                ChangeKind::Added => s.added += 1,
                ChangeKind::Modified => s.modified += 1,
                ChangeKind::Deleted => s.deleted += 1,
                ChangeKind::TypeChanged => s.type_changed += 1,
            }
            s.total += 1;
        }
        s
    }
}

/// Why a merge could not settle a path, for the schema.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ConflictName {
    Content,
    AddAdd,
    ModifyDelete,
    Type,
    Mode,
}

/// One path a merge could not settle by itself.
#[derive(Serialize, JsonSchema, Debug, Clone)]
pub struct WireConflict {
    /// The path.
    #[serde(flatten)]
    pub path: WirePath,
    /// `content`, `add_add`, `modify_delete`, `type` or `mode`.
    #[schemars(with = "ConflictName")]
    pub kind: &'static str,
    /// The merge base's side (null: nothing there).
    pub base: Option<WireSide>,
    /// The target's side (the vault).
    pub ours: Option<WireSide>,
    /// The source's side (the run or fork).
    pub theirs: Option<WireSide>,
}

impl From<&Conflict> for WireConflict {
    fn from(c: &Conflict) -> Self {
        Self {
            path: WirePath::from_path(&c.path),
            kind: c.kind.as_str(),
            base: c.base.as_ref().map(WireSide::from),
            ours: c.ours.as_ref().map(WireSide::from),
            theirs: c.theirs.as_ref().map(WireSide::from),
        }
    }
}
