"""Exceptions: one class per avfs error code, grouped by exit status under `AVFSError`.

The binary's error document is `{"error": {"code", "message", "exit_status", "hint"?}}`
(docs/json.md, "Errors"). Each code maps to a class named after it
(`vault_not_found` -> `VaultNotFound`); each class also derives from the class of its
exit status (`NotFound` for 3), so callers can catch a whole category. A code this
package does not know yet still raises the class of its exit status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Type

if TYPE_CHECKING:
    from .types import Run

__all__ = [
    "AVFSError",
    "InternalError",
    "BadInput",
    "NotFound",
    "Conflict",
    "StorageFailure",
    "Interrupted",
    "UsageError",
    "InvalidArgument",
    "InvalidPattern",
    "InvalidQuery",
    "InvalidPolicy",
    "InvalidPath",
    "PathTooLong",
    "InvalidName",
    "InvalidMove",
    "TooLarge",
    "NoStoreLocation",
    "UnknownTool",
    "McpFailed",
    "IsolationUnavailable",
    "VaultNotServed",
    "DocumentNotFound",
    "VaultNotFound",
    "CheckpointNotFound",
    "PathNotFound",
    "VersionNotFound",
    "NoCurrentVault",
    "NoCheckpoints",
    "MountpointMissing",
    "NotMounted",
    "QuotaExceeded",
    "FileTooLarge",
    "VersionDeleted",
    "NothingToRevert",
    "VaultExists",
    "CheckpointExists",
    "PathExists",
    "NotADirectory",
    "IsADirectory",
    "DirectoryNotEmpty",
    "NotAFile",
    "DestinationExists",
    "MountpointNotEmpty",
    "AlreadyMounted",
    "MountBusy",
    "MergeConflict",
    "NoMergeBase",
    "DiskFull",
    "StorageError",
    "StoreCorrupt",
    "SchemaTooNew",
    "IoError",
    "FuseUnavailable",
    "MountFailed",
    "InvalidRemote",
    "RemoteNotFound",
    "RemoteVaultNotFound",
    "RemoteBucketNotFound",
    "RemoteExists",
    "RemoteDiverged",
    "RemoteNoConditionalWrites",
    "VaultChanged",
    "RemoteUnreachable",
    "RemoteAuth",
    "RemoteCorrupt",
    "PolicyDenied",
    "BinaryNotFound",
    "ProtocolError",
    "error_from_document",
]


class AVFSError(Exception):
    """Base of every error this package raises; carries code, message, exit status, hint, document."""

    #: The avfs error code this class stands for (subclasses set it).
    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        exit_status: Optional[int] = None,
        hint: Optional[str] = None,
        document: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else type(self).code
        # None only for errors raised before or instead of running the binary.
        self.exit_status = exit_status
        self.hint = hint
        # The whole JSON document avfs printed, as parsed (None when there was none).
        self.document = document

    def __str__(self) -> str:
        status = "" if self.exit_status is None else f", exit status {self.exit_status}"
        text = f"{self.message} [{self.code}{status}]"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text

    def __reduce__(self) -> Any:
        # Keyword-only arguments defeat Exception's default pickling (multiprocessing needs it).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: Type[AVFSError], message: str, state: Dict[str, Any]) -> AVFSError:
    """Recreates a pickled error with its attributes."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


# ----- categories, one per exit status (docs/json.md, "Errors") -----


class InternalError(AVFSError):
    """Exit status 1: a bug in avfs or an environment problem."""


class BadInput(AVFSError):
    """Exit status 2: the command line or an argument is wrong."""


class NotFound(AVFSError):
    """Exit status 3: a vault, checkpoint, path or mount does not exist."""


class Conflict(AVFSError):
    """Exit status 4: the request conflicts with what exists."""


class StorageFailure(AVFSError):
    """Exit status 5: the store or the host file system failed."""


class Interrupted(AVFSError):
    """`interrupted`: a signal stopped avfs (exit status 130 for SIGINT, 143 for SIGTERM,
    129 for SIGHUP); what the command had not committed was rolled back."""

    code = "interrupted"


# ----- one class per code -----


class UsageError(BadInput):
    """`usage_error`: unknown command or flag, missing argument, bad flag value."""

    code = "usage_error"


class InvalidArgument(BadInput):
    """`invalid_argument`: an argument is well-formed but unusable."""

    code = "invalid_argument"


class InvalidPattern(BadInput):
    """`invalid_pattern`: a `grep` regular expression or a `find` name glob does not compile."""

    code = "invalid_pattern"


class InvalidQuery(BadInput):
    """`invalid_query`: a `search` query FTS5 cannot parse, or an empty one."""

    code = "invalid_query"


class InvalidPolicy(BadInput):
    """`invalid_policy`: a policy is not valid; the message names the bad field."""

    code = "invalid_policy"


class InvalidPath(BadInput):
    """`invalid_path`: `..` above the root, NUL byte, or empty path."""

    code = "invalid_path"


