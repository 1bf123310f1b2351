"""File commands: write and read (text, bytes, large, non-UTF-8), list, copy, move, remove, import, export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentvfs import (
    AVFS,
    DestinationExists,
    Entry,
    InvalidPath,
    PathTooLong,
    IsADirectory,
    NotAFile,
    PathExists,
    PathNotFound,
)

SIXTEEN_MIB = 16 * 1024 * 1024


def test_write_and_read_text(avfs: AVFS) -> None:
    entry = avfs.write("/src/main.py", "print('hi')\n")
    assert isinstance(entry, Entry)
    assert (entry.path, entry.kind, entry.size, entry.mode) == ("/src/main.py", "file", 12, "0644")
    assert entry.hash is not None and len(entry.hash) == 64
    assert avfs.read_text("/src/main.py") == "print('hi')\n"
    assert avfs.read_bytes("/src/main.py") == b"print('hi')\n"


def test_write_bytes_and_unicode(avfs: AVFS) -> None:
    data = bytes(range(256))
    avfs.write("/bin.dat", data)
    assert avfs.read_bytes("/bin.dat") == data
    avfs.write("/unicode.txt", "héllo ✓")
    assert avfs.read_text("/unicode.txt") == "héllo ✓"
    assert avfs.stat("/unicode.txt").size == len("héllo ✓".encode())


def test_text_that_is_not_utf8(avfs: AVFS) -> None:
    avfs.write("/latin1.txt", "café".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        avfs.read_text("/latin1.txt")
    assert avfs.read_text("/latin1.txt", encoding="latin-1") == "café"
    assert avfs.read_text("/latin1.txt", errors="replace") == "caf\ufffd"


def test_empty_file(avfs: AVFS) -> None:
    assert avfs.write("/empty", b"").size == 0
    assert avfs.read_bytes("/empty") == b""
    assert avfs.read_text("/empty") == ""


def test_content_that_looks_like_a_flag(avfs: AVFS) -> None:
    avfs.write("/dash", "--help")
    assert avfs.read_text("/dash") == "--help"


def test_append_mode_and_parents(avfs: AVFS) -> None:
    avfs.write("/log", "one\n")
    avfs.write("/log", "two\n", append=True)
    assert avfs.read_text("/log") == "one\ntwo\n"
    assert avfs.write("/script.sh", "#!/bin/sh\n", mode=0o755).mode == "0755"
    with pytest.raises(PathNotFound):
        avfs.write("/no/such/dir/file", "x", parents=False)


def test_files_over_16_mib_stream(avfs: AVFS) -> None:
    # `cat --json` refuses these (too_large); the wrapper streams plain `cat` instead.
    big = b"0123456789abcdef" * (SIXTEEN_MIB // 16) + b"tail"
    avfs.write("/big.txt", big)
    assert avfs.read_bytes("/big.txt") == big
    text = avfs.read_text("/big.txt")
    assert len(text) == len(big) and text.endswith("tail")


def test_non_utf8_paths_keep_their_exact_bytes(avfs: AVFS) -> None:
    raw = b"/caf\xe9.txt"
    entry = avfs.write(raw, "x")
    assert entry.path_b64 is not None
    assert entry.path_bytes == raw
    assert "\ufffd" in entry.path
    listed = avfs.ls("/")
    assert [e.path_bytes for e in listed] == [raw]
    assert avfs.read_bytes(raw) == b"x"
    # A plain UTF-8 path has no _b64 sibling; path_bytes is its UTF-8 form.
    assert avfs.write("/ok.txt", "y").path_b64 is None
    assert avfs.stat("/ok.txt").path_bytes == b"/ok.txt"
    removed = avfs.rm(raw)
    assert removed[0].path_bytes == raw


def test_mkdir_ls_tree_stat_exists(avfs: AVFS) -> None:
    created = avfs.mkdir("/a/b", "/c", parents=True)
    assert [e.path for e in created] == ["/a/b", "/c"]
    avfs.write("/a/b/f.txt", "f")
    assert [e.path for e in avfs.ls("/")] == ["/a", "/c"]
    assert [e.path for e in avfs.tree("/a")] == ["/a", "/a/b", "/a/b/f.txt"]
    assert avfs.stat("/a").kind == "dir"
    assert avfs.exists("/a/b/f.txt") and not avfs.exists("/nope")
    assert avfs.mkdir("/m", mode=0o700)[0].mode == "0700"
    with pytest.raises(PathExists):
        avfs.mkdir("/c")
    with pytest.raises(PathNotFound):
        avfs.stat("/nope")
    with pytest.raises(InvalidPath):
        avfs.stat("/../..")
    with pytest.raises(PathTooLong):
        avfs.stat("/" + "x" * 256)


def test_cp_mv_rm(avfs: AVFS) -> None:
    avfs.write("/d/f.txt", "content")
    assert avfs.cp("/d/f.txt", "/g.txt").path == "/g.txt"
    assert avfs.cp("/d", "/d2", recursive=True).kind == "dir"
    moved = avfs.mv("/g.txt", "/h.txt")
    assert moved.source == "/g.txt" and moved.entry.path == "/h.txt"
    assert avfs.read_text("/h.txt") == "content"
    with pytest.raises(IsADirectory):
        avfs.rm("/d")
    assert [r.path for r in avfs.rm("/d", "/d2", recursive=True)] == ["/d", "/d2"]
    assert avfs.rm("/missing", "/h.txt", force=True)[0].path == "/h.txt"
    with pytest.raises(PathNotFound):
        avfs.rm("/missing")


def test_import_and_export(avfs: AVFS, tmp_path: Path) -> None:
    source = tmp_path / "project"
    (source / "src").mkdir(parents=True)
    (source / "src" / "lib.rs").write_text("pub fn f() {}\n")
    (source / "link").symlink_to("src/lib.rs")
    imported = avfs.import_dir(source, "/proj")
    assert imported.dest == "/proj" and imported.vault == "main"
    assert (imported.imported.files, imported.imported.symlinks) == (1, 1)
    assert imported.imported.skipped == []
    assert avfs.stat("/proj/link").target == "src/lib.rs"
    # avfs never follows symlinks; the raw read reports it through the typed error.
    with pytest.raises(NotAFile):
        avfs.read_bytes("/proj/link")

    out = tmp_path / "out"
    exported = avfs.export("/proj", out)
    assert exported.exported.files == 1 and exported.src == "/proj"
    assert (out / "src" / "lib.rs").read_text() == "pub fn f() {}\n"
    assert os.readlink(out / "link") == "src/lib.rs"
    with pytest.raises(DestinationExists):
        avfs.export("/proj", out)
    assert avfs.export("/proj", out, force=True).exported.files == 1
