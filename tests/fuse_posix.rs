//! FUSE end to end: the POSIX surface of a mounted vault and the mount's
//! lifecycle, driven through ordinary system calls (std, nix, libc) against
//! real mounts served by the real binary.
//!
//! Every test makes its own store and mount (they run in parallel), compares
//! what it reads with a model it keeps itself, and checks the store through
//! the CLI (a separate process) where durability is the point. Every mount is
//! unmounted however the test ends (`Mounted`, or `Foreground` below).

mod common;

use base64::Engine;
use common::fuse::{Mounted, fuse_available, process_gone, wait_for};
use common::{Avfs, EntriesDoc, EntryDoc, assert_bytes};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::Pid;
use serde::Deserialize;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The store's chunk size: edits that cross it touch two chunks.
const CHUNK: usize = 256 * 1024;
const MIB: usize = 1 << 20;

// ----- helpers -----

/// Fills `buf` with bytes that depend on `seed` only: BLAKE3's XOF, so they
/// neither repeat nor deduplicate, and cost almost nothing to make.
fn fill(seed: u64, buf: &mut [u8]) {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.finalize_xof().fill(buf);
}

/// `len` bytes of [`fill`].
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    fill(seed, &mut out);
    out
}

/// Reads a whole file and compares it with the model.
#[track_caller]
fn assert_file(path: &Path, expected: &[u8], what: &str) {
    let actual = fs::read(path).unwrap_or_else(|e| panic!("{what}: read {}: {e}", path.display()));
    assert_bytes(&actual, expected, what);
}

/// The errno of a failed call; panics if it succeeded.
#[track_caller]
fn errno<T: std::fmt::Debug>(result: io::Result<T>, what: &str) -> Errno {
    match result {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => Errno::from_raw(
            e.raw_os_error()
                .unwrap_or_else(|| panic!("{what}: not an OS error: {e}")),
        ),
    }
}

/// Closes a file and reports close(2)'s result: the mount commits on flush,
/// so a failed commit only shows here.
#[track_caller]
fn close(file: File, what: &str) {
    nix::unistd::close(file).unwrap_or_else(|e| panic!("close {what}: {e}"));
}

fn close_io(file: File) -> io::Result<()> {
    nix::unistd::close(file).map_err(io::Error::from)
}

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn create_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
}

/// Everything an open file holds, read from offset 0 (the position is untouched).
fn read_fd(file: &File) -> Vec<u8> {
    let len = file.metadata().expect("fstat").len() as usize;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0).expect("pread");
    // Nothing past the reported end.
    let mut extra = [0u8; 1];
    assert_eq!(
        file.read_at(&mut extra, len as u64).expect("pread at end"),
        0,
        "bytes past the end"
    );
    buf
}

/// Sorted names in a directory.
fn names(dir: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    out.sort();
    out
}

fn os(names: &[&str]) -> Vec<OsString> {
    let mut out: Vec<OsString> = names.iter().map(OsString::from).collect();
    out.sort();
    out
}

/// The absolute, symlink-free form of a directory that may be a dead mount
/// point (which cannot be resolved itself): resolve the parent, keep the name.
fn canonical(dir: &Path) -> PathBuf {
    let parent = fs::canonicalize(dir.parent().expect("has a parent")).expect("canonical parent");
    parent.join(dir.file_name().expect("has a name"))
}

/// The processes that hold /dev/fuse open, with their state (a mount's
/// connection lives until the last of them closes it).
fn fuse_holders() -> String {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("/dev/fuse")))
        {
            let status = fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let fields: Vec<&str> = status
                .lines()
                .filter(|l| {
                    ["Name", "State", "PPid", "Threads"]
                        .iter()
                        .any(|k| l.starts_with(k))
                })
                .collect();
            found.push(format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                fields.join(", ")
            ));
        }
    }
    found.join("; ")
}

/// True if anything is mounted at `dir` in this mount namespace.
fn is_mounted(dir: &Path) -> bool {
    let dir = canonical(dir);
    // /proc/mounts escapes space, tab, newline and backslash; temp dirs have none.
    let table = fs::read("/proc/self/mounts").expect("read /proc/self/mounts");
    table
        .split(|b| *b == b'\n')
        .any(|line| line.split(|b| *b == b' ').nth(1) == Some(dir.as_os_str().as_bytes()))
}

/// A field of `/proc/<pid>/status` in KiB (e.g. `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/pid/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// `PRAGMA integrity_check` on a store file, from a connection of our own.
fn integrity_check(store: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(store).expect("open the store with rusqlite");
    let mut stmt = conn.prepare("PRAGMA integrity_check").expect("prepare");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .expect("integrity_check")
        .collect::<Result<_, _>>()
        .expect("integrity_check rows")
}

/// `avfs write PATH` with the bytes on stdin.
fn write_stdin(avfs: &Avfs, path: &str, bytes: &[u8]) {
    let run = avfs.run_stdin(["write", path], bytes);
    assert_eq!(run.status, 0, "avfs write {path}: {}", run.stderr);
}

/// fsync of a file or directory: what makes metadata changes (which the
/// mount may batch) durable, and so visible to another process.
#[track_caller]
fn sync(path: &Path) {
    File::open(path)
        .and_then(|f| f.sync_all())
        .unwrap_or_else(|e| panic!("fsync {}: {e}", path.display()));
}

/// The CLI's view of one entry.
fn cli_stat(avfs: &Avfs, path: &str) -> common::Entry {
    avfs.json::<EntryDoc, _, _>(["stat", path]).entry
}

// ----- extended attributes (no wrapper in std or nix) -----

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL in path")
}

fn c_name(name: &str) -> CString {
    CString::new(name).expect("no NUL in name")
}

fn setxattr(path: &Path, name: &str, value: &[u8], flags: i32) -> nix::Result<()> {
    let (p, n) = (c_path(path), c_name(name));
    // SAFETY: `p` and `n` are NUL-terminated and live across the call; `value`
    // is valid for reads of `value.len()` bytes.
    let r = unsafe {
        nix::libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    };
    Errno::result(r).map(drop)
}