class PathTooLong(BadInput):
    """`path_too_long`: a name over 255 bytes or a path over 4096 bytes."""

    code = "path_too_long"


class InvalidName(BadInput):
    """`invalid_name`: a vault or checkpoint name is not 1-128 of `[A-Za-z0-9._-]`."""

    code = "invalid_name"


class InvalidMove(BadInput):
    """`invalid_move`: moving or copying a directory into itself."""

    code = "invalid_move"


class TooLarge(BadInput):
    """`too_large`: a file is over 16 MiB, too big to embed in JSON."""

    code = "too_large"


class NoStoreLocation(BadInput):
    """`no_store_location`: none of AVFS_HOME, XDG_DATA_HOME or HOME is set."""

    code = "no_store_location"


class IsolationUnavailable(InternalError):
    """`isolation_unavailable`: a run's namespaces cannot be made here, and the run asked for them; nothing ran."""

    code = "isolation_unavailable"


class McpFailed(StorageFailure):
    """`mcp_failed`: `avfs mcp` could not start or keep its stdio transport."""

    code = "mcp_failed"


class UnknownTool(BadInput):
    """`unknown_tool`: an `avfs mcp` tool call names no avfs tool."""

    code = "unknown_tool"


class VaultNotServed(BadInput):
    """`vault_not_served`: an `avfs mcp --vault V` call names another vault, or creates or forks one."""

    code = "vault_not_served"


class DocumentNotFound(NotFound):
    """`document_not_found`: `avfs schema NAME` of a document that does not exist."""

    code = "document_not_found"


class VaultNotFound(NotFound):
    """`vault_not_found`: no vault by that name."""

    code = "vault_not_found"


class CheckpointNotFound(NotFound):
    """`checkpoint_not_found`: no checkpoint by that name in the vault."""

    code = "checkpoint_not_found"


class PathNotFound(NotFound):
    """`path_not_found`: no such file or directory in the vault."""

    code = "path_not_found"


class VersionNotFound(NotFound):
    """`version_not_found`: the path has no such version (see `log`), or no history to revert."""

    code = "version_not_found"


class NoCurrentVault(NotFound):
    """`no_current_vault`: no vault was given and none is current."""

    code = "no_current_vault"


class NoCheckpoints(NotFound):
    """`no_checkpoints`: `diff` without a start in a vault with no checkpoint."""

    code = "no_checkpoints"


class MountpointMissing(NotFound):
    """`mountpoint_missing`: the mount directory does not exist."""

    code = "mountpoint_missing"


class NotMounted(NotFound):
    """`not_mounted`: avfs has not mounted that directory."""

    code = "not_mounted"


class QuotaExceeded(Conflict):
    """`quota_exceeded`: the write would take the vault past `max_bytes` or `max_files`; nothing changed."""

    code = "quota_exceeded"


class FileTooLarge(Conflict):
    """`file_too_large`: the write would make a file larger than `max_file_size`; nothing changed."""

    code = "file_too_large"


class VersionDeleted(Conflict):
    """`version_deleted`: reading or checking out a version that records the path's deletion."""

    code = "version_deleted"


class NothingToRevert(Conflict):
    """`nothing_to_revert`: the path has no earlier state left (only a deletion, or pruned)."""

    code = "nothing_to_revert"


class VaultExists(Conflict):
    """`vault_exists`: a vault by that name already exists."""

    code = "vault_exists"


class CheckpointExists(Conflict):
    """`checkpoint_exists`: a checkpoint by that name already exists."""

    code = "checkpoint_exists"


class PathExists(Conflict):
    """`path_exists`: something already exists at that path."""

    code = "path_exists"


class NotADirectory(Conflict):
    """`not_a_directory`: a path component is not a directory."""

    code = "not_a_directory"


class IsADirectory(Conflict):
    """`is_a_directory`: the operation needs a file but the path is a directory."""

    code = "is_a_directory"


class DirectoryNotEmpty(Conflict):
    """`directory_not_empty`: removing a non-empty directory without recursion."""

    code = "directory_not_empty"


class NotAFile(Conflict):
    """`not_a_file`: reading a symlink as a file (avfs never follows symlinks)."""

    code = "not_a_file"


class DestinationExists(Conflict):
    """`destination_exists`: export into a non-empty host directory without force."""

    code = "destination_exists"


class MountpointNotEmpty(Conflict):
    """`mountpoint_not_empty`: the mount directory is not empty."""

    code = "mountpoint_not_empty"


class AlreadyMounted(Conflict):
    """`already_mounted`: the directory is already a mount point."""

    code = "already_mounted"


class MountBusy(Conflict):
    """`mount_busy`: files are open inside the mount (unmount lazily instead)."""

    code = "mount_busy"


class MergeConflict(Conflict):
    """`merge_conflict`: `vault merge` found paths both sides changed differently and merged
    nothing; `.merge` is the `Merge` document (status conflict) with the conflicts."""

    code = "merge_conflict"

    @property
    def merge(self) -> Any:
        """The `Merge` the error carries (None if avfs printed none)."""
        from .types import Merge

        body = (self.document or {}).get("error", {})
        return None if body.get("merge") is None else Merge.from_json(body["merge"])


