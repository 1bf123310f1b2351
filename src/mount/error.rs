//! Errors of mounting and unmounting (file-system calls use errnos instead).

use crate::vault::VaultError;
use std::path::PathBuf;
use thiserror::Error;

/// What can stop a mount or unmount.
#[derive(Debug, Error)]
pub enum MountError {
    /// The mount point does not exist.
    #[error("mount point {0} does not exist")]
    MountpointMissing(PathBuf),
    /// The mount point is not a directory.
    #[error("mount point {0} is not a directory")]
    NotADirectory(PathBuf),
    /// The mount point has entries that the mount would hide.
    #[error("mount point {0} is not empty")]
    NotEmpty(PathBuf),
    /// Something is already mounted there.
    #[error("{0} is already a mount point")]
    AlreadyMounted(PathBuf),
    /// Nothing avfs mounted is there.
    #[error("{0} is not mounted")]
    NotMounted(PathBuf),
    /// Files are open inside the mount.
    #[error("{0} is busy (files are open inside it)")]
    Busy(PathBuf),
    /// FUSE cannot be used on this machine.
    #[error("FUSE is not available: {0}")]
    FuseUnavailable(String),
    /// The serving process failed before the mount was ready.
    #[error("the mount process failed: {0}")]
    Daemon(String),
    /// The vault or checkpoint could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A system call failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
