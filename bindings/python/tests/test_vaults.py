"""Vault commands: create, list, info, use, fork, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentvfs import AVFS, Vault, VaultExists, VaultNotFound


def test_create_returns_a_typed_vault(avfs_bin: str, home: Path) -> None:
    client = AVFS(home=home, binary=avfs_bin)
    vault = client.create_vault("first")
    assert isinstance(vault, Vault)
    assert (vault.name, vault.forked_from, vault.checkpoints, vault.current) == ("first", None, 0, True)
    second = client.create_vault("second")
    assert second.current is False
    assert client.create_vault("third", use=True).current is True


def test_list_and_use(avfs: AVFS) -> None:
    avfs.create_vault("other")
    listed = avfs.list_vaults()
    assert [v.name for v in listed.vaults] == ["main", "other"]
    assert listed.current == "main"
    assert avfs.use_vault("other") == "other"
    assert avfs.list_vaults().current == "other"
    # The client keeps working on its own vault whatever is current.
    assert avfs.vault_info().name == "main"


def test_info_of_a_named_vault(avfs: AVFS) -> None:
    avfs.create_vault("other")
    assert avfs.vault_info("other").name == "other"


def test_fork_is_independent_of_its_source(avfs: AVFS) -> None:
    avfs.write("/shared.txt", "before")
    fork = avfs.fork_vault("main", "task-001")
    assert fork.forked_from == "main" and fork.name == "task-001"
    task = avfs.for_vault("task-001")
    task.write("/shared.txt", "changed in the fork")
    assert avfs.read_text("/shared.txt") == "before"
    assert task.read_text("/shared.txt") == "changed in the fork"


def test_fork_with_use_makes_it_current(avfs: AVFS) -> None:
    assert avfs.fork_vault("main", "f", use=True).current is True
    assert avfs.list_vaults().current == "f"


def test_delete(avfs: AVFS) -> None:
    avfs.create_vault("doomed")
    assert avfs.delete_vault("doomed") == "doomed"
    with pytest.raises(VaultNotFound):
        avfs.vault_info("doomed")


def test_errors(avfs: AVFS) -> None:
    with pytest.raises(VaultExists):
        avfs.create_vault("main")
    with pytest.raises(VaultNotFound):
        avfs.fork_vault("missing", "x")
    with pytest.raises(VaultNotFound):
        avfs.delete_vault("missing")
