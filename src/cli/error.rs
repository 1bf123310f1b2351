//! Errors at the CLI edge: every failure gets a stable snake_case code and an
//! exit status by category (documented in docs/json.md).

use crate::mount::MountError;
use crate::policy::PolicyError;
use crate::proxy::ProxyError;
use crate::vault::VaultError;
use std::borrow::Cow;
use std::fmt;

/// Exit status categories. Values are part of the public contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Something avfs did not expect: a bug or an environment problem.
    Internal = 1,
    /// The command line or an argument is wrong.
    Usage = 2,
    /// A vault, checkpoint or path does not exist.
    NotFound = 3,
    /// The request conflicts with what exists (already exists, not empty, wrong kind).
    Conflict = 4,
    /// The store or the host file system failed.
    Storage = 5,
    /// Stopped by SIGHUP (128 + 1, as a shell reports it).
    Hangup = 129,
    /// Stopped by SIGINT, Ctrl-C (128 + 2).
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + 15).
    Terminated = 143,
}

/// A failure as shown to the user.
#[derive(Debug)]
pub struct CliError {
    /// Stable snake_case code.
    pub code: Cow<'static, str>,
    /// One-line explanation.
    pub message: String,
    /// What to try next, when there is something useful to say.
    pub hint: Option<String>,
    /// The exit status category.
    pub status: ExitStatus,
    /// `merge_conflict`: the refused merge, the error body's `merge` field.
    pub merge: Option<Box<super::wire_docs::MergeDoc>>,
}

impl CliError {
    /// A new error with no hint.
    pub fn new(code: &'static str, status: ExitStatus, message: impl Into<String>) -> Self {
        Self {
            code: Cow::Borrowed(code),
            message: message.into(),
            hint: None,
            status,
            merge: None,
        }
    }

    /// Attaches the refused merge (the error body's `merge` field).
    pub fn with_merge(mut self, merge: super::wire_docs::MergeDoc) -> Self {
        self.merge = Some(Box::new(merge));
        self
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An error another avfs process reported in JSON, passed on as it was.
    pub fn relayed(code: String, message: String, hint: Option<String>, status: u8) -> Self {
        let status = match status {
            2 => ExitStatus::Usage,
            3 => ExitStatus::NotFound,
            4 => ExitStatus::Conflict,
            5 => ExitStatus::Storage,
            129 => ExitStatus::Hangup,
            130 => ExitStatus::Interrupted,
            143 => ExitStatus::Terminated,
            _ => ExitStatus::Internal,
        };
        Self {
            code: Cow::Owned(code),
            message,
            hint,
            status,
            merge: None,
        }
    }

    /// A bad argument.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", ExitStatus::Usage, message)
    }

