"""grep, find and full-text search."""

from __future__ import annotations

import pytest

from agentvfs import AVFS, Entry, GrepResult, InvalidPattern, InvalidQuery, PathNotFound


@pytest.fixture
def project(avfs: AVFS) -> AVFS:
    avfs.write("/src/main.py", "import os\nprint('Hello world')\n")
    avfs.write("/src/util.py", "def hello():\n    return 'hello'\n")
    avfs.write("/docs/readme.md", "# Guide\nSay hello to the quick brown fox.\n")
    avfs.write("/data.bin", b"hello\x00binary")
    avfs.write("/big.txt", "x" * 5000)
    return avfs


def test_grep(project: AVFS) -> None:
    found = project.grep("hello")
    assert isinstance(found, GrepResult)
    assert found.pattern == "hello"
    assert [(m.path, m.line, m.text) for m in found.matches] == [
        ("/docs/readme.md", 2, "Say hello to the quick brown fox."),
        ("/src/util.py", 1, "def hello():"),
        ("/src/util.py", 2, "    return 'hello'"),
    ]
    assert [f.path for f in found.files] == ["/docs/readme.md", "/src/util.py"]
    assert found.binary_skipped == 1
    insensitive = project.grep("HELLO", "/src", ignore_case=True)
    assert [f.path for f in insensitive.files] == ["/src/main.py", "/src/util.py"]
    files_only = project.grep("hello", files_only=True)
    assert files_only.matches == [] and len(files_only.files) == 2
    none = project.grep("no such text")
    assert (none.matches, none.files) == ([], [])
    # A pattern that looks like a flag is a pattern.
    assert project.grep("-x").files == []


def test_grep_errors(project: AVFS) -> None:
    with pytest.raises(InvalidPattern) as caught:
        project.grep("(unclosed")
    assert caught.value.exit_status == 2 and caught.value.hint
    with pytest.raises(PathNotFound):
        project.grep("x", "/nope")


def test_find(project: AVFS) -> None:
    assert [e.path for e in project.find(name="*.py")] == ["/src/main.py", "/src/util.py"]
    dirs = project.find(type="d")
    assert all(isinstance(e, Entry) and e.kind == "dir" for e in dirs)
    assert [e.path for e in dirs] == ["/", "/docs", "/src"]
    assert [e.path for e in project.find(type="dir")] == ["/", "/docs", "/src"]
    assert [e.path for e in project.find(min_size="4K")] == ["/big.txt"]
    assert [e.path for e in project.find("/src", max_size=31, type="f")] == ["/src/main.py"]
    assert [e.path for e in project.find(max_depth=1, type="f")] == ["/big.txt", "/data.bin"]
    assert [e.path for e in project.find("/docs", max_depth=0)] == ["/docs"]
    assert [e.path for e in project.find(name="{main,readme}.*")] == ["/docs/readme.md", "/src/main.py"]
    with pytest.raises(InvalidPattern):
        project.find(name="[unclosed")
    with pytest.raises(ValueError):
        project.find(type="x")


def test_search(project: AVFS) -> None:
    hits = project.search("hello")
    assert {h.path for h in hits} == {"/src/main.py", "/src/util.py", "/docs/readme.md"}
    assert all(h.score >= 0 and len(h.hash) == 64 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    phrase = project.search('"quick brown"')
    assert [h.path for h in phrase] == ["/docs/readme.md"]
    assert phrase[0].score > 0
    assert "[quick] [brown]" in phrase[0].snippet or "[quick brown]" in phrase[0].snippet
    assert len(project.search("hello", limit=1)) == 1
    assert [h.path for h in project.search("gui*")] == ["/docs/readme.md"]
    assert project.search("absent") == []
    # The binary file is not indexed.
    assert "/data.bin" not in {h.path for h in project.search("binary")}


def test_search_errors(project: AVFS) -> None:
    for query in ("AND AND", '"unclosed', ""):
        with pytest.raises(InvalidQuery) as caught:
            project.search(query)
        assert caught.value.code == "invalid_query" and caught.value.exit_status == 2


def test_search_follows_writes_and_forks(project: AVFS) -> None:
    project.fork_vault("main", "fork")
    fork = project.for_vault("fork")
    fork.write("/only-in-fork.txt", "zebra")
    assert [h.path for h in fork.search("zebra")] == ["/only-in-fork.txt"]
    assert project.search("zebra") == []
    project.rm("/docs/readme.md")
    assert project.search("guide") == []


def test_search_ranks_by_relevance(avfs: AVFS) -> None:
    for n in range(8):
        avfs.write(f"/filler{n}.txt", f"unrelated text number {n}")
    avfs.write("/once.txt", "a kiwi among many other words in this longer line of text")
    avfs.write("/twice.txt", "kiwi kiwi")
    avfs.write("/copy.txt", "kiwi kiwi")  # identical content: one document, same score
    hits = avfs.search("kiwi")
    assert [h.path for h in hits][-1] == "/once.txt"
    assert {h.path for h in hits[:2]} == {"/twice.txt", "/copy.txt"}
    assert hits[0].score == hits[1].score > hits[2].score > 0
    assert hits[0].hash == hits[1].hash
    assert "[kiwi]" in hits[2].snippet