fn getxattr(path: &Path, name: &str) -> nix::Result<Vec<u8>> {
    let (p, n) = (c_path(path), c_name(name));
    loop {
        // SAFETY: a null buffer of size 0 asks for the value's size only.
        let size = unsafe { nix::libc::getxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        let mut buf = vec![0u8; Errno::result(size)? as usize];
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the strings are NUL-terminated.
        let got = unsafe {
            nix::libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        match Errno::result(got) {
            Ok(len) => {
                buf.truncate(len as usize);
                return Ok(buf);
            }
            // The value grew between the two calls.
            Err(Errno::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Names of a file's extended attributes, sorted.
fn listxattr(path: &Path) -> nix::Result<Vec<String>> {
    let p = c_path(path);
    loop {
        // SAFETY: a null buffer of size 0 asks for the list's size only.
        let size = unsafe { nix::libc::listxattr(p.as_ptr(), std::ptr::null_mut(), 0) };
        let mut buf = vec![0u8; Errno::result(size)? as usize];
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `p` is NUL-terminated.
        let got = unsafe { nix::libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(got) {
            Ok(len) => {
                buf.truncate(len as usize);
                assert!(
                    buf.is_empty() || buf.ends_with(&[0]),
                    "list ends with NUL: {buf:?}"
                );
                let mut names: Vec<String> = buf
                    .split(|b| *b == 0)
                    .filter(|n| !n.is_empty())
                    .map(|n| String::from_utf8(n.to_vec()).expect("utf-8 name"))
                    .collect();
                names.sort();
                return Ok(names);
            }
            Err(Errno::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn removexattr(path: &Path, name: &str) -> nix::Result<()> {
    let (p, n) = (c_path(path), c_name(name));
    // SAFETY: both strings are NUL-terminated and live across the call.
    let r = unsafe { nix::libc::removexattr(p.as_ptr(), n.as_ptr()) };
    Errno::result(r).map(drop)
}

// ----- the mount documents (test-owned: unknown fields fail) -----

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct MountDoc {
    mountpoint: String,
    vault: String,
    checkpoint: Option<String>,
    mode: String,
    pid: u32,
    /// `fuse` or `passthrough` once the kernel has answered; null before.
    data_path: Option<String>,
    /// `io_uring` or `dev_fuse`.
    transport: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct MountsDoc {
    mounts: Vec<MountDoc>,
    cleaned: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct UnmountDoc {
    unmounted: String,
    vault: Option<String>,
    lazy: bool,
}

/// What `avfs mounts` should say about `m`.
fn mount_doc(m: &Mounted, checkpoint: Option<&str>, mode: &str) -> MountDoc {
    MountDoc {
        mountpoint: canonical(m.path()).to_string_lossy().into_owned(),
        vault: "main".into(),
        checkpoint: checkpoint.map(str::to_string),
        mode: mode.into(),
        pid: m.pid,
        data_path: None,
        transport: None,
    }
}

/// Listed mounts with their data path and transport checked and set aside:
/// the data path is known only once the kernel has answered the mount, which
/// may be just after; the transport is the machine's (see `transport_wanted`).
fn listed(mut mounts: Vec<MountDoc>) -> Vec<MountDoc> {
    for m in &mut mounts {
        let path = m.data_path.take();
        assert!(
            matches!(path.as_deref(), None | Some("fuse" | "passthrough")),
            "data_path {path:?}"
        );
        assert_eq!(m.transport.take().as_deref(), Some(transport_wanted()));
    }
    mounts
}

/// The transport a mount made by this test gets: the io_uring queues with
/// `AVFS_FUSE_URING=on` where root has enabled them in the kernel
/// (`scripts/test` does both, for a second run), else /dev/fuse.
fn transport_wanted() -> &'static str {
    if uring_asked() && uring_offered() {
        "io_uring"
    } else {
        "dev_fuse"
    }
}

fn uring_asked() -> bool {
    std::env::var("AVFS_FUSE_URING").is_ok_and(|v| v == "on")
}

fn uring_offered() -> bool {
    fs::read_to_string("/sys/module/fuse/parameters/enable_uring").is_ok_and(|v| v.trim() == "Y")
}

/// Names of the serving process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

/// A mount says how requests reach it, and serves through io_uring queues
/// (one thread per CPU) exactly when they are asked for and the kernel
/// offers them; either way files work.
#[test]
fn a_mount_says_how_requests_reach_it_and_serves_either_way() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    for ask in ["on", "off"] {
        let m = Mounted::with_env(&avfs, "main", &[], &[("AVFS_FUSE_URING", ask)]);
        let doc: MountsDoc = avfs.json(["mounts"]);
        let want = if ask == "on" && uring_offered() {
            "io_uring"
        } else {
            "dev_fuse"
        };
        assert_eq!(doc.mounts.len(), 1);
        assert_eq!(
            doc.mounts[0].transport.as_deref(),
            Some(want),
            "AVFS_FUSE_URING={ask}"
        );
        let rings = thread_names(m.pid)
            .iter()
            .filter(|n| n.starts_with("avfs-ring-"))
            .count();
        assert_eq!(
            rings > 0,
            want == "io_uring",
            "ring threads {rings}, transport {want}"
        );
        // Requests of every kind answered: names, data, listings, attributes.
        fs::create_dir(m.join("d")).expect("mkdir");
        fs::write(m.join("d/a"), b"through the mount").expect("write");
        fs::rename(m.join("d/a"), m.join("d/b")).expect("rename");
        std::os::unix::fs::symlink("b", m.join("d/l")).expect("symlink");
        assert_eq!(fs::read(m.join("d/l")).expect("read"), b"through the mount");
        let mut names: Vec<_> = fs::read_dir(m.join("d"))
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["b", "l"]);
        assert_eq!(fs::metadata(m.join("d/b")).expect("stat").len(), 17);
        fs::remove_file(m.join("d/l")).expect("unlink");
        fs::remove_file(m.join("d/b")).expect("unlink");
        fs::remove_dir(m.join("d")).expect("rmdir");
        m.unmount();
    }
}

// ----- 1. file I/O -----

/// create/open/read/write, O_APPEND from two descriptors, O_TRUNC, sparse
/// writes, ftruncate both ways and edits across chunk boundaries, each
/// compared with a model after every step.
#[test]
fn file_io_matches_a_model() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);

    // Create, write, read back on the same descriptor, overwrite in place.
    let p = m.join("plain.txt");
    let mut f = create_rw(&p);
    f.write_all(b"hello, world\n").unwrap();
    let mut model = b"hello, world\n".to_vec();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert_bytes(&back, &model, "read back on the writing descriptor");
    f.write_all_at(b"WORLD", 7).unwrap();
    model[7..12].copy_from_slice(b"WORLD");
    assert_file(&p, &model, "pwrite in place, through a second open");
    close(f, "plain.txt");
    assert_file(&p, &model, "after close");
    assert_eq!(fs::metadata(&p).unwrap().len(), model.len() as u64);
    assert!(fs::metadata(&p).unwrap().is_file());

    // O_APPEND: two descriptors append in turn; neither overwrites the other.
    let p = m.join("log");
    fs::write(&p, b"start\n").unwrap();
    let mut model = b"start\n".to_vec();
    let mut a = OpenOptions::new().append(true).open(&p).unwrap();
    let mut b = OpenOptions::new().append(true).open(&p).unwrap();
    for i in 0..3 {
        let (x, y) = (format!("a{i}\n"), format!("bb{i}\n"));
        a.write_all(x.as_bytes()).unwrap();
        model.extend_from_slice(x.as_bytes());
        b.write_all(y.as_bytes()).unwrap();
        model.extend_from_slice(y.as_bytes());
        assert_file(&p, &model, &format!("O_APPEND round {i}"));
    }
    close(a, "log (a)");
    close(b, "log (b)");
    assert_file(&p, &model, "O_APPEND after close");
    assert_bytes(&avfs.cat("/log"), &model, "O_APPEND in the store");

    // O_TRUNC empties a multi-chunk file at open.
    let p = m.join("trunc.bin");
    fs::write(&p, pattern(1, 3 * CHUNK + 17)).unwrap();
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    assert_eq!(f.metadata().unwrap().len(), 0, "O_TRUNC empties at open");
    f.write_all(b"short").unwrap();
    close(f, "trunc.bin");
    assert_file(&p, b"short", "O_TRUNC then write");
    fs::write(&p, b"xy").unwrap();
    assert_file(&p, b"xy", "O_CREAT|O_TRUNC of an existing file");
    assert_bytes(&avfs.cat("/trunc.bin"), b"xy", "O_TRUNC in the store");

    // Sparse: one write 10 MiB into a new file.
    let p = m.join("sparse.bin");
    let f = create_rw(&p);
    let at = 10 * MIB as u64;
    f.write_all_at(b"tail", at).unwrap();
    let mut model = vec![0u8; 10 * MIB];
    model.extend_from_slice(b"tail");
    assert_eq!(
        f.metadata().unwrap().len(),
        at + 4,
        "size after a sparse write"
    );
    let mut hole = vec![0xAAu8; 4096];
    f.read_exact_at(&mut hole, 5 * MIB as u64 + 3).unwrap();
    assert!(hole.iter().all(|b| *b == 0), "a hole reads as zeros");
    assert_bytes(&read_fd(&f), &model, "sparse file, before close");
    close(f, "sparse.bin");
    assert_file(&p, &model, "sparse file, after close");
    assert_bytes(&avfs.cat("/sparse.bin"), &model, "sparse file in the store");

    // ftruncate: shrink into the middle of a chunk, grow again (zeros, never
    // the old bytes), write past the old end, then truncate by path.
    let p = m.join("resize.bin");
    let f = create_rw(&p);
    let mut model = pattern(2, 2 * CHUNK + 1000);
    f.write_all_at(&model, 0).unwrap();
    for (step, len) in [
        ("shrink", CHUNK + 300),
        ("grow", 3 * CHUNK + 5),
        ("shrink to a chunk boundary", 2 * CHUNK),
        ("grow by one byte", 2 * CHUNK + 1),
    ] {
        f.set_len(len as u64).unwrap();
        model.resize(len, 0);
        assert_eq!(
            f.metadata().unwrap().len(),
            len as u64,
            "{step}: fstat size"
        );
        assert_bytes(&read_fd(&f), &model, step);
        assert_file(&p, &model, &format!("{step}, through a second open"));
    }
    f.write_all_at(b"ZZ", 2 * CHUNK as u64 + 10).unwrap();
    model.resize(2 * CHUNK + 12, 0);
    model[2 * CHUNK + 10..].copy_from_slice(b"ZZ");
    assert_bytes(&read_fd(&f), &model, "write past the end after a grow");
    close(f, "resize.bin");
    assert_file(&p, &model, "resized file after close");
    nix::unistd::truncate(&p, 1000).unwrap();
    model.truncate(1000);
    assert_file(&p, &model, "truncate(2) by path");
    assert_bytes(
        &avfs.cat("/resize.bin"),
        &model,
        "resized file in the store",
    );

    // Overwrites across chunk boundaries of a multi-chunk file.
    let p = m.join("chunks.bin");
    let mut model = pattern(3, 4 * CHUNK + 123);
    fs::write(&p, &model).unwrap();
    let f = open_rw(&p);
    let edits = [
        (CHUNK - 5000, 10_000),     // across the first boundary
        (2 * CHUNK - 1, CHUNK + 2), // last byte of one chunk, a whole chunk, first of the next
        (4 * CHUNK + 100, 50),      // past the end: grows the file
        (7, 1),
    ];
    for (i, (at, len)) in edits.into_iter().enumerate() {
        let patch = pattern(10 + i as u64, len);
        f.write_all_at(&patch, at as u64).unwrap();
        if model.len() < at + len {
            model.resize(at + len, 0);
        }
        model[at..at + len].copy_from_slice(&patch);
        assert_bytes(&read_fd(&f), &model, &format!("edit {i} at {at}+{len}"));
    }
    close(f, "chunks.bin");
    assert_file(&p, &model, "edited multi-chunk file after close");
    assert_bytes(
        &avfs.cat("/chunks.bin"),
        &model,
        "edited multi-chunk file in the store",
    );
}

// ----- 2. sharing and durability of writes -----

/// Two descriptors see each other's writes at once; fsync (without close) and
/// close both put the bytes in the store, where another process (`avfs cat`)
/// and a second mount of the same vault read them.
#[test]
fn writes_are_shared_and_reach_the_store_on_fsync_and_close() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let p = m.join("shared.txt");

    let a = create_rw(&p);
    let b = open_rw(&p);
    a.write_all_at(b"from a", 0).unwrap();
    assert_bytes(&read_fd(&b), b"from a", "b sees a's write before any close");
    b.write_all_at(b"+b", 6).unwrap();
    assert_bytes(
        &read_fd(&a),
        b"from a+b",
        "a sees b's write before any close",
    );
    assert_eq!(b.metadata().unwrap().len(), 8);

    // fsync without close: durable and visible to another process.
    a.sync_all().unwrap();
    assert_bytes(
        &avfs.cat("/shared.txt"),
        b"from a+b",
        "avfs cat after fsync",
    );
    b.write_all_at(b"!", 8).unwrap();
    b.sync_data().unwrap();
    assert_bytes(
        &avfs.cat("/shared.txt"),
        b"from a+b!",
        "avfs cat after fdatasync",
    );

    // close: the last unsaved write reaches the store too.
    a.write_all_at(b"F", 0).unwrap();
    close(a, "a");
    assert_bytes(
        &avfs.cat("/shared.txt"),
        b"From a+b!",
        "avfs cat after closing a",
    );
    close(b, "b");
    assert_bytes(
        &avfs.cat("/shared.txt"),
        b"From a+b!",
        "avfs cat after closing both",
    );

    // A larger file (several chunks) written and closed.
    let big = pattern(20, 3 * CHUNK + 77);
    fs::write(m.join("big.bin"), &big).unwrap();
    assert_bytes(
        &avfs.cat("/big.bin"),
        &big,
        "avfs cat of a multi-chunk file after close",
    );

    // A second mount of the same vault sees what the first committed.
    let m2 = Mounted::new(&avfs, "main", &[]);
    assert_file(&m2.join("shared.txt"), b"From a+b!", "second mount");
    assert_file(&m2.join("big.bin"), &big, "second mount, multi-chunk");

    // A later change (same size) through the first mount shows on the next
    // open in the second; and the other way round for a new file.
    fs::write(&p, b"rewritten").unwrap();
    assert_file(
        &m2.join("shared.txt"),
        b"rewritten",
        "second mount after a rewrite in the first",
    );
    fs::write(m2.join("from-second.txt"), b"2nd").unwrap();
    assert_file(
        &m.join("from-second.txt"),
        b"2nd",
        "first mount sees a file made in the second",
    );
    assert_bytes(&avfs.cat("/from-second.txt"), b"2nd", "the store has it");
}

/// Close-to-open consistency: once a writer has closed a file, every later
/// open sees its bytes, in another mount of the vault too, even while some
/// other descriptor on that file stays open there; and a writer that opens
/// after that close never reverts those bytes.
#[test]
fn a_fresh_open_sees_what_was_closed_elsewhere_while_a_descriptor_is_held() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m1 = Mounted::new(&avfs, "main", &[]);
    let m2 = Mounted::new(&avfs, "main", &[]);
    // Every version has the same length: no cached size is involved.
    fs::write(m1.join("f"), b"version-1").unwrap();
    let held = File::open(m2.join("f")).unwrap();
    assert_bytes(&read_fd(&held), b"version-1", "the held descriptor");

    fs::write(m1.join("f"), b"version-2").unwrap();
    assert_file(
        &m2.join("f"),
        b"version-2",
        "a fresh open in the second mount after the first closed, while a descriptor is held",
    );
    write_stdin(&avfs, "/f", b"version-3");
    assert_file(
        &m2.join("f"),
        b"version-3",
        "a fresh open after `avfs write`, while a descriptor is held",
    );

    // A writer opened now starts from what was closed, not from a snapshot.
    let w = OpenOptions::new().write(true).open(m2.join("f")).unwrap();
    w.write_all_at(b"V", 0).unwrap();
    close(w, "writer");
    close(held, "held");
    assert_bytes(
        &avfs.cat("/f"),
        b"Version-3",
        "a writer must not revert bytes that were closed before it opened",
    );
    assert_file(&m1.join("f"), b"Version-3", "the first mount");
}

/// Close-to-open across mounts holds for names too, while the writing mount
/// groups its commits: a file one mount created and closed is at once in
/// the other's listing (which it had listed before, so the kernel would
/// have kept it) and found by name there, every time.
#[test]
fn a_file_closed_in_one_mount_is_listed_and_found_in_another_at_once() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m1 = Mounted::new(&avfs, "main", &[]);
    let m2 = Mounted::new(&avfs, "main", &[]);
    fs::create_dir(m1.join("d")).unwrap();
    // A mkdir alone is owed to others within 20 ms; a close, at once.
    fs::write(m1.join("d").join("start"), b"s").unwrap();
    let listed = |m: &Mounted| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(m.join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    for i in 0..20 {
        let before = listed(&m2);
        let name = format!("f{i:02}");
        fs::write(m1.join("d").join(&name), name.as_bytes()).unwrap();
        let mut want = before.clone();
        want.push(name.clone());
        want.sort();
        assert_eq!(
            listed(&m2),
            want,
            "the second mount's listing after round {i}"
        );
        fs::write(m1.join("d").join(format!("g{i:02}")), b"g").unwrap();
        assert_file(
            &m2.join("d").join(format!("g{i:02}")),
            b"g",
            &format!("found by name in the second mount, round {i}"),
        );
    }
}

/// Lets a stopped server go on however a test ends: a stopped server holds
/// up everything that touches its mount, other tests' commands too.
struct Resume(Pid);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// A shared mount that is stopped (Ctrl-Z of `avfs mount --foreground`)
/// while its batch still owes others the files it closed holds avfs
/// commands up for a second at most: they then read what is committed.
#[test]
fn a_stopped_mount_holds_commands_up_a_second_at_most() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let fence = PathBuf::from(format!("{}-fence", avfs.store_path().display()));
    // The writer is a process of its own: a process that holds a file of the
    // mount open cannot start another (`avfs ls` below) while the server is
    // stopped, as the child's close of its inherited copy at exec sends the
    // server a FLUSH, which waits for it.
    let mut writer = std::process::Command::new("sh")
        .args(["-c", "i=0; while :; do echo x > f$i; i=$((i+1)); done"])
        .current_dir(m.path())
        .spawn()
        .unwrap();
    let server = Pid::from_raw(m.pid as i32);
    // Stop the server until it is caught holding the fence (a closed file
    // in its batch); a try-lock from here tells.
    let mut caught = false;
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(7));
        kill(server, Signal::SIGSTOP).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let file = File::open(&fence).unwrap();
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Err(_) => {
                caught = true;
                break;
            }
            Ok(held) => drop(held),
        }
        kill(server, Signal::SIGCONT).unwrap();
    }
    assert!(caught, "the server was never stopped while it owed a close");
    let resume = Resume(server);
    let started = Instant::now();
    let run = avfs.run(["ls", "/"]);
    let took = started.elapsed();
    drop(resume);
    let _ = writer.kill();
    let _ = writer.wait();
    assert_eq!(run.status, 0, "avfs ls: {}", run.stderr);
    assert!(
        took < Duration::from_secs(10),
        "avfs ls waited {took:?} for a stopped mount"
    );
}

// ----- 3. rename -----

/// rename over a file, of a directory with contents, into another directory,
/// RENAME_NOREPLACE, RENAME_EXCHANGE, and the moves POSIX forbids.
#[test]
fn rename_replace_noreplace_exchange_and_invalid_moves() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let j = |rel: &str| m.join(rel);

    // Over an existing file (the editor's atomic save).
    fs::write(j("doc.txt"), b"old doc").unwrap();
    fs::write(j("doc.txt.tmp"), b"new doc").unwrap();
    let ino = fs::metadata(j("doc.txt.tmp")).unwrap().ino();
    fs::rename(j("doc.txt.tmp"), j("doc.txt")).unwrap();
    assert_file(&j("doc.txt"), b"new doc", "renamed over");
    assert_eq!(
        fs::metadata(j("doc.txt")).unwrap().ino(),
        ino,
        "the moved inode"
    );
    assert_eq!(fs::metadata(j("doc.txt")).unwrap().nlink(), 1);
    assert_eq!(
        errno(fs::metadata(j("doc.txt.tmp")), "source after rename"),
        Errno::ENOENT
    );

    // A directory with contents, then into another directory.
    fs::create_dir_all(j("d1/sub")).unwrap();
    fs::write(j("d1/x"), b"x").unwrap();
    fs::write(j("d1/sub/y"), b"y").unwrap();
    fs::rename(j("d1"), j("d2")).unwrap();
    assert_eq!(errno(fs::metadata(j("d1")), "old dir name"), Errno::ENOENT);
    assert_file(&j("d2/x"), b"x", "moved dir");
    assert_file(&j("d2/sub/y"), b"y", "moved dir, nested");
    fs::create_dir(j("other")).unwrap();
    fs::rename(j("d2"), j("other/d3")).unwrap();
    assert_file(&j("other/d3/sub/y"), b"y", "dir moved into another dir");
    assert_eq!(names(&m.path().join("other/d3")), os(&["sub", "x"]));
    assert_eq!(names(m.path()), os(&["doc.txt", "other"]));

    // Directory over an empty directory is fine; over a non-empty one, or a
    // file, is not; a file over a directory is not either.
    fs::create_dir(j("empty")).unwrap();
    fs::create_dir(j("full")).unwrap();
    fs::write(j("full/f"), b"f").unwrap();
    fs::rename(j("other"), j("empty")).unwrap();
    assert_file(&j("empty/d3/x"), b"x", "dir over an empty dir");
    assert_eq!(
        errno(fs::rename(j("empty"), j("full")), "dir over non-empty dir"),
        Errno::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::rename(j("empty"), j("doc.txt")), "dir over file"),
        Errno::ENOTDIR
    );
    assert_eq!(
        errno(fs::rename(j("doc.txt"), j("full")), "file over dir"),
        Errno::EISDIR
    );
    assert_file(&j("full/f"), b"f", "untouched after failed renames");
    assert_file(&j("doc.txt"), b"new doc", "untouched after failed renames");

    // RENAME_NOREPLACE.
    fs::write(j("n1"), b"1").unwrap();
    fs::write(j("n2"), b"2").unwrap();
    let noreplace = renameat2(
        AT_FDCWD,
        &j("n1"),
        AT_FDCWD,
        &j("n2"),
        RenameFlags::RENAME_NOREPLACE,
    );
    assert_eq!(
        noreplace,
        Err(Errno::EEXIST),
        "RENAME_NOREPLACE onto an existing name"
    );
    assert_file(&j("n1"), b"1", "source kept");
    assert_file(&j("n2"), b"2", "target kept");
    renameat2(
        AT_FDCWD,
        &j("n1"),
        AT_FDCWD,
        &j("n3"),
        RenameFlags::RENAME_NOREPLACE,
    )
    .expect("RENAME_NOREPLACE onto a free name");
    assert_eq!(errno(fs::metadata(j("n1")), "n1 after move"), Errno::ENOENT);
    assert_file(&j("n3"), b"1", "moved with RENAME_NOREPLACE");

    // RENAME_EXCHANGE: two files, then a file and a directory.
    renameat2(
        AT_FDCWD,
        &j("n3"),
        AT_FDCWD,
        &j("n2"),
        RenameFlags::RENAME_EXCHANGE,
    )
    .expect("RENAME_EXCHANGE of two files");
    assert_file(&j("n3"), b"2", "exchanged");
    assert_file(&j("n2"), b"1", "exchanged");
    renameat2(
        AT_FDCWD,
        &j("n2"),
        AT_FDCWD,
        &j("full"),
        RenameFlags::RENAME_EXCHANGE,
    )
    .expect("RENAME_EXCHANGE of a file and a directory");
    assert!(
        fs::metadata(j("n2")).unwrap().is_dir(),
        "n2 is now the directory"
    );
    assert_file(&j("n2/f"), b"f", "the directory's content came along");
    assert_file(&j("full"), b"1", "full is now the file");
    let missing = renameat2(
        AT_FDCWD,
        &j("n3"),
        AT_FDCWD,
        &j("nope"),
        RenameFlags::RENAME_EXCHANGE,
    );
    assert_eq!(
        missing,
        Err(Errno::ENOENT),
        "RENAME_EXCHANGE with a missing target"
    );

    // A directory into itself or below itself.
    fs::create_dir_all(j("p/q")).unwrap();
    assert_eq!(
        errno(fs::rename(j("p"), j("p/inside")), "dir into itself"),
        Errno::EINVAL
    );
    assert_eq!(
        errno(fs::rename(j("p"), j("p/q/r")), "dir below itself"),
        Errno::EINVAL
    );
    assert!(fs::metadata(j("p/q")).unwrap().is_dir());

    // What the store has, once the directory changes are fsynced.
    sync(m.path());
    assert_bytes(&avfs.cat("/doc.txt"), b"new doc", "store: renamed over");
    assert_bytes(&avfs.cat("/empty/d3/sub/y"), b"y", "store: moved directory");
    assert_bytes(&avfs.cat("/n3"), b"2", "store: exchanged");
    assert_bytes(
        &avfs.cat("/n2/f"),
        b"f",
        "store: exchanged with a directory",
    );
    assert_bytes(
        &avfs.cat("/full"),
        b"1",
        "store: exchanged with a directory",
    );
}

