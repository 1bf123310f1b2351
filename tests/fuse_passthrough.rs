//! The passthrough data path (`AVFS_PASSTHROUGH=on`, as root on Linux 6.9+):
//! a file the mount creates is spooled on the local disk and the kernel reads
//! and writes the spool directly; its bytes enter the store at fsync and
//! close. These tests check that the path is taken (and only when on), that a
//! spooled file behaves as a file through every call that still reaches the
//! server, and that SIGKILL of the server mid-write keeps every acknowledged
//! byte and tears no file.

mod common;

use common::fuse::{Mounted, fuse_available, process_gone, wait_for};
use common::{Avfs, assert_bytes};
use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, msync, munmap};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::Write;
use std::num::NonZeroUsize;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

/// The environment that turns passthrough on for a mount.
const ON: &[(&str, &str)] = &[("AVFS_PASSTHROUGH", "on")];

#[derive(serde::Deserialize)]
struct MountsDoc {
    mounts: Vec<MountRecord>,
}

#[derive(serde::Deserialize)]
struct MountRecord {
    data_path: Option<String>,
}

/// Deterministic bytes (no two 256 KiB chunks alike).
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.finalize_xof().fill(&mut out);
    out
}

/// How many unnamed spool files the server `pid` holds open.
fn spools_held(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the server's descriptors")
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().ends_with("(deleted)"))
        .count()
}

/// Whether this machine serves spooled files by passthrough: root, and a
/// kernel with FUSE passthrough (6.9+).
fn passthrough_expected() -> bool {
    let release = nix::sys::utsname::uname().expect("uname");
    let release = release.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    nix::unistd::geteuid().is_root() && (major, minor) >= (6, 9)
}

#[test]
fn a_created_file_is_spooled_and_only_with_passthrough_on() {
    if !fuse_available() || !passthrough_expected() {
        return;
    }
    for (env, spooled) in [(Some("on"), true), (None, false), (Some("off"), false)] {
        let avfs = Avfs::with_vault();
        let vars: Vec<(&str, &str)> = env.map(|v| ("AVFS_PASSTHROUGH", v)).into_iter().collect();
        let m = Mounted::with_env(&avfs, "main", &[], &vars);
        let want = if spooled { "passthrough" } else { "fuse" };
        wait_for(
            "mounts to report the data path",
            Duration::from_secs(10),
            || {
                let doc: MountsDoc = avfs.json(["mounts"]);
                doc.mounts
                    .iter()
                    .any(|r| r.data_path.as_deref() == Some(want))
            },
        );
        let mut f = File::create(m.join("new.txt")).unwrap();
        f.write_all(b"hello").unwrap();
        assert_eq!(spools_held(m.pid) == 1, spooled, "AVFS_PASSTHROUGH={env:?}");
        drop(f);
        // RELEASE reaches the server after close(2) has returned.
        wait_for(
            "the spool to go with the last close",
            Duration::from_secs(10),
            || spools_held(m.pid) == 0,
        );
        // A file with content opened for writing stays on the editor path.
        let g = OpenOptions::new()
            .write(true)
            .open(m.join("new.txt"))
            .unwrap();
        assert_eq!(spools_held(m.pid), 0, "a file with content is not spooled");
        drop(g);
        m.unmount();
        assert_bytes(&avfs.cat("/new.txt"), b"hello", "in the store");
    }
}

