"""Typed results: one frozen dataclass per JSON shape in docs/json.md.

Field names follow the JSON keys, except where a key is a Python keyword or would
mislead in Python; those renames are listed in the README ("Results"). Fields whose
key ends in `_b64` hold the exact bytes of a non-UTF-8 path or output, base64, and
are None otherwise; the matching `*_bytes`/`*_raw` property always gives exact bytes.
Each `from_json` ignores keys it does not know, so a newer avfs that adds fields
still works.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional

from .remotes import RunPush

__all__ = [
    "Entry",
    "PathRef",
    "Vault",
    "VaultList",
    "Checkpoint",
    "Restored",
    "Moved",
    "Skipped",
    "Counts",
    "Imported",
    "Exported",
    "Side",
    "Change",
    "Summary",
    "Diff",
    "Mount",
    "Unmounted",
    "MountList",
    "PolicyDecision",
    "PolicyCheck",
    "Violation",
    "Isolation",
    "Rollup",
    "Run",
    "PathConflict",
    "Merge",
    "Version",
    "CheckedOut",
    "Reverted",
    "VersionSide",
    "VersionDiff",
    "GrepMatch",
    "GrepResult",
    "SearchHit",
    "VaultStats",
    "StoreStats",
    "Stats",
    "Freed",
    "GcResult",
    "Pruned",
    "PruneResult",
    "Compacted",
    "QuotaLimits",
    "QuotaUsage",
    "QuotaInfo",
    "AuditEntry",
    "AuditProblem",
    "AuditVerification",
    "AffectedPath",
    "StoreFault",
    "StoreVerification",
]

Document = Mapping[str, Any]


def _exact(text: str, b64: Optional[str]) -> bytes:
    """The exact bytes behind a JSON string that avfs may have shown lossily."""
    if b64 is not None:
        return base64.b64decode(b64)
    return text.encode("utf-8")


@dataclass(frozen=True)
class Entry:
    """A file, directory or symlink and its attributes (`stat`, `ls`, `tree`, `write`...)."""

    path: str
    kind: str
    mode: str
    size: int
    mtime: str
    mtime_ns: int
    ino: int
    nlink: int
    uid: int
    gid: int
    hash: Optional[str]
    target: Optional[str]
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes (differs from `path` only for non-UTF-8 names)."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Entry:
        """Parses an `Entry` object."""
        return cls(
            path=doc["path"],
            kind=doc["kind"],
            mode=doc["mode"],
            size=doc["size"],
            mtime=doc["mtime"],
            mtime_ns=doc["mtime_ns"],
            ino=doc["ino"],
            nlink=doc["nlink"],
            uid=doc["uid"],
            gid=doc["gid"],
            hash=doc["hash"],
            target=doc["target"],
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class PathRef:
    """A bare vault path (what `rm` reports as removed)."""

    path: str
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> PathRef:
        """Parses a `{"path", "path_b64"?}` object."""
        return cls(path=doc["path"], path_b64=doc.get("path_b64"))


@dataclass(frozen=True)
class Vault:
    """A vault: name, creation time, fork parent, checkpoint count, layer depth, current."""

    name: str
    created_at: str
    forked_from: Optional[str]
    checkpoints: int
    layer_depth: int
    current: bool

    @classmethod
    def from_json(cls, doc: Document) -> Vault:
        """Parses a `Vault` object."""
        return cls(
            name=doc["name"],
            created_at=doc["created_at"],
            forked_from=doc["forked_from"],
            checkpoints=doc["checkpoints"],
            layer_depth=doc["layer_depth"],
            current=doc["current"],
        )


@dataclass(frozen=True)
class VaultList:
    """Every vault in the store, and the name of the current one."""

    vaults: List[Vault]
    current: Optional[str]

    @classmethod
    def from_json(cls, doc: Document) -> VaultList:
        """Parses the `vault list` document."""
        return cls(vaults=[Vault.from_json(v) for v in doc["vaults"]], current=doc["current"])


@dataclass(frozen=True)
class Checkpoint:
    """A named, frozen state of a vault (`auto`: taken by avfs itself)."""

    name: str
    vault: str
    message: Optional[str]
    auto: bool
    created_at: str

    @classmethod
    def from_json(cls, doc: Document) -> Checkpoint:
        """Parses a `Checkpoint` object."""
        return cls(
            name=doc["name"],
            vault=doc["vault"],
            message=doc["message"],
            auto=doc["auto"],
            created_at=doc["created_at"],
        )


@dataclass(frozen=True)
class Restored:
    """What `checkpoint restore` did: the checkpoint, and where unsaved work was kept."""

    checkpoint: Checkpoint
    saved_previous: Optional[Checkpoint]

    @classmethod
    def from_json(cls, doc: Document) -> Restored:
        """Parses the `checkpoint restore` document."""
        previous = doc["saved_previous"]
        return cls(
            checkpoint=Checkpoint.from_json(doc["checkpoint"]),
            saved_previous=None if previous is None else Checkpoint.from_json(previous),
        )


@dataclass(frozen=True)
class Moved:
    """What `mv` did: the old path (`from` in JSON) and the entry at its new path."""

    source: str
    entry: Entry
    source_b64: Optional[str] = None

    @property
    def source_bytes(self) -> bytes:
        """The old path's exact bytes."""
        return _exact(self.source, self.source_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Moved:
        """Parses the `mv` document."""
        return cls(
            source=doc["from"],
            entry=Entry.from_json(doc["entry"]),
            source_b64=doc.get("from_b64"),
        )


@dataclass(frozen=True)
class Skipped:
    """A host path that import or export left out, and why."""

    path: str
    reason: str
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The host path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Skipped:
        """Parses one `skipped` item."""
        return cls(path=doc["path"], reason=doc["reason"], path_b64=doc.get("path_b64"))


@dataclass(frozen=True)
class Counts:
    """How much an import or export copied (`bytes`: total file content)."""

    files: int
    dirs: int
    symlinks: int
    hard_links: int
    bytes: int
    skipped: List[Skipped]
    special: int = 0

    @classmethod
    def from_json(cls, doc: Document) -> Counts:
        """Parses a `Counts` object."""
        return cls(
            files=doc["files"],
            dirs=doc["dirs"],
            symlinks=doc["symlinks"],
            hard_links=doc["hard_links"],
            bytes=doc["bytes"],
            skipped=[Skipped.from_json(s) for s in doc["skipped"]],
            special=doc.get("special", 0),
        )


@dataclass(frozen=True)
class Imported:
    """What `import` did: the vault, the vault directory copied into, and the counts."""

    vault: str
    dest: str
    imported: Counts
    dest_b64: Optional[str] = None

    @property
    def dest_bytes(self) -> bytes:
        """The vault directory's exact bytes."""
        return _exact(self.dest, self.dest_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Imported:
        """Parses the `import` document."""
        return cls(
            vault=doc["vault"],
            dest=doc["dest"],
            imported=Counts.from_json(doc["imported"]),
            dest_b64=doc.get("dest_b64"),
        )


@dataclass(frozen=True)
class Exported:
    """What `export` did: the vault, the vault path copied out, the host path, the counts."""

    vault: str
    src: str
    host_path: str
    exported: Counts
    src_b64: Optional[str] = None

    @property
    def src_bytes(self) -> bytes:
        """The vault path's exact bytes."""
        return _exact(self.src, self.src_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Exported:
        """Parses the `export` document."""
        return cls(
            vault=doc["vault"],
            src=doc["src"],
            host_path=doc["host_path"],
            exported=Counts.from_json(doc["exported"]),
            src_b64=doc.get("src_b64"),
        )


@dataclass(frozen=True)
class Side:
    """One side (before or after) of a change: kind, mode, size, hash, symlink target."""

    kind: str
    mode: str
    size: int
    hash: Optional[str]
    target: Optional[str]

    @classmethod
    def from_json(cls, doc: Document) -> Side:
        """Parses a `before`/`after` object."""
        return cls(
            kind=doc["kind"],
            mode=doc["mode"],
            size=doc["size"],
            hash=doc["hash"],
            target=doc["target"],
        )


@dataclass(frozen=True)
class Change:
    """One changed path: `change` is added, modified, deleted or type_changed.

    `patch` is only filled by `diff(patch=True)`: a unified diff, or None for
    directories, symlinks, binary and huge files (and always None without `patch=True`).
    """

    path: str
    change: str
    kind: str
    before: Optional[Side]
    after: Optional[Side]
    path_b64: Optional[str] = None
    patch: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Change:
        """Parses a `Change` object."""
        before, after = doc["before"], doc["after"]
        return cls(
            path=doc["path"],
            change=doc["change"],
            kind=doc["kind"],
            before=None if before is None else Side.from_json(before),
            after=None if after is None else Side.from_json(after),
            path_b64=doc.get("path_b64"),
            patch=doc.get("patch"),
        )


@dataclass(frozen=True)
class Summary:
    """Counts of changes by kind."""

    added: int
    modified: int
    deleted: int
    type_changed: int
    total: int

    @classmethod
    def from_json(cls, doc: Document) -> Summary:
        """Parses a `Summary` object."""
        return cls(
            added=doc["added"],
            modified=doc["modified"],
            deleted=doc["deleted"],
            type_changed=doc["type_changed"],
            total=doc["total"],
        )


@dataclass(frozen=True)
class Diff:
    """What changed between two states (`from`/`to` in JSON are `from_ref`/`to_ref`)."""

    from_ref: str
    to_ref: str
    changes: List[Change]
    summary: Summary

    @classmethod
    def from_json(cls, doc: Document) -> Diff:
        """Parses the `diff` document."""
        return cls(
            from_ref=doc["from"],
            to_ref=doc["to"],
            changes=[Change.from_json(c) for c in doc["changes"]],
            summary=Summary.from_json(doc["summary"]),
        )


@dataclass(frozen=True)
class Mount:
    """A live mount: directory, vault, checkpoint (or None), mode `rw`/`ro`,
    serving pid, how file data travels (`passthrough`, `fuse`, or None
    until the kernel has answered), and how requests reach the server
    (`io_uring`, `dev_fuse`, or None when unknown)."""

    mountpoint: str
    vault: str
    checkpoint: Optional[str]
    mode: str
    pid: int
    data_path: Optional[str] = None
    transport: Optional[str] = None

    @property
    def path(self) -> Path:
        """The mount directory as a `pathlib.Path`."""
        return Path(self.mountpoint)

    @classmethod
    def from_json(cls, doc: Document) -> Mount:
        """Parses a `Mount` object."""
        return cls(
            mountpoint=doc["mountpoint"],
            vault=doc["vault"],
            checkpoint=doc["checkpoint"],
            mode=doc["mode"],
            pid=doc["pid"],
            data_path=doc.get("data_path"),
            transport=doc.get("transport"),
        )


@dataclass(frozen=True)
class Unmounted:
    """What `unmount` did: the directory, its vault (if known), and whether it was lazy."""

    unmounted: str
    vault: Optional[str]
    lazy: bool

    @classmethod
    def from_json(cls, doc: Document) -> Unmounted:
        """Parses the `unmount` document."""
        return cls(unmounted=doc["unmounted"], vault=doc["vault"], lazy=doc["lazy"])


@dataclass(frozen=True)
class MountList:
    """Live mounts, and the dead ones this call detached (`cleaned`)."""

    mounts: List[Mount]
    cleaned: List[str]

    @classmethod
    def from_json(cls, doc: Document) -> MountList:
        """Parses the `mounts` document."""
        return cls(mounts=[Mount.from_json(m) for m in doc["mounts"]], cleaned=list(doc["cleaned"]))


@dataclass(frozen=True)
class PolicyDecision:
    """Whether a command may run, the glob that decided, why, and whose policy (`policy` in JSON)."""

    allowed: bool
    rule: Optional[str]
    reason: str
    policy_source: str

    @classmethod
    def from_json(cls, doc: Document) -> PolicyDecision:
        """Parses a `decision` object."""
        return cls(
            allowed=doc["allowed"],
            rule=doc["rule"],
            reason=doc["reason"],
            policy_source=doc["policy"],
        )


@dataclass(frozen=True)
class PolicyCheck:
    """What `policy check` says about a command (`policy_source`: vault, file or none)."""

    allowed: bool
    command: List[str]
    rule: Optional[str]
    reason: str
    policy_source: str

    @classmethod
    def from_json(cls, doc: Document) -> PolicyCheck:
        """Parses the `policy check` document."""
        return cls(
            allowed=doc["allowed"],
            command=list(doc["command"]),
            rule=doc["rule"],
            reason=doc["reason"],
            policy_source=doc["policy"],
        )


@dataclass(frozen=True)
class Violation:
    """An operation the path rules refused during a run (`rule`: None if none granted it)."""

    path: str
    op: str
    rule: Optional[str]
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Violation:
        """Parses one `violations` item."""
        return cls(
            path=doc["path"],
            op=doc["op"],
            rule=doc["rule"],
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class Rollup:
    """A directory `changes="summary"` reports once: counts by change kind and bytes."""

    path: str
    added: int
    modified: int
    deleted: int
    type_changed: int
    total: int
    bytes_added: int
    bytes_removed: int
    path_b64: Optional[str] = None

    @classmethod
    def from_json(cls, doc: Document) -> Rollup:
        """Parses one `rollups` item."""
        return cls(
            path=doc["path"],
            added=doc["added"],
            modified=doc["modified"],
            deleted=doc["deleted"],
            type_changed=doc["type_changed"],
            total=doc["total"],
            bytes_added=doc["bytes_added"],
            bytes_removed=doc["bytes_removed"],
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class PathConflict:
    """A path both sides of a merge changed differently (`kind`: content, add_add,
    modify_delete, type or mode); `base`/`ours`/`theirs` are what each side has there
    (None: nothing), ours being the target (the vault), theirs the source (the run or fork)."""

    path: str
    kind: str
    base: Optional[Side]
    ours: Optional[Side]
    theirs: Optional[Side]
    path_b64: Optional[str] = None

    @classmethod
    def from_json(cls, doc: Document) -> PathConflict:
        """Parses one `conflicts` item."""
        side = lambda d: None if d is None else Side.from_json(d)  # noqa: E731
        return cls(
            path=doc["path"],
            kind=doc["kind"],
            base=side(doc["base"]),
            ours=side(doc["ours"]),
            theirs=side(doc["theirs"]),
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class Merge:
    """The `Merge` document of `vault merge`: `status` is fast_forward, merged,
    up_to_date or conflict; `changes` are what it changed in the target."""

    source: str
    target: str
    status: str
    dry_run: bool
    on_conflict: str
    checkpoint: Optional[Checkpoint]
    changes: List[Change]
    summary: Summary
    conflicts: List[PathConflict]

    @classmethod
    def from_json(cls, doc: Document) -> Merge:
        """Parses a `Merge` document."""
        checkpoint = doc["checkpoint"]
        return cls(
            source=doc["source"],
            target=doc["target"],
            status=doc["status"],
            dry_run=doc["dry_run"],
            on_conflict=doc["on_conflict"],
            checkpoint=None if checkpoint is None else Checkpoint.from_json(checkpoint),
            changes=[Change.from_json(c) for c in doc["changes"]],
            summary=Summary.from_json(doc["summary"]),
            conflicts=[PathConflict.from_json(c) for c in doc["conflicts"]],
        )


@dataclass(frozen=True)
class Isolation:
    """The isolation an isolated run had (`--isolate`, or a policy's "isolation")."""

    network: str
    hide: List[str]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Isolation":
        return cls(network=doc["network"], hide=list(doc["hide"]))


@dataclass(frozen=True)
class Run:
    """The `Run` document of `proxy exec`: what ran, how it ended, its output and changes.

    `stdout_size`/`stderr_size` are the JSON `stdout_bytes`/`stderr_bytes` (a count of
    every byte the stream produced); `stdout_raw`/`stderr_raw` give the kept bytes exactly.
    """

    vault: str
    command: List[str]
    shell: Optional[str]
    cwd: str
    mode: str
    path_rules: str
    decision: PolicyDecision
    checkpoint: Optional[Checkpoint]
    exit_code: Optional[int]
    signal: Optional[int]
    timed_out: bool
    interrupted: Optional[str]
    exec_error: Optional[str]
    duration_ms: int
    stdout: str
    stdout_truncated: bool
    stdout_size: int
    stderr: str
    stderr_truncated: bool
    stderr_size: int
    changes: List[Change]
    summary: Summary
    violations: List[Violation]
    violations_truncated: bool
    merge: Optional[str] = None
    on_conflict: str = "keep"
    conflicts: List[PathConflict] = field(default_factory=list)
    fork: Optional[str] = None
    workdir: Optional[str] = None
    isolation: Optional[Isolation] = None
    stdout_b64: Optional[str] = None
    stderr_b64: Optional[str] = None
    #: The exact bytes of `cwd`, base64, only when it is not UTF-8.
    cwd_b64: Optional[str] = None
    #: "full" (every change in `changes`) or "summary" (rolled-up directories in `rollups`).
    changes_mode: str = "full"
    rollups: List[Rollup] = field(default_factory=list)
    #: The push after the run (`push=True` or the policy's `remote`), else None.
    push: Optional[RunPush] = None
    #: What the run's own mount logged while serving the command: a commit
    #: that failed (on a full disk, say: the writes it held are not in the
    #: vault, nor in `changes`), a request that failed inside avfs (EIO).
    mount_errors: List[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """True unless the policy denied the command (then nothing ran)."""
        return self.decision.allowed

    @property
    def conflicted(self) -> bool:
        """True when the run's changes conflicted with the vault and were not applied (see `fork`)."""
        return self.merge == "conflict"

    @property
    def succeeded(self) -> bool:
        """True when the command ran to completion with exit code 0 and its changes were applied."""
        return (
            self.exit_code == 0 and not self.timed_out and self.interrupted is None and not self.conflicted
        )

    @property
    def changed_files(self) -> List[str]:
        """The changed paths, in `changes` order (agentvfs's name for them)."""
        return [c.path for c in self.changes]

    @property
    def stdout_raw(self) -> bytes:
        """The kept standard output, byte for byte."""
        return _exact(self.stdout, self.stdout_b64)

    @property
    def stderr_raw(self) -> bytes:
        """The kept standard error, byte for byte."""
        return _exact(self.stderr, self.stderr_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Run:
        """Parses a `Run` document."""
        checkpoint = doc["checkpoint"]
        return cls(
            vault=doc["vault"],
            command=list(doc["command"]),
            shell=doc["shell"],
            cwd=doc["cwd"],
            mode=doc["mode"],
            path_rules=doc["path_rules"],
            decision=PolicyDecision.from_json(doc["decision"]),
            checkpoint=None if checkpoint is None else Checkpoint.from_json(checkpoint),
            exit_code=doc["exit_code"],
            signal=doc["signal"],
            timed_out=doc["timed_out"],
            interrupted=doc["interrupted"],
            exec_error=doc["exec_error"],
            duration_ms=doc["duration_ms"],
            stdout=doc["stdout"],
            stdout_truncated=doc["stdout_truncated"],
            stdout_size=doc["stdout_bytes"],
            stderr=doc["stderr"],
            stderr_truncated=doc["stderr_truncated"],
            stderr_size=doc["stderr_bytes"],
            changes=[Change.from_json(c) for c in doc["changes"]],
            summary=Summary.from_json(doc["summary"]),
            violations=[Violation.from_json(v) for v in doc["violations"]],
            violations_truncated=doc["violations_truncated"],
            merge=doc["merge"],
            on_conflict=doc["on_conflict"],
            conflicts=[PathConflict.from_json(c) for c in doc["conflicts"]],
            fork=doc["fork"],
            workdir=doc["workdir"],
            isolation=Isolation.from_json(doc["isolation"]) if doc.get("isolation") else None,
            stdout_b64=doc.get("stdout_b64"),
            stderr_b64=doc.get("stderr_b64"),
            cwd_b64=doc.get("cwd_b64"),
            changes_mode=doc["changes_mode"],
            rollups=[Rollup.from_json(r) for r in doc["rollups"]],
            push=None if doc.get("push") is None else RunPush.from_json(doc["push"]),
            mount_errors=list(doc["mount_errors"]),
        )


# ----- history -----


@dataclass(frozen=True)
class Version:
    """One committed change of a file at a path (`log`), numbered from 1 per path.

    `hash` is None when the version records the deletion (`deleted`). `source` is what
    made it (`write`, `cp`, `mount`, `checkout`, `revert`, `migration`...); `checkpoint`
    the checkpoint that froze it (None while only in the head); `run` the automatic
    checkpoint of the `proxy exec` run that made it, if any.
    """

    version: int
    path: str
    size: int
    hash: Optional[str]
    deleted: bool
    time: str
    time_ns: int
    source: str
    checkpoint: Optional[str]
    run: Optional[str]
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Version:
        """Parses a `Version` object."""
        return cls(
            version=doc["version"],
            path=doc["path"],
            size=doc["size"],
            hash=doc["hash"],
            deleted=doc["deleted"],
            time=doc["time"],
            time_ns=doc["time_ns"],
            source=doc["source"],
            checkpoint=doc["checkpoint"],
            run=doc["run"],
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class CheckedOut:
    """What `checkout` did: the file as it is now, the version restored, the new version."""

    path: str
    entry: Entry
    from_version: int
    version: Version
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> CheckedOut:
        """Parses the `checkout` document."""
        return cls(
            path=doc["path"],
            entry=Entry.from_json(doc["entry"]),
            from_version=doc["from_version"],
            version=Version.from_json(doc["version"]),
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class Reverted:
    """What `revert` did: the file as it is now (None: removed again) and the new version."""

    path: str
    entry: Optional[Entry]
    version: Version
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> Reverted:
        """Parses the `revert` document."""
        entry = doc["entry"]
        return cls(
            path=doc["path"],
            entry=None if entry is None else Entry.from_json(entry),
            version=Version.from_json(doc["version"]),
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class VersionSide:
    """One side of a `VersionDiff`: version number, size, hash (None if deleted), deleted."""

    version: int
    size: int
    hash: Optional[str]
    deleted: bool

    @classmethod
    def from_json(cls, doc: Document) -> VersionSide:
        """Parses a `VersionSide` object."""
        return cls(version=doc["version"], size=doc["size"], hash=doc["hash"], deleted=doc["deleted"])


@dataclass(frozen=True)
class VersionDiff:
    """Two versions of one file compared (`diff PATH --v1 N --v2 M`).

    `patch` is a unified diff (empty when equal), or None when a side is binary
    (`binary`) or over 16 MiB (`too_large`).
    """

    path: str
    v1: VersionSide
    v2: VersionSide
    binary: bool
    too_large: bool
    patch: Optional[str]
    added_lines: int
    removed_lines: int
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> VersionDiff:
        """Parses a `VersionDiff` document."""
        return cls(
            path=doc["path"],
            v1=VersionSide.from_json(doc["v1"]),
            v2=VersionSide.from_json(doc["v2"]),
            binary=doc["binary"],
            too_large=doc["too_large"],
            patch=doc["patch"],
            added_lines=doc["added_lines"],
            removed_lines=doc["removed_lines"],
            path_b64=doc.get("path_b64"),
        )


# ----- grep and search -----


@dataclass(frozen=True)
class GrepMatch:
    """A matching line: the file, its 1-based line number, its text (cut at 4 KiB, lossy)."""

    path: str
    line: int
    text: str
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> GrepMatch:
        """Parses one `matches` item."""
        return cls(path=doc["path"], line=doc["line"], text=doc["text"], path_b64=doc.get("path_b64"))


@dataclass(frozen=True)
class GrepResult:
    """What `grep` found: matching lines (empty with `files_only`), files with a match, binary files skipped."""

    pattern: str
    matches: List[GrepMatch]
    files: List[PathRef]
    binary_skipped: int

    @classmethod
    def from_json(cls, doc: Document) -> GrepResult:
        """Parses the `grep` document."""
        return cls(
            pattern=doc["pattern"],
            matches=[GrepMatch.from_json(m) for m in doc["matches"]],
            files=[PathRef.from_json(f) for f in doc["files"]],
            binary_skipped=doc["binary_skipped"],
        )


@dataclass(frozen=True)
class SearchHit:
    """One `search` result: the file, its BM25 score (higher is better), content hash, snippet (matches in `[ ]`)."""

    path: str
    score: float
    hash: str
    snippet: str
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> SearchHit:
        """Parses one `results` item."""
        return cls(
            path=doc["path"],
            score=float(doc["score"]),
            hash=doc["hash"],
            snippet=doc["snippet"],
            path_b64=doc.get("path_b64"),
        )


# ----- maintenance -----


@dataclass(frozen=True)
class VaultStats:
    """One vault as it is now: counts, bytes (hard links once), lookup chain depth, checkpoints."""

    name: str
    files: int
    dirs: int
    symlinks: int
    logical_bytes: int
    chain_depth: int
    checkpoints: int

    @classmethod
    def from_json(cls, doc: Document) -> VaultStats:
        """Parses a `VaultStats` object."""
        return cls(
            name=doc["name"],
            files=doc["files"],
            dirs=doc["dirs"],
            symlinks=doc["symlinks"],
            logical_bytes=doc["logical_bytes"],
            chain_depth=doc["chain_depth"],
            checkpoints=doc["checkpoints"],
        )


@dataclass(frozen=True)
class StoreStats:
    """The whole store: object counts, logical vs stored bytes, dedup ratio, database size."""

    vaults: int
    layers: int
    checkpoints: int
    contents: int
    chunks: int
    logical_bytes: int
    stored_bytes: int
    dedup_ratio: float
    db_bytes: int
    #: Stored bytes the vaults' current files need (their chunks once).
    head_bytes: int = 0
    #: `stored_bytes - head_bytes`: kept only for checkpoints and versions (or garbage until gc).
    history_bytes: int = 0
    #: `logical_bytes - head_bytes`: what storing identical content once saves.
    dedup_saved_bytes: int = 0
    #: Disk space of the segment files that hold large chunks' bytes.
    segment_bytes: int = 0

    @classmethod
    def from_json(cls, doc: Document) -> StoreStats:
        """Parses a `StoreStats` object."""
        return cls(
            vaults=doc["vaults"],
            layers=doc["layers"],
            checkpoints=doc["checkpoints"],
            contents=doc["contents"],
            chunks=doc["chunks"],
            logical_bytes=doc["logical_bytes"],
            stored_bytes=doc["stored_bytes"],
            dedup_ratio=float(doc["dedup_ratio"]),
            db_bytes=doc["db_bytes"],
            head_bytes=doc["head_bytes"],
            history_bytes=doc["history_bytes"],
            dedup_saved_bytes=doc["dedup_saved_bytes"],
            segment_bytes=doc["segment_bytes"],
        )


@dataclass(frozen=True)
class Stats:
    """The `stats` document: every vault (by name) and the store."""

    vaults: List[VaultStats]
    store: StoreStats

    @classmethod
    def from_json(cls, doc: Document) -> Stats:
        """Parses the `stats` document."""
        return cls(vaults=[VaultStats.from_json(v) for v in doc["vaults"]], store=StoreStats.from_json(doc["store"]))


@dataclass(frozen=True)
class Freed:
    """What `gc` freed (or would free): layers, rows, contents, chunks, content bytes."""

    layers: int
    rows: int
    contents: int
    chunks: int
    bytes: int

    @classmethod
    def from_json(cls, doc: Document) -> Freed:
        """Parses a `freed` object."""
        return cls(
            layers=doc["layers"],
            rows=doc["rows"],
            contents=doc["contents"],
            chunks=doc["chunks"],
            bytes=doc["bytes"],
        )


@dataclass(frozen=True)
class GcResult:
    """What `gc` did (`dry_run`: only counted); `spared_recent_chunks` while a mount is live."""

    dry_run: bool
    spared_recent_chunks: bool
    freed: Freed

    @classmethod
    def from_json(cls, doc: Document) -> GcResult:
        """Parses the `gc` document."""
        return cls(
            dry_run=doc["dry_run"],
            spared_recent_chunks=doc["spared_recent_chunks"],
            freed=Freed.from_json(doc["freed"]),
        )


@dataclass(frozen=True)
class Pruned:
    """What `prune` removed from one vault: checkpoint names and a count of versions."""

    vault: str
    checkpoints: List[str]
    versions: int

    @classmethod
    def from_json(cls, doc: Document) -> Pruned:
        """Parses one `pruned` item."""
        return cls(vault=doc["vault"], checkpoints=list(doc["checkpoints"]), versions=doc["versions"])


@dataclass(frozen=True)
class PruneResult:
    """What `prune` did (`dry_run`: only reported), per vault."""

    dry_run: bool
    pruned: List[Pruned]

    @classmethod
    def from_json(cls, doc: Document) -> PruneResult:
        """Parses the `prune` document."""
        return cls(dry_run=doc["dry_run"], pruned=[Pruned.from_json(p) for p in doc["pruned"]])


@dataclass(frozen=True)
class Compacted:
    """What `compact` did: layers merged, database size before and after VACUUM."""

    layers_merged: int
    db_bytes_before: int
    db_bytes_after: int

    @classmethod
    def from_json(cls, doc: Document) -> Compacted:
        """Parses the `compact` document."""
        return cls(
            layers_merged=doc["layers_merged"],
            db_bytes_before=doc["db_bytes_before"],
            db_bytes_after=doc["db_bytes_after"],
        )


@dataclass(frozen=True)
class QuotaLimits:
    """A vault's limits (None: no limit)."""

    max_bytes: Optional[int]
    max_files: Optional[int]
    max_file_size: Optional[int]

    @classmethod
    def from_json(cls, doc: Document) -> QuotaLimits:
        """Parses a `quota` object."""
        return cls(max_bytes=doc["max_bytes"], max_files=doc["max_files"], max_file_size=doc["max_file_size"])


@dataclass(frozen=True)
class QuotaUsage:
    """What the vault uses now: bytes (hard links once) and entries (`/` not counted)."""

    bytes: int
    files: int

    @classmethod
    def from_json(cls, doc: Document) -> QuotaUsage:
        """Parses a `usage` object."""
        return cls(bytes=doc["bytes"], files=doc["files"])


@dataclass(frozen=True)
class QuotaInfo:
    """The `quota` document: the vault, its limits (`quota`) and its usage now."""

    vault: str
    quota: QuotaLimits
    usage: QuotaUsage

    @classmethod
    def from_json(cls, doc: Document) -> QuotaInfo:
        """Parses the `quota set/show/clear` document."""
        return cls(
            vault=doc["vault"],
            quota=QuotaLimits.from_json(doc["quota"]),
            usage=QuotaUsage.from_json(doc["usage"]),
        )


@dataclass(frozen=True)
class AuditEntry:
    """One journal entry: id, time, vault (None: store-wide), op (`write`, `gc`...), detail, chain hash."""

    id: int
    time: str
    time_ns: int
    vault: Optional[str]
    op: str
    detail: str
    hash: str

    @classmethod
    def from_json(cls, doc: Document) -> AuditEntry:
        """Parses an `AuditEntry` object."""
        return cls(
            id=doc["id"],
            time=doc["time"],
            time_ns=doc["time_ns"],
            vault=doc["vault"],
            op=doc["op"],
            detail=doc["detail"],
            hash=doc["hash"],
        )


@dataclass(frozen=True)
class AuditProblem:
    """A journal entry `audit verify` found broken, and how."""

    id: int
    problem: str

    @classmethod
    def from_json(cls, doc: Document) -> AuditProblem:
        """Parses one `problems` item."""
        return cls(id=doc["id"], problem=doc["problem"])


@dataclass(frozen=True)
class AuditVerification:
    """What `audit verify` found: whether the journal is intact, its length, its problems."""

    intact: bool
    entries: int
    problems: List[AuditProblem]

    @classmethod
    def from_json(cls, doc: Document) -> AuditVerification:
        """Parses the `audit verify` document."""
        return cls(
            intact=doc["intact"],
            entries=doc["entries"],
            problems=[AuditProblem.from_json(p) for p in doc["problems"]],
        )


@dataclass(frozen=True)
class AffectedPath:
    """A vault path a store fault reaches: a file of a head or checkpoint, or one of its versions."""

    vault: str
    checkpoint: Optional[str]
    path: str
    version: Optional[int]
    path_b64: Optional[str] = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes."""
        return _exact(self.path, self.path_b64)

    @classmethod
    def from_json(cls, doc: Document) -> AffectedPath:
        """Parses one `paths` item of a fault."""
        return cls(
            vault=doc["vault"],
            checkpoint=doc["checkpoint"],
            path=doc["path"],
            version=doc["version"],
            path_b64=doc.get("path_b64"),
        )


@dataclass(frozen=True)
class StoreFault:
    """One thing `verify` found wrong with the store (`kind` as in docs/json.md)."""

    kind: str
    message: str
    chunk: Optional[int]
    content: Optional[str]
    paths: List[AffectedPath]

    @classmethod
    def from_json(cls, doc: Document) -> StoreFault:
        """Parses one `faults` item."""
        return cls(
            kind=doc["kind"],
            message=doc["message"],
            chunk=doc["chunk"],
            content=doc["content"],
            paths=[AffectedPath.from_json(p) for p in doc["paths"]],
        )


@dataclass(frozen=True)
class StoreVerification:
    """What `verify` checked and found: `intact`, counts, and every fault."""

    intact: bool
    code: Optional[str]
    chunks: int
    bytes: int
    contents: int
    layers: int
    faults: List[StoreFault]

    @classmethod
    def from_json(cls, doc: Document) -> StoreVerification:
        """Parses the `verify` document."""
        checked = doc["checked"]
        return cls(
            intact=doc["intact"],
            code=doc["code"],
            chunks=checked["chunks"],
            bytes=checked["bytes"],
            contents=checked["contents"],
            layers=checked["layers"],
            faults=[StoreFault.from_json(f) for f in doc["faults"]],
        )
