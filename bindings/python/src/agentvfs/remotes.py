"""Typed results of the remote commands (docs/json.md, "Remotes"): `remote add|list|check|gc`,
`push`, `pull`, `clone` and `vault list --remote`. Credentials are never part of any of them:
avfs reads them from the AWS environment variables or profile files of the process it runs in.

Each `from_json` ignores keys it does not know, so a newer avfs that adds fields still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

__all__ = [
    "Remote",
    "RemoteCheck",
    "Transferred",
    "PushResult",
    "CloneResult",
    "PullResult",
    "RemoteVault",
    "RemoteVaultList",
    "RemoteGc",
    "RunPush",
]

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Remote:
    """A configured remote: `s3://bucket/prefix` on an endpoint (None: AWS).

    `conditional_writes`: what the last `remote check` (or first push) found, None
    until then. `unsafe_single_writer`: pushes overwrite the head without a condition.
    """

    name: str
    url: str
    endpoint: Optional[str]
    region: Optional[str]
    unsafe_single_writer: bool
    conditional_writes: Optional[bool]
    created: str

    @classmethod
    def from_json(cls, doc: Document) -> Remote:
        """Parses one remote (`remote add`'s `remote`, an item of `remote list`)."""
        return cls(
            name=doc["name"],
            url=doc["url"],
            endpoint=doc.get("endpoint"),
            region=doc.get("region"),
            unsafe_single_writer=doc["unsafe_single_writer"],
            conditional_writes=doc.get("conditional_writes"),
            created=doc["created"],
        )


@dataclass(frozen=True)
class RemoteCheck:
    """What `remote check` found: reachable, credentials accepted, conditional writes, vaults."""

    remote: str
    url: str
    reachable: bool
    credentials: bool
    conditional_writes: bool
    unsafe_single_writer: bool
    vaults: List[str]
    requests: int

    @classmethod
    def from_json(cls, doc: Document) -> RemoteCheck:
        """Parses the `remote check` document."""
        return cls(
            remote=doc["remote"],
            url=doc["url"],
            reachable=doc["reachable"],
            credentials=doc["credentials"],
            conditional_writes=doc["conditional_writes"],
            unsafe_single_writer=doc["unsafe_single_writer"],
            vaults=list(doc["vaults"]),
            requests=doc["requests"],
        )


@dataclass(frozen=True)
class Transferred:
    """Objects moved to or from a remote: packed layers, chunks, and their bytes."""

    layers: int
    chunks: int
    bytes: int

    @classmethod
    def from_json(cls, doc: Document) -> Transferred:
        """Parses an `uploaded`/`downloaded` object."""
        return cls(layers=doc["layers"], chunks=doc["chunks"], bytes=doc["bytes"])


@dataclass(frozen=True)
class PushResult:
    """What `push` did. `up_to_date`: nothing was written; `kept_as`: with `force` over a
    diverged head, the checkpoint on the remote that keeps the replaced head."""

    vault: str
    remote: str
    remote_vault: str
    generation: int
    up_to_date: bool
    forced: bool
    kept_as: Optional[str]
    uploaded: Transferred
    checkpoints_pushed: List[str]
    checkpoints_skipped: List[str]
    requests: int

    @classmethod
    def from_json(cls, doc: Document) -> PushResult:
        """Parses the `push` object of the `push` document."""
        return cls(
            vault=doc["vault"],
            remote=doc["remote"],
            remote_vault=doc["remote_vault"],
            generation=doc["generation"],
            up_to_date=doc["up_to_date"],
            forced=doc["forced"],
            kept_as=doc.get("kept_as"),
            uploaded=Transferred.from_json(doc["uploaded"]),
            checkpoints_pushed=list(doc["checkpoints_pushed"]),
            checkpoints_skipped=list(doc["checkpoints_skipped"]),
            requests=doc["requests"],
        )


@dataclass(frozen=True)
class CloneResult:
    """What `clone` made: local vault `vault` from `remote_vault` (`lazy`: no chunk bytes yet)."""

    vault: str
    remote: str
    remote_vault: str
    generation: int
    lazy: bool
    downloaded: Transferred
    checkpoints: List[str]
    requests: int

    @classmethod
    def from_json(cls, doc: Document) -> CloneResult:
        """Parses the `clone` object of the `clone` document."""
        return cls(
            vault=doc["vault"],
            remote=doc["remote"],
            remote_vault=doc["remote_vault"],
            generation=doc["generation"],
            lazy=doc["lazy"],
            downloaded=Transferred.from_json(doc["downloaded"]),
            checkpoints=list(doc["checkpoints"]),
            requests=doc["requests"],
        )


@dataclass(frozen=True)
class PullResult:
    """What `pull` did: `status` is "fast_forward", "up_to_date" or "ahead"."""

    vault: str
    remote: str
    remote_vault: str
    generation: int
    status: str
    downloaded: Transferred
    checkpoints_added: List[str]
    requests: int

    @classmethod
    def from_json(cls, doc: Document) -> PullResult:
        """Parses the `pull` object of the `pull` document."""
        return cls(
            vault=doc["vault"],
            remote=doc["remote"],
            remote_vault=doc["remote_vault"],
            generation=doc["generation"],
            status=doc["status"],
            downloaded=Transferred.from_json(doc["downloaded"]),
            checkpoints_added=list(doc["checkpoints_added"]),
            requests=doc["requests"],
        )


@dataclass(frozen=True)
class RemoteVault:
    """A vault on a remote, from its head: generation, checkpoints, when it was pushed."""

    name: str
    generation: int
    checkpoints: List[str]
    pushed: str

    @classmethod
    def from_json(cls, doc: Document) -> RemoteVault:
        """Parses one item of `vault list --remote`."""
        return cls(
            name=doc["name"],
            generation=doc["generation"],
            checkpoints=list(doc["checkpoints"]),
            pushed=doc["pushed"],
        )


@dataclass(frozen=True)
class RemoteVaultList:
    """The vaults on one remote (`vault list --remote NAME`)."""

    remote: str
    vaults: List[RemoteVault]

    @classmethod
    def from_json(cls, doc: Document) -> RemoteVaultList:
        """Parses the `vault list --remote` document."""
        return cls(remote=doc["remote"], vaults=[RemoteVault.from_json(v) for v in doc["vaults"]])


@dataclass(frozen=True)
class RemoteGc:
    """What `remote gc` deleted (or, with `dry_run`, would delete); `kept_young` counts
    unreachable objects kept because they are younger than the grace period."""

    remote: str
    dry_run: bool
    grace_s: int
    vaults: int
    reachable_layers: int
    reachable_chunks: int
    deleted: Transferred
    kept_young: int
    requests: int

    @classmethod
    def from_json(cls, doc: Document) -> RemoteGc:
        """Parses the `remote gc` document."""
        return cls(
            remote=doc["remote"],
            dry_run=doc["dry_run"],
            grace_s=doc["grace_s"],
            vaults=doc["vaults"],
            reachable_layers=doc["reachable"]["layers"],
            reachable_chunks=doc["reachable"]["chunks"],
            deleted=Transferred.from_json(doc["deleted"]),
            kept_young=doc["kept_young"],
            requests=doc["requests"],
        )


@dataclass(frozen=True)
class RunPush:
    """The `push` field of a `Run` (`push=True`, or a policy's `remote`): what the push after
    the run did, or, when it failed, `error_code`/`error_message` (the run's status stands)."""

    remote: Optional[str] = None
    remote_vault: Optional[str] = None
    generation: Optional[int] = None
    up_to_date: Optional[bool] = None
    uploaded: Optional[Transferred] = None
    checkpoints_pushed: Optional[List[str]] = None
    error_code: Optional[str] = None
    error_message: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the push succeeded."""
        return self.error_code is None

    @classmethod
    def from_json(cls, doc: Document) -> RunPush:
        """Parses a `Run` document's `push` field."""
        error = doc.get("error")
        if error is not None:
            return cls(error_code=error["code"], error_message=error["message"])
        return cls(
            remote=doc["remote"],
            remote_vault=doc["remote_vault"],
            generation=doc["generation"],
            up_to_date=doc["up_to_date"],
            uploaded=Transferred.from_json(doc["uploaded"]),
            checkpoints_pushed=list(doc["checkpoints_pushed"]),
        )
