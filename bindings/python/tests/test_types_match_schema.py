"""The wrapper's types and docs/schema (derived from the Rust wire types) agree:
every field a document's schema lists is a field of the type that parses it,
and the type has no field the document lacks. A field added in Rust fails here
until the wrapper parses it (or says below why it does not)."""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, Iterable, Set, Tuple

import pytest

import agentvfs.types as T

from .schema_check import SCHEMA_DIR

#: type -> (schema file, `$defs` entry or "" for the document itself).
SOURCES: Dict[type, Tuple[str, str]] = {
    T.AffectedPath: ("verify", "VerifyPath"),
    T.AuditEntry: ("audit", "AuditEntry"),
    T.AuditProblem: ("audit_verify", "AuditProblem"),
    T.AuditVerification: ("audit_verify", ""),
    T.Change: ("diff", "DiffChange"),
    T.CheckedOut: ("checkout", ""),
    T.Checkpoint: ("checkpoint", "WireCheckpoint"),
    T.Compacted: ("compact", ""),
    T.Counts: ("import", "WireCounts"),
    T.Diff: ("diff", ""),
    T.Entry: ("entry", "WireEntry"),
    T.Exported: ("export", ""),
    T.Freed: ("gc", "GcFreed"),
    T.GcResult: ("gc", ""),
    T.GrepMatch: ("grep", "GrepMatch"),
    T.GrepResult: ("grep", ""),
    T.Imported: ("import", ""),
    T.Isolation: ("run", "WireIsolation"),
    T.Merge: ("merge", ""),
    T.Mount: ("mount", ""),
    T.MountList: ("mounts", ""),
    T.Moved: ("move", ""),
    T.PathConflict: ("merge", "WireConflict"),
    T.PathRef: ("removed", "WirePath"),
    T.PolicyCheck: ("policy_check", ""),
    T.PolicyDecision: ("run", "RunDecision"),
    T.PruneResult: ("prune", ""),
    T.Pruned: ("prune", "PrunedVault"),
    T.QuotaInfo: ("quota", ""),
    T.QuotaLimits: ("quota", "WireQuota"),
    T.QuotaUsage: ("quota", "WireUsage"),
    T.Restored: ("checkpoint_restore", ""),
    T.Reverted: ("revert", ""),
    T.Rollup: ("run", "WireRollup"),
    T.Run: ("run", ""),
    T.SearchHit: ("search", "SearchResult"),
    T.Side: ("diff", "WireSide"),
    T.Skipped: ("import", "WireSkipped"),
    T.Stats: ("stats", ""),
    T.StoreFault: ("verify", "VerifyFault"),
    T.StoreStats: ("stats", "WireStoreStats"),
    T.StoreVerification: ("verify", ""),
    T.Summary: ("diff", "WireSummary"),
    T.Unmounted: ("unmount", ""),
    T.Vault: ("vault", "WireVault"),
    T.VaultList: ("vault_list", ""),
    T.VaultStats: ("stats", "WireVaultStats"),
    T.Version: ("log", "WireVersion"),
    T.VersionDiff: ("version_diff", ""),
    T.VersionSide: ("version_diff", "VersionSide"),
    T.Violation: ("run", "RunViolation"),
}

#: Python field -> JSON field, where the wrapper names a field otherwise.
RENAMED: Dict[type, Dict[str, str]] = {
    T.Diff: {"from_ref": "from", "to_ref": "to"},
    T.Moved: {"source": "from", "source_b64": "from_b64"},
    T.PolicyCheck: {"policy_source": "policy"},
    T.PolicyDecision: {"policy_source": "policy"},
    T.Run: {"stdout_size": "stdout_bytes", "stderr_size": "stderr_bytes"},
}

#: Nested objects the wrapper flattens into the type: JSON field -> its `$defs` entry.
FLATTENED: Dict[type, Dict[str, str]] = {
    T.StoreVerification: {"checked": "VerifyChecked"},
}

#: JSON fields a type leaves out on purpose, and why.
NOT_PARSED: Dict[type, Set[str]] = {}


def _properties(schema_file: str, definition: str) -> Set[str]:
    schema = json.loads((SCHEMA_DIR / f"{schema_file}.json").read_text(encoding="utf-8"))
    node = schema["$defs"][definition] if definition else schema
    return set(node.get("properties", {}))


def _json_fields(cls: type) -> Set[str]:
    renamed = RENAMED.get(cls, {})
    return {renamed.get(f.name, f.name) for f in dataclasses.fields(cls)}


def _expected(cls: type) -> Set[str]:
    schema_file, definition = SOURCES[cls]
    fields = _properties(schema_file, definition)
    for nested, nested_def in FLATTENED.get(cls, {}).items():
        fields = (fields - {nested}) | _properties(schema_file, nested_def)
    return fields - NOT_PARSED.get(cls, set())


def _document_types() -> Iterable[type]:
    for value in vars(T).values():
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == T.__name__:
            yield value


def test_every_document_type_has_its_schema() -> None:
    unmapped = sorted(c.__name__ for c in _document_types() if c not in SOURCES)
    assert unmapped == [], f"add these types to SOURCES with the schema they parse: {unmapped}"


@pytest.mark.parametrize("cls", sorted(SOURCES, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_fields_agree_with_the_schema(cls: type) -> None:
    ours, theirs = _json_fields(cls), _expected(cls)
    assert (sorted(ours - theirs), sorted(theirs - ours)) == ([], []), (
        f"{cls.__name__} vs docs/schema/{SOURCES[cls][0]}.json: (only in the wrapper, only in the schema)"
    )
