"""agentvfs's own README example (the agentvfs 0.1.6 crate's "Agent Integration
(Python)" block), run verbatim against avfs: its users' code keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentvfs import Run

# Verbatim from agentvfs's README; the names it uses (`proxy_exec(*argv)`,
# `changed_files`, `cat`) are the interface this test holds avfs's wrapper to.
AGENTVFS_README_EXAMPLE = '''from agentvfs import AVFS

avfs = AVFS("agent-workspace")

# Create isolated workspace
avfs.create_vault("agent-workspace")
avfs.fork_vault("agent-workspace", "task-001")

# Checkpoint, execute, get structured result
avfs.checkpoint_save("pre-change")
result = avfs.proxy_exec("cargo", "test")
# result contains: stdout, stderr, exit_code, changed_files
'''


def test_agentvfs_readme_example_runs_verbatim(
    avfs_bin: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVFS_BIN", avfs_bin)
    monkeypatch.setenv("AVFS_HOME", str(home))
    namespace: dict = {}
    exec(compile(AGENTVFS_README_EXAMPLE, "agentvfs README", "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, Run)
    # An empty vault has no Cargo.toml: cargo fails, and the run says so.
    assert result.exit_code not in (None, 0)
    assert "Cargo.toml" in result.stderr
    assert result.stdout == "" or isinstance(result.stdout, str)
    assert result.changed_files == []

    # Its names on a run that changes files, and `cat`.
    avfs = namespace["avfs"]
    avfs.write("/src/main.py", "print('hi')\n", parents=True)
    run = avfs.proxy_shell("echo more >> src/main.py; echo new > notes.txt")
    assert run.changed_files == ["/notes.txt", "/src/main.py"]
    assert run.changed_files == [c.path for c in run.changes]
    assert avfs.cat("/src/main.py") == "print('hi')\nmore\n"
