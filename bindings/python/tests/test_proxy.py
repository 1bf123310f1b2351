"""`proxy exec`: argv and shell runs, output, changes, denial, timeout, missing vault, restore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from agentvfs import (
    AVFS,
    Checkpoint,
    InvalidPolicy,
    PolicyDenied,
    Run,
    VaultNotFound,
)

from .conftest import MountDirs


@pytest.fixture(autouse=True, scope="module")
def proxy_exec_exists(avfs_bin: str) -> None:
    """Fails these tests with one clear message if the binary predates `proxy exec`."""
    probe = subprocess.run(
        [avfs_bin, "proxy", "exec", "--help"], stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.fail(f"{avfs_bin} has no `proxy exec` command (avfs proxy exec --help failed)", pytrace=False)


def test_a_run_is_typed(avfs: AVFS) -> None:
    result = avfs.proxy_exec("sh", "-c", "echo hi; echo oops >&2")
    assert isinstance(result, Run)
    assert (result.exit_code, result.signal, result.timed_out) == (0, None, False)
    assert (result.stdout, result.stderr) == ("hi\n", "oops\n")
    assert (result.stdout_size, result.stdout_truncated) == (3, False)
    assert result.command == ["sh", "-c", "echo hi; echo oops >&2"] and result.shell is None
    assert (result.vault, result.cwd) == ("main", "/")
    assert result.decision.allowed and result.decision.policy_source == "none"
    assert result.interrupted is None and result.exec_error is None
    assert result.succeeded and result.allowed
    assert isinstance(result.checkpoint, Checkpoint) and result.checkpoint.auto
    assert result.changes == [] and result.summary.total == 0


def test_shell_runs_and_reports_changes(avfs: AVFS) -> None:
    avfs.write("/src/main.py", "print('hi')\n")
    script = "echo changed > src/main.py && mkdir -p out && echo new > out/file"
    result = avfs.proxy_shell(script)
    assert result.command == ["sh", "-c", script] and result.shell == script
    assert result.exit_code == 0
    assert [(c.change, c.path) for c in result.changes] == [
        ("added", "/out"),
        ("added", "/out/file"),
        ("modified", "/src/main.py"),
    ]
    assert result.summary.added == 2 and result.summary.modified == 1
    assert avfs.read_text("/out/file") == "new\n"


def test_non_zero_exit_is_a_result_not_an_exception(avfs: AVFS) -> None:
    result = avfs.proxy_exec("sh", "-c", "exit 3")
    assert result.exit_code == 3
    assert not result.succeeded


def test_restore_after_a_failed_run(avfs: AVFS) -> None:
    avfs.write("/src/lib.py", "good\n")
    avfs.checkpoint_save("pre-change")
    result = avfs.proxy_shell("echo broken > src/lib.py; rm -f nothing; exit 1")
    assert result.exit_code == 1
    assert [(c.change, c.path) for c in result.changes] == [("modified", "/src/lib.py")]
    assert avfs.read_text("/src/lib.py") == "broken\n"
    # Either the named checkpoint or the one the run took puts things back.
    assert result.checkpoint is not None
    avfs.checkpoint_restore(result.checkpoint.name)
    assert avfs.read_text("/src/lib.py") == "good\n"
    avfs.write("/src/lib.py", "broken again\n")
    avfs.checkpoint_restore("pre-change")
    assert avfs.read_text("/src/lib.py") == "good\n"


def test_denied_command_raises_with_the_result(avfs: AVFS) -> None:
    avfs.policy_set({"commands": {"deny": ["git push *"]}})
    with pytest.raises(PolicyDenied) as caught:
        avfs.proxy_exec("git", "push", "origin")
    error = caught.value
    assert (error.code, error.exit_status) == ("policy_denied", 126)
    result = error.result
    assert not result.allowed and result.decision.rule == "git push *"
    assert (result.exit_code, result.checkpoint, result.changes) == (None, None, [])
    assert error.document is not None and error.document["decision"]["allowed"] is False


def test_denied_command_without_raising(avfs: AVFS) -> None:
    result = avfs.proxy_exec(
        "curl", "example.com", policy={"commands": {"allow": ["git *"]}}, raise_on_denied=False
    )
    assert not result.allowed and result.decision.policy_source == "file"
    assert result.exit_code is None and result.signal is None


def test_timeout(avfs: AVFS) -> None:
    result = avfs.proxy_exec("sleep", "30", timeout="300ms")
    assert result.timed_out
    assert result.exit_code is None
    assert result.duration_ms < 20_000
    assert not result.succeeded
    # Seconds work too.
    assert avfs.proxy_exec("sleep", "30", timeout=0.3).timed_out


def test_missing_vault(avfs_bin: str, home: Path) -> None:
    with pytest.raises(VaultNotFound):
        AVFS("nope", home=home, binary=avfs_bin).proxy_exec("true")


def test_missing_program(avfs: AVFS) -> None:
    result = avfs.proxy_exec("no-such-program-anywhere")
    assert result.exec_error is not None
    assert result.exit_code is None


def test_output_that_is_not_utf8(avfs: AVFS) -> None:
    result = avfs.proxy_shell(r"printf 'a\377b'")
    assert result.stdout_raw == b"a\xffb"
    assert result.stdout_b64 is not None


def test_cwd(avfs: AVFS) -> None:
    avfs.write("/work/marker", "m")
    result = avfs.proxy_exec("ls", cwd="/work")
    assert result.cwd == "/work" and result.stdout == "marker\n"


def test_readonly_in_a_mount_refuses_writes(avfs: AVFS, fuse: None) -> None:
    result = avfs.proxy_shell("echo x > f", readonly=True, mode="fuse")
    assert result.mode == "fuse"
    assert result.exit_code != 0 and "Read-only" in result.stderr
    assert result.checkpoint is None  # --checkpoint auto skips read-only runs
    assert not avfs.exists("/f")


def test_readonly_materialized_writes_nothing_back(avfs: AVFS) -> None:
    result = avfs.proxy_shell("echo x > f", readonly=True, mode="materialize")
    assert result.mode == "materialize"
    assert result.changes == []
    assert not avfs.exists("/f")


def test_checkpoint_never(avfs: AVFS) -> None:
    result = avfs.proxy_shell("echo x > f", checkpoint="never")
    assert result.checkpoint is None
    assert [c.path for c in result.changes] == ["/f"]


def test_env_output_limit_and_grace(avfs: AVFS) -> None:
    greeted = avfs.proxy_shell('echo "$GREETING"', env={"GREETING": "hello there"})
    assert greeted.stdout == "hello there\n"
    flood = avfs.proxy_shell("head -c 100000 /dev/zero | tr '\\0' a", output_limit="1KiB")
    assert flood.stdout_truncated and flood.stdout_size == 100000
    assert len(flood.stdout_raw) < 2000
    # A command that ignores SIGTERM is killed once the grace period is over.
    stubborn = avfs.proxy_shell("trap '' TERM; sleep 30", timeout="200ms", grace="200ms")
    assert stubborn.timed_out and stubborn.duration_ms < 20_000


def test_materialize_mode(avfs: AVFS) -> None:
    avfs.write("/in.txt", "in")
    result = avfs.proxy_shell("cat in.txt > out.txt", mode="materialize")
    assert result.mode == "materialize"
    assert [(c.change, c.path) for c in result.changes] == [("added", "/out.txt")]
    assert avfs.read_text("/out.txt") == "in"


def test_keep_mount_leaves_the_vault_mounted(avfs: AVFS, mount_dirs: MountDirs) -> None:
    directory = mount_dirs.new()
    result = avfs.proxy_shell("echo kept > kept.txt", keep_mount=directory)
    assert result.mode == "fuse"
    assert os.path.ismount(directory)
    assert (directory / "kept.txt").read_text() == "kept\n"
    avfs.unmount(directory)


SECRETS_POLICY = {
    "paths": [
        {"glob": "**", "ops": ["read", "write", "create", "delete"]},
        {"glob": "secrets/**", "ops": [], "deny": True},
    ]
}


def test_path_rules_in_a_mount(avfs: AVFS, fuse: None) -> None:
    avfs.write("/secrets/key", "k")
    result = avfs.proxy_exec("cat", "secrets/key", policy=SECRETS_POLICY, mode="fuse")
    assert (result.mode, result.path_rules) == ("fuse", "enforced")
    assert result.exit_code != 0 and "Permission denied" in result.stderr
    assert [(v.path, v.op, v.rule) for v in result.violations] == [("/secrets/key", "read", "secrets/**")]
    assert not result.violations_truncated
    assert result.mount_errors == []


def test_path_rules_when_materialized(avfs: AVFS) -> None:
    only_f = {"paths": [{"glob": "f", "ops": ["read", "create", "write"]}, {"glob": "**", "ops": ["read"]}]}
    result = avfs.proxy_shell("echo x > f; echo y > secrets-new", policy=only_f, mode="materialize")
    assert (result.mode, result.path_rules) == ("materialize", "write_back")
    assert result.exit_code == 0  # the copy took both writes...
    assert [(c.change, c.path) for c in result.changes] == [("added", "/f")]
    assert [(v.path, v.op) for v in result.violations] == [("/secrets-new", "create")]
    assert not avfs.exists("/secrets-new")  # ...but only the granted one came back


def test_invalid_policy_file(avfs: AVFS) -> None:
    with pytest.raises(InvalidPolicy):
        avfs.proxy_exec("true", policy={"timeout": "soon"})


# A program that runs a long command through the wrapper and reports when it started.
LONG_RUN = """
import signal, sys
from agentvfs import AVFS
if sys.argv[4] == "exit-on-sigterm":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
avfs = AVFS("main", home=sys.argv[1], binary=sys.argv[2])
print("started", flush=True)
avfs.proxy_exec("sleep", sys.argv[3])
"""


def _running(argv: List[str]) -> bool:
    """True if some process has exactly this command line."""
    wanted = "\0".join(argv).encode() + b"\0"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    if file.read() == wanted:
                        return True
            except OSError:
                continue
    return False


def _start_long_run(avfs_bin: str, home: Path, seconds: str, mode: str) -> "subprocess.Popen[bytes]":
    """Starts LONG_RUN in its own session and waits until its `sleep` is running."""
    process = subprocess.Popen(
        [sys.executable, "-c", LONG_RUN, str(home), avfs_bin, seconds, mode],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline() == b"started\n"
    deadline = time.monotonic() + 15
    while not _running(["sleep", seconds]):
        assert time.monotonic() < deadline, "the proxied sleep never started"
        time.sleep(0.05)
    return process


def test_ctrl_c_stops_the_command_and_cleans_up(avfs: AVFS, avfs_bin: str, home: Path) -> None:
    seconds = "41.5"  # an unusual duration, to find this sleep among all processes
    process = _start_long_run(avfs_bin, home, seconds, "ctrl-c")
    # What a terminal does on Ctrl-C: SIGINT to the foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=40)
    assert b"KeyboardInterrupt" in stderr
    assert not _running(["sleep", seconds])
    assert avfs.mounts().mounts == []


def test_termination_of_the_caller_stops_avfs_too(avfs: AVFS, avfs_bin: str, home: Path) -> None:
    seconds = "42.5"
    process = _start_long_run(avfs_bin, home, seconds, "exit-on-sigterm")
    # Only the Python process gets the signal; the wrapper must pass it on.
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=40)
    assert process.returncode == 3
    assert not _running(["sleep", seconds])
    assert avfs.mounts().mounts == []


def test_summary_rolls_up_node_modules(avfs: AVFS) -> None:
    run = avfs.proxy_shell(
        "mkdir -p node_modules/a src && for i in 1 2 3; do echo $i > node_modules/a/f$i; done; echo x > src/app.js",
        mode="materialize",
        changes="summary",
    )
    assert run.changes_mode == "summary"
    assert run.changed_files == ["/src", "/src/app.js"]
    assert [(r.path, r.added, r.total, r.bytes_added) for r in run.rollups] == [("/node_modules", 5, 5, 6)]
    assert run.summary.total == 7
    full = avfs.proxy_shell("echo y > node_modules/a/f4", mode="materialize")
    assert full.changes_mode == "full" and full.rollups == []
    assert full.changed_files == ["/node_modules/a/f4"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the tests make the run's namespaces as root")
def test_an_isolated_run_records_its_isolation(avfs: AVFS) -> None:
    plain = avfs.proxy_shell("echo hi")
    assert plain.isolation is None and plain.workdir == "/workspace"
    isolated = avfs.proxy_shell("echo x > /tmp/x; cat /tmp/x; echo made > made.txt", isolate=True)
    assert isolated.exit_code == 0, isolated.stderr
    assert (isolated.isolation.network, isolated.isolation.hide) == ("none", [])
    assert isolated.stdout == "x\n"
    assert [c.path for c in isolated.changes] == ["/made.txt"]
