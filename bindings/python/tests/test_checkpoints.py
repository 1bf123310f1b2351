"""Checkpoints and diff."""

from __future__ import annotations

import pytest

from agentvfs import AVFS, Checkpoint, CheckpointExists, CheckpointNotFound, NoCheckpoints


def test_save_list_info_delete(avfs: AVFS) -> None:
    saved = avfs.checkpoint_save("c1", message="why")
    assert isinstance(saved, Checkpoint)
    assert (saved.name, saved.vault, saved.message, saved.auto) == ("c1", "main", "why", False)
    avfs.checkpoint_save("c2")
    assert [c.name for c in avfs.checkpoint_list()] == ["c1", "c2"]
    assert avfs.checkpoint_info("c2").message is None
    assert avfs.checkpoint_delete("c1") == "c1"
    assert [c.name for c in avfs.checkpoint_list()] == ["c2"]
    with pytest.raises(CheckpointExists):
        avfs.checkpoint_save("c2")
    with pytest.raises(CheckpointNotFound):
        avfs.checkpoint_info("c1")


def test_message_that_looks_like_a_flag(avfs: AVFS) -> None:
    assert avfs.checkpoint_save("c", message="-m --force").message == "-m --force"


def test_restore_keeps_unsaved_work(avfs: AVFS) -> None:
    avfs.write("/f", "v1")
    avfs.checkpoint_save("v1")
    avfs.write("/f", "v2")
    restored = avfs.checkpoint_restore("v1")
    assert restored.checkpoint.name == "v1"
    assert restored.saved_previous is not None and restored.saved_previous.auto
    assert avfs.read_text("/f") == "v1"
    # Restoring the saved state brings the unsaved work back.
    avfs.checkpoint_restore(restored.saved_previous.name)
    assert avfs.read_text("/f") == "v2"
    with pytest.raises(CheckpointNotFound):
        avfs.checkpoint_restore("nope")


def test_diff_from_a_checkpoint(avfs: AVFS) -> None:
    with pytest.raises(NoCheckpoints):
        avfs.diff()
    avfs.write("/keep", "k")
    avfs.write("/edit", "old")
    avfs.write("/gone", "g")
    avfs.checkpoint_save("base")
    avfs.write("/edit", "new!")
    avfs.rm("/gone")
    avfs.write("/sub/new", "n")
    diff = avfs.diff()
    assert (diff.from_ref, diff.to_ref) == ("vault:main@base", "vault:main")
    assert [(c.change, c.path) for c in diff.changes] == [
        ("modified", "/edit"),
        ("deleted", "/gone"),
        ("added", "/sub"),
        ("added", "/sub/new"),
    ]
    edit = diff.changes[0]
    assert edit.before is not None and edit.after is not None
    assert (edit.before.size, edit.after.size) == (3, 4)
    assert diff.changes[1].after is None
    assert (diff.summary.added, diff.summary.modified, diff.summary.deleted, diff.summary.total) == (2, 1, 1, 4)
    assert [c.path for c in avfs.diff("/sub").changes] == ["/sub", "/sub/new"]


def test_diff_between_vaults_and_checkpoints(avfs: AVFS) -> None:
    avfs.checkpoint_save("empty")
    avfs.write("/a", "a")
    avfs.checkpoint_save("with-a")
    assert [c.path for c in avfs.diff(from_ref="empty", to_ref="with-a").changes] == ["/a"]
    avfs.fork_vault("main", "fork")
    avfs.for_vault("fork").write("/b", "b")
    between = avfs.diff(from_ref="vault:main", to_ref="vault:fork")
    assert [(c.change, c.path) for c in between.changes] == [("added", "/b")]
