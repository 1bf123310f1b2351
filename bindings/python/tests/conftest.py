"""Fixtures: the avfs binary under test ($AVFS_BIN), a private store per test, FUSE checks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest

from agentvfs import AVFS, _runner

from .schema_check import validate_for_args


@pytest.fixture(scope="session")
def avfs_bin() -> str:
    """The avfs binary under test; the suite cannot run without it."""
    path = os.environ.get("AVFS_BIN")
    if not path:
        pytest.fail("AVFS_BIN is not set: point it at the avfs binary to test", pytrace=False)
    return path


@pytest.fixture(autouse=True, scope="session")
def documents_match_the_schema() -> Iterator[None]:
    """Every document avfs prints for the wrapper (`--json` runs) is checked against docs/schema."""
    original = _runner.Runner.run
    under_test = os.path.realpath(os.environ.get("AVFS_BIN", ""))

    def validating(self: _runner.Runner, args, stdin=None):  # type: ignore[no-untyped-def]
        completed = original(self, args, stdin)
        # Stand-in binaries (tests of the wrapper's own error handling) are not avfs;
        # output that is not one JSON object is the wrapper's own ProtocolError to raise.
        if os.path.realpath(self.binary) != under_test or not args or args[0] != "--json":
            return completed
        try:
            document = json.loads(completed.stdout.decode("utf-8"))
        except ValueError:
            return completed
        if isinstance(document, dict):
            validate_for_args(list(args[1:]), document)
        return completed

    # Wrapping `run` (not a module-level parser) keeps concurrent calls apart.
    _runner.Runner.run = validating  # type: ignore[method-assign]
    yield
    _runner.Runner.run = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keeps every test off the user's store and current vault."""
    monkeypatch.delenv("AVFS_VAULT", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    # A test that forgets home= still gets a private store.
    monkeypatch.setenv("AVFS_HOME", str(tmp_path / "default-home"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """This test's store directory."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def avfs(avfs_bin: str, home: Path) -> AVFS:
    """A client on vault `main`, freshly created in this test's store."""
    client = AVFS("main", home=home, binary=avfs_bin)
    client.create_vault("main")
    return client


@pytest.fixture
def fuse() -> None:
    """Requires /dev/fuse: fails without it unless AVFS_SKIP_FUSE_TESTS=1 (then skips, saying why)."""
    if os.path.exists("/dev/fuse"):
        return
    if os.environ.get("AVFS_SKIP_FUSE_TESTS") == "1":
        pytest.skip("/dev/fuse is missing; skipped because AVFS_SKIP_FUSE_TESTS=1")
    pytest.fail(
        "this test mounts a vault and needs /dev/fuse, which is missing; "
        "run where FUSE is available or set AVFS_SKIP_FUSE_TESTS=1 to skip mount tests",
        pytrace=False,
    )


class MountDirs:
    """Makes empty directories to mount on, remembering them so teardown can unmount."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: List[Path] = []

    def new(self) -> Path:
        """A new empty directory."""
        path = self.root / f"mnt{len(self.made)}"
        path.mkdir()
        self.made.append(path)
        return path


@pytest.fixture
def mount_dirs(tmp_path: Path, avfs_bin: str, home: Path, fuse: None) -> Iterator[MountDirs]:
    """Mount directories for a FUSE test; whatever is still mounted at teardown is unmounted."""
    dirs = MountDirs(tmp_path)
    yield dirs
    for path in dirs.made:
        if os.path.ismount(path):
            # Teardown must not leave mounts behind, whatever the test did.
            subprocess.run(
                [avfs_bin, "--json", "unmount", "--lazy", str(path)],
                env={**os.environ, "AVFS_HOME": str(home)},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