// ----- 4. open files that lose their name -----

/// The `kind` of an inode in the vault's head state, read from the store as
/// docs/format.md defines it (the row with the greatest layer id along the
/// head's chain; kind 0 is a whiteout). White-box: an unlinked inode must be
/// `None` or `Some(0)`, not brought back after its last close.
fn head_inode_kind(avfs: &Avfs, ino: u64) -> Option<i64> {
    use rusqlite::OptionalExtension;
    let conn = rusqlite::Connection::open(avfs.store_path()).expect("open store");
    conn.query_row(
        "WITH RECURSIVE chain(id) AS (
             SELECT top_layer FROM vaults WHERE name = 'main'
             UNION ALL
             SELECT l.parent FROM layers l JOIN chain c ON l.id = c.id WHERE l.parent IS NOT NULL)
         SELECT kind FROM inodes WHERE ino = ?1 AND layer IN (SELECT id FROM chain)
         ORDER BY layer DESC LIMIT 1",
        [ino as i64],
        |r| r.get(0),
    )
    .optional()
    .expect("query inodes")
}

/// Opens `name` (read-only), unlinks it, and checks what an unlinked open
/// file must do: the descriptor reads the old bytes, fstat works and says
/// nlink 0, the name is gone. Returns the descriptor and the inode.
#[track_caller]
fn open_then_unlink(m: &Mounted, name: &str, content: &[u8]) -> (File, u64) {
    let p = m.join(name);
    let reader = File::open(&p).unwrap();
    let ino = reader.metadata().unwrap().ino();
    fs::remove_file(&p).unwrap();
    assert_eq!(
        errno(fs::metadata(&p), "name after unlink"),
        Errno::ENOENT,
        "{name}"
    );
    assert!(
        !names(m.path()).contains(&OsString::from(name)),
        "{name} still listed"
    );
    assert_bytes(
        &read_fd(&reader),
        content,
        &format!("{name}: read after unlink"),
    );
    let st = reader.metadata().unwrap();
    assert_eq!(
        (st.ino(), st.len()),
        (ino, content.len() as u64),
        "{name}: fstat after unlink"
    );
    assert_eq!(st.nlink(), 0, "{name}: nlink of an unlinked open file");
    (reader, ino)
}

/// Renames a new file over `name` while it is open (read-only) and checks
/// that the old descriptor keeps the old bytes, with nlink 0.
#[track_caller]
fn open_then_replace(m: &Mounted, name: &str, content: &[u8]) -> (File, u64) {
    let p = m.join(name);
    let old = File::open(&p).unwrap();
    let ino = old.metadata().unwrap().ino();
    fs::write(m.join("winner.tmp"), b"winner").unwrap();
    fs::rename(m.join("winner.tmp"), &p).unwrap();
    assert_file(
        &p,
        b"winner",
        &format!("{name}: the name shows the new file"),
    );
    assert_bytes(
        &read_fd(&old),
        content,
        &format!("{name}: old descriptor after rename-over"),
    );
    let st = old.metadata().unwrap();
    assert_eq!(
        (st.ino(), st.len()),
        (ino, content.len() as u64),
        "{name}: fstat after rename-over"
    );
    assert_eq!(st.nlink(), 0, "{name}: nlink of a replaced open file");
    (old, ino)
}

/// Unlink and rename-over of open files made through the mount: the
/// descriptors keep reading, fstat works (nlink 0), the name is gone (or
/// shows the new file), and after the last close nothing of the old file is
/// left; the name can be used again.
#[test]
fn unlinked_and_replaced_open_files_stay_readable_until_closed() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let big = pattern(60, 2 * CHUNK + 11);
    fs::write(m.join("small.txt"), b"small content").unwrap();
    fs::write(m.join("big.bin"), &big).unwrap();
    fs::write(m.join("victim.txt"), b"victim bytes").unwrap();

    for (name, content) in [("small.txt", &b"small content"[..]), ("big.bin", &big)] {
        let (reader, ino) = open_then_unlink(&m, name, content);
        assert_bytes(
            &read_fd(&reader),
            content,
            &format!("{name}: still readable"),
        );
        close(reader, name);
        assert_eq!(
            errno(fs::metadata(m.join(name)), "after the last close"),
            Errno::ENOENT
        );
        // The name can be used again, for a new inode.
        fs::write(m.join(name), b"reborn").unwrap();
        assert_file(
            &m.join(name),
            b"reborn",
            &format!("{name}: new file under the old name"),
        );
        assert_ne!(
            fs::metadata(m.join(name)).unwrap().ino(),
            ino,
            "{name}: a new inode"
        );
    }

    let (old, _) = open_then_replace(&m, "victim.txt", b"victim bytes");
    close(old, "victim.txt");
    assert_file(
        &m.join("victim.txt"),
        b"winner",
        "after the old descriptor closed",
    );
    assert_eq!(names(m.path()), os(&["big.bin", "small.txt", "victim.txt"]));
    sync(m.path());
    assert_bytes(
        &avfs.cat("/victim.txt"),
        b"winner",
        "store after rename-over",
    );
    assert_bytes(
        &avfs.cat("/small.txt"),
        b"reborn",
        "store after unlink and re-create",
    );
}

/// The same for files that also live in a checkpoint (a frozen layer below
/// the vault's top layer): unlinked or replaced, their inode must be gone for
/// the open descriptor (nlink 0), and a write through that descriptor must
/// not bring the inode back into the vault's top layer.
#[test]
fn open_files_from_a_checkpoint_lose_their_last_link_for_good() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    avfs.ok(["write", "/frozen.txt", "frozen content"]);
    avfs.ok(["write", "/frozen-victim.txt", "frozen victim"]);
    avfs.ok(["write", "/frozen-written.txt", "frozen, then written"]);
    avfs.ok(["checkpoint", "save", "base"]);
    let m = Mounted::new(&avfs, "main", &[]);

    let (reader, unlinked) = open_then_unlink(&m, "frozen.txt", b"frozen content");
    close(reader, "frozen.txt");
    let (old, replaced) = open_then_replace(&m, "frozen-victim.txt", b"frozen victim");
    close(old, "frozen-victim.txt");

    // Written through the descriptor after the unlink, then closed.
    let p = m.join("frozen-written.txt");
    let writer = open_rw(&p);
    let written = writer.metadata().unwrap().ino();
    fs::remove_file(&p).unwrap();
    writer.write_all_at(b"!", 20).unwrap();
    assert_bytes(
        &read_fd(&writer),
        b"frozen, then written!",
        "write to the orphan",
    );
    close(writer, "frozen-written.txt");

    assert_eq!(names(m.path()), os(&["frozen-victim.txt"]));
    m.unmount();
    for (name, ino) in [
        ("frozen.txt", unlinked),
        ("frozen-victim.txt", replaced),
        ("frozen-written.txt", written),
    ] {
        let kind = head_inode_kind(&avfs, ino);
        assert!(
            matches!(kind, None | Some(0)),
            "{name}: the unlinked inode {ino} is alive in the vault's head (kind {kind:?})"
        );
    }
    // The diff from the checkpoint is about paths only, and the store is sound.
    let diff: common::DiffDoc = avfs.json(["diff", "--from", "base"]);
    let mut changes = diff.pairs();
    changes.sort();
    assert_eq!(
        changes,
        common::pairs(&[
            ("deleted", "/frozen-written.txt"),
            ("deleted", "/frozen.txt"),
            ("modified", "/frozen-victim.txt"),
        ])
    );
    assert_eq!(integrity_check(&avfs.store_path()), vec!["ok".to_string()]);
    // The checkpoint still has all three.
    let cp = Mounted::new(&avfs, "main", &["--checkpoint", "base"]);
    assert_file(&cp.join("frozen.txt"), b"frozen content", "checkpoint kept");
    assert_file(
        &cp.join("frozen-written.txt"),
        b"frozen, then written",
        "checkpoint kept",
    );
}

