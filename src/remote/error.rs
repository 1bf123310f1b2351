//! What can go wrong with a remote, one variant per thing a user can act on.

use crate::vault::VaultError;

/// A remote operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server could not be reached or failed (network, timeouts, 5xx).
    #[error("remote unreachable: {0}")]
    Unreachable(String),
    /// Credentials are missing or refused.
    #[error("remote refused the credentials: {0}")]
    Auth(String),
    /// The bucket does not exist.
    #[error("bucket of remote {0} does not exist")]
    NoBucket(String),
    /// The remote URL or endpoint is malformed.
    #[error("invalid remote: {0}")]
    InvalidUrl(String),
    /// The remote head is not an ancestor of what is pushed (or pulled onto).
    #[error("{0}")]
    Diverged(String),
    /// A downloaded object does not match its hash or cannot be read.
    #[error("remote object is corrupt: {0}")]
    Corrupt(String),
    /// The remote has no such vault.
    #[error("remote {remote} has no vault '{vault}'")]
    VaultNotFound {
        /// The remote's name.
        remote: String,
        /// The vault asked for.
        vault: String,
    },
    /// The server has no atomic conditional writes and the remote is not in
    /// the unsafe single-writer mode.
    #[error("remote {0} does not support conditional writes; refusing to push")]
    NoConditionalWrites(String),
    /// The local store failed.
    #[error(transparent)]
    Vault(VaultError),
}

impl From<VaultError> for RemoteError {
    fn from(err: VaultError) -> Self {
        match err {
            VaultError::InvalidPack(why) => RemoteError::Corrupt(why),
            other => RemoteError::Vault(other),
        }
    }
}

/// Result alias for remote operations.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
