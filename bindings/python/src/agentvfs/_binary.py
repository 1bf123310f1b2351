"""Finds the avfs executable: an explicit path, else $AVFS_BIN, else PATH."""

from __future__ import annotations

import os
import shutil
from typing import Optional, Union

from .errors import BinaryNotFound

#: Environment variable naming the avfs executable to use.
BINARY_ENV = "AVFS_BIN"


def _executable(candidate: str, origin: str) -> str:
    """Resolves `candidate` (a path or a command name) to an executable, or raises."""
    found = shutil.which(candidate)
    if found is None:
        raise BinaryNotFound(
            f"{origin} names {candidate!r}, which is not an executable file",
            hint="build avfs (cargo build --release) and point at target/release/avfs",
        )
    return os.path.abspath(found)


def locate_binary(binary: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
    """The absolute path of the avfs executable to run."""
    if binary is not None:
        return _executable(os.fspath(binary), "binary=")
    from_env = os.environ.get(BINARY_ENV)
    if from_env:
        return _executable(from_env, f"${BINARY_ENV}")
    found = shutil.which("avfs")
    if found is None:
        raise BinaryNotFound(
            "the avfs binary was not found",
            hint=f"pass AVFS(binary=...), set ${BINARY_ENV}, or put avfs on PATH",
        )
    return os.path.abspath(found)
