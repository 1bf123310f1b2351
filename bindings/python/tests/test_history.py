"""History: log, reading versions, checkout, revert, comparing versions, diff patches."""

from __future__ import annotations

import pytest

from agentvfs import (
    AVFS,
    NothingToRevert,
    PathNotFound,
    Version,
    VersionDeleted,
    VersionNotFound,
)


def test_log_lists_every_version_oldest_first(avfs: AVFS) -> None:
    avfs.write("/notes.md", "one\n")
    avfs.write("/notes.md", "one\ntwo\n")
    avfs.checkpoint_save("c1")
    avfs.write("/notes.md", "one\ntwo\n")  # the same bytes: not a change
    avfs.rm("/notes.md")
    versions = avfs.log("/notes.md")
    assert all(isinstance(v, Version) for v in versions)
    assert [(v.version, v.source, v.deleted, v.size) for v in versions] == [
        (1, "write", False, 4),
        (2, "write", False, 8),
        (3, "rm", True, 0),
    ]
    assert [v.checkpoint for v in versions] == ["c1", "c1", None]
    assert versions[0].hash is not None and len(versions[0].hash) == 64
    assert versions[2].hash is None
    assert versions[0].time_ns < versions[2].time_ns and versions[0].run is None
    avfs.mkdir("/dir")
    assert avfs.log("/dir") == []
    with pytest.raises(PathNotFound):
        avfs.log("/never")


def test_log_of_a_name_that_is_not_utf8(avfs: AVFS) -> None:
    avfs.write(b"/caf\xe9", "x")
    (version,) = avfs.log(b"/caf\xe9")
    assert version.path_bytes == b"/caf\xe9"
    assert version.path_b64 is not None


def test_read_a_version_as_text_and_bytes(avfs: AVFS) -> None:
    avfs.write("/f", "first")
    avfs.write("/f", b"\x00\xffsecond")
    assert avfs.read_text("/f", version=1) == "first"
    assert avfs.read_bytes("/f", version=1) == b"first"
    assert avfs.read_bytes("/f", version=2) == b"\x00\xffsecond"
    assert avfs.read_text("/f", encoding="latin-1", version=2) == "\x00\xffsecond"
    assert avfs.read_bytes("/f") == b"\x00\xffsecond"
    with pytest.raises(VersionNotFound) as caught:
        avfs.read_text("/f", version=9)
    assert caught.value.exit_status == 3
    with pytest.raises(VersionNotFound):
        avfs.read_bytes("/f", version=9)
    avfs.rm("/f")
    with pytest.raises(VersionDeleted):
        avfs.read_bytes("/f", version=3)
    # Old versions stay readable after the file is gone.
    assert avfs.read_text("/f", version=1) == "first"


def test_checkout_makes_an_old_version_current(avfs: AVFS) -> None:
    avfs.write("/f", "v1")
    avfs.write("/f", "v2")
    avfs.rm("/f")
    out = avfs.checkout("/f", 1)
    assert (out.path, out.from_version) == ("/f", 1)
    assert (out.version.version, out.version.source, out.version.deleted) == (4, "checkout", False)
    assert out.entry.size == 2
    assert avfs.read_text("/f") == "v1"
    with pytest.raises(VersionNotFound):
        avfs.checkout("/f", 99)
    with pytest.raises(VersionDeleted):
        avfs.checkout("/f", 3)


def test_revert_undoes_and_redoes(avfs: AVFS) -> None:
    avfs.write("/f", "good")
    avfs.write("/f", "bad")
    reverted = avfs.revert("/f")
    assert reverted.entry is not None and reverted.version.source == "revert"
    assert avfs.read_text("/f") == "good"
    avfs.revert("/f")  # reverting a revert redoes
    assert avfs.read_text("/f") == "bad"

    avfs.write("/new", "n")
    gone = avfs.revert("/new")  # undoing the creation removes the file
    assert gone.entry is None and gone.version.deleted
    assert not avfs.exists("/new")
    with pytest.raises(VersionNotFound):
        avfs.revert("/never-existed")


def test_revert_with_nothing_left_to_go_back_to(avfs: AVFS) -> None:
    avfs.write("/f", "x")
    avfs.rm("/f")
    avfs.prune(keep_versions=1)
    assert [v.deleted for v in avfs.log("/f")] == [True]
    with pytest.raises(NothingToRevert) as caught:
        avfs.revert("/f")
    assert caught.value.exit_status == 4


def test_diff_versions(avfs: AVFS) -> None:
    avfs.write("/f", "a\nb\n")
    avfs.write("/f", "a\nc\nd\n")
    avfs.write("/f", "z\n")
    diff = avfs.diff_versions("/f", 1, 2)
    assert (diff.v1.version, diff.v2.version) == (1, 2)
    assert (diff.added_lines, diff.removed_lines, diff.binary, diff.too_large) == (2, 1, False, False)
    assert diff.patch is not None
    assert diff.patch.startswith("--- /f@v1\n+++ /f@v2\n")
    assert "-b\n+c\n+d\n" in diff.patch
    assert avfs.diff_versions("/f", 1).v2.version == 3  # v2 defaults to the newest
    assert avfs.diff_versions("/f", 2, 2).patch == ""
    avfs.write("/bin", b"\x00\x01")
    avfs.write("/bin", b"\x00\x02")
    binary = avfs.diff_versions("/bin", 1, 2)
    assert binary.binary and binary.patch is None
    with pytest.raises(VersionNotFound):
        avfs.diff_versions("/f", 1, 7)


def test_diff_with_patch(avfs: AVFS) -> None:
    avfs.write("/f", "old\n")
    avfs.mkdir("/d")
    avfs.checkpoint_save("base")
    avfs.write("/f", "new\n")
    avfs.write("/d/added", "hi\n")
    plain = avfs.diff()
    assert all(change.patch is None for change in plain.changes)
    patched = {c.path: c.patch for c in avfs.diff(patch=True).changes}
    assert patched["/f"] is not None and "-old\n+new\n" in patched["/f"]
    assert patched["/f"].startswith("--- a/f\n+++ b/f\n")
    assert patched["/d/added"] is not None and patched["/d/added"].startswith("--- /dev/null\n")
    assert "/d" not in patched or patched["/d"] is None