/// Everything one may do through the descriptor of an unlinked file: write,
/// ftruncate, fchmod, futimens, fsync, close; all succeed and are seen
/// through the descriptor, and nothing reaches the vault.
#[test]
fn unlinked_open_files_accept_writes_and_attribute_changes() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let p = m.join("scratch.bin");
    let mut model = pattern(61, CHUNK + 100);
    fs::write(&p, &model).unwrap();
    let f = open_rw(&p);
    fs::remove_file(&p).unwrap();

    f.write_all_at(b"written after unlink", 10).unwrap();
    model[10..30].copy_from_slice(b"written after unlink");
    assert_bytes(&read_fd(&f), &model, "write to an unlinked file");
    f.sync_all().expect("fsync of an unlinked file");
    f.set_len(5000).expect("ftruncate of an unlinked file");
    model.truncate(5000);
    assert_bytes(&read_fd(&f), &model, "ftruncate of an unlinked file");
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .expect("fchmod of an unlinked file");
    assert_eq!(f.metadata().unwrap().mode() & 0o7777, 0o600);
    let when = UNIX_EPOCH + Duration::new(1_300_000_000, 5);
    f.set_times(FileTimes::new().set_modified(when))
        .expect("futimens of an unlinked file");
    assert_eq!(f.metadata().unwrap().mtime(), 1_300_000_000);
    f.write_all_at(b"more", 5000).unwrap();
    model.extend_from_slice(b"more");
    assert_bytes(&read_fd(&f), &model, "after all that");
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    close(f, "scratch.bin");

    assert_eq!(errno(fs::metadata(&p), "after close"), Errno::ENOENT);
    assert!(names(m.path()).is_empty());
    sync(m.path());
    let listing: EntriesDoc = avfs.json(["ls", "/"]);
    assert!(listing.entries.is_empty(), "{:?}", listing.entries);
}

// ----- 5. directories, links, metadata, xattrs, statfs, fsync -----

/// mkdir/rmdir with their errors, a directory too big for one readdir
/// buffer, symlinks and hard links.
#[test]
fn directories_symlinks_and_hard_links() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let j = |rel: &str| m.join(rel);

    // mkdir / rmdir.
    fs::DirBuilder::new().mode(0o750).create(j("d")).unwrap();
    let meta = fs::metadata(j("d")).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o7777, 0o750 & !current_umask(), "mkdir mode");
    assert_eq!(
        errno(fs::create_dir(j("d")), "mkdir existing"),
        Errno::EEXIST
    );
    assert_eq!(
        errno(fs::create_dir(j("missing/d")), "mkdir below a missing dir"),
        Errno::ENOENT
    );
    fs::write(j("d/f"), b"f").unwrap();
    assert_eq!(
        errno(fs::remove_dir(j("d")), "rmdir non-empty"),
        Errno::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::remove_dir(j("d/f")), "rmdir a file"),
        Errno::ENOTDIR
    );
    assert_eq!(
        errno(fs::remove_file(j("d")), "unlink a dir"),
        Errno::EISDIR
    );
    assert_eq!(
        errno(fs::create_dir(j("d/f/x")), "mkdir below a file"),
        Errno::ENOTDIR
    );
    fs::remove_file(j("d/f")).unwrap();
    fs::remove_dir(j("d")).unwrap();
    assert_eq!(errno(fs::metadata(j("d")), "removed dir"), Errno::ENOENT);
    assert_eq!(errno(fs::remove_dir(j("d")), "rmdir twice"), Errno::ENOENT);

    // A directory listing longer than one kernel buffer, with stable offsets.
    fs::create_dir(j("many")).unwrap();
    let mut expected: Vec<String> = (0..300)
        .map(|i| format!("entry-with-a-longish-name-{i:04}"))
        .collect();
    for name in &expected {
        File::create(j(&format!("many/{name}"))).unwrap();
    }
    expected.sort();
    let listed: Vec<OsString> = names(&j("many"));
    assert_eq!(
        listed,
        expected.iter().map(OsString::from).collect::<Vec<_>>(),
        "a 300-entry directory"
    );
    let dot_entries = fs::read_dir(j("many"))
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            n == "." || n == ".."
        })
        .count();
    assert_eq!(dot_entries, 0, "std hides . and ..");

    // Symlinks.
    std::os::unix::fs::symlink("target/relative", j("ln")).unwrap();
    assert_eq!(
        fs::read_link(j("ln")).unwrap(),
        Path::new("target/relative")
    );
    let lmeta = fs::symlink_metadata(j("ln")).unwrap();
    assert!(lmeta.file_type().is_symlink());
    assert_eq!(
        lmeta.len(),
        "target/relative".len() as u64,
        "a symlink's size is its target's length"
    );
    assert_eq!(
        errno(fs::metadata(j("ln")), "dangling symlink"),
        Errno::ENOENT
    );
    fs::write(j("data"), b"through the link").unwrap();
    std::os::unix::fs::symlink("data", j("to-data")).unwrap();
    assert_file(&j("to-data"), b"through the link", "read through a symlink");
    fs::write(j("to-data"), b"written through the link").unwrap();
    assert_file(
        &j("data"),
        b"written through the link",
        "write through a symlink",
    );
    let odd_target = OsStr::from_bytes(b"odd/\xff\xfe/target");
    std::os::unix::fs::symlink(odd_target, j("odd-ln")).unwrap();
    assert_eq!(
        fs::read_link(j("odd-ln")).unwrap().as_os_str(),
        odd_target,
        "non-UTF-8 target"
    );
    fs::remove_file(j("to-data")).unwrap();
    assert_file(
        &j("data"),
        b"written through the link",
        "removing a link keeps its target",
    );
    sync(m.path());
    assert_eq!(
        cli_stat(&avfs, "/ln").target.as_deref(),
        Some("target/relative")
    );

    // Hard links.
    fs::write(j("a"), b"shared").unwrap();
    fs::create_dir(j("sub")).unwrap();
    fs::hard_link(j("a"), j("b")).unwrap();
    fs::hard_link(j("a"), j("sub/c")).unwrap();
    let ino = fs::metadata(j("a")).unwrap().ino();
    for name in ["a", "b", "sub/c"] {
        let meta = fs::metadata(j(name)).unwrap();
        assert_eq!(
            (meta.ino(), meta.nlink()),
            (ino, 3),
            "{name}: inode and link count"
        );
    }
    assert_eq!(
        errno(fs::hard_link(j("a"), j("b")), "link onto an existing name"),
        Errno::EEXIST
    );
    assert_eq!(
        errno(fs::hard_link(j("sub"), j("sub2")), "link a directory"),
        Errno::EPERM
    );
    // Content is shared, while open and after close.
    let f = open_rw(&j("b"));
    f.write_all_at(b"SH", 0).unwrap();
    assert_file(
        &j("sub/c"),
        b"SHared",
        "write via one name, read via another (open)",
    );
    close(f, "b");
    assert_file(
        &j("a"),
        b"SHared",
        "write via one name, read via another (closed)",
    );
    fs::write(j("sub/c"), b"replaced through c").unwrap();
    assert_file(
        &j("a"),
        b"replaced through c",
        "O_TRUNC write via a third name",
    );
    // Unlinking one name keeps the others.
    fs::remove_file(j("a")).unwrap();
    assert_eq!(
        fs::metadata(j("b")).unwrap().nlink(),
        2,
        "nlink after one unlink"
    );
    assert_file(&j("b"), b"replaced through c", "content after one unlink");
    fs::remove_file(j("b")).unwrap();
    let meta = fs::metadata(j("sub/c")).unwrap();
    assert_eq!((meta.ino(), meta.nlink()), (ino, 1), "the last name");
    assert_file(
        &j("sub/c"),
        b"replaced through c",
        "content after two unlinks",
    );
    sync(&j("sub/c"));
    let entry = cli_stat(&avfs, "/sub/c");
    assert_eq!((entry.ino, entry.nlink), (ino, 1), "the store agrees");
    assert_bytes(&avfs.cat("/sub/c"), b"replaced through c", "store content");
}

/// The process umask, from /proc (umask(2) cannot read it without changing it).
fn current_umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let field = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask in /proc/self/status");
    u32::from_str_radix(field.trim(), 8).expect("octal umask")
}

/// chmod, chown (as root), utimens with nanoseconds, on files, directories and
/// symlinks; and the times survive the close that commits the data (as `cp -p`
/// and `tar` set them on the open descriptor before closing).
#[test]
fn chmod_chown_and_nanosecond_times() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let j = |rel: &str| m.join(rel);
    fs::write(j("f"), b"data").unwrap();
    fs::create_dir(j("dir")).unwrap();
    std::os::unix::fs::symlink("f", j("ln")).unwrap();

    // chmod.
    for mode in [0o640, 0o4711, 0o600] {
        fs::set_permissions(j("f"), fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(
            fs::metadata(j("f")).unwrap().mode() & 0o7777,
            mode,
            "chmod {mode:o}"
        );
    }
    fs::set_permissions(j("dir"), fs::Permissions::from_mode(0o1777)).unwrap();
    assert_eq!(
        fs::metadata(j("dir")).unwrap().mode() & 0o7777,
        0o1777,
        "chmod of a directory"
    );
    sync(&j("f"));
    assert_eq!(cli_stat(&avfs, "/f").mode, "0600", "the store has the mode");

    // chown (root may give files away) and lchown of the symlink itself.
    std::os::unix::fs::chown(j("f"), Some(1234), Some(4321)).unwrap();
    let meta = fs::metadata(j("f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 4321), "chown");
    std::os::unix::fs::chown(j("dir"), None, Some(77)).unwrap();
    let meta = fs::metadata(j("dir")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (nix::unistd::getuid().as_raw(), 77),
        "chgrp of a directory"
    );
    std::os::unix::fs::lchown(j("ln"), Some(55), Some(66)).unwrap();
    let lmeta = fs::symlink_metadata(j("ln")).unwrap();
    assert_eq!((lmeta.uid(), lmeta.gid()), (55, 66), "lchown");
    assert_eq!(
        fs::metadata(j("f")).unwrap().uid(),
        1234,
        "lchown left the target alone"
    );
    sync(&j("f"));
    let entry = cli_stat(&avfs, "/f");
    assert_eq!(
        (entry.uid, entry.gid),
        (1234, 4321),
        "the store has the owner"
    );

    // utimensat by path, nanoseconds exact.
    let t1 = TimeSpec::new(1_600_000_000, 123_456_789);
    utimensat(
        AT_FDCWD,
        &j("f"),
        &TimeSpec::UTIME_OMIT,
        &t1,
        UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let meta = fs::metadata(j("f")).unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_600_000_000, 123_456_789),
        "utimensat"
    );
    sync(&j("f"));
    assert_eq!(
        cli_stat(&avfs, "/f").mtime_ns,
        1_600_000_000_123_456_789,
        "the store has the mtime"
    );
    // On a directory and on a symlink itself.
    let t2 = TimeSpec::new(1_500_000_000, 1);
    utimensat(AT_FDCWD, &j("dir"), &t2, &t2, UtimensatFlags::FollowSymlink).unwrap();
    let meta = fs::metadata(j("dir")).unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_500_000_000, 1),
        "utimensat of a directory"
    );
    utimensat(
        AT_FDCWD,
        &j("ln"),
        &t2,
        &t2,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    let lmeta = fs::symlink_metadata(j("ln")).unwrap();
    assert_eq!(
        (lmeta.mtime(), lmeta.mtime_nsec()),
        (1_500_000_000, 1),
        "utimensat of a symlink"
    );
    assert_eq!(
        fs::metadata(j("f")).unwrap().mtime(),
        1_600_000_000,
        "the target kept its time"
    );

    // A write after setting the time moves mtime forward, to about now.
    let before = SystemTime::now() - Duration::from_secs(5);
    fs::write(j("f"), b"new data").unwrap();
    let mtime = fs::metadata(j("f")).unwrap().modified().unwrap();
    assert!(mtime >= before, "a write updates mtime: {mtime:?}");
}

