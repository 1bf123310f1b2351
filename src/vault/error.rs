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
    /// A name over `NAME_MAX` (255) bytes or a path over `PATH_MAX` (4096)
    /// bytes: one limit for the CLI, the mount and import alike.
    #[error("path too long: {reason}: {path}")]
    PathTooLong { path: String, reason: &'static str },
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
    /// A merge source that is not a fork and shares no state with the target.
    #[error("vault '{vault}' shares no state with the target: nothing to merge from")]
    NoMergeBase { vault: String },
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
    Io(std::io::Error),
}

impl From<std::io::Error> for VaultError {
    /// Unwraps a store error that travelled through `std::io::Read` (a
    /// [`super::ContentReader`] read inside `io::copy`), so that a damaged chunk
    /// stays `Corrupt` instead of becoming an i/o error.
    fn from(err: std::io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<VaultError>()) {
            let inner = err.into_inner().expect("checked above");
            return *inner.downcast::<VaultError>().expect("checked above");
        }
        VaultError::Io(err)
    }
}

impl VaultError {
    /// Names `path` in a corruption found while reading it, so the user learns
    /// which file is damaged.
    pub fn at_path(self, path: &impl std::fmt::Display) -> Self {
        match self {
            VaultError::Corrupt(what) => VaultError::Corrupt(format!("{path}: {what}")),
            other => other,
        }
    }

    /// True when the disk (or a quota on it) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            // SQLite reports a shared-memory file it cannot grow (a first
            // connection on a full disk) as an I/O error, not as SQLITE_FULL.
            VaultError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
                    || e.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE
            }
            VaultError::Io(e) => e.raw_os_error() == Some(28),
            _ => false,
        }
    }
}

impl VaultError {
    /// True when SQLite found the database file malformed or not a database.
    pub fn is_corruption(&self) -> bool {
        matches!(self, VaultError::Corrupt(_))
            || matches!(
                self,
                VaultError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(e.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            )
    }
}

/// Result alias for store operations.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;
