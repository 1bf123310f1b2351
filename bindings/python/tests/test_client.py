"""Constructing a client: finding the binary, choosing the store, malformed output."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentvfs import AVFS, BinaryNotFound, ProtocolError


def test_binary_comes_from_avfs_bin(monkeypatch: pytest.MonkeyPatch, avfs_bin: str) -> None:
    monkeypatch.setenv("AVFS_BIN", avfs_bin)
    assert AVFS().binary == os.path.abspath(avfs_bin)


def test_binary_comes_from_path_without_avfs_bin(
    monkeypatch: pytest.MonkeyPatch, avfs_bin: str, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "avfs").symlink_to(os.path.abspath(avfs_bin))
    monkeypatch.delenv("AVFS_BIN", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert AVFS().binary == str(bin_dir / "avfs")


def test_explicit_binary_beats_avfs_bin(monkeypatch: pytest.MonkeyPatch, avfs_bin: str) -> None:
    monkeypatch.setenv("AVFS_BIN", "/nonexistent/avfs")
    assert AVFS(binary=avfs_bin).binary == os.path.abspath(avfs_bin)


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AVFS_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BinaryNotFound) as caught:
        AVFS("main")
    assert "AVFS_BIN" in str(caught.value)
    assert caught.value.exit_status is None


def test_avfs_bin_that_is_not_executable_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    not_executable = tmp_path / "avfs"
    not_executable.write_text("")
    monkeypatch.setenv("AVFS_BIN", str(not_executable))
    with pytest.raises(BinaryNotFound, match="AVFS_BIN"):
        AVFS()


def test_home_is_where_the_store_is(avfs_bin: str, tmp_path: Path) -> None:
    home = tmp_path / "store-here"
    home.mkdir()
    AVFS(home=home, binary=avfs_bin).create_vault("v")
    assert (home / "store.db").is_file()
    assert not (tmp_path / "default-home" / "store.db").exists()


def test_for_vault_shares_the_store(avfs: AVFS) -> None:
    avfs.fork_vault("main", "task")
    task = avfs.for_vault("task")
    task.write("/only-in-task", "x")
    assert task.vault == "task" and task.home == avfs.home
    assert task.exists("/only-in-task")
    assert not avfs.exists("/only-in-task")


def _fake_binary(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "fake-avfs"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize(
    "script",
    [
        "echo 'not json'",
        "echo '{\"a\": 1}{\"b\": 2}'",
        "echo '[1, 2]'",
        "exit 0",
    ],
)
def test_output_that_breaks_the_contract_is_a_protocol_error(tmp_path: Path, script: str) -> None:
    client = AVFS(binary=_fake_binary(tmp_path, script))
    with pytest.raises(ProtocolError):
        client.list_vaults()


def test_failure_without_an_error_document_is_a_protocol_error(tmp_path: Path) -> None:
    client = AVFS(binary=_fake_binary(tmp_path, "echo '{\"vaults\": [], \"current\": null}'; exit 3"))
    with pytest.raises(ProtocolError) as caught:
        client.list_vaults()
    assert caught.value.exit_status == 3


def test_a_document_of_the_wrong_shape_is_a_protocol_error(tmp_path: Path) -> None:
    client = AVFS(binary=_fake_binary(tmp_path, "echo '{\"vaults\": 7}'"))
    with pytest.raises(ProtocolError) as caught:
        client.list_vaults()
    assert caught.value.document == {"vaults": 7}