/// Times set on the descriptor that just wrote, before it is closed (`cp -p`,
/// `rsync -t`, `tar` do this): the close that commits the data must keep them,
/// in the store too.
#[test]
fn times_set_before_close_survive_the_commit() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let j = |rel: &str| m.join(rel);
    let when = UNIX_EPOCH + Duration::new(1_400_000_000, 987_654_321);
    let mut f = File::create(j("copied")).unwrap();
    f.write_all(&pattern(30, CHUNK + 10)).unwrap();
    f.set_times(FileTimes::new().set_modified(when).set_accessed(when))
        .unwrap();
    let meta = f.metadata().unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_400_000_000, 987_654_321),
        "futimens, before close"
    );
    close(f, "copied");
    let meta = fs::metadata(j("copied")).unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_400_000_000, 987_654_321),
        "futimens before close must survive the close (cp -p)"
    );
    sync(&j("copied"));
    assert_eq!(
        cli_stat(&avfs, "/copied").mtime_ns,
        1_400_000_000_987_654_321,
        "the store has the time set before close"
    );

    // Only the mtime (atime left alone: what the writeback cache itself sends
    // at close): it waits with the unsaved writes and commits with them.
    let mut g = File::create(j("mtime-only")).unwrap();
    g.write_all(b"unsaved").unwrap();
    let ts = TimeSpec::new(1_300_000_000, 123_456_789);
    nix::sys::stat::futimens(&g, &TimeSpec::UTIME_OMIT, &ts).unwrap();
    let meta = g.metadata().unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_300_000_000, 123_456_789),
        "an mtime-only futimens, before close"
    );
    close(g, "mtime-only");
    sync(&j("mtime-only"));
    assert_eq!(
        cli_stat(&avfs, "/mtime-only").mtime_ns,
        1_300_000_000_123_456_789,
        "the store has the mtime set over unsaved writes"
    );
    assert_bytes(&avfs.cat("/mtime-only"), b"unsaved", "and the writes");

    // And after a remount (the kernel's cached times are gone).
    m.unmount();
    let m = Mounted::new(&avfs, "main", &[]);
    let meta = fs::metadata(m.join("copied")).unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_400_000_000, 987_654_321),
        "futimens before close, after a remount"
    );
}

/// Extended attributes: set, get, list, replace, remove, and their errors.
#[test]
fn extended_attributes() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let f = m.join("f");
    fs::write(&f, b"data").unwrap();
    let dir = m.join("dir");
    fs::create_dir(&dir).unwrap();

    assert_eq!(listxattr(&f), Ok(vec![]), "no xattrs yet");
    assert_eq!(getxattr(&f, "user.missing"), Err(Errno::ENODATA));
    let binary: Vec<u8> = (0..=255).collect();
    setxattr(&f, "user.one", b"1", 0).unwrap();
    setxattr(&f, "user.bin", &binary, 0).unwrap();
    setxattr(&f, "user.empty", b"", 0).unwrap();
    assert_eq!(getxattr(&f, "user.one"), Ok(b"1".to_vec()));
    assert_eq!(getxattr(&f, "user.bin"), Ok(binary.clone()));
    assert_eq!(getxattr(&f, "user.empty"), Ok(vec![]));
    assert_eq!(
        listxattr(&f),
        Ok(vec![
            "user.bin".into(),
            "user.empty".into(),
            "user.one".into()
        ])
    );

    // Flags.
    assert_eq!(
        setxattr(&f, "user.one", b"x", nix::libc::XATTR_CREATE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        getxattr(&f, "user.one"),
        Ok(b"1".to_vec()),
        "unchanged by a failed XATTR_CREATE"
    );
    assert_eq!(
        setxattr(&f, "user.none", b"x", nix::libc::XATTR_REPLACE),
        Err(Errno::ENODATA)
    );
    assert_eq!(
        getxattr(&f, "user.none"),
        Err(Errno::ENODATA),
        "not created by XATTR_REPLACE"
    );
    setxattr(&f, "user.one", b"uno", nix::libc::XATTR_REPLACE).unwrap();
    assert_eq!(getxattr(&f, "user.one"), Ok(b"uno".to_vec()));
    setxattr(&f, "user.two", b"2", nix::libc::XATTR_CREATE).unwrap();
    setxattr(&f, "user.two", b"two", 0).unwrap();
    assert_eq!(
        getxattr(&f, "user.two"),
        Ok(b"two".to_vec()),
        "plain set replaces"
    );

    // A buffer too small is ERANGE.
    let (p, n) = (c_path(&f), c_name("user.bin"));
    let mut small = [0u8; 10];
    // SAFETY: `small` is valid for writes of its length; the strings are NUL-terminated.
    let r = unsafe {
        nix::libc::getxattr(
            p.as_ptr(),
            n.as_ptr(),
            small.as_mut_ptr().cast(),
            small.len(),
        )
    };
    assert_eq!(
        Errno::result(r),
        Err(Errno::ERANGE),
        "getxattr into a small buffer"
    );

    // Remove.
    removexattr(&f, "user.one").unwrap();
    assert_eq!(getxattr(&f, "user.one"), Err(Errno::ENODATA));
    assert_eq!(
        removexattr(&f, "user.one"),
        Err(Errno::ENODATA),
        "remove twice"
    );
    assert_eq!(
        listxattr(&f),
        Ok(vec![
            "user.bin".into(),
            "user.empty".into(),
            "user.two".into()
        ])
    );

    // Directories have them too; xattrs survive a remount.
    setxattr(&dir, "user.dir", b"on a dir", 0).unwrap();
    assert_eq!(getxattr(&dir, "user.dir"), Ok(b"on a dir".to_vec()));
    m.unmount();
    let m = Mounted::new(&avfs, "main", &[]);
    assert_eq!(
        getxattr(&m.join("f"), "user.bin"),
        Ok(binary),
        "after a remount"
    );
    assert_eq!(
        getxattr(&m.join("dir"), "user.dir"),
        Ok(b"on a dir".to_vec()),
        "after a remount"
    );
    assert_eq!(
        getxattr(&m.join("f"), "user.one"),
        Err(Errno::ENODATA),
        "removed stays removed"
    );
}

/// statfs reports sane numbers (the store's file system); fsync and
/// fdatasync succeed on files, fsync on directories.
#[test]
fn statfs_and_fsync() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);

    let st = nix::sys::statvfs::statvfs(m.path()).expect("statvfs on the mount");
    assert!(
        st.block_size() > 0 && st.fragment_size() > 0,
        "block sizes: {st:?}"
    );
    assert!(st.blocks() > 0, "total blocks: {st:?}");
    assert!(st.blocks_free() <= st.blocks(), "free <= total: {st:?}");
    assert!(
        st.blocks_available() <= st.blocks_free(),
        "available <= free: {st:?}"
    );
    assert!(
        st.files() > 0 && st.files_free() <= st.files(),
        "inodes: {st:?}"
    );
    assert_eq!(st.name_max(), 255, "name_max");
    let host = nix::sys::statvfs::statvfs(avfs.home.path()).unwrap();
    assert_eq!(
        st.blocks() as u128 * st.fragment_size() as u128,
        host.blocks() as u128 * host.fragment_size() as u128,
        "the mount reports the size of the file system that holds the store"
    );

    let mut f = File::create(m.join("f")).unwrap();
    f.write_all(b"synced").unwrap();
    f.sync_all().unwrap();
    f.write_all(b" and datasynced").unwrap();
    f.sync_data().unwrap();
    close(f, "f");
    fs::create_dir(m.join("d")).unwrap();
    for dir in [m.path().to_path_buf(), m.join("d")] {
        File::open(&dir)
            .unwrap()
            .sync_all()
            .unwrap_or_else(|e| panic!("fsync of directory {}: {e}", dir.display()));
    }
    // A read-only descriptor can be fsynced too.
    File::open(m.join("f")).unwrap().sync_all().unwrap();
    assert_bytes(&avfs.cat("/f"), b"synced and datasynced", "fsynced content");
}

// ----- 6. names -----

/// Names are bytes: non-UTF-8 names work everywhere, 255 bytes is the limit
/// and 256 is ENAMETOOLONG for every call that makes or finds a name.
#[test]
fn non_utf8_and_maximum_length_names() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let at = |name: &[u8]| m.path().join(OsStr::from_bytes(name));

    // Non-UTF-8: a file, a directory, a rename between two such names.
    let odd = b"caf\xe9-\xff\xfe.bin";
    fs::write(at(odd), b"latin-1 name").unwrap();
    assert_file(&at(odd), b"latin-1 name", "non-UTF-8 file name");
    let odd_dir = b"dir-\x80\x81";
    fs::create_dir(at(odd_dir)).unwrap();
    let inner = at(odd_dir).join(OsStr::from_bytes(b"inner-\xc3"));
    fs::write(&inner, b"inside").unwrap();
    fs::rename(at(odd), at(b"renamed-\xfa")).unwrap();
    let mut expected = vec![
        OsString::from_vec(odd_dir.to_vec()),
        OsString::from_vec(b"renamed-\xfa".to_vec()),
    ];
    expected.sort();
    assert_eq!(names(m.path()), expected, "readdir returns the exact bytes");
    assert_file(&inner, b"inside", "file in a non-UTF-8 directory");
    // The store has the exact bytes (the CLI shows them as base64).
    sync(m.path());
    let listing: EntriesDoc = avfs.json(["ls", "/"]);
    let stored: Vec<Vec<u8>> = listing
        .entries
        .iter()
        .map(|e| match &e.path_b64 {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64"),
            None => e.path.as_bytes().to_vec(),
        })
        .collect();
    assert!(
        stored.contains(&b"/renamed-\xfa".to_vec()),
        "store listing: {stored:?}"
    );
    assert!(
        stored.contains(&b"/dir-\x80\x81".to_vec()),
        "store listing: {stored:?}"
    );

    // 255 bytes: every kind of name.
    let long = "n".repeat(255);
    let long = long.as_bytes();
    fs::write(at(long), b"long name").unwrap();
    assert_file(&at(long), b"long name", "255-byte file name");
    assert!(names(m.path()).contains(&OsString::from_vec(long.to_vec())));
    let long_dir = b"d".repeat(255);
    fs::create_dir(at(&long_dir)).unwrap();
    fs::write(at(&long_dir).join(OsStr::from_bytes(long)), b"nested").unwrap();
    assert_file(
        &at(&long_dir).join(OsStr::from_bytes(long)),
        b"nested",
        "255 + 1 + 255 bytes",
    );
    let multibyte = ["é".repeat(127), "x".into()].concat(); // 255 bytes
    assert_eq!(multibyte.len(), 255);
    fs::write(m.join(&multibyte), b"multibyte").unwrap();
    assert_file(
        &m.join(&multibyte),
        b"multibyte",
        "255 bytes of multibyte UTF-8",
    );
    let link = "l".repeat(255);
    std::os::unix::fs::symlink("target", m.join(&link)).unwrap();
    let hard = "h".repeat(255);
    fs::hard_link(at(long), m.join(&hard)).unwrap();
    let moved = "m".repeat(255);
    fs::rename(m.join(&hard), m.join(&moved)).unwrap();
    assert_file(
        &m.join(&moved),
        b"long name",
        "255-byte names through link and rename",
    );

    // 256 bytes: ENAMETOOLONG from every call.
    let too_long = "t".repeat(256);
    let p = m.join(&too_long);
    assert_eq!(errno(File::create(&p), "create"), Errno::ENAMETOOLONG);
    assert_eq!(errno(fs::create_dir(&p), "mkdir"), Errno::ENAMETOOLONG);
    assert_eq!(errno(fs::metadata(&p), "lookup"), Errno::ENAMETOOLONG);
    assert_eq!(
        errno(std::os::unix::fs::symlink("t", &p), "symlink"),
        Errno::ENAMETOOLONG
    );
    assert_eq!(
        errno(fs::hard_link(at(long), &p), "link"),
        Errno::ENAMETOOLONG
    );
    assert_eq!(
        errno(fs::rename(at(long), &p), "rename"),
        Errno::ENAMETOOLONG
    );
    let multibyte_too_long = "é".repeat(128);
    assert_eq!(
        errno(
            fs::write(m.join(&multibyte_too_long), b"x"),
            "256 bytes of UTF-8"
        ),
        Errno::ENAMETOOLONG
    );
    assert_file(&at(long), b"long name", "the source of the failed rename");

    // Everything survives a remount.
    m.unmount();
    let m = Mounted::new(&avfs, "main", &[]);
    let at = |name: &[u8]| m.path().join(OsStr::from_bytes(name));
    assert_file(
        &at(b"renamed-\xfa"),
        b"latin-1 name",
        "non-UTF-8 name after remount",
    );
    assert_file(&at(long), b"long name", "255-byte name after remount");
    assert_file(
        &m.join(&multibyte),
        b"multibyte",
        "multibyte name after remount",
    );
    assert_eq!(fs::read_link(m.join(&link)).unwrap(), Path::new("target"));
}

// ----- 7. mount lifecycle errors and `avfs mounts` -----

