//! Errors raised by the store. Each variant is a failure a caller can act on;
//! the CLI maps them to stable codes and exit statuses, the mount to errnos.

use thiserror::Error;

/// Everything that can go wrong inside `src/vault`.
#[derive(Debug, Error)]
pub enum VaultError {
    /// No vault has that name.
    #[error("vault '{0}' does not exist")]
    VaultNotFound(String),
    /// A vault with that name exists already.
    #[error("vault '{0}' already exists")]
    VaultExists(String),
    /// No checkpoint of this vault has that name.
    #[error("checkpoint '{0}' does not exist")]
    CheckpointNotFound(String),
    /// The vault already has a checkpoint with that name.
    #[error("checkpoint '{0}' already exists")]
    CheckpointExists(String),
    /// A vault or checkpoint name that is not allowed.
    #[error("invalid name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// A path that is not allowed inside a vault (escapes the root, NUL byte, too long...).
    #[error("invalid path '{path}': {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// Nothing exists at this path.
    #[error("no such file or directory: {0}")]
    PathNotFound(String),
    /// Something already exists at this path.
    #[error("already exists: {0}")]
    PathExists(String),
    /// A directory was needed.
    #[error("not a directory: {0}")]
    NotADirectory(String),
    /// A file or symlink was needed, but this is a directory.
    #[error("is a directory: {0}")]
    IsADirectory(String),
    /// The directory still has entries.
    #[error("directory not empty: {0}")]
    DirectoryNotEmpty(String),
    /// A rename or copy that would put a directory inside itself, or move the root.
    #[error("invalid move: {0}")]
    InvalidMove(String),
    /// The path has no version with that number.
    #[error("{path} has no version {version}")]
    VersionNotFound { path: String, version: u64 },
    /// That version records the path's deletion: it has no content.
    #[error("version {version} of {path} is its deletion; it has no content")]
    VersionDeleted { path: String, version: u64 },
    /// The path's history holds no earlier state to go back to (its only change
    /// is a deletion, or earlier versions were pruned).
    #[error("nothing to revert for {0}")]
    NothingToRevert(String),
    /// A write would take the vault past its quota of bytes or files.
    #[error("quota exceeded in vault '{vault}': {what} would be {would_be}, the limit is {limit}")]
    QuotaExceeded {
        vault: String,
        what: &'static str,
        would_be: u64,
        limit: u64,
    },
    /// A file would be larger than the vault's largest allowed file.
    #[error("file too large: {size} bytes, the vault's limit is {limit} bytes per file")]
    FileTooLarge { size: u64, limit: u64 },
    /// A full-text query that does not parse.
    #[error("invalid search query '{query}': {reason}")]
    InvalidQuery { query: String, reason: String },
    /// The store was written by a newer avfs.
    #[error(
        "store schema version {found} is newer than this avfs supports ({supported}); upgrade avfs"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The store breaks one of its own consistency rules.
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    /// A packed layer or chunk offered for import does not check out
    /// (wrong hash, malformed, or naming what it does not carry).
    #[error("refused to import: {0}")]
    InvalidPack(String),
    /// No remote by this name is configured.
    #[error("remote '{0}' does not exist")]
    RemoteNotFound(String),
    /// A remote by this name is configured already.
    #[error("remote '{0}' already exists")]
    RemoteExists(String),
    /// A vault changed while an import was going to move its head.
    #[error("vault '{0}' changed meanwhile; nothing was imported into it")]
    HeadMoved(String),
    /// A chunk's bytes are not in the store and could not be fetched (lazy clone).
    #[error("chunk {hash} is not fetched yet and could not be: {reason}")]
    ChunkUnavailable { hash: String, reason: String },
    /// The underlying SQLite database failed.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Reading a content stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl VaultError {
    /// True when the disk (or a quota on it) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            VaultError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            VaultError::Io(e) => e.raw_os_error() == Some(28),
            _ => false,
        }
    }
}

/// Result alias for store operations.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;
