"""Mounts: mount/unmount, the `mounted` context manager (always unmounts), errors.

These need /dev/fuse (see the `fuse` fixture in conftest.py); teardown unmounts
whatever a test left mounted.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from agentvfs import AVFS, Mount, MountpointMissing, MountpointNotEmpty, NotMounted

from .conftest import MountDirs


def test_mount_and_unmount(avfs: AVFS, mount_dirs: MountDirs) -> None:
    avfs.write("/hello.txt", "hello")
    directory = mount_dirs.new()
    mount = avfs.mount(directory)
    assert isinstance(mount, Mount)
    assert (mount.vault, mount.mode, mount.checkpoint) == ("main", "rw", None)
    # How requests reach the server: io_uring only with AVFS_FUSE_URING=on.
    assert mount.transport in ("dev_fuse", "io_uring")
    assert mount.path == directory.resolve()
    assert (directory / "hello.txt").read_text() == "hello"
    (directory / "from-host.txt").write_text("written through the mount")
    assert [m.mountpoint for m in avfs.mounts().mounts] == [mount.mountpoint]
    unmounted = avfs.unmount(directory)
    assert (unmounted.vault, unmounted.lazy) == ("main", False)
    assert not os.path.ismount(directory)
    assert avfs.read_text("/from-host.txt") == "written through the mount"
    assert avfs.mounts().mounts == []


def test_mounted_unmounts_after_the_block(avfs: AVFS, mount_dirs: MountDirs) -> None:
    directory = mount_dirs.new()
    with avfs.mounted(directory) as mount:
        assert os.path.ismount(directory)
        (mount.path / "made-inside.txt").write_text("x")
    assert not os.path.ismount(directory)
    assert directory.is_dir()  # a directory the caller gave is left in place
    assert avfs.read_text("/made-inside.txt") == "x"


def test_mounted_unmounts_when_the_block_raises(avfs: AVFS, mount_dirs: MountDirs) -> None:
    directory = mount_dirs.new()
    with pytest.raises(RuntimeError, match="agent crashed"):
        with avfs.mounted(directory):
            raise RuntimeError("agent crashed")
    assert not os.path.ismount(directory)
    assert avfs.mounts().mounts == []


def test_mounted_without_a_directory_uses_a_temporary_one(avfs: AVFS, fuse: None) -> None:
    with avfs.mounted() as mount:
        assert os.path.ismount(mount.mountpoint)
        made = mount.path
    assert not made.exists()


def test_mounted_with_a_file_still_open_detaches_lazily(avfs: AVFS, mount_dirs: MountDirs) -> None:
    avfs.write("/held.txt", "held")
    directory = mount_dirs.new()
    with avfs.mounted(directory) as mount:
        held = open(mount.path / "held.txt")
    try:
        # The block ended with a file open inside: the mount is detached anyway.
        assert not os.path.ismount(directory)
        assert held.read() == "held"
    finally:
        held.close()


def test_readonly_and_checkpoint_mounts(avfs: AVFS, mount_dirs: MountDirs) -> None:
    avfs.write("/f.txt", "v1")
    avfs.checkpoint_save("v1")
    avfs.write("/f.txt", "v2")
    with avfs.mounted(mount_dirs.new(), readonly=True) as readonly:
        assert readonly.mode == "ro"
        with pytest.raises(OSError) as refused:
            (readonly.path / "new.txt").write_text("x")
        assert refused.value.errno == errno.EROFS
    with avfs.mounted(mount_dirs.new(), checkpoint="v1") as old:
        assert (old.checkpoint, old.mode) == ("v1", "ro")
        assert (old.path / "f.txt").read_text() == "v1"


def test_mount_errors(avfs: AVFS, mount_dirs: MountDirs, tmp_path: Path) -> None:
    busy = mount_dirs.new()
    (busy / "something").write_text("x")
    with pytest.raises(MountpointNotEmpty):
        avfs.mount(busy)
    with pytest.raises(MountpointMissing):
        avfs.mount(tmp_path / "does-not-exist")
    with pytest.raises(NotMounted):
        avfs.unmount(mount_dirs.new())
    with pytest.raises(MountpointNotEmpty):
        with avfs.mounted(busy):
            pass  # pragma: no cover (never entered)
