"""Remotes against the real S3 servers scripts/test starts on 127.0.0.1 (Ceph RGW, and Garage
for a server without conditional writes), named by AVFS_TEST_S3_* / AVFS_TEST_GARAGE_*."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentvfs import (
    AVFS,
    Conflict,
    RemoteAuth,
    RemoteDiverged,
    RemoteExists,
    RemoteNoConditionalWrites,
    RemoteNotFound,
    RemoteUnreachable,
)


@dataclass(frozen=True)
class Server:
    """One S3 server the tests may use."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str


def _server(part: str, start: str) -> Server:
    env = os.environ
    if env.get(f"AVFS_TEST_{part}_ENDPOINT"):
        return Server(
            endpoint=env[f"AVFS_TEST_{part}_ENDPOINT"],
            access_key=env[f"AVFS_TEST_{part}_ACCESS_KEY"],
            secret_key=env[f"AVFS_TEST_{part}_SECRET_KEY"],
            bucket=env.get(f"AVFS_TEST_{part}_BUCKET", "avfs-test"),
            region=env.get(f"AVFS_TEST_{part}_REGION", "us-east-1"),
        )
    if env.get("AVFS_SKIP_REMOTE_TESTS") == "1":
        pytest.skip("remote tests skipped: AVFS_SKIP_REMOTE_TESTS=1")
    pytest.fail(
        f"the remote tests need a real S3 server: run them through scripts/test, or "
        f"`export $(scripts/s3-server {start} start | xargs)`; AVFS_SKIP_REMOTE_TESTS=1 skips them",
        pytrace=False,
    )


@pytest.fixture
def ceph(monkeypatch: pytest.MonkeyPatch) -> Server:
    """Ceph RGW (atomic conditional writes), with its keys in the environment avfs inherits."""
    server = _server("S3", "ceph")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    return server


@pytest.fixture
def garage(monkeypatch: pytest.MonkeyPatch) -> Server:
    """Garage (no conditional writes), with its keys in the environment avfs inherits."""
    server = _server("GARAGE", "garage")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    return server


def _url(server: Server, test: str) -> str:
    return f"s3://{server.bucket}/py-{test}-{os.getpid()}-{time.time_ns()}"


def _home(tmp_path: Path, avfs_bin: str, name: str, vault: str = "work") -> AVFS:
    path = tmp_path / name
    path.mkdir()
    return AVFS(vault, home=path, binary=avfs_bin)


def test_push_clone_pull_and_the_remote_commands(tmp_path: Path, avfs_bin: str, ceph: Server) -> None:
    url = _url(ceph, "handoff")
    a = _home(tmp_path, avfs_bin, "a")
    remote = a.remote_add("origin", url, endpoint=ceph.endpoint, region=ceph.region)
    assert (remote.name, remote.url, remote.endpoint, remote.region) == ("origin", url, ceph.endpoint, ceph.region)
    assert remote.conditional_writes is None and not remote.unsafe_single_writer
    with pytest.raises(RemoteExists):
        a.remote_add("origin", url)
    check = a.remote_check("origin")
    assert check.reachable and check.credentials and check.conditional_writes
    assert check.vaults == []
    assert [r.conditional_writes for r in a.remote_list()] == [True]

    a.create_vault("work")
    a.write("/notes.txt", "from a\n")
    a.checkpoint_save("on-a", "taken on A")
    pushed = a.push(checkpoints=True)
    assert (pushed.vault, pushed.remote, pushed.remote_vault, pushed.generation) == ("work", "origin", "work", 1)
    assert not pushed.up_to_date and not pushed.forced and pushed.kept_as is None
    assert pushed.uploaded.layers >= 1 and pushed.checkpoints_pushed == ["on-a"]
    assert a.push().up_to_date

    listed = a.list_remote_vaults("origin")
    assert listed.remote == "origin"
    assert [(v.name, v.generation, v.checkpoints) for v in listed.vaults] == [("work", 1, ["on-a"])]

    # Home B clones lazily, works through a run that pushes, and A pulls it.
    b = _home(tmp_path, avfs_bin, "b", vault="mine")
    b.remote_add("origin", url, endpoint=ceph.endpoint, region=ceph.region)
    cloned = b.clone("origin", "work", "mine", lazy=True)
    assert (cloned.vault, cloned.remote_vault, cloned.lazy, cloned.generation) == ("mine", "work", True, 1)
    assert cloned.checkpoints == ["on-a"] and cloned.downloaded.chunks == 0
    assert b.cat("/notes.txt") == "from a\n"
    run = b.proxy_shell("echo 'from b' >> notes.txt", mode="materialize", push=True)
    assert run.succeeded
    assert run.push is not None and run.push.ok, run.push
    assert (run.push.remote, run.push.remote_vault, run.push.generation) == ("origin", "work", 2)

    pulled = a.pull()
    assert (pulled.status, pulled.generation) == ("fast_forward", 2)
    assert a.cat("/notes.txt") == "from a\nfrom b\n"
    assert a.pull().status == "up_to_date"

    # A stale push is refused (a Conflict); force keeps the replaced head on the remote.
    a.write("/notes.txt", "a again\n")
    b.write("/notes.txt", "b again\n")
    b.push()
    with pytest.raises(RemoteDiverged) as refused:
        a.push()
    assert isinstance(refused.value, Conflict) and refused.value.exit_status == 4
    forced = a.push(force=True)
    assert forced.forced and forced.kept_as == "overwritten-3"

    assert a.remote_remove("origin") == "origin"
    with pytest.raises(RemoteNotFound):
        a.remote_check("origin")
    assert a.remote_list() == []


def test_remote_errors_map_to_their_classes(tmp_path: Path, avfs_bin: str, ceph: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _home(tmp_path, avfs_bin, "a")
    a.remote_add("origin", _url(ceph, "errors"), endpoint=ceph.endpoint)
    a.remote_add("nowhere", "s3://bucket/x", endpoint="http://127.0.0.1:9")
    with pytest.raises(RemoteUnreachable):
        a.remote_check("nowhere")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(RemoteAuth):
        a.remote_check("origin")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ceph.secret_key)
    gc = a.remote_gc("origin", grace="1h", dry_run=True)
    assert gc.dry_run and gc.grace_s == 3600 and gc.vaults == 0 and gc.deleted.chunks == 0


def test_garage_refuses_pushes_unless_unsafe_single_writer(tmp_path: Path, avfs_bin: str, garage: Server) -> None:
    url = _url(garage, "garage")
    a = _home(tmp_path, avfs_bin, "a")
    a.remote_add("origin", url, endpoint=garage.endpoint, region=garage.region)
    assert not a.remote_check("origin").conditional_writes
    a.create_vault("work")
    a.write("/f", "x")
    with pytest.raises(RemoteNoConditionalWrites) as refused:
        a.push()
    assert isinstance(refused.value, Conflict)
    single = a.remote_add("single", url, endpoint=garage.endpoint, region=garage.region, unsafe_single_writer=True)
    assert single.unsafe_single_writer
    assert a.push(remote="single").generation == 1
    b = _home(tmp_path, avfs_bin, "b")
    b.remote_add("origin", url, endpoint=garage.endpoint, region=garage.region)
    b.clone("origin", "work")
    assert b.cat("/f") == "x"
