"""Store maintenance: stats, gc, prune, compact, quotas, the audit journal."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

from agentvfs import (
    AVFS,
    FileTooLarge,
    InvalidArgument,
    QuotaExceeded,
    UsageError,
)


def test_stats(avfs: AVFS) -> None:
    avfs.write("/a", "12345")
    avfs.cp("/a", "/b")  # same content: stored once
    avfs.mkdir("/d")
    avfs.create_vault("other")
    stats = avfs.stats()
    assert [v.name for v in stats.vaults] == ["main", "other"]
    main = stats.vaults[0]
    assert (main.files, main.dirs, main.symlinks, main.logical_bytes) == (2, 2, 0, 10)
    assert main.chain_depth >= 1 and main.checkpoints == 0
    assert stats.store.vaults == 2
    assert stats.store.logical_bytes == 10
    assert stats.store.stored_bytes == 5
    assert stats.store.dedup_ratio == 2.0
    assert stats.store.db_bytes > 0
    assert stats.store.segment_bytes == 0  # nothing of 64 KiB or more: no segment
    assert (stats.store.head_bytes, stats.store.history_bytes, stats.store.dedup_saved_bytes) == (5, 0, 5)


def test_gc_frees_a_deleted_vaults_content(avfs: AVFS) -> None:
    avfs.create_vault("scratch")
    avfs.for_vault("scratch").write("/big", "y" * 10000)
    avfs.delete_vault("scratch")
    dry = avfs.gc(dry_run=True)
    assert dry.dry_run and not dry.spared_recent_chunks
    assert dry.freed.layers >= 1 and dry.freed.bytes == 10000
    real = avfs.gc()
    assert not real.dry_run and real.freed == dry.freed
    assert avfs.gc().freed.bytes == 0


def test_prune_versions_and_checkpoints(avfs: AVFS) -> None:
    for n in range(4):
        avfs.write("/f", f"v{n}")
    avfs.checkpoint_save("named")
    avfs.proxy_shell("true", checkpoint="always")
    avfs.proxy_shell("true", checkpoint="always")
    auto = [c.name for c in avfs.checkpoint_list() if c.auto]
    assert len(auto) == 2

    dry = avfs.prune(keep_versions=2, keep_checkpoints=1, dry_run=True)
    assert dry.dry_run
    (pruned,) = dry.pruned
    assert (pruned.vault, pruned.versions, pruned.checkpoints) == ("main", 2, auto[:1])
    assert len(avfs.log("/f")) == 4

    done = avfs.prune(keep_versions=2, keep_checkpoints=1)
    assert not done.dry_run and done.pruned[0].versions == 2
    assert [v.version for v in avfs.log("/f")] == [3, 4]  # numbers are not reused
    assert [c.name for c in avfs.checkpoint_list()] == ["named", auto[1]]

    # Named checkpoints only go with `named`; ages may be datetimes.
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert avfs.prune(checkpoints_older_than=future).pruned[0].checkpoints == [auto[1]]
    assert avfs.prune(checkpoints_older_than="0s", named=True).pruned[0].checkpoints == ["named"]
    assert avfs.checkpoint_list() == []


def test_prune_all_vaults_and_errors(avfs: AVFS) -> None:
    avfs.create_vault("other")
    for vault in ("main", "other"):
        client = avfs.for_vault(vault)
        client.write("/f", "1")
        client.write("/f", "2")
    result = avfs.prune(keep_versions=1, all_vaults=True)
    assert sorted((p.vault, p.versions) for p in result.pruned) == [("main", 1), ("other", 1)]
    with pytest.raises(InvalidArgument):
        avfs.prune()  # no rule
    with pytest.raises(InvalidArgument):
        avfs.prune(keep_versions=0)  # the current version always stays
    with pytest.raises(UsageError):
        avfs.quota_set(max_bytes="lots")
    with pytest.raises(ValueError):
        avfs.prune(versions_older_than=datetime.datetime(2020, 1, 1))  # naive: ambiguous


def test_compact(avfs: AVFS) -> None:
    for n in range(3):
        avfs.write("/f", str(n))
        avfs.checkpoint_save(f"c{n}")
    before = avfs.vault_info().layer_depth
    for n in range(3):
        avfs.checkpoint_delete(f"c{n}")
    result = avfs.compact()
    assert result.layers_merged >= 1
    assert result.db_bytes_after > 0 and result.db_bytes_before > 0
    assert avfs.vault_info().layer_depth < before
    assert avfs.read_text("/f") == "2"


def test_quota(avfs: AVFS) -> None:
    shown = avfs.quota_show()
    assert shown.vault == "main"
    assert (shown.quota.max_bytes, shown.quota.max_files, shown.quota.max_file_size) == (None, None, None)
    avfs.write("/a", "abc")
    quota = avfs.quota_set(max_bytes="1K", max_files=3)
    assert (quota.quota.max_bytes, quota.quota.max_files) == (1024, 3)
    assert (quota.usage.bytes, quota.usage.files) == (3, 1)
    # Flags not given keep their value.
    assert avfs.quota_set(max_file_size=100).quota == type(quota.quota)(1024, 3, 100)

    with pytest.raises(FileTooLarge) as too_large:
        avfs.write("/big", "x" * 101)
    assert too_large.value.exit_status == 4
    with pytest.raises(QuotaExceeded) as exceeded:
        for n in range(3):
            avfs.write(f"/n{n}", "x")
    assert exceeded.value.code == "quota_exceeded" and exceeded.value.exit_status == 4
    assert avfs.quota_show().usage.files == 3  # the refused write changed nothing
    assert not avfs.exists("/big")

    avfs.fork_vault("main", "fork")
    assert avfs.for_vault("fork").quota_show().quota.max_files == 3
    cleared = avfs.quota_clear()
    assert cleared.quota == type(quota.quota)(None, None, None)
    avfs.write("/big", "x" * 2000)


def test_audit(avfs: AVFS) -> None:
    avfs.write("/a", "1")
    avfs.checkpoint_save("c")
    entries = avfs.audit()
    assert [e.op for e in entries] == ["vault.create", "write", "checkpoint.save"]
    assert [e.vault for e in entries] == ["main", "main", "main"]
    assert entries[0].id < entries[1].id < entries[2].id
    assert all(len(e.hash) == 64 for e in entries)
    assert [e.op for e in avfs.audit(limit=1)] == ["checkpoint.save"]  # the newest
    assert len(avfs.audit(since="1h")) == 3
    assert len(avfs.audit(since=datetime.timedelta(hours=1))) == 3
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert avfs.audit(since=future) == []
    avfs.gc()
    assert avfs.audit(limit=1)[0].vault is None  # store-wide operations have no vault
    with pytest.raises(InvalidArgument):
        avfs.audit(since="yesterday")


def test_audit_verify_reports_a_broken_journal_without_raising(avfs: AVFS, home: Path) -> None:
    avfs.write("/a", "1")
    avfs.write("/a", "2")
    ok = avfs.audit_verify()
    assert (ok.intact, ok.entries, ok.problems) == (True, 3, [])
    with sqlite3.connect(home / "store.db") as db:
        db.execute("UPDATE journal SET detail = 'edited' WHERE id = 2")
    db.close()
    broken = avfs.audit_verify()
    assert broken.intact is False and broken.entries == 3
    assert [p.id for p in broken.problems] == [2]
    assert "hash" in broken.problems[0].problem


def test_verify_reports_a_damaged_chunk_without_raising(avfs: AVFS, home: Path) -> None:
    avfs.write("/big", b"\x07" * (256 * 1024 + 10))
    ok = avfs.verify()
    assert (ok.intact, ok.code, ok.chunks, ok.faults) == (True, None, 2, [])
    with sqlite3.connect(home / "store.db") as db:
        db.execute("UPDATE chunks SET data = zeroblob(10) WHERE size = 10")
    db.close()
    broken = avfs.verify()
    assert broken.intact is False and broken.code == "store_corrupt"
    assert [f.kind for f in broken.faults] == ["chunk_hash_mismatch"]
    assert [(p.vault, p.checkpoint, p.path, p.version) for p in broken.faults[0].paths] == [
        ("main", None, "/big", None),
        ("main", None, "/big", 1),
    ]


def test_retention(avfs: AVFS) -> None:
    assert avfs.retention() == 20
    assert avfs.retention(keep_versions=2) == 2
    for i in range(5):
        avfs.write("/f", f"v{i}")
    assert [v.version for v in avfs.log("/f")] == [4, 5]
    assert avfs.retention(keep_all=True) is None
