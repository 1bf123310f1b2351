"""`AVFS`: one method per avfs command, each a thin call to the binary with `--json`.

A method builds the command line, lets the runner execute it, and parses the
document into a dataclass from `types`. Adding a command is one such method (and,
for a new JSON shape, one dataclass).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from ._binary import locate_binary
from ._runner import Arg, Runner
from .errors import MountBusy, PathNotFound, PolicyDenied, ProtocolError, TooLarge
from .policy import Policy, PolicyInput, policy_file
from .remotes import CloneResult, PullResult, PushResult, Remote, RemoteCheck, RemoteGc, RemoteVaultList
from .types import (
    AuditEntry,
    AuditVerification,
    StoreVerification,
    Checkpoint,
    CheckedOut,
    Compacted,
    Diff,
    Entry,
    Exported,
    GcResult,
    GrepResult,
    Imported,
    Mount,
    MountList,
    Moved,
    PathRef,
    PolicyCheck,
    PruneResult,
    QuotaInfo,
    Restored,
    Reverted,
    Merge,
    Run,
    SearchHit,
    Stats,
    Unmounted,
    Vault,
    VaultList,
    Version,
    VersionDiff,
)

__all__ = ["AVFS", "Duration", "Content", "Size", "Since"]

T = TypeVar("T")

#: A vault path: text, or exact bytes for names that are not UTF-8.
VaultPath = Union[str, bytes]
#: A host path.
HostPath = Union[str, "os.PathLike[str]"]
#: A duration: avfs syntax ("500ms", "30s", "5m", "1h"), seconds, or a timedelta.
Duration = Union[str, int, float, datetime.timedelta]
#: File content: text (written as UTF-8) or bytes.
Content = Union[str, bytes, bytearray, memoryview]
#: A size: bytes, or avfs syntax ("512K", "10MiB", "1G").
Size = Union[int, str]
#: A point in time for `audit` and `prune`: an avfs age ("30s", "10m", "2h", "7d"),
#: an RFC 3339 time string, a timedelta (that long ago) or an aware datetime.
Since = Union[str, datetime.timedelta, datetime.datetime]

#: `find` types: avfs's letters, and the `Entry.kind` names for convenience.
_FIND_TYPES = {"f": "f", "d": "d", "l": "l", "file": "f", "dir": "d", "symlink": "l"}


def _duration(value: Duration) -> str:
    """Formats a duration the way avfs reads it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError("a duration must be a string, a number of seconds or a timedelta")
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)
    return f"{round(seconds * 1000)}ms"


def _mode(value: Union[int, str]) -> str:
    """Formats permission bits as the octal string avfs reads (0o644 -> "644")."""
    return format(value, "o") if isinstance(value, int) else value


def _option(flag: str, value: Arg) -> Arg:
    """`--flag=value` as one argument, so a value starting with `-` is not read as a flag."""
    value = value if isinstance(value, (str, bytes)) else os.fspath(value)
    if isinstance(value, bytes):
        return flag.encode() + b"=" + value
    return f"{flag}={value}"


def _size(value: Size) -> str:
    """Formats a size the way avfs reads it (a number of bytes, or "10MiB" as is)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("a size must be a number of bytes or a string such as '10MiB'")
    return str(value)


def _count(value: int) -> str:
    """Formats a count (limit, depth, version number), refusing what is not an integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return str(value)


def _since(value: Since) -> str:
    """Formats a point in time as avfs reads it: an age or an RFC 3339 time."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):
        # avfs ages take whole units (s, m, h, d); round up so nothing newer is left out.
        seconds = -(-value // datetime.timedelta(seconds=1))
        return f"{max(seconds, 0)}s"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime for avfs must be timezone-aware (its meaning is otherwise ambiguous)")
        return value.isoformat()
    raise TypeError("expected an age string, an RFC 3339 string, a timedelta or an aware datetime")


def _content(value: Content) -> bytes:
    """The bytes to write for `value` (text is UTF-8)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