/// Mounting where it cannot work, unmounting what is not mounted, and the
/// live mounts listed with everything `avfs mounts --json` promises.
#[test]
fn mount_lifecycle_errors_and_mount_list() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let base = tempfile::tempdir().unwrap();
    let arg = |p: &Path| p.as_os_str().to_os_string();
    let mount_fails = |dir: &Path, extra: &[&str]| {
        let mut args: Vec<OsString> = vec!["mount".into(), "main".into(), arg(dir)];
        args.extend(extra.iter().map(OsString::from));
        let (err, status) = avfs.fails(&args);
        assert!(
            !is_mounted(dir),
            "a failed mount left {} mounted",
            dir.display()
        );
        (err.code, status)
    };

    let missing = base.path().join("missing");
    assert_eq!(mount_fails(&missing, &[]), ("mountpoint_missing".into(), 3));
    let full = base.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("keep"), b"keep").unwrap();
    assert_eq!(mount_fails(&full, &[]), ("mountpoint_not_empty".into(), 4));
    assert_file(
        &full.join("keep"),
        b"keep",
        "a refused mount point is untouched",
    );
    let file = base.path().join("file");
    fs::write(&file, b"").unwrap();
    assert_eq!(mount_fails(&file, &[]), ("not_a_directory".into(), 4));
    let empty = base.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_eq!(
        mount_fails(&empty, &["--checkpoint", "nope"]),
        ("checkpoint_not_found".into(), 3)
    );
    let (err, status) = avfs.fails([
        "mount".as_ref(),
        "no-such-vault".as_ref(),
        empty.as_os_str(),
    ]);
    assert_eq!((err.code.as_str(), status), ("vault_not_found", 3));
    assert!(!is_mounted(&empty));

    // Unmounting what is not mounted: a plain directory, a missing one.
    let (err, status) = avfs.fails(["unmount".as_ref(), empty.as_os_str()]);
    assert_eq!((err.code.as_str(), status), ("not_mounted", 3));
    let (err, status) = avfs.fails(["unmount".as_ref(), missing.as_os_str()]);
    assert_eq!((err.code.as_str(), status), ("not_mounted", 3));

    // Nothing mounted yet.
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert!(doc.mounts.is_empty() && doc.cleaned.is_empty(), "{doc:?}");

    // A live mount: mounting there again is refused; it is listed.
    let m = Mounted::new(&avfs, "main", &[]);
    assert_eq!(
        mount_fails_live(&avfs, m.path()),
        ("already_mounted".into(), 4)
    );
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert_eq!(listed(doc.mounts), vec![mount_doc(&m, None, "rw")]);
    assert!(doc.cleaned.is_empty(), "{:?}", doc.cleaned);
    assert!(!process_gone(m.pid), "the listed pid serves the mount");

    // A second, read-only mount of a checkpoint is listed beside it.
    avfs.ok(["checkpoint", "save", "cp"]);
    let m2 = Mounted::new(&avfs, "main", &["--checkpoint", "cp"]);
    let doc: MountsDoc = avfs.json(["mounts"]);
    let mut want = vec![mount_doc(&m, None, "rw"), mount_doc(&m2, Some("cp"), "ro")];
    want.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    assert_eq!(listed(doc.mounts), want);

    // Unmount one: it is gone from the list, its process has exited (it
    // waits for that), and unmounting it again is `not_mounted`.
    let out: UnmountDoc = avfs.json(["unmount".as_ref(), m2.path().as_os_str()]);
    assert_eq!(out.unmounted, canonical(m2.path()).to_string_lossy());
    assert_eq!((out.vault.as_deref(), out.lazy), (Some("main"), false));
    assert!(!is_mounted(m2.path()));
    assert!(
        process_gone(m2.pid),
        "unmount returns after the serving process exits"
    );
    let (err, status) = avfs.fails(["unmount".as_ref(), m2.path().as_os_str()]);
    assert_eq!((err.code.as_str(), status), ("not_mounted", 3));
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert_eq!(listed(doc.mounts), vec![mount_doc(&m, None, "rw")]);
}

fn mount_fails_live(avfs: &Avfs, dir: &Path) -> (String, i32) {
    let (err, status) = avfs.fails(["mount".as_ref(), "main".as_ref(), dir.as_os_str()]);
    assert!(is_mounted(dir), "the live mount is still there");
    (err.code, status)
}

// ----- 8. read-only mounts -----

/// `--readonly` refuses every change with EROFS and reads normally;
/// `--checkpoint` shows the checkpoint, not what the vault became, read-only.
#[test]
fn readonly_and_checkpoint_mounts() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    avfs.ok(["write", "/a.txt", "v1"]);
    avfs.ok(["mkdir", "/dir"]);
    avfs.ok(["write", "/dir/b.txt", "b1"]);
    let big = pattern(40, 2 * CHUNK + 5);
    write_stdin(&avfs, "/big.bin", &big);
    assert_bytes(&avfs.cat("/big.bin"), &big, "set-up");

    let refuses_writes = |root: &Path, what: &str| {
        let j = |rel: &str| root.join(rel);
        let checks: Vec<(&str, Errno)> = vec![
            ("create", errno(File::create(j("new.txt")), what)),
            (
                "open for writing",
                errno(OpenOptions::new().write(true).open(j("a.txt")), what),
            ),
            (
                "open O_TRUNC",
                errno(
                    OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(j("a.txt")),
                    what,
                ),
            ),
            ("mkdir", errno(fs::create_dir(j("newdir")), what)),
            ("unlink", errno(fs::remove_file(j("a.txt")), what)),
            ("rmdir", errno(fs::remove_dir(j("dir")), what)),
            ("rename", errno(fs::rename(j("a.txt"), j("c.txt")), what)),
            (
                "symlink",
                errno(std::os::unix::fs::symlink("a.txt", j("ln")), what),
            ),
            ("link", errno(fs::hard_link(j("a.txt"), j("hard")), what)),
            (
                "chmod",
                errno(
                    fs::set_permissions(j("a.txt"), fs::Permissions::from_mode(0o600)),
                    what,
                ),
            ),
            (
                "chown",
                errno(std::os::unix::fs::chown(j("a.txt"), Some(1), Some(1)), what),
            ),
            (
                "truncate",
                errno(
                    nix::unistd::truncate(&j("a.txt"), 0).map_err(io::Error::from),
                    what,
                ),
            ),
            (
                "utimensat",
                errno(
                    utimensat(
                        AT_FDCWD,
                        &j("a.txt"),
                        &TimeSpec::new(1, 0),
                        &TimeSpec::new(1, 0),
                        UtimensatFlags::FollowSymlink,
                    )
                    .map_err(io::Error::from),
                    what,
                ),
            ),
            (
                "setxattr",
                errno(
                    setxattr(&j("a.txt"), "user.x", b"x", 0).map_err(io::Error::from),
                    what,
                ),
            ),
        ];
        for (call, got) in checks {
            assert_eq!(got, Errno::EROFS, "{what}: {call}");
        }
    };

    // --readonly: reads work, writes do not, the store is untouched.
    let ro = Mounted::new(&avfs, "main", &["--readonly"]);
    assert_file(&ro.join("a.txt"), b"v1", "read-only mount reads");
    assert_file(&ro.join("dir/b.txt"), b"b1", "read-only mount reads");
    assert_file(
        &ro.join("big.bin"),
        &big,
        "read-only mount reads a multi-chunk file",
    );
    assert_eq!(names(ro.path()), os(&["a.txt", "big.bin", "dir"]));
    refuses_writes(ro.path(), "--readonly");
    assert_eq!(
        nix::sys::statvfs::statvfs(ro.path()).unwrap().flags()
            & nix::sys::statvfs::FsFlags::ST_RDONLY,
        nix::sys::statvfs::FsFlags::ST_RDONLY,
        "mounted read-only"
    );
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert_eq!(listed(doc.mounts), vec![mount_doc(&ro, None, "ro")]);
    ro.unmount();
    assert_bytes(&avfs.cat("/a.txt"), b"v1", "unchanged");
    assert_eq!(avfs.fails(["cat", "/new.txt"]).0.code, "path_not_found");

    // --checkpoint: the state at the checkpoint, whatever the vault did since.
    avfs.ok(["checkpoint", "save", "cp1"]);
    avfs.ok(["write", "/a.txt", "v2, longer than v1"]);
    avfs.ok(["write", "/new.txt", "new"]);
    avfs.ok(["rm", "/dir/b.txt"]);
    write_stdin(&avfs, "/big.bin", b"small now");
    let cp = Mounted::new(&avfs, "main", &["--checkpoint", "cp1"]);
    assert_file(&cp.join("a.txt"), b"v1", "checkpoint content");
    assert_file(
        &cp.join("dir/b.txt"),
        b"b1",
        "removed since, still in the checkpoint",
    );
    assert_file(
        &cp.join("big.bin"),
        &big,
        "rewritten since, old in the checkpoint",
    );
    assert_eq!(
        errno(fs::metadata(cp.join("new.txt")), "added since"),
        Errno::ENOENT
    );
    assert_eq!(names(cp.path()), os(&["a.txt", "big.bin", "dir"]));
    refuses_writes(cp.path(), "--checkpoint");
    // The vault moves on while the checkpoint is mounted: no change shows.
    avfs.ok(["write", "/a.txt", "v3"]);
    assert_file(&cp.join("a.txt"), b"v1", "checkpoint after another change");
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert_eq!(listed(doc.mounts), vec![mount_doc(&cp, Some("cp1"), "ro")]);
    assert_bytes(&avfs.cat("/a.txt"), b"v3", "the head moved on");
}

// ----- 9. crash -----

/// SIGKILL of the serving process while a writer is busy: the store stays
/// consistent, every fsynced file is intact, and so is every file closed
/// before an avfs command read the store (it waits for the mount's batch to
/// commit what was closed); a file closed since may be lost with the batch,
/// but is never half-committed; the next avfs command removes the dead
/// mount, and the directory can be mounted again.
#[test]
fn sigkill_of_the_server_keeps_committed_data_and_leaves_no_stale_mount() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let dir = m.path().to_path_buf();

    // fsynced and still open; closed without fsync (committed in the
    // mount's batch, which a reading avfs command waits for).
    let mut synced = Vec::new();
    let mut open_files = Vec::new();
    for i in 0..4u64 {
        let name = format!("synced-{i}.bin");
        let data = pattern(100 + i, 1000 + i as usize * (CHUNK + 333));
        let mut f = File::create(m.join(&name)).unwrap();
        f.write_all(&data).unwrap();
        f.sync_all().unwrap();
        open_files.push(f);
        synced.push((name, data));
    }
    let mut closed = Vec::new();
    for i in 0..3u64 {
        let name = format!("closed-{i}.bin");
        let data = pattern(200 + i, 5000 + i as usize * CHUNK);
        fs::write(m.join(&name), &data).unwrap();
        closed.push((name, data));
    }
    // Written, neither fsynced nor closed: may be lost, never torn.
    let unsynced_data = pattern(300, CHUNK + 1);
    let mut unsynced = File::create(m.join("unsynced.bin")).unwrap();
    unsynced.write_all(&unsynced_data).unwrap();

    // A writer that creates, fills and closes files until the mount dies.
    const LOOP_LEN: usize = 300_000;
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    {
        let (dir, done) = (dir.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut i = 0;
            let err = loop {
                let attempt = (|| {
                    let mut f = File::create(dir.join(format!("loop-{i}.bin")))?;
                    f.write_all(&pattern(1000 + i as u64, LOOP_LEN))?;
                    close_io(f)
                })();
                match attempt {
                    Ok(()) => {
                        i += 1;
                        done.store(i, Ordering::SeqCst);
                    }
                    Err(e) => break e,
                }
            };
            let _ = tx.send((i, err));
        });
    }
    wait_for(
        "the writer to close a few files",
        Duration::from_secs(30),
        || done.load(Ordering::SeqCst) >= 8,
    );
    // An avfs command reads what was closed before it started: after it,
    // those files are committed, whatever happens to the mount.
    let read_back = done.load(Ordering::SeqCst);
    assert_bytes(
        &avfs.cat(&format!("/loop-{}.bin", read_back - 1)),
        &pattern(1000 + read_back as u64 - 1, LOOP_LEN),
        "the last closed loop file, read by avfs cat while the writer goes on",
    );
    kill(Pid::from_raw(m.pid as i32), Signal::SIGKILL).expect("SIGKILL the server");
    wait_for("the killed server to exit", Duration::from_secs(10), || {
        process_gone(m.pid)
    });
    let (confirmed, err) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the writer is stuck on the dead mount");
    assert!(confirmed >= 8);
    eprintln!("writer stopped after {confirmed} files: {err}");
    drop(open_files);
    drop(unsynced);

    // The store is consistent, and every chunk a row names is whole (the
    // writes' chunks went to segments before their rows).
    assert_eq!(integrity_check(&avfs.store_path()), vec!["ok".to_string()]);
    avfs.ok(["verify"]);

    // Any avfs command cleans up the dead mount.
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert!(
        doc.mounts.is_empty(),
        "a dead mount listed as live: {doc:?}"
    );
    assert!(
        !is_mounted(&dir),
        "the dead mount is still in /proc/self/mounts"
    );
    let left = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read_dir of the old mount point: {e}"))
        .count();
    assert_eq!(left, 0, "the bare mount point is empty");

    // Everything acknowledged is there.
    for (name, data) in synced.iter().chain(&closed) {
        assert_bytes(
            &avfs.cat(&format!("/{name}")),
            data,
            &format!("{name} after SIGKILL"),
        );
    }
    for i in 0..read_back {
        let want = pattern(1000 + i as u64, LOOP_LEN);
        assert_bytes(
            &avfs.cat(&format!("/loop-{i}.bin")),
            &want,
            &format!("closed loop-{i}.bin"),
        );
    }

    // A fresh mount on the same directory works and shows a consistent tree:
    // the files the writer had not finished are empty or whole, never torn.
    let again: MountDoc = avfs.json(["mount".as_ref(), "main".as_ref(), dir.as_os_str()]);
    assert_ne!(again.pid, m.pid);
    for (name, data) in synced.iter().chain(&closed) {
        assert_file(
            &dir.join(name),
            data,
            &format!("{name} through the fresh mount"),
        );
    }
    let unsynced_now = fs::read(dir.join("unsynced.bin")).unwrap();
    assert!(
        unsynced_now.is_empty() || unsynced_now == unsynced_data,
        "unsynced.bin is torn: {} bytes",
        unsynced_now.len()
    );
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(i) = name
            .strip_prefix("loop-")
            .and_then(|n| n.strip_suffix(".bin"))
        else {
            continue;
        };
        let i: usize = i.parse().unwrap();
        let got = fs::read(dir.join(&name)).unwrap();
        let want = pattern(1000 + i as u64, LOOP_LEN);
        if i < read_back {
            assert_bytes(&got, &want, &format!("{name} through the fresh mount"));
        } else {
            assert!(
                got.is_empty() || got == want,
                "{name} is torn: {} bytes",
                got.len()
            );
        }
        seen += 1;
    }
    assert!(
        seen >= read_back,
        "{seen} loop files, {read_back} read back before the crash"
    );
    let out = avfs.json::<UnmountDoc, _, _>(["unmount".as_ref(), dir.as_os_str()]);
    assert!(!out.lazy);
    assert!(!is_mounted(&dir));
}

