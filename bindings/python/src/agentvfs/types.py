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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional

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
    "Run",
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
    """One changed path: `change` is added, modified, deleted or type_changed."""

    path: str
    change: str
    kind: str
    before: Optional[Side]
    after: Optional[Side]
    path_b64: Optional[str] = None

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
    """A live mount: directory, vault, checkpoint (or None), mode `rw`/`ro`, serving pid."""

    mountpoint: str
    vault: str
    checkpoint: Optional[str]
    mode: str
    pid: int

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
    stdout_b64: Optional[str] = None
    stderr_b64: Optional[str] = None

    @property
    def allowed(self) -> bool:
        """True unless the policy denied the command (then nothing ran)."""
        return self.decision.allowed

    @property
    def succeeded(self) -> bool:
        """True when the command ran to completion with exit code 0."""
        return self.exit_code == 0 and not self.timed_out and self.interrupted is None

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
            stdout_b64=doc.get("stdout_b64"),
            stderr_b64=doc.get("stderr_b64"),
        )