@dataclass(frozen=True)
class _ProxyOptions:
    """The options of `proxy exec` that `proxy_exec` and `proxy_shell` share."""

    timeout: Optional[Duration]
    grace: Optional[Duration]
    cwd: Optional[VaultPath]
    env: Optional[Mapping[str, str]]
    readonly: bool
    checkpoint: Optional[str]
    policy: Optional[PolicyInput]
    mode: Optional[str]
    keep_mount: Optional[HostPath]
    output_limit: Optional[Union[int, str]]
    changes: Optional[str] = None
    on_conflict: Optional[str] = None
    workdir: Optional[str] = None
    isolate: bool = False
    push: bool = False

    def to_args(self, stack: contextlib.ExitStack) -> List[Arg]:
        """The command-line options; a policy given as data lives in a file until `stack` closes."""
        args: List[Arg] = []
        if self.timeout is not None:
            args.append(_option("--timeout", _duration(self.timeout)))
        if self.grace is not None:
            args.append(_option("--grace", _duration(self.grace)))
        if self.cwd is not None:
            args.append(_option("--cwd", self.cwd))
        for name, value in (self.env or {}).items():
            args.append(_option("--env", f"{name}={value}"))
        if self.readonly:
            args.append("--readonly")
        if self.checkpoint is not None:
            args.append(_option("--checkpoint", self.checkpoint))
        if self.policy is not None:
            args.append(_option("--policy", stack.enter_context(policy_file(self.policy))))
        if self.mode is not None:
            args.append(_option("--mode", self.mode))
        if self.keep_mount is not None:
            args.append(_option("--keep-mount", self.keep_mount))
        if self.output_limit is not None:
            args.append(_option("--output-limit", str(self.output_limit)))
        if self.changes is not None:
            args.append(_option("--changes", self.changes))
        if self.on_conflict is not None:
            args.append(_option("--on-conflict", self.on_conflict))
        if self.workdir is not None:
            args.append(_option("--workdir", self.workdir))
        if self.isolate:
            args.append("--isolate")
        if self.push:
            args.append("--push")
        return args