/// A dead mount whose record is gone (the server was killed between mounting
/// and writing its record, or the record was lost): `avfs mounts` finds it by
/// its file system and detaches it, and says so in `cleaned`.
///
/// `avfs mounts` of any store cleans such a mount, so another test's may
/// clean this one first: an attempt where this store's `avfs mounts` found
/// it gone already is tried again.
#[test]
fn avfs_mounts_cleans_up_a_dead_mount_that_has_no_record() {
    if !fuse_available() {
        return;
    }
    for _ in 0..5 {
        let avfs = Avfs::with_vault();
        let m = Mounted::new(&avfs, "main", &[]);
        kill(Pid::from_raw(m.pid as i32), Signal::SIGKILL).expect("SIGKILL the server");
        wait_for("the killed server to exit", Duration::from_secs(10), || {
            process_gone(m.pid)
        });
        // A zombie leader can still have threads holding /dev/fuse open (files go
        // with the last thread): wait until the kernel has aborted the connection.
        let deadline = Instant::now() + Duration::from_secs(10);
        while is_mounted(m.path())
            && !matches!(fs::metadata(m.path()), Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN))
        {
            assert!(
                Instant::now() < deadline,
                "the dead mount did not fail with ENOTCONN within 10 s; /dev/fuse is open in: {}",
                fuse_holders()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Forget the record, as if the server had died before writing it.
        let records = avfs.home.path().join("mounts");
        for entry in fs::read_dir(&records).expect("the mount registry") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "json") {
                fs::remove_file(path).unwrap();
            }
        }
        let doc: MountsDoc = avfs.json(["mounts"]);
        assert!(doc.mounts.is_empty(), "{doc:?}");
        assert!(
            !is_mounted(m.path()),
            "the orphaned dead mount is still there: {doc:?}"
        );
        let name = canonical(m.path()).to_string_lossy().into_owned();
        if !doc.cleaned.contains(&name) {
            continue; // another test's `avfs mounts` cleaned it first
        }
        fs::read_dir(m.path()).expect("the bare mount point answers again");
        return;
    }
    panic!("other tests cleaned the dead mount first, five times over");
}

/// `avfs mounts` looks at every avfs mount on the machine for dead ones
/// without a record; another store's mount whose server is stopped (Ctrl-Z
/// of `avfs mount --foreground`) never answers, and must neither hold it up
/// nor be taken for dead.
#[test]
fn avfs_mounts_passes_over_a_stopped_mount_of_another_store() {
    if !fuse_available() {
        return;
    }
    let theirs = Avfs::with_vault();
    let m = Mounted::new(&theirs, "main", &[]);
    let server = Pid::from_raw(m.pid as i32);
    kill(server, Signal::SIGSTOP).expect("SIGSTOP the server");
    let resume = Resume(server);
    let ours = Avfs::new();
    let mut mounts = ours
        .command()
        .args(["--json", "mounts"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The answer is awaited, not the exit: over io_uring a request the kernel
    // has queued to a stopped server cannot be abandoned, so the probe's
    // thread (and with it the process) waits until the server resumes.
    let stdout = mounts.stdout.take().unwrap();
    let (sent, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = sent.send(line);
    });
    let out = answer.recv_timeout(Duration::from_secs(10));
    drop(resume);
    let status = mounts.wait().unwrap();
    let out = out.expect("avfs mounts hung on another store's stopped mount");
    assert!(status.success(), "{out}");
    let doc: MountsDoc = common::parse_one(out.as_bytes());
    let name = canonical(m.path()).to_string_lossy().into_owned();
    assert!(!doc.cleaned.contains(&name), "{doc:?}");
    assert!(is_mounted(m.path()), "the stopped mount was taken for dead");
}

/// A dead mount that still has its record: every command sweeps it first, and
/// `avfs mounts` still reports it in `cleaned` (the sweep used to hide it).
#[test]
fn avfs_mounts_reports_a_dead_mount_that_the_first_sweep_cleaned() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    kill(Pid::from_raw(m.pid as i32), Signal::SIGKILL).expect("SIGKILL the server");
    wait_for("the killed server to exit", Duration::from_secs(10), || {
        process_gone(m.pid)
    });
    let doc: MountsDoc = avfs.json(["mounts"]);
    assert!(doc.mounts.is_empty(), "{doc:?}");
    // Only this mount's entries count: the sweep also cleans dead mounts
    // that no registry knows, such as another test's orphan running beside.
    let mine = canonical(m.path()).to_string_lossy().into_owned();
    let named = |cleaned: &[String]| cleaned.iter().filter(|p| **p == mine).count();
    assert_eq!(
        named(&doc.cleaned),
        1,
        "`cleaned` names the dead mount once: {doc:?}"
    );
    assert!(!is_mounted(m.path()), "{doc:?}");
    let again: MountsDoc = avfs.json(["mounts"]);
    assert_eq!(named(&again.cleaned), 0, "cleaned only once: {again:?}");
    fs::read_dir(m.path()).expect("the bare mount point answers again");
}

// ----- 10. bounded memory -----

/// A 2 GiB file written sequentially and read back through the mount: the
/// bytes match (running BLAKE3 over a generator, no 2 GiB buffer here) and
/// the serving process's peak RSS stays under 200 MiB.
#[test]
fn two_gib_file_streams_through_bounded_memory() {
    if !fuse_available() {
        return;
    }
    const TOTAL: usize = 2 << 30;
    const BLOCK: usize = MIB;
    const LIMIT_KIB: u64 = 200 * 1024;
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let p = m.join("big.bin");
    let started = Instant::now();

    let mut f = File::create_new(&p).unwrap();
    let mut buf = vec![0u8; BLOCK];
    let mut written = blake3::Hasher::new();
    for i in 0..TOTAL / BLOCK {
        fill(i as u64, &mut buf);
        written.update(&buf);
        f.write_all(&buf)
            .unwrap_or_else(|e| panic!("write of block {i}: {e}"));
    }
    let expected = written.finalize();
    close(f, "big.bin");
    let wrote = started.elapsed();
    assert_eq!(fs::metadata(&p).unwrap().len(), TOTAL as u64);

    let mut f = File::open(&p).unwrap();
    let mut read = blake3::Hasher::new();
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        read.update(&buf[..n]);
        total += n;
    }
    assert_eq!(total, TOTAL, "bytes read back");
    drop(f);
    assert_eq!(
        read.finalize(),
        expected,
        "content read back through the mount"
    );
    let read_back = started.elapsed() - wrote;

    // `avfs cat` (another process, straight from the store) agrees.
    let mut child = avfs
        .command()
        .args(["cat", "/big.bin"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut cat = blake3::Hasher::new();
    let mut total = 0;
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        cat.update(&buf[..n]);
        total += n;
    }
    assert!(child.wait().unwrap().success(), "avfs cat failed");
    assert_eq!(total, TOTAL, "bytes from avfs cat");
    assert_eq!(cat.finalize(), expected, "avfs cat of the 2 GiB file");

    let peak = status_kib(m.pid, "VmHWM");
    eprintln!(
        "2 GiB: write {wrote:?}, read {read_back:?}, total {:?}; server peak RSS {} MiB",
        started.elapsed(),
        peak / 1024
    );
    m.unmount();
    assert!(
        peak < LIMIT_KIB,
        "the serving process peaked at {} MiB of RSS (limit {} MiB)",
        peak / 1024,
        LIMIT_KIB / 1024
    );
}

// ----- 11. Ctrl-C -----

/// `avfs mount --foreground` in a child process; on drop, kills it if it is
/// still running and detaches its mount if it is still there.
struct Foreground {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
}

/// A temporary directory holding an empty `mnt` to mount on (and room for
/// logs beside it).
fn mount_point() -> (tempfile::TempDir, PathBuf) {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("mnt");
    fs::create_dir(&dir).unwrap();
    (base, dir)
}

impl Foreground {
    fn start(avfs: &Avfs, dir: &Path, log: PathBuf) -> (Self, MountDoc) {
        let stderr = Stdio::from(File::create(&log).unwrap());
        Self::start_with_stderr(avfs, dir, log, stderr)
    }

    /// As [`Foreground::start`], with the server's stderr going to `stderr`
    /// (`log` then names what the failure messages show).
    fn start_with_stderr(avfs: &Avfs, dir: &Path, log: PathBuf, stderr: Stdio) -> (Self, MountDoc) {
        let mut child = avfs
            .command()
            .args(["--json", "mount", "main"])
            .arg(dir)
            .arg("--foreground")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn avfs mount --foreground");
        let stdout = child.stdout.take().unwrap();
        let guard = Self {
            child: Some(child),
            dir: dir.to_path_buf(),
            log,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("avfs mount --foreground reports within 30 s");
        let doc: MountDoc = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("mount report {line:?}: {e}; log: {}", guard.log()));
        assert!(is_mounted(dir), "reported ready but not mounted");
        (guard, doc)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the child to exit; returns its exit status.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "avfs mount --foreground still running {limit:?} after SIGINT; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if is_mounted(&self.dir) {
            let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// SIGINT to `avfs mount --foreground` unmounts, commits and exits 0, also
/// when a file is still open with unsaved writes (the mount is detached at
/// once and the session ends when the file closes).
#[test]
fn sigint_unmounts_a_foreground_mount_and_exits_zero() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let (base, dir) = mount_point();

    // Nothing open.
    let (mut fg, doc) = Foreground::start(&avfs, &dir, base.path().join("fg1.log"));
    assert_eq!(
        doc.pid,
        fg.pid(),
        "the foreground process serves the mount itself"
    );
    assert_eq!((doc.vault.as_str(), doc.mode.as_str()), ("main", "rw"));
    let sub = pattern(50, 2 * CHUNK + 9);
    fs::write(dir.join("committed.txt"), b"saved").unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/x.bin"), &sub).unwrap();
    kill(Pid::from_raw(fg.pid() as i32), Signal::SIGINT).unwrap();
    let status = fg.wait(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGINT; log: {}",
        fg.log()
    );
    assert!(!is_mounted(&dir), "still mounted after SIGINT");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "the bare mount point"
    );
    assert_bytes(&avfs.cat("/committed.txt"), b"saved", "after SIGINT");
    assert_bytes(&avfs.cat("/sub/x.bin"), &sub, "after SIGINT");
    let mounts: MountsDoc = avfs.json(["mounts"]);
    assert!(
        mounts.mounts.is_empty() && mounts.cleaned.is_empty(),
        "{mounts:?}"
    );
    drop(fg);

    // A file open with unsaved writes when SIGINT comes.
    let (mut fg, _) = Foreground::start(&avfs, &dir, base.path().join("fg2.log"));
    let p = dir.join("open.bin");
    let mut f = create_rw(&p);
    let first = pattern(51, CHUNK + 3);
    f.write_all(&first).unwrap();
    kill(Pid::from_raw(fg.pid() as i32), Signal::SIGINT).unwrap();
    wait_for(
        "the mount to be detached after SIGINT",
        Duration::from_secs(30),
        || !is_mounted(&dir),
    );
    // The open descriptor still works on the detached mount.
    f.write_all(b"after the signal").unwrap();
    let mut model = first;
    model.extend_from_slice(b"after the signal");
    assert_bytes(&read_fd(&f), &model, "open file on the detached mount");
    close(f, "open.bin");
    let status = fg.wait(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGINT; log: {}",
        fg.log()
    );
    assert_bytes(
        &avfs.cat("/open.bin"),
        &model,
        "the open file's writes after SIGINT",
    );
    assert!(!is_mounted(&dir));
    let mounts: MountsDoc = avfs.json(["mounts"]);
    assert!(mounts.mounts.is_empty(), "{mounts:?}");
}