/// Every call that still reaches the server sees (and changes) the spool:
/// size and times while open, a second descriptor, truncate, a punched hole,
/// mmap, an explicit mtime, rename and unlink while open, and fsync making
/// the bytes visible to other avfs commands before the file is closed.
#[test]
fn a_spooled_file_behaves_as_a_file() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::with_env(&avfs, "main", &[], ON);
    let path = m.join("s.bin");
    let data = pattern(1, 3 << 20);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    f.write_all_at(&data, 0).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), data.len() as u64);
    let other = File::open(&path).unwrap();
    let mut back = vec![0u8; data.len()];
    other.read_exact_at(&mut back, 0).unwrap();
    assert_bytes(&back, &data, "through a second descriptor");

    // fsync: the store has it while the file is still open.
    f.sync_all().unwrap();
    assert_bytes(&avfs.cat("/s.bin"), &data, "after fsync, before close");

    // Shrink, grow, punch, map.
    let mut model = data.clone();
    f.set_len(2 << 20).unwrap();
    model.truncate(2 << 20);
    f.set_len(5 << 20).unwrap();
    model.resize(5 << 20, 0);
    fallocate(
        &f,
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        1 << 20,
        300_000,
    )
    .unwrap();
    model[1 << 20..(1 << 20) + 300_000].fill(0);
    let len = NonZeroUsize::new(4096).unwrap();
    unsafe {
        let map = mmap(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            &f,
            4096 * 10,
        )
        .unwrap();
        std::ptr::copy_nonoverlapping(b"mapped".as_ptr(), map.as_ptr().cast::<u8>(), 6);
        msync(map, 4096, nix::sys::mman::MsFlags::MS_SYNC).unwrap();
        munmap(map, 4096).unwrap();
    }
    model[4096 * 10..4096 * 10 + 6].copy_from_slice(b"mapped");
    assert_eq!(fs::metadata(&path).unwrap().len(), model.len() as u64);

    // An explicit mtime (cp -p, tar) survives the commit.
    let when = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    f.set_times(FileTimes::new().set_modified(when)).unwrap();

    // Renamed and then unlinked while open: the open file lives on.
    fs::rename(&path, m.join("renamed.bin")).unwrap();
    fs::copy(m.join("renamed.bin"), m.join("copy.bin")).unwrap();
    drop(other);
    drop(f);
    assert_eq!(
        fs::metadata(m.join("renamed.bin")).unwrap().mtime(),
        1_600_000_000
    );
    let gone = File::create(m.join("gone.bin")).unwrap();
    gone.write_all_at(b"short-lived", 0).unwrap();
    fs::remove_file(m.join("gone.bin")).unwrap();
    drop(gone);
    m.unmount();

    assert_bytes(
        &avfs.cat("/renamed.bin"),
        &model,
        "renamed.bin in the store",
    );
    assert_bytes(&avfs.cat("/copy.bin"), &model, "copy.bin in the store");
    let stat: common::EntryDoc = avfs.json(["stat", "/renamed.bin"]);
    assert_eq!(stat.entry.mtime_ns, 1_600_000_000 * 1_000_000_000);
    let gone = avfs.run(["stat", "/gone.bin"]);
    assert_ne!(gone.status, 0, "an unlinked file stays gone");
    avfs.ok(["verify"]);
}

/// SIGKILL of the server in the middle of a large spooled write and of an
/// untar: the store verifies, the fsynced file is whole, and every other file
/// is either whole, empty (created, never committed) or absent — never torn.
#[test]
fn sigkill_during_spooled_writes_tears_nothing() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::with_env(&avfs, "main", &[], ON);

    let synced = pattern(2, 6 << 20);
    let mut f = File::create(m.join("synced.bin")).unwrap();
    f.write_all(&synced).unwrap();
    f.sync_all().unwrap();

    // A source tree to untar: 400 files of different sizes.
    let src = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for i in 0..400u64 {
        let rel = format!("tree/d{}/f{i}.bin", i % 20);
        let bytes = pattern(100 + i, 1 + (i as usize * 7919) % 300_000);
        let at = src.path().join(&rel);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(&at, &bytes).unwrap();
        sources.push((rel, bytes));
    }
    let tarball = src.path().join("tree.tar");
    let packed = Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(src.path())
        .arg("tree")
        .status()
        .unwrap();
    assert!(packed.success());
    let mut untar = Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(m.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // The large write: 64 MiB, not synced, in progress when the server dies.
    let big = pattern(3, 64 << 20);
    let writer = {
        let path = m.join("big.bin");
        let big = big.clone();
        std::thread::spawn(move || {
            let mut f = File::create(path)?;
            for block in big.chunks(1 << 20) {
                f.write_all(block)?;
            }
            f.sync_all()
        })
    };
    wait_for("the untar to start", Duration::from_secs(30), || {
        m.join("tree").exists()
    });
    std::thread::sleep(Duration::from_millis(50));
    kill(Pid::from_raw(m.pid as i32), Signal::SIGKILL).unwrap();
    wait_for("the killed server to exit", Duration::from_secs(10), || {
        process_gone(m.pid)
    });
    let _ = untar.wait();
    let _ = writer.join();
    drop(f);
    let _ = nix::mount::umount2(m.path(), nix::mount::MntFlags::MNT_DETACH);

    avfs.ok(["verify"]);
    assert_bytes(&avfs.cat("/synced.bin"), &synced, "the fsynced file");
    let whole_or_empty = |path: &str, want: &[u8]| {
        let run = avfs.run(["cat", path]);
        if run.status != 0 {
            return; // never created in the store
        }
        let got = avfs.cat(path);
        assert!(
            got.is_empty() || got == want,
            "{path} is torn: {} bytes of {}",
            got.len(),
            want.len()
        );
    };
    whole_or_empty("/big.bin", &big);
    for (rel, bytes) in &sources {
        whole_or_empty(&format!("/{rel}"), bytes);
    }
    drop(m);
    assert!(Path::new(&avfs.store_path()).exists());
}
