//! Vault errors as the errno a file-system call returns: mapped once, here.

use crate::vault::VaultError;
use fuser::Errno;

/// The errno for a vault error.
pub fn errno(err: &VaultError) -> Errno {
    if err.is_disk_full() {
        return Errno::ENOSPC;
    }
    match err {
        VaultError::PathNotFound(_)
        | VaultError::VaultNotFound(_)
        | VaultError::CheckpointNotFound(_) => Errno::ENOENT,
        VaultError::PathExists(_)
        | VaultError::VaultExists(_)
        | VaultError::CheckpointExists(_) => Errno::EEXIST,
        VaultError::NotADirectory(_) => Errno::ENOTDIR,
        VaultError::QuotaExceeded { .. } => Errno::EDQUOT,
        VaultError::FileTooLarge { .. } => Errno::EFBIG,
        VaultError::VersionNotFound { .. } => Errno::ENOENT,
        VaultError::VersionDeleted { .. }
        | VaultError::NothingToRevert(_)
        | VaultError::InvalidQuery { .. } => Errno::EINVAL,
        VaultError::IsADirectory(_) => Errno::EISDIR,
        VaultError::DirectoryNotEmpty(_) => Errno::ENOTEMPTY,
        VaultError::PathTooLong { .. } => Errno::ENAMETOOLONG,
        VaultError::InvalidPath { .. }
        | VaultError::InvalidName { .. }
        | VaultError::InvalidMove(_)
        | VaultError::NoMergeBase { .. } => Errno::EINVAL,
        VaultError::SchemaTooNew { .. }
        | VaultError::Corrupt(_)
        | VaultError::InvalidPack(_)
        | VaultError::RemoteNotFound(_)
        | VaultError::RemoteExists(_)
        | VaultError::HeadMoved(_)
        | VaultError::ChunkUnavailable { .. }
        | VaultError::Sqlite(_)
        | VaultError::Io(_) => {
            // The caller only sees EIO: keep the cause in the mount's log.
            super::fault::log(format_args!("{err}"));
            Errno::EIO
        }
    }
}
