"""Runs the avfs binary: builds the command line, reads its one JSON document, maps errors.

Every call passes `--json`, so avfs prints exactly one JSON document on stdout
(docs/json.md). An `{"error": ...}` document becomes the matching `AVFSError`
subclass; anything that is not one JSON object becomes a `ProtocolError`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Collection, Dict, List, Mapping, Optional, Sequence, Union

from .errors import ProtocolError, error_from_document

#: One command-line argument: text, exact bytes (non-UTF-8 vault paths), or a host path.
Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# After an interrupt, how long avfs gets to stop the command it runs, unmount and
# report before it is killed. Killing it at once could leave the command's process
# tree or a FUSE mount behind.
_SHUTDOWN_WAIT_S = 30.0
# How long to let avfs react to a Ctrl-C it received from the terminal itself
# before asking it to stop with SIGTERM.
_SIGINT_REACTION_S = 2.0


@dataclass(frozen=True)
class Completed:
    """How one avfs process ended: exit status and both output streams."""

    status: int
    stdout: bytes
    stderr: bytes


def _describe(completed: Completed) -> str:
    """A short account of unexpected output, for error messages."""
    status = completed.status
    ended = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
    out = completed.stdout[:400].decode("utf-8", "replace").strip()
    err = completed.stderr[:400].decode("utf-8", "replace").strip()
    return f"{ended}; stdout: {out!r}; stderr: {err!r}"


class Runner:
    """Runs one avfs executable against one store (`home`, or the environment's default)."""

    def __init__(self, binary: str, home: Optional[str] = None) -> None:
        self.binary = binary
        self.home = home

    def environment(self) -> Dict[str, str]:
        """The environment avfs runs with: ours, with AVFS_HOME set when a home was given."""
        env = dict(os.environ)
        if self.home is not None:
            env["AVFS_HOME"] = self.home
        return env

    def run(self, args: Sequence[Arg], stdin: Optional[bytes] = None) -> Completed:
        """Runs `avfs ARGS` (no `--json` added) and collects its output."""
        argv: List[Union[str, bytes]] = [self.binary]
        argv.extend(a if isinstance(a, (str, bytes)) else os.fspath(a) for a in args)
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment(),
        )
        try:
            stdout, stderr = process.communicate(stdin)
        except BaseException as interruption:
            _shut_down(process, from_terminal=isinstance(interruption, KeyboardInterrupt))
            raise
        return Completed(process.returncode, stdout, stderr)

    def json(
        self,
        args: Sequence[Arg],
        *,
        stdin: Optional[bytes] = None,
        ok_statuses: Optional[Collection[int]] = (0,),
    ) -> Mapping[str, Any]:
        """Runs `avfs --json ARGS`, returns its document, raises its error.

        `ok_statuses` lists the exit statuses that come with a normal document
        (None: any status, as for `proxy exec`, which exits with the child's status).
        """
        completed = self.run(["--json", *args], stdin)
        document = parse_document(completed)
        if "error" in document:
            raise error_from_document(document, completed.status)
        if ok_statuses is not None and completed.status not in ok_statuses:
            raise ProtocolError(
                "avfs failed without an error document: " + _describe(completed),
                exit_status=completed.status,
                document=document,
            )
        return document


def parse_document(completed: Completed) -> Mapping[str, Any]:
    """The one JSON object on avfs's stdout, or a `ProtocolError`."""
    try:
        document = json.loads(completed.stdout.decode("utf-8"))
    except ValueError:
        # Both UnicodeDecodeError and JSONDecodeError (extra data too) land here.
        raise ProtocolError(
            "avfs did not print exactly one JSON document: " + _describe(completed),
            exit_status=completed.status,
        ) from None
    if not isinstance(document, dict):
        raise ProtocolError(
            "avfs printed JSON that is not an object: " + _describe(completed),
            exit_status=completed.status,
        )
    return document


def _shut_down(process: "subprocess.Popen[bytes]", *, from_terminal: bool) -> None:
    """Stops avfs after the caller was interrupted, giving it time to clean up."""
    # communicate() rather than wait(): avfs may still be writing its document, and
    # a full pipe nobody reads would block it.
    if from_terminal:
        # Ctrl-C reaches the whole foreground process group, avfs included.
        try:
            process.communicate(timeout=_SIGINT_REACTION_S)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=_SHUTDOWN_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
