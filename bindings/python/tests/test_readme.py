"""The README's Python blocks run as written, in order, against the real binary."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Dict, List

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

# Stands in for `cargo test` (a real build would take minutes): like cargo, it
# writes build output under target/ and prints a summary.
STAND_IN_CARGO = """#!/bin/sh
[ "$1" = test ] || exit 101
mkdir -p target/debug && echo built > target/debug/.stamp
echo 'test result: ok. 1 passed; 0 failed'
"""


def python_blocks() -> List[str]:
    """The ```python blocks of the README."""
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_examples_run(
    monkeypatch: pytest.MonkeyPatch, avfs_bin: str, home: Path, tmp_path: Path, fuse: None
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cargo = bin_dir / "cargo"
    cargo.write_text(STAND_IN_CARGO)
    cargo.chmod(cargo.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AVFS_BIN", avfs_bin)
    monkeypatch.setenv("AVFS_HOME", str(home))

    blocks = python_blocks()
    assert len(blocks) >= 5
    namespace: Dict[str, Any] = {}
    exec(compile(blocks[0], "README.md example", "exec"), namespace)

    avfs, result = namespace["avfs"], namespace["result"]
    assert (result.exit_code, result.timed_out) == (0, False)
    assert "test result: ok" in result.stdout
    assert "/target" in [change.path for change in result.changes]
    # The restore undid what the run did and kept what was checkpointed.
    assert not avfs.exists("/target")
    assert avfs.read_text("/src/main.py") == "print('hi')"
    assert avfs.vault_info("task-001").forked_from == "agent-workspace"

    for number, block in enumerate(blocks[1:], start=2):
        exec(compile(block, f"README.md block {number}", "exec"), namespace)
    assert namespace["run"].exit_code == 0
    assert namespace["run"].stdout.endswith("done\n")
    # History and search: the revert went back to the restored content.
    assert [v.source for v in namespace["versions"]][-1] == "write"
    assert avfs.log("/src/main.py")[-1].source == "revert"
    assert [hit.path for hit in namespace["hits"]] == ["/src/main.py"]
    assert "[print]" in namespace["hits"][0].snippet
    assert [(m.path, m.line) for m in namespace["lines"]] == [("/src/main.py", 1)]
    assert [entry.path for entry in namespace["files"]] == ["/src/main.py"]


def test_the_project_readme_shows_this_example_unchanged() -> None:
    project_readme = README.parents[2] / "README.md"
    shown = re.findall(r"```python\n(.*?)```", project_readme.read_text(encoding="utf-8"), flags=re.S)
    assert shown == python_blocks()[:1], "README.md's Python example differs from the one tested here"