class NoMergeBase(Conflict):
    """`no_merge_base`: the merge source is not a fork and shares no state with the target."""

    code = "no_merge_base"


class DiskFull(StorageFailure):
    """`disk_full`: the disk holding the store is full; nothing was changed."""

    code = "disk_full"


class StorageError(StorageFailure):
    """`storage_error`: SQLite failed."""

    code = "storage_error"


class StoreCorrupt(StorageFailure):
    """`store_corrupt`: a store consistency rule is broken."""

    code = "store_corrupt"


class SchemaTooNew(StorageFailure):
    """`schema_too_new`: the store was written by a newer avfs."""

    code = "schema_too_new"


class IoError(StorageFailure):
    """`io_error`: reading or writing a host file failed."""

    code = "io_error"


class FuseUnavailable(StorageFailure):
    """`fuse_unavailable`: no /dev/fuse, or the kernel refused the mount."""

    code = "fuse_unavailable"


class MountFailed(StorageFailure):
    """`mount_failed`: the serving process failed or did not answer."""

    code = "mount_failed"


# ----- raised by this package itself, not from an error document -----


class PolicyDenied(AVFSError):
    """The policy refused the command, so nothing ran; `.result` is the `Run` avfs reported."""

    code = "policy_denied"

    def __init__(self, result: Run, document: Optional[Mapping[str, Any]] = None) -> None:
        decision = result.decision
        rule = f" (rule {decision.rule!r})" if decision.rule else ""
        super().__init__(
            f"policy denied {' '.join(result.command)!r}{rule}: {decision.reason}",
            exit_status=126,
            document=document,
        )
        self.result = result


class BinaryNotFound(AVFSError):
    """The avfs binary could not be found (binary=, AVFS_BIN, PATH) or is not executable."""

    code = "binary_not_found"


class ProtocolError(AVFSError):
    """avfs printed something other than the one JSON document its contract promises."""

    code = "protocol_error"


class InvalidRemote(BadInput):
    """`invalid_remote`: a remote name or URL that is not allowed."""

    code = "invalid_remote"


class RemoteNotFound(NotFound):
    """`remote_not_found`: no remote has that name."""

    code = "remote_not_found"


class RemoteVaultNotFound(NotFound):
    """`remote_vault_not_found`: the remote holds no vault of that name."""

    code = "remote_vault_not_found"


class RemoteBucketNotFound(NotFound):
    """`remote_bucket_not_found`: the remote's bucket does not exist."""

    code = "remote_bucket_not_found"


class RemoteExists(Conflict):
    """`remote_exists`: a remote with that name exists already."""

    code = "remote_exists"


class RemoteDiverged(Conflict):
    """`remote_diverged`: the remote head moved since this vault's base: pull first (a push never overwrites silently)."""

    code = "remote_diverged"


class RemoteNoConditionalWrites(Conflict):
    """`remote_no_conditional_writes`: the server has no conditional writes and the remote was not added as an unsafe single writer."""

    code = "remote_no_conditional_writes"


class VaultChanged(Conflict):
    """`vault_changed`: the vault changed locally in a way the remote operation would lose."""

    code = "vault_changed"


class RemoteUnreachable(StorageFailure):
    """`remote_unreachable`: the object store did not answer."""

    code = "remote_unreachable"


class RemoteAuth(StorageFailure):
    """`remote_auth`: the object store refused the credentials, or there are none."""

    code = "remote_auth"


class RemoteCorrupt(StorageFailure):
    """`remote_corrupt`: an object downloaded from the remote does not match its hash; nothing of it was stored."""

    code = "remote_corrupt"


def _by_code() -> Dict[str, Type[AVFSError]]:
    """Maps each error code avfs documents to its class."""
    table: Dict[str, Type[AVFSError]] = {}
    for category in (InternalError, BadInput, NotFound, Conflict, StorageFailure):
        for cls in category.__subclasses__():
            table[cls.code] = cls
    table[Interrupted.code] = Interrupted
    return table


_CLASS_BY_CODE = _by_code()
_CLASS_BY_STATUS: Dict[int, Type[AVFSError]] = {
    1: InternalError,
    2: BadInput,
    3: NotFound,
    4: Conflict,
    5: StorageFailure,
    129: Interrupted,
    130: Interrupted,
    143: Interrupted,
}


def error_from_document(document: Mapping[str, Any], exit_status: int) -> AVFSError:
    """Builds the exception for an `{"error": {...}}` document avfs printed."""
    body = document["error"]
    code = str(body["code"])
    status = int(body.get("exit_status", exit_status))
    cls = _CLASS_BY_CODE.get(code) or _CLASS_BY_STATUS.get(status, AVFSError)
    return cls(
        str(body["message"]),
        code=code,
        exit_status=status,
        hint=body.get("hint"),
        document=document,
    )
