"""Error documents become typed exceptions carrying code, message, exit status, hint, document."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Dict

import pytest

import agentvfs
from agentvfs import (
    AVFS,
    AVFSError,
    BadInput,
    Conflict,
    InternalError,
    Interrupted,
    InvalidName,
    NoCurrentVault,
    NotFound,
    StorageFailure,
    UsageError,
    VaultExists,
    VaultNotFound,
)
from agentvfs.errors import error_from_document

JSON_MD = Path(__file__).resolve().parents[3] / "docs" / "json.md"


def test_missing_vault_raises_vault_not_found_with_everything(avfs_bin: str, home: Path) -> None:
    with pytest.raises(VaultNotFound) as caught:
        AVFS("nope", home=home, binary=avfs_bin).ls("/")
    error = caught.value
    assert isinstance(error, NotFound) and isinstance(error, AVFSError)
    assert error.code == "vault_not_found"
    assert error.exit_status == 3
    assert "nope" in error.message
    assert error.hint and "vault" in error.hint
    assert error.document == {
        "error": {"code": "vault_not_found", "message": error.message, "exit_status": 3, "hint": error.hint}
    }
    assert "vault_not_found" in str(error)


def test_conflict_and_bad_input_classes(avfs: AVFS) -> None:
    with pytest.raises(VaultExists) as exists:
        avfs.create_vault("main")
    assert isinstance(exists.value, Conflict) and exists.value.exit_status == 4
    with pytest.raises(InvalidName) as bad:
        avfs.checkpoint_save("-starts-with-a-dash")
    assert bad.value.exit_status == 2 and bad.value.hint is None


def test_no_current_vault(avfs_bin: str, home: Path) -> None:
    with pytest.raises(NoCurrentVault):
        AVFS(home=home, binary=avfs_bin).ls()


def test_usage_error_from_a_bad_flag_value(avfs: AVFS) -> None:
    with pytest.raises(UsageError):
        avfs.mkdir("/d", mode="not-octal")


def test_every_documented_code_has_its_own_class() -> None:
    assert JSON_MD.is_file(), f"the contract is expected at {JSON_MD}"
    text = JSON_MD.read_text(encoding="utf-8")
    table = text.split("| exit status | meaning | codes |")[1].split("\n\n")[0]
    documented: Dict[str, int] = {}
    for row in table.splitlines()[2:]:
        status_cell, _, codes = row.strip("|").split("|")
        for code in re.findall(r"`([a-z_]+)`", codes):
            documented[code] = int(status_cell)
    assert len(documented) > 30
    categories = {1: InternalError, 2: BadInput, 3: NotFound, 4: Conflict, 5: StorageFailure, 130: Interrupted}
    for code, status in documented.items():
        error = error_from_document({"error": {"code": code, "message": "m", "exit_status": status}}, status)
        cls = type(error)
        assert cls.code == code, f"no class for {code}"
        assert cls.__name__ == "".join(part.capitalize() for part in code.split("_"))
        assert issubclass(cls, categories[status])
        assert getattr(agentvfs, cls.__name__) is cls


def test_an_unknown_code_raises_the_class_of_its_exit_status() -> None:
    error = error_from_document({"error": {"code": "from_the_future", "message": "m", "exit_status": 4}}, 4)
    assert type(error) is Conflict
    assert error.code == "from_the_future"


def test_errors_survive_pickling(avfs: AVFS) -> None:
    with pytest.raises(VaultExists) as caught:
        avfs.create_vault("main")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is VaultExists
    assert (copy.code, copy.message, copy.exit_status, copy.hint, copy.document) == (
        caught.value.code,
        caught.value.message,
        caught.value.exit_status,
        caught.value.hint,
        caught.value.document,
    )