    /// Host file-system failure, naming the path involved.
    pub fn host_io(path: &std::path::Path, err: std::io::Error) -> Self {
        Self::new(
            "io_error",
            ExitStatus::Storage,
            format!("{}: {err}", path.display()),
        )
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A store error that travelled through `std::io::Read` (a streamed read of
/// a lazily cloned chunk, for one) comes back as itself.
fn unwrap_io(err: VaultError) -> VaultError {
    match err {
        VaultError::Io(e) if e.get_ref().is_some_and(|i| i.is::<VaultError>()) => {
            match e.into_inner().map(|i| i.downcast::<VaultError>()) {
                Some(Ok(inner)) => *inner,
                _ => unreachable!("checked above"),
            }
        }
        other => other,
    }
}

impl From<VaultError> for CliError {
    fn from(err: VaultError) -> Self {
        use ExitStatus::*;
        let err = unwrap_io(err);
        if err.is_disk_full() {
            return CliError::new("disk_full", Storage, err.to_string()).hint(
                "free space on the disk that holds the store (AVFS_HOME), or run `avfs gc`, which frees \
                 what writes through a mount stored before they failed; nothing was changed",
            );
        }
        if err.is_corruption() {
            return CliError::new("store_corrupt", Storage, err.to_string()).hint(
                "avfs wrote nothing to it; `avfs verify` lists the damage in a store it can open",
            );
        }
        let (code, status) = match &err {
            VaultError::VaultNotFound(_) => ("vault_not_found", NotFound),
            VaultError::CheckpointNotFound(_) => ("checkpoint_not_found", NotFound),
            VaultError::PathNotFound(_) => ("path_not_found", NotFound),
            VaultError::VaultExists(_) => ("vault_exists", Conflict),
            VaultError::CheckpointExists(_) => ("checkpoint_exists", Conflict),
            VaultError::PathExists(_) => ("path_exists", Conflict),
            VaultError::NotADirectory(_) => ("not_a_directory", Conflict),
            VaultError::IsADirectory(_) => ("is_a_directory", Conflict),
            VaultError::DirectoryNotEmpty(_) => ("directory_not_empty", Conflict),
            VaultError::InvalidName { .. } => ("invalid_name", Usage),
            VaultError::InvalidPath { .. } => ("invalid_path", Usage),
            VaultError::PathTooLong { .. } => ("path_too_long", Usage),
            VaultError::InvalidMove(_) => ("invalid_move", Usage),
            VaultError::NoMergeBase { .. } => ("no_merge_base", Conflict),
            VaultError::VersionNotFound { .. } => ("version_not_found", NotFound),
            VaultError::VersionDeleted { .. } => ("version_deleted", Conflict),
            VaultError::NothingToRevert(_) => ("nothing_to_revert", Conflict),
            VaultError::QuotaExceeded { .. } => ("quota_exceeded", Conflict),
            VaultError::FileTooLarge { .. } => ("file_too_large", Conflict),
            VaultError::InvalidQuery { .. } => ("invalid_query", Usage),
            VaultError::SchemaTooNew { .. } => ("schema_too_new", Storage),
            VaultError::Corrupt(_) => ("store_corrupt", Storage),
            VaultError::InvalidPack(_) => ("remote_corrupt", Storage),
            VaultError::RemoteNotFound(_) => ("remote_not_found", NotFound),
            VaultError::RemoteExists(_) => ("remote_exists", Conflict),
            VaultError::HeadMoved(_) => ("vault_changed", Conflict),
            VaultError::ChunkUnavailable { .. } => ("remote_unreachable", Storage),
            VaultError::Sqlite(_) => ("storage_error", Storage),
            VaultError::Io(_) => ("io_error", Storage),
        };
        let hint = match &err {
            VaultError::VaultNotFound(_) => {
                Some("see `avfs vault list`, or create it with `avfs vault create NAME`")
            }
            VaultError::CheckpointNotFound(_) => Some("see `avfs checkpoint list`"),
            VaultError::RemoteNotFound(_) => Some(
                "see `avfs remote list`, or add one with `avfs remote add NAME s3://BUCKET/PREFIX`",
            ),
            VaultError::VersionNotFound { .. } => Some("see `avfs log PATH`"),
            VaultError::QuotaExceeded { .. } | VaultError::FileTooLarge { .. } => {
                Some("nothing was changed; see `avfs quota show`, free space or raise the limit")
            }
            VaultError::InvalidQuery { .. } => Some(
                "search takes FTS5 query syntax: words, \"exact phrases\", AND/OR/NOT, prefix*",
            ),
            _ => None,
        };
        let out = CliError::new(code, status, err.to_string());
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}

impl From<MountError> for CliError {
    fn from(err: MountError) -> Self {
        use ExitStatus::*;
        let (code, status) = match &err {
            MountError::Vault(_) => {
                let MountError::Vault(inner) = err else {
                    unreachable!()
                };
                return inner.into();
            }
            MountError::MountpointMissing(_) => ("mountpoint_missing", NotFound),
            MountError::NotMounted(_) => ("not_mounted", NotFound),
            MountError::NotADirectory(_) => ("not_a_directory", Conflict),
            MountError::NotEmpty(_) => ("mountpoint_not_empty", Conflict),
            MountError::AlreadyMounted(_) => ("already_mounted", Conflict),
            MountError::Busy(_) => ("mount_busy", Conflict),
            MountError::FuseUnavailable(_) => ("fuse_unavailable", Storage),
            MountError::Daemon(_) => ("mount_failed", Storage),
            MountError::Io(_) => ("io_error", Storage),
        };
        let out = CliError::new(code, status, err.to_string());
        match err {
            MountError::Busy(_) => out.hint("close what is open inside it, or pass --lazy"),
            MountError::NotEmpty(_) => out.hint("mount on an empty directory"),
            MountError::FuseUnavailable(_) => {
                out.hint("load the fuse module or run where /dev/fuse exists")
            }
            _ => out,
        }
    }
}

impl From<PolicyError> for CliError {
    fn from(err: PolicyError) -> Self {
        CliError::new(
            "invalid_policy",
            ExitStatus::Usage,
            format!("invalid policy: {err}"),
        )
        .hint("fix the field the message names; docs/json.md describes policy files")
    }
}

impl From<ProxyError> for CliError {
    fn from(err: ProxyError) -> Self {
        match err {
            ProxyError::Vault(e) => e.into(),
            ProxyError::Mount(e) => e.into(),
            ProxyError::EmptyCommand => {
                CliError::new("usage_error", ExitStatus::Usage, err.to_string())
            }
            ProxyError::InvalidWorkdir(_) => CliError::invalid_argument(err.to_string())
                .hint("give --workdir (or the policy's \"workdir\") as an absolute path of its own, e.g. /workspace: not in /proc, /sys or /dev, not over the system's program directories, the store or AVFS_HOME, and with --isolate not in /tmp or $HOME"),
            ProxyError::IsolationUnavailable(_) => {
                let hint = if crate::proxy::namespace::available() {
                    "the kernel refused a step of building the run's namespaces (named above); run without --isolate, or ask the machine's administrator what forbids it"
                } else {
                    "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0); without --isolate or --workdir a run goes ahead without namespaces"
                };
                CliError::new("isolation_unavailable", ExitStatus::Internal, err.to_string())
                    .hint(hint)
            }
            ProxyError::PathRulesNeedOwnMount => CliError::invalid_argument(err.to_string())
                .hint("drop --keep-mount, or use a policy without path rules"),
            ProxyError::Io(e) => CliError::new("io_error", ExitStatus::Storage, e.to_string()),
            ProxyError::Merge { fork, source } => {
                let inner = CliError::from(source);
                let kept = match fork {
                    Some(f) => format!("; the run's changes are kept in fork {f}"),
                    None => String::new(),
                };
                CliError {
                    message: format!("merging the run's changes failed: {}{kept}", inner.message),
                    ..inner
                }
            }
        }
    }
}

/// Result alias for CLI commands.
pub type CliResult<T> = Result<T, CliError>;