/// A mount whose stderr nobody reads any more (a closed pipe) logs a failed
/// request all the same: the request fails with EIO, and the mount serves
/// on (more failures than it has serving threads).
#[test]
fn a_mount_whose_log_is_a_closed_pipe_keeps_serving_after_a_failure() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let (base, dir) = mount_point();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let (mut fg, _) = Foreground::start_with_stderr(
        &avfs,
        &dir,
        base.path().join("(stderr is a closed pipe)"),
        Stdio::from(writer),
    );
    for round in 0..5 {
        let created = File::create(dir.join("avfs-debug-panic"));
        assert_eq!(errno(created, "create the fault name"), Errno::EIO);
        let name = dir.join(format!("ok-{round}.txt"));
        fs::write(&name, b"served").unwrap();
        assert_eq!(fs::read(&name).unwrap(), b"served");
    }
    kill(Pid::from_raw(fg.pid() as i32), Signal::SIGINT).unwrap();
    assert_eq!(fg.wait(Duration::from_secs(30)).code(), Some(0));
}

/// A request that panics in the server (debug builds carry a trigger: the
/// name or data `avfs-debug-panic`) fails with EIO and nothing else: its
/// half-done transaction leaves nothing in the store, the open file it hit
/// commits nothing partial, the cause is logged, and the mount keeps serving
/// (more panics than it has serving threads, and every request after them).
#[test]
fn a_panicking_request_fails_with_eio_and_the_mount_keeps_serving() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let (base, dir) = mount_point();
    let (mut fg, _) = Foreground::start(&avfs, &dir, base.path().join("fault.log"));

    fs::write(dir.join("keep.txt"), b"before").unwrap();
    sync(&dir.join("keep.txt"));
    for round in 0..5 {
        // The create panics after its row is written inside the transaction.
        let created = File::create(dir.join("avfs-debug-panic"));
        assert_eq!(errno(created, "create the fault name"), Errno::EIO);
        assert!(
            !dir.join("avfs-debug-panic").exists(),
            "the failed create left an entry"
        );
        // Every request after it is served as usual.
        let name = format!("ok-{round}.txt");
        fs::write(dir.join(&name), format!("round {round}")).unwrap();
        assert_eq!(
            fs::read(dir.join(&name)).unwrap(),
            format!("round {round}").as_bytes()
        );
        fs::create_dir(dir.join(format!("d{round}"))).unwrap();
        fs::rename(dir.join(&name), dir.join(format!("d{round}/{name}"))).unwrap();
    }

    // A write that panics after changing the open file's buffer fails (at
    // once, or at fsync when the kernel's writeback cache held it), and
    // nothing of that descriptor's unsaved writes reaches the store.
    let mut f = open_rw(&dir.join("keep.txt"));
    let failed = f
        .write_all(b"avfs-debug-panic: half of an edit")
        .and_then(|()| f.sync_all());
    assert_eq!(errno(failed, "the faulty write or its fsync"), Errno::EIO);
    // Its close fails too, and commits nothing (the kernel may still cache
    // the pages the failed write carried, as a disk file's would after EIO).
    drop(f);
    assert_bytes(&avfs.cat("/keep.txt"), b"before", "after the faulty write");
    let mut again = open_rw(&dir.join("keep.txt"));
    again.write_all(b"rewritten").unwrap();
    again.set_len(9).unwrap();
    again.sync_all().expect("a new descriptor writes as usual");
    drop(again);
    assert_file(
        &dir.join("keep.txt"),
        b"rewritten",
        "after the faulty write",
    );
    fs::write(dir.join("after.txt"), b"still serving").unwrap();
    assert_file(&dir.join("after.txt"), b"still serving", "after the faults");
    let mut names = names(&dir);
    names.sort();
    assert_eq!(
        names,
        os(&["after.txt", "d0", "d1", "d2", "d3", "d4", "keep.txt"])
    );

    kill(Pid::from_raw(fg.pid() as i32), Signal::SIGINT).unwrap();
    let status = fg.wait(Duration::from_secs(30));
    let log = fg.log();
    assert_eq!(status.code(), Some(0), "exit status; log: {log}");
    assert!(
        log.contains("create on inode 1 panicked")
            && log.contains("write on inode")
            && log.contains("the request failed with EIO"),
        "the panics are logged: {log}"
    );
    drop(fg);
    assert_eq!(
        integrity_check(&avfs.home.path().join("store.db")),
        vec!["ok"]
    );
    assert_bytes(
        &avfs.cat("/keep.txt"),
        b"rewritten",
        "the store after the faults",
    );
    assert_bytes(
        &avfs.cat("/d4/ok-4.txt"),
        b"round 4",
        "the store after the faults",
    );
    assert_bytes(
        &avfs.cat("/after.txt"),
        b"still serving",
        "the store after the faults",
    );
    let missing = avfs.run(["stat", "/avfs-debug-panic"]);
    assert_ne!(missing.status, 0, "the failed create is not in the store");
}

/// A new entry whose whole path (its directory's path, `/`, its name) would
/// pass 4,096 bytes is ENAMETOOLONG for every way of making one, as the CLI
/// cannot address it; exactly 4,096 bytes is fine and reachable by the CLI.
/// Renaming a directory to a shorter name makes room below it at once.
#[test]
fn paths_longer_than_path_max_are_enametoolong() {
    use nix::fcntl::{AtFlags, OFlag, openat, renameat};
    use nix::sys::stat::{Mode, mkdirat};
    use nix::unistd::{linkat, symlinkat};
    use std::os::fd::OwnedFd;
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let open_dir = |dir: &OwnedFd, name: &str| -> OwnedFd {
        openat(
            dir,
            name,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .unwrap_or_else(|e| panic!("open directory {name}: {e}"))
    };
    let root: OwnedFd = File::open(m.path()).unwrap().into();
    // 16 directories of 250-byte names: a path of 16 * 251 = 4,016 bytes.
    let mut dir = root.try_clone().unwrap();
    let mut vault_path = String::new();
    for i in 0..16 {
        let name = format!("{i:02}{}", "d".repeat(248));
        mkdirat(&dir, name.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
        dir = open_dir(&dir, &name);
        vault_path.push('/');
        vault_path.push_str(&name);
    }
    assert_eq!(vault_path.len(), 4016);
    let fits = "f".repeat(79); // 4,016 + 1 + 79 = 4,096
    let over = "g".repeat(80);
    let create = |dir: &OwnedFd, name: &str| {
        openat(
            dir,
            name,
            OFlag::O_CREAT | OFlag::O_WRONLY,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop)
    };
    create(&dir, &fits).expect("a path of exactly 4,096 bytes");
    assert_eq!(create(&dir, &over), Err(Errno::ENAMETOOLONG), "create");
    assert_eq!(
        mkdirat(&dir, over.as_str(), Mode::from_bits_truncate(0o755)),
        Err(Errno::ENAMETOOLONG),
        "mkdir"
    );
    assert_eq!(
        symlinkat("target", &dir, over.as_str()),
        Err(Errno::ENAMETOOLONG),
        "symlink"
    );
    assert_eq!(
        linkat(&dir, fits.as_str(), &dir, over.as_str(), AtFlags::empty()),
        Err(Errno::ENAMETOOLONG),
        "link"
    );
    assert_eq!(
        renameat(&dir, fits.as_str(), &dir, over.as_str()),
        Err(Errno::ENAMETOOLONG),
        "rename"
    );
    let fits2 = "h".repeat(79);
    renameat(&dir, fits.as_str(), &dir, fits2.as_str()).expect("rename within the limit");

    // A shorter name at the top shortens every path below it by 249 bytes.
    let top = format!("00{}", "d".repeat(248));
    renameat(&root, top.as_str(), &root, "s").unwrap();
    create(&dir, &over).expect("room after the rename above");
    drop((dir, root));
    sync(m.path());
    let short = vault_path.replacen(&format!("/{top}"), "/s", 1);
    assert_eq!(cli_stat(&avfs, &format!("{short}/{fits2}")).size, 0);
    assert_eq!(cli_stat(&avfs, &format!("{short}/{over}")).size, 0);
    m.unmount();
}

/// The limit the kernel applies to the written data it holds for the mount
/// at `dir`, as its backing device in sysfs says.
fn dirty_limit(dir: &Path) -> u64 {
    let dev = fs::metadata(dir).expect("stat the mount").dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    fs::read_to_string(format!("/sys/class/bdi/{major}:{minor}/max_bytes"))
        .expect("read the mount's max_bytes")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn a_writable_mount_gives_the_kernel_room_for_a_streaming_write() {
    if !fuse_available() {
        return;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "only root may change a mount's limit; run the FUSE tests as root"
    );
    // What avfs asks for (src/mount/dirty_limit.rs); the kernel shows it back
    // as a share of its own limit, so within a percent.
    let wanted: u64 = 128 << 20;
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let shared = dirty_limit(m.path());
    assert!(
        shared >= wanted - wanted / 100,
        "a shared mount's limit is {shared}"
    );
    // A proxy run's own mount, made inside the run's namespace.
    let script = "cat /sys/class/bdi/$(stat -c %Hd:%Ld .)/max_bytes";
    let doc: serde_json::Value = avfs.json(["proxy", "exec", "--vault", "main", "--shell", script]);
    let out = doc["stdout"].as_str().expect("the run's stdout");
    let private: u64 = out.trim().parse().unwrap_or_else(|_| panic!("{doc}"));
    assert!(
        private >= wanted - wanted / 100,
        "a run's mount's limit is {private}"
    );
}

/// CPU time (user + system, in clock ticks) of the thread named `name` of
/// process `pid`.
fn thread_ticks(pid: u32, name: &str) -> u64 {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    for task in tasks {
        let path = task.expect("a thread").path();
        let Ok(stat) = fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if head.split_once(" (").map(|(_, comm)| comm) != Some(name) {
            continue;
        }
        // After the name: state is field 3, utime 14 and stime 15.
        let fields: Vec<&str> = rest.split(' ').collect();
        return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    panic!("process {pid} has no thread named {name}");
}

/// CPU ticks each of the server's two threads spends in `span` from now.
fn ticks_within(pid: u32, span: Duration) -> (u64, u64) {
    let before = (thread_ticks(pid, "fuser-0"), thread_ticks(pid, "fuser-1"));
    std::thread::sleep(span);
    (
        thread_ticks(pid, "fuser-0") - before.0,
        thread_ticks(pid, "fuser-1") - before.1,
    )
}

#[test]
fn the_server_polls_for_requests_within_its_window_and_sleeps_past_it() {
    if !fuse_available() {
        return;
    }
    // A window long enough to see (the default is 50 µs), and none at all.
    let avfs = Avfs::with_vault();
    avfs.ok(["vault", "create", "other"]);
    // The window is /dev/fuse's: a session served through io_uring queues
    // has no thread that reads requests there.
    let polling = Mounted::with_env(
        &avfs,
        "main",
        &[],
        &[("AVFS_FUSE_POLL_US", "400000"), ("AVFS_FUSE_URING", "off")],
    );
    let off = Mounted::with_env(
        &avfs,
        "other",
        &[],
        &[("AVFS_FUSE_POLL_US", "0"), ("AVFS_FUSE_URING", "off")],
    );
    // One program's requests, one after another, enough that the thread on
    // the main descriptor answers some.
    let creates = |dir: &Path| {
        for i in 0..50 {
            fs::write(dir.join(format!("f-{i}")), b"x").expect("create a file");
        }
    };
    std::thread::sleep(Duration::from_millis(600));
    // Idle: neither thread spends CPU.
    let idle = ticks_within(polling.pid, Duration::from_millis(500));
    assert!(idle.0 + idle.1 <= 2, "idle threads spent {idle:?} ticks");
    // Within the window: the thread on the main descriptor polls (a tick is
    // 10 ms, the window 400 ms); the other sleeps. These are the first
    // requests of the session's first probe, which has the window open.
    creates(polling.path());
    let within = ticks_within(polling.pid, Duration::from_millis(250));
    assert!(within.1 >= 5, "the polling thread spent {within:?} ticks");
    assert!(within.0 <= 2, "the other thread spent {within:?} ticks");
    // Past it: both sleep again.
    std::thread::sleep(Duration::from_millis(400));
    let after = ticks_within(polling.pid, Duration::from_millis(500));
    assert!(after.0 + after.1 <= 2, "after the window: {after:?} ticks");
    // With the window off, no thread polls.
    creates(off.path());
    let unpolled = ticks_within(off.pid, Duration::from_millis(250));
    assert!(
        unpolled.0 + unpolled.1 <= 2,
        "without a window: {unpolled:?} ticks"
    );
    off.unmount();
    polling.unmount();
}