class AVFS:
    """A client for one avfs store and, optionally, one vault it works on by default.

    `vault`: passed as `--vault` to every command that works on a vault (None: avfs
    picks $AVFS_VAULT, else the current vault). `home`: the store directory, passed as
    $AVFS_HOME (None: avfs's default). `binary`: the avfs executable (None: $AVFS_BIN,
    else `avfs` on PATH); it is located now, so a missing binary fails here.
    """

    def __init__(
        self,
        vault: Optional[str] = None,
        *,
        home: Optional[HostPath] = None,
        binary: Optional[HostPath] = None,
    ) -> None:
        self.vault = vault
        self.home = None if home is None else os.path.abspath(os.fspath(home))
        self.binary = locate_binary(binary)
        self._runner = Runner(self.binary, self.home)

    def __repr__(self) -> str:
        return f"AVFS(vault={self.vault!r}, home={self.home!r}, binary={self.binary!r})"

    def for_vault(self, vault: Optional[str]) -> AVFS:
        """A client on the same store and binary that works on another vault."""
        return AVFS(vault, home=self.home, binary=self.binary)

    # ----- plumbing -----

    def _call(
        self,
        args: Sequence[Arg],
        parse: Callable[[Mapping[str, Any]], T],
        *,
        in_vault: bool = True,
        stdin: Optional[bytes] = None,
        ok_statuses: Optional[Collection[int]] = (0,),
    ) -> T:
        """Runs one command (with `--vault` when `in_vault`) and parses its document."""
        prefix = self._vault_flag() if in_vault else []
        document = self._runner.json([*prefix, *args], stdin=stdin, ok_statuses=ok_statuses)
        try:
            return parse(document)
        except (KeyError, TypeError, ValueError) as error:
            raise ProtocolError(
                f"unexpected document from avfs {' '.join(map(str, args[:2]))}: "
                f"{type(error).__name__}: {error}",
                document=document,
            ) from error

    def _vault_flag(self) -> List[Arg]:
        """`--vault=NAME` when this client has a vault."""
        return [_option("--vault", self.vault)] if self.vault is not None else []

    # ----- vaults -----

    def create_vault(self, name: str, *, use: bool = False) -> Vault:
        """Creates an empty vault (`use`: make it current; the first vault always is)."""
        return self._call(
            ["vault", "create", *(["--use"] if use else []), "--", name],
            lambda d: Vault.from_json(d["vault"]),
            in_vault=False,
        )

    def merge_vault(
        self,
        source: str,
        *,
        into: Optional[str] = None,
        dry_run: bool = False,
        on_conflict: Optional[str] = None,
    ) -> Merge:
        """Merges fork `source` into `into` (default: the vault it was forked from).

        Fast-forward or three-way merge by path, after a `pre-merge-N` checkpoint. With
        conflicts and `on_conflict` "keep" (the default) nothing is merged and
        `MergeConflict` is raised (its `.merge` lists them); "ours"/"theirs" resolve them.
        """
        args: List[Arg] = ["vault", "merge"]
        if into is not None:
            args.append(_option("--into", into))
        if dry_run:
            args.append("--dry-run")
        if on_conflict is not None:
            args.append(_option("--on-conflict", on_conflict))
        return self._call([*args, "--", source], Merge.from_json)

    def fork_vault(self, source: str, name: str, *, use: bool = False) -> Vault:
        """Forks `source` into a new vault `name` in O(1); returns the fork."""
        return self._call(
            ["vault", "fork", *(["--use"] if use else []), "--", source, name],
            lambda d: Vault.from_json(d["vault"]),
            in_vault=False,
        )

    def list_vaults(self) -> VaultList:
        """Every vault, and which one is current."""
        return self._call(["vault", "list"], VaultList.from_json, in_vault=False)

    def vault_info(self, name: Optional[str] = None) -> Vault:
        """One vault's details (default: this client's vault, else the current one)."""
        target = name if name is not None else self.vault
        return self._call(
            ["vault", "info", "--", *([target] if target is not None else [])],
            lambda d: Vault.from_json(d["vault"]),
            in_vault=False,
        )

    def use_vault(self, name: str) -> str:
        """Makes `name` the store's current vault (this client's `vault` is unchanged)."""
        return self._call(["vault", "use", "--", name], lambda d: str(d["current"]), in_vault=False)

    def delete_vault(self, name: str) -> str:
        """Deletes a vault and its checkpoints (its forks keep their data); returns its name."""
        return self._call(["vault", "delete", "--", name], lambda d: str(d["deleted"]), in_vault=False)

    # ----- files -----

    def mkdir(self, *paths: VaultPath, parents: bool = False, mode: Optional[Union[int, str]] = None) -> List[Entry]:
        """Creates directories (`parents`: also missing parents, no error if present)."""
        args: List[Arg] = ["mkdir", *(["-p"] if parents else [])]
        if mode is not None:
            args.append(_option("--mode", _mode(mode)))
        return self._call([*args, "--", *paths], lambda d: [Entry.from_json(e) for e in d["entries"]])

    def write(
        self,
        path: VaultPath,
        content: Content,
        *,
        append: bool = False,
        parents: bool = True,
        mode: Optional[Union[int, str]] = None,
    ) -> Entry:
        """Writes a file (text as UTF-8, or bytes), creating missing parent directories unless `parents=False`."""
        args: List[Arg] = ["write"]
        if append:
            args.append("--append")
        if parents:
            args.append("--parents")
        if mode is not None:
            args.append(_option("--mode", _mode(mode)))
        # Content goes through stdin: no argv size limit, and any bytes work.
        return self._call([*args, "--", path], lambda d: Entry.from_json(d["entry"]), stdin=_content(content))

    def read_bytes(self, path: VaultPath, *, version: Optional[int] = None) -> bytes:
        """A file's exact bytes, streamed (no size limit); `version`: that version instead (see `log`)."""
        version_args = self._version_args(version)
        completed = self._runner.run([*self._vault_flag(), "cat", *version_args, "--", path])
        if completed.status == 0:
            return completed.stdout
        # Plain `cat` reports errors as text; ask again with --json for the typed error.
        # (If the file appeared in between, that answer is the content.)
        return self._cat_json(path, version)[0]

    def cat(self, path: VaultPath, *, version: Optional[int] = None) -> str:
        """agentvfs's name for `read_text`: a file's content as UTF-8 text."""
        return self.read_text(path, version=version)

    def read_text(
        self,
        path: VaultPath,
        encoding: str = "utf-8",
        errors: str = "strict",
        *,
        version: Optional[int] = None,
    ) -> str:
        """A file's content decoded as text (UnicodeDecodeError if it is not, with errors="strict").

        `version`: that version of the file instead of its current content (see `log`).
        """
        try:
            data, text = self._cat_json(path, version)
        except TooLarge:
            # Over 16 MiB avfs will not embed the file in JSON; stream it instead.
            return self.read_bytes(path, version=version).decode(encoding, errors)
        if text is not None and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
            return text
        return data.decode(encoding, errors)

    @staticmethod
    def _version_args(version: Optional[int]) -> List[Arg]:
        """`--version=N` when a version is asked for."""
        return [] if version is None else [_option("--version", _count(version))]

    def _cat_json(self, path: VaultPath, version: Optional[int] = None) -> Tuple[bytes, Optional[str]]:
        """`cat --json`: the file's bytes, and its text when avfs found it to be UTF-8."""

        def parse(d: Mapping[str, Any]) -> Tuple[bytes, Optional[str]]:
            if d["encoding"] == "utf-8":
                return d["content"].encode("utf-8"), d["content"]
            if d["encoding"] == "base64":
                return base64.b64decode(d["content"]), None
            raise ValueError(f"unknown encoding {d['encoding']!r}")

        return self._call(["cat", *self._version_args(version), "--", path], parse)

    def ls(self, path: VaultPath = "/") -> List[Entry]:
        """A directory's entries (a file lists itself)."""
        return self._call(["ls", "--", path], lambda d: [Entry.from_json(e) for e in d["entries"]])

    def tree(self, path: VaultPath = "/") -> List[Entry]:
        """Every entry under `path`, itself included, parents first, names in byte order."""
        return self._call(["tree", "--", path], lambda d: [Entry.from_json(e) for e in d["entries"]])

    def stat(self, path: VaultPath) -> Entry:
        """One path's attributes (symlinks are not followed)."""
        return self._call(["stat", "--", path], lambda d: Entry.from_json(d["entry"]))

    def exists(self, path: VaultPath) -> bool:
        """True if something (file, directory or symlink) is at `path`."""
        try:
            self.stat(path)
        except PathNotFound:
            return False
        return True

    def cp(self, src: VaultPath, dst: VaultPath, *, recursive: bool = False) -> Entry:
        """Copies a file, or a directory with `recursive`; returns the copy."""
        args: List[Arg] = ["cp", *(["-r"] if recursive else []), "--", src, dst]
        return self._call(args, lambda d: Entry.from_json(d["entry"]))

    def mv(self, src: VaultPath, dst: VaultPath) -> Moved:
        """Moves or renames a path (into `dst` if it is a directory)."""
        return self._call(["mv", "--", src, dst], Moved.from_json)

    def rm(self, *paths: VaultPath, recursive: bool = False, force: bool = False) -> List[PathRef]:
        """Removes paths (`force`: skip missing ones); returns what was removed."""
        args: List[Arg] = ["rm", *(["-r"] if recursive else []), *(["-f"] if force else []), "--", *paths]
        return self._call(args, lambda d: [PathRef.from_json(p) for p in d["removed"]])

    def import_dir(self, host_dir: HostPath, dest: VaultPath = "/") -> Imported:
        """Copies a host directory into the vault (modes, symlinks, hard links, mtimes kept)."""
        return self._call(["import", "--", host_dir, dest], Imported.from_json)

    def export(self, src: VaultPath, host_path: HostPath, *, force: bool = False) -> Exported:
        """Copies a vault path out to the host (`force`: into a non-empty directory)."""
        args: List[Arg] = ["export", *(["--force"] if force else []), "--", src, host_path]
        return self._call(args, Exported.from_json)

    # ----- checkpoints and diff -----

    def checkpoint_save(self, name: str, message: Optional[str] = None) -> Checkpoint:
        """Freezes the vault's current state under `name`, in O(1)."""
        args: List[Arg] = ["checkpoint", "save"]
        if message is not None:
            args.append(_option("--message", message))
        return self._call([*args, "--", name], lambda d: Checkpoint.from_json(d["checkpoint"]))

    def checkpoint_list(self) -> List[Checkpoint]:
        """The vault's checkpoints, oldest first."""
        return self._call(["checkpoint", "list"], lambda d: [Checkpoint.from_json(c) for c in d["checkpoints"]])

    def checkpoint_info(self, name: str) -> Checkpoint:
        """One checkpoint."""
        return self._call(["checkpoint", "info", "--", name], lambda d: Checkpoint.from_json(d["checkpoint"]))

    def checkpoint_restore(self, name: str) -> Restored:
        """Puts the vault back to a checkpoint; unsaved work is kept as `saved_previous`."""
        return self._call(["checkpoint", "restore", "--", name], Restored.from_json)

    def checkpoint_delete(self, name: str) -> str:
        """Deletes a checkpoint's name; returns it."""
        return self._call(["checkpoint", "delete", "--", name], lambda d: str(d["deleted"]))

    def diff(
        self,
        *paths: VaultPath,
        from_ref: Optional[str] = None,
        to_ref: Optional[str] = None,
        patch: bool = False,
    ) -> Diff:
        """Changes between two states (default: the latest checkpoint to now), optionally under `paths`.

        References: `CHECKPOINT`, `vault:NAME` or `vault:NAME@CHECKPOINT`. `patch`: give
        each changed text file a unified diff (`Change.patch`).
        """
        args: List[Arg] = ["diff"]
        if from_ref is not None:
            args.append(_option("--from", from_ref))
        if to_ref is not None:
            args.append(_option("--to", to_ref))
        if patch:
            args.append("--patch")
        return self._call([*args, "--", *paths], Diff.from_json)

    # ----- history -----

    def log(self, path: VaultPath) -> List[Version]:
        """Every version of the file at `path`, oldest first (a directory has none)."""
        return self._call(["log", "--", path], lambda d: [Version.from_json(v) for v in d["versions"]])

    def checkout(self, path: VaultPath, version: int) -> CheckedOut:
        """Makes version `version` of the file its content again, as a new version (recreates it if deleted)."""
        return self._call(["checkout", *self._version_args(version), "--", path], CheckedOut.from_json)

    def revert(self, path: VaultPath) -> Reverted:
        """Undoes the file's newest change, as a new version (reverting a revert redoes)."""
        return self._call(["revert", "--", path], Reverted.from_json)

    def diff_versions(self, path: VaultPath, v1: int, v2: Optional[int] = None) -> VersionDiff:
        """Compares two versions of one file (`v2` default: the newest) as a unified diff."""
        args: List[Arg] = ["diff", _option("--v1", _count(v1))]
        if v2 is not None:
            args.append(_option("--v2", _count(v2)))
        return self._call([*args, "--", path], VersionDiff.from_json)

    # ----- grep, find, search -----

    def grep(
        self,
        pattern: str,
        path: VaultPath = "/",
        *,
        ignore_case: bool = False,
        files_only: bool = False,
    ) -> GrepResult:
        """Lines matching a Rust regex in every file at or below `path`; binary files are skipped.

        `files_only` (`-l`): only `files` is filled, each file stops at its first match.
        No match is an empty result, not an error.
        """
        args: List[Arg] = ["grep", *(["-i"] if ignore_case else []), *(["-l"] if files_only else [])]
        return self._call([*args, "--", pattern, path], GrepResult.from_json)

    def find(
        self,
        path: VaultPath = "/",
        *,
        name: Optional[str] = None,
        type: Optional[str] = None,
        min_size: Optional[Size] = None,
        max_size: Optional[Size] = None,
        max_depth: Optional[int] = None,
    ) -> List[Entry]:
        """Entries at or below `path` (itself included) that pass every filter, in `tree` order.

        `name`: a glob on the entry's name; `type`: "f"/"file", "d"/"dir", "l"/"symlink";
        `min_size`/`max_size`: files only; `max_depth`: 0 is `path` itself.
        """
        args: List[Arg] = ["find"]
        if name is not None:
            args.append(_option("--name", name))
        if type is not None:
            if type not in _FIND_TYPES:
                raise ValueError(f"type must be one of {', '.join(map(repr, _FIND_TYPES))}, not {type!r}")
            args.append(_option("--type", _FIND_TYPES[type]))
        if min_size is not None:
            args.append(_option("--min-size", _size(min_size)))
        if max_size is not None:
            args.append(_option("--max-size", _size(max_size)))
        if max_depth is not None:
            args.append(_option("--max-depth", _count(max_depth)))
        return self._call([*args, "--", path], lambda d: [Entry.from_json(e) for e in d["entries"]])

    def search(self, query: str, *, limit: Optional[int] = None) -> List[SearchHit]:
        """Ranks the vault's text files for an FTS5 query, best first (avfs's default limit: 20)."""
        args: List[Arg] = ["search", *([_option("--limit", _count(limit))] if limit is not None else [])]
        return self._call([*args, "--", query], lambda d: [SearchHit.from_json(r) for r in d["results"]])

    # ----- maintenance -----

    def stats(self) -> Stats:
        """Counts per vault (all of them) and what the store spends after deduplication."""
        return self._call(["stats"], Stats.from_json, in_vault=False)

    def gc(self, *, dry_run: bool = False) -> GcResult:
        """Frees what no vault, checkpoint or fork reaches, store-wide (`dry_run`: only count)."""
        return self._call(["gc", *(["--dry-run"] if dry_run else [])], GcResult.from_json, in_vault=False)

    def prune(
        self,
        *,
        keep_checkpoints: Optional[int] = None,
        checkpoints_older_than: Optional[Since] = None,
        named: bool = False,
        keep_versions: Optional[int] = None,
        versions_older_than: Optional[Since] = None,
        all_vaults: bool = False,
        dry_run: bool = False,
    ) -> PruneResult:
        """Removes old automatic checkpoints (`named`: named ones too) and old file versions.

        Works on this client's vault, or every vault with `all_vaults`. At least one rule
        is required (else `InvalidArgument`). Ages: "7d", "12h", an RFC 3339 string, a
        timedelta or an aware datetime. `gc` then frees the space.
        """
        args: List[Arg] = ["prune"]
        if keep_checkpoints is not None:
            args.append(_option("--keep-checkpoints", _count(keep_checkpoints)))
        if checkpoints_older_than is not None:
            args.append(_option("--checkpoints-older-than", _since(checkpoints_older_than)))
        if named:
            args.append("--named")
        if keep_versions is not None:
            args.append(_option("--keep-versions", _count(keep_versions)))
        if versions_older_than is not None:
            args.append(_option("--versions-older-than", _since(versions_older_than)))
        if all_vaults:
            args.append("--all-vaults")
        if dry_run:
            args.append("--dry-run")
        return self._call(args, PruneResult.from_json, in_vault=not all_vaults)

    def compact(self) -> Compacted:
        """Squashes layer chains nothing names, then VACUUMs the database (store-wide)."""
        return self._call(["compact"], Compacted.from_json, in_vault=False)

    def quota_set(
        self,
        *,
        max_bytes: Optional[Size] = None,
        max_files: Optional[int] = None,
        max_file_size: Optional[Size] = None,
    ) -> QuotaInfo:
        """Sets the limits given (the others keep their value); returns limits and usage."""
        args: List[Arg] = ["quota", "set"]
        if max_bytes is not None:
            args.append(_option("--max-bytes", _size(max_bytes)))
        if max_files is not None:
            args.append(_option("--max-files", _count(max_files)))
        if max_file_size is not None:
            args.append(_option("--max-file-size", _size(max_file_size)))
        return self._call(args, QuotaInfo.from_json)

    def quota_show(self) -> QuotaInfo:
        """The vault's limits (None: no limit) and its usage now."""
        return self._call(["quota", "show"], QuotaInfo.from_json)

    def quota_clear(self) -> QuotaInfo:
        """Removes every limit; returns the (empty) limits and usage."""
        return self._call(["quota", "clear"], QuotaInfo.from_json)

    def audit(self, *, since: Optional[Since] = None, limit: Optional[int] = None) -> List[AuditEntry]:
        """The store-wide journal, oldest first: the newest `limit` (default 100) entries at or after `since`."""
        args: List[Arg] = ["audit"]
        if since is not None:
            args.append(_option("--since", _since(since)))
        if limit is not None:
            args.append(_option("--limit", _count(limit)))
        return self._call(args, lambda d: [AuditEntry.from_json(e) for e in d["entries"]], in_vault=False)

    def audit_verify(self) -> AuditVerification:
        """Checks the journal's hash chain; a broken journal is a result (`intact` False), not an error."""
        # avfs exits 5 with a normal document when the journal is broken.
        return self._call(["audit", "verify"], AuditVerification.from_json, in_vault=False, ok_statuses=(0, 5))

    def verify(self) -> StoreVerification:
        """Checks the whole store (chunk hashes, references, integrity); faults are a result, not an error."""
        # avfs exits 5 with a normal document when the store is damaged.
        return self._call(["verify"], StoreVerification.from_json, in_vault=False, ok_statuses=(0, 5))

    def retention(self, *, keep_versions: Optional[int] = None, keep_all: bool = False) -> Optional[int]:
        """Versions each file keeps (None: all); sets it first when `keep_versions` or `keep_all` is given."""
        args: List[Arg] = ["retention"]
        if keep_all:
            args.append("--keep-all")
        elif keep_versions is not None:
            args.append(_option("--keep-versions", _count(keep_versions)))
        return self._call(args, lambda d: d["keep_versions"], in_vault=False)

    # ----- policy -----

    def policy_set(self, policy: PolicyInput) -> Policy:
        """Validates and stores the vault's policy; returns it as avfs normalized it."""
        with policy_file(policy) as path:
            return self._call(["policy", "set", "--", path], lambda d: Policy.from_json(d["policy"]))

    def policy_show(self) -> Optional[Policy]:
        """The vault's policy, or None if it has none (everything is allowed)."""
        return self._call(
            ["policy", "show"],
            lambda d: None if d["policy"] is None else Policy.from_json(d["policy"]),
        )

    def policy_check(self, program: Arg, *args: Arg, policy: Optional[PolicyInput] = None) -> PolicyCheck:
        """Whether a command would be allowed (by `policy`, else the vault's); runs nothing, never raises on denial."""
        with contextlib.ExitStack() as stack:
            options: List[Arg] = []
            if policy is not None:
                options.append(_option("--policy", stack.enter_context(policy_file(policy))))
            # 126 is how avfs says "denied" here; the document is a normal one.
            return self._call(
                ["policy", "check", *options, "--", program, *args],
                PolicyCheck.from_json,
                ok_statuses=(0, 126),
            )

    # ----- proxy -----

    def proxy_exec(
        self,
        program: Arg,
        *args: Arg,
        timeout: Optional[Duration] = None,
        grace: Optional[Duration] = None,
        cwd: Optional[VaultPath] = None,
        env: Optional[Mapping[str, str]] = None,
        readonly: bool = False,
        checkpoint: Optional[str] = None,
        policy: Optional[PolicyInput] = None,
        mode: Optional[str] = None,
        keep_mount: Optional[HostPath] = None,
        output_limit: Optional[Union[int, str]] = None,
        changes: Optional[str] = None,
        on_conflict: Optional[str] = None,
        workdir: Optional[str] = None,
        isolate: bool = False,
        push: bool = False,
        raise_on_denied: bool = True,
    ) -> Run:
        """Runs `program args...` in the vault under its policy; returns the `Run`.

        A non-zero exit, a timeout (`timed_out`) or a missing program (`exec_error`)
        is reported in the result, not raised. A command the policy denies raises
        `PolicyDenied` (its `.result` is the Run) unless `raise_on_denied=False`.
        The run works in its own attempt, merged into the vault when it ends: when its
        changes conflict with the vault's meanwhile, nothing is applied, `conflicted` is
        True and `fork` names the fork that keeps them (`on_conflict`: keep, ours, theirs).
        Options left at None take the policy's value, else avfs's default.
        `changes="summary"` reports each rolled-up directory (`node_modules`, `target`...)
        once in `rollups` instead of listing its files in `changes`. `push`: push the
        vault (with its checkpoints) after the run; the outcome is `Run.push` (a failed push
        is reported there, never raised: the run's result stands).
        """
        options = _ProxyOptions(
            timeout, grace, cwd, env, readonly, checkpoint, policy, mode, keep_mount, output_limit, changes, on_conflict,
            workdir, isolate, push,
        )
        return self._proxy(["--", program, *args], options, raise_on_denied)

    def proxy_shell(
        self,
        script: str,
        *,
        timeout: Optional[Duration] = None,
        grace: Optional[Duration] = None,
        cwd: Optional[VaultPath] = None,
        env: Optional[Mapping[str, str]] = None,
        readonly: bool = False,
        checkpoint: Optional[str] = None,
        policy: Optional[PolicyInput] = None,
        mode: Optional[str] = None,
        keep_mount: Optional[HostPath] = None,
        output_limit: Optional[Union[int, str]] = None,
        changes: Optional[str] = None,
        on_conflict: Optional[str] = None,
        workdir: Optional[str] = None,
        isolate: bool = False,
        push: bool = False,
        raise_on_denied: bool = True,
    ) -> Run:
        """Runs a shell script (`sh -c SCRIPT`) in the vault, with the options of `proxy_exec`."""
        options = _ProxyOptions(
            timeout, grace, cwd, env, readonly, checkpoint, policy, mode, keep_mount, output_limit, changes, on_conflict,
            workdir, isolate, push,
        )
        return self._proxy([_option("--shell", script)], options, raise_on_denied)

    def _proxy(self, command: List[Arg], options: _ProxyOptions, raise_on_denied: bool) -> Run:
        """Runs `proxy exec OPTIONS COMMAND`; raises PolicyDenied if asked to."""
        with contextlib.ExitStack() as stack:
            # The exit status is the child's (or 124, 126, 127): any status with a Run
            # document is a normal outcome; only an error document raises.
            document, run = self._call(
                ["proxy", "exec", *options.to_args(stack), *command],
                lambda d: (d, Run.from_json(d)),
                ok_statuses=None,
            )
        if raise_on_denied and not run.allowed:
            raise PolicyDenied(run, document)
        return run

    # ----- remotes -----
    # Credentials come from the AWS variables or profile files of this process's
    # environment (avfs reads them; they are never arguments, results or stored).

    def remote_add(
        self,
        name: str,
        url: str,
        *,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
        unsafe_single_writer: bool = False,
    ) -> Remote:
        """Adds remote `name` at `url` ("s3://bucket/prefix"); `endpoint`: an S3-compatible
        server (None: AWS). `unsafe_single_writer`: push without conditional writes, for
        servers that have none (Garage); correct only while one machine at a time pushes."""
        args: List[Arg] = ["remote", "add"]
        if endpoint is not None:
            args.append(_option("--endpoint", endpoint))
        if region is not None:
            args.append(_option("--region", region))
        if unsafe_single_writer:
            args.append("--unsafe-single-writer")
        return self._call([*args, "--", name, url], lambda d: Remote.from_json(d["remote"]), in_vault=False)

    def remote_list(self) -> List[Remote]:
        """The configured remotes (never credentials)."""
        return self._call(
            ["remote", "list"], lambda d: [Remote.from_json(r) for r in d["remotes"]], in_vault=False
        )

    def remote_remove(self, name: str) -> str:
        """Forgets remote `name` (nothing on the remote changes); returns its name."""
        return self._call(["remote", "remove", "--", name], lambda d: str(d["removed"]), in_vault=False)

    def remote_check(self, name: str) -> RemoteCheck:
        """Checks that remote `name` is reachable, accepts the credentials and has atomic
        conditional writes (`conditional_writes`); lists its vaults."""
        return self._call(["remote", "check", "--", name], RemoteCheck.from_json, in_vault=False)

    def remote_gc(self, name: str, *, grace: Optional[Duration] = None, dry_run: bool = False) -> RemoteGc:
        """Deletes objects on remote `name` that no head or checkpoint reaches and that are
        older than `grace` (avfs's default: 24h); `dry_run`: only report."""
        args: List[Arg] = ["remote", "gc"]
        if grace is not None:
            args.append(_option("--grace", _duration(grace)))
        if dry_run:
            args.append("--dry-run")
        return self._call([*args, "--", name], RemoteGc.from_json, in_vault=False)

    def push(
        self,
        *,
        remote: Optional[str] = None,
        remote_vault: Optional[str] = None,
        checkpoints: bool = False,
        force: bool = False,
    ) -> PushResult:
        """Pushes this vault: uploads what the remote lacks, then moves the remote head.

        `remote`: default the vault's upstream, else "origin"; `remote_vault` (`--as`): its
        name there. A remote head this vault's history lacks raises `RemoteDiverged` unless
        `force` (the replaced head is kept on the remote as a checkpoint, `kept_as`).
        """
        args: List[Arg] = ["push"]
        if remote is not None:
            args.append(_option("--remote", remote))
        if remote_vault is not None:
            args.append(_option("--as", remote_vault))
        if checkpoints:
            args.append("--checkpoints")
        if force:
            args.append("--force")
        return self._call(args, lambda d: PushResult.from_json(d["push"]))

    def pull(self, *, remote: Optional[str] = None, remote_vault: Optional[str] = None) -> PullResult:
        """Fast-forwards this vault to the remote head; local changes the remote lacks raise
        `RemoteDiverged` and nothing changes. `remote_vault` is `--from`."""
        args: List[Arg] = ["pull"]
        if remote is not None:
            args.append(_option("--remote", remote))
        if remote_vault is not None:
            args.append(_option("--from", remote_vault))
        return self._call(args, lambda d: PullResult.from_json(d["pull"]))

    def clone(
        self,
        remote: str,
        remote_vault: str,
        local_name: Optional[str] = None,
        *,
        lazy: bool = False,
        use: bool = False,
    ) -> CloneResult:
        """Clones `remote_vault` from `remote` into a new local vault (`local_name`, default
        the same name). `lazy`: fetch layers only, chunk bytes on first read."""
        args: List[Arg] = ["clone"]
        if lazy:
            args.append("--lazy")
        if use:
            args.append("--use")
        names = [remote, remote_vault, *([local_name] if local_name is not None else [])]
        return self._call([*args, "--", *names], lambda d: CloneResult.from_json(d["clone"]), in_vault=False)

    def list_remote_vaults(self, remote: str) -> RemoteVaultList:
        """The vaults on `remote`, from their heads (`vault list --remote`)."""
        return self._call(
            ["vault", "list", _option("--remote", remote)], RemoteVaultList.from_json, in_vault=False
        )

    # ----- mounts -----

    def mount(self, directory: HostPath, *, readonly: bool = False, checkpoint: Optional[str] = None) -> Mount:
        """Mounts the vault (or one of its checkpoints, read-only) on an empty host directory; returns once live."""
        args: List[Arg] = ["mount"]
        if readonly:
            args.append("--readonly")
        if checkpoint is not None:
            args.append(_option("--checkpoint", checkpoint))
        args += ["--", *([self.vault] if self.vault is not None else []), directory]
        return self._call(args, Mount.from_json, in_vault=False)

    def unmount(self, directory: HostPath, *, lazy: bool = False) -> Unmounted:
        """Unmounts once everything written is committed (`lazy`: detach even while files are open)."""
        args: List[Arg] = ["unmount", *(["--lazy"] if lazy else []), "--", directory]
        return self._call(args, Unmounted.from_json, in_vault=False)

    def mounts(self) -> MountList:
        """Live mounts of this store (and dead ones this call cleaned up)."""
        return self._call(["mounts"], MountList.from_json, in_vault=False)

    @contextlib.contextmanager
    def mounted(
        self,
        directory: Optional[HostPath] = None,
        *,
        readonly: bool = False,
        checkpoint: Optional[str] = None,
    ) -> Iterator[Mount]:
        """Mounts for the duration of a `with` block and always unmounts, even on error.

        With no `directory`, a temporary one is made and removed afterwards. If files
        are still open inside at the end, the unmount is lazy (the mount ends when they
        close) so that the mount never outlives the block.
        """
        made = directory is None
        path = tempfile.mkdtemp(prefix="avfs-mount-") if directory is None else os.fspath(directory)
        try:
            mount = self.mount(path, readonly=readonly, checkpoint=checkpoint)
            try:
                yield mount
            finally:
                # `path` rather than `mount.mountpoint`: JSON shows host paths lossily.
                try:
                    self.unmount(path)
                except MountBusy:
                    self.unmount(path, lazy=True)
        finally:
            if made:
                # Best effort: a leftover empty temporary directory is harmless, and
                # raising here would hide the error that ended the block.
                with contextlib.suppress(OSError):
                    os.rmdir(path)

