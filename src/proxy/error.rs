//! Errors that keep a run from starting or from being reported. What the
//! command itself does (fail, time out, not exist) is part of its report.

use crate::mount::MountError;
use crate::vault::VaultError;
use thiserror::Error;

/// Why a run could not be carried out.
#[derive(Debug, Error)]
pub enum ProxyError {
    /// No program was given.
    #[error("no command to run")]
    EmptyCommand,
    /// Path rules are enforced only by a mount this run owns.
    #[error("a policy with path rules cannot be enforced in a shared mount")]
    PathRulesNeedOwnMount,
    /// The `--workdir` (or policy `workdir`) cannot be used.
    #[error("invalid workdir {0}")]
    InvalidWorkdir(String),
    /// The run's namespaces could not be made here (or were refused while
    /// being built); nothing ran.
    #[error("isolation unavailable: {0}")]
    IsolationUnavailable(String),
    /// The store, the vault or the working directory.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Mounting or unmounting the vault.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// Merging the run's attempt failed; its changes are kept in `fork`.
    #[error("{source}; the run's changes are kept in fork {}", fork.as_deref().unwrap_or("(none)"))]
    Merge {
        /// The fork holding the run's changes, if it had any.
        fork: Option<String>,
        /// Why the merge failed.
        source: VaultError,
    },
    /// Preparing the run's private directory.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
