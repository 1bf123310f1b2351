"""Runs as attempts and `vault merge`: typed merges, conflicts, and runs at once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List

import pytest

from agentvfs import AVFS, Conflict, Merge, MergeConflict, NoMergeBase, PathConflict, Run


def test_merge_a_fork_into_its_parent(avfs: AVFS) -> None:
    avfs.write("/notes.txt", "one\ntwo\nthree\n")
    avfs.fork_vault("main", "fix")
    fix = avfs.for_vault("fix")
    fix.write("/new.txt", "new\n")
    dry = avfs.merge_vault("fix", dry_run=True)
    assert isinstance(dry, Merge)
    assert (dry.status, dry.dry_run, dry.checkpoint) == ("fast_forward", True, None)
    assert not avfs.exists("/new.txt")
    merged = avfs.merge_vault("fix")
    assert (merged.source, merged.target, merged.status) == ("fix", "main", "fast_forward")
    assert [(c.change, c.path) for c in merged.changes] == [("added", "/new.txt")]
    assert merged.checkpoint is not None and merged.checkpoint.name.startswith("pre-merge-")
    assert avfs.read_text("/new.txt") == "new\n"


def test_a_conflict_raises_with_the_merge(avfs: AVFS) -> None:
    avfs.write("/notes.txt", "one\ntwo\nthree\n")
    avfs.fork_vault("main", "fix")
    avfs.write("/notes.txt", "one\nTWO main\nthree\n")
    avfs.for_vault("fix").write("/notes.txt", "one\nTWO fix\nthree\n")
    with pytest.raises(MergeConflict) as caught:
        avfs.merge_vault("fix")
    assert isinstance(caught.value, Conflict) and caught.value.exit_status == 4
    merge = caught.value.merge
    assert merge.status == "conflict" and merge.changes == []
    assert [(c.path, c.kind) for c in merge.conflicts] == [("/notes.txt", "content")]
    conflict = merge.conflicts[0]
    assert isinstance(conflict, PathConflict)
    assert conflict.base is not None and conflict.ours is not None and conflict.theirs is not None
    assert len({conflict.base.hash, conflict.ours.hash, conflict.theirs.hash}) == 3
    theirs = avfs.merge_vault("fix", on_conflict="theirs")
    assert (theirs.status, theirs.on_conflict) == ("merged", "theirs")
    assert avfs.read_text("/notes.txt") == "one\nTWO fix\nthree\n"
    avfs.create_vault("other")
    with pytest.raises(NoMergeBase):
        avfs.merge_vault("other", into="main")


def _race(avfs: AVFS, tmp_path: Path, scripts: List[str]) -> List[Run]:
    """Two runs at once; each waits until the other has started (marker files)."""
    marks = [tmp_path / "0", tmp_path / "1"]
    results: List[Run] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        script = f"touch '{marks[i]}'; while [ ! -e '{marks[1 - i]}' ]; do sleep 0.01; done; {scripts[i]}"
        run = avfs.proxy_shell(script)
        with lock:
            results.append(run)

    threads = [threading.Thread(target=one, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_runs_at_once_merge_or_keep_a_fork(avfs: AVFS, fuse: None, tmp_path: Path) -> None:
    avfs.write("/log.txt", "base\n")
    runs = _race(avfs, tmp_path, ["echo A >> log.txt", "echo B >> log.txt"])
    assert sorted(r.merge or "" for r in runs) == ["fast_forward", "merged"]
    assert all(r.succeeded and not r.conflicted and r.fork is None for r in runs)
    assert sorted(avfs.read_text("/log.txt").splitlines()) == ["A", "B", "base"]

    (tmp_path / "0").unlink()
    (tmp_path / "1").unlink()
    runs = _race(avfs, tmp_path, ["echo A > log.txt", "echo B > log.txt"])
    conflicted = [r for r in runs if r.conflicted]
    assert len(conflicted) == 1
    lost = conflicted[0]
    assert not lost.succeeded and lost.exit_code == 0 and lost.checkpoint is None
    assert [(c.path, c.kind) for c in lost.conflicts] == [("/log.txt", "content")]
    assert lost.fork is not None and lost.on_conflict == "keep"
    kept = avfs.for_vault(lost.fork).read_text("/log.txt")
    assert kept in ("A\n", "B\n") and kept != avfs.read_text("/log.txt")
