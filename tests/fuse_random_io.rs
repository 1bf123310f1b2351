//! FUSE end to end: a seeded random exerciser of one file through a real
//! mount — pread/pwrite, mmap reads and writes, ftruncate down and up,
//! `fallocate` (extend, punch hole, zero range), `copy_file_range`,
//! `sendfile`, fsync, close and reopen — checked against an in-memory model
//! after every step, then in the store after unmounting. Offsets favour
//! chunk boundaries, where the content editor keeps its bookkeeping.
//!
//! `AVFS_RANDOM_IO_SEEDS` and `AVFS_RANDOM_IO_STEPS` scale it up for a soak
//! run; CI runs the defaults.

mod common;

use common::fuse::{Mounted, fuse_available};
use common::{Avfs, assert_bytes};
use nix::fcntl::{FallocateFlags, copy_file_range, fallocate};
use nix::sys::mman::{MapFlags, MsFlags, ProtFlags, mmap, msync, munmap};
use nix::sys::sendfile::sendfile64;
use std::fs::{File, OpenOptions};
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

const CHUNK: u64 = 256 * 1024;
/// The file never grows past this.
const MAX_SIZE: u64 = 8 << 20;

/// SplitMix64: small, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// An offset up to `limit`, half the time within a few bytes of a chunk boundary.
    fn offset(&mut self, limit: u64) -> u64 {
        let at = if self.below(2) == 0 {
            let boundary = self.below(limit / CHUNK + 1) * CHUNK;
            (boundary + self.below(9)).saturating_sub(4)
        } else {
            self.below(limit + 1)
        };
        at.min(limit)
    }

    fn len(&mut self) -> u64 {
        match self.below(4) {
            0 => self.below(16) + 1,
            1 => self.below(4096) + 1,
            2 => self.below(CHUNK) + 1,
            _ => self.below(3 * CHUNK) + 1,
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.next().to_le_bytes());
        hasher.finalize_xof().fill(&mut out);
        // Some writes are zeros: they must read back as zeros, stored or not.
        if self.below(8) == 0 {
            out.fill(0);
        }
        out
    }
}

fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Reads `len` bytes at `at` through pread, as many calls as it takes.
fn pread(file: &File, at: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = file
            .read_at(&mut out[done..], at + done as u64)
            .expect("pread");
        if n == 0 {
            break;
        }
        done += n;
    }
    out.truncate(done);
    out
}

/// Runs `steps` random operations on `rel` inside mount `m`; returns the model.
fn exercise(m: &Mounted, rel: &str, seed: u64, steps: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let path = m.join(rel);
    let source_bytes = rng.bytes(3 * CHUNK as usize + 777);
    let source_path = m.join(&format!("{rel}.source"));
    std::fs::write(&source_path, &source_bytes).unwrap();
    let source = File::open(&source_path).unwrap();
    let mut file = open(&path);
    let mut model: Vec<u8> = Vec::new();
    for step in 0..steps {
        let what = format!("seed {seed} step {step}");
        let size = model.len() as u64;
        let op = rng.below(100);
        let (mut at, mut len) = (rng.offset(size.max(1)), 0u64);
        match op {
            // pwrite
            0..=29 => {
                at = rng.offset(MAX_SIZE - 1);
                let n = rng.len().min(MAX_SIZE - at) as usize;
                let data = rng.bytes(n);
                file.write_all_at(&data, at).unwrap();
                let end = at as usize + data.len();
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[at as usize..end].copy_from_slice(&data);
                len = data.len() as u64;
            }
            // pread
            30..=44 => {
                len = rng.len();
                let got = pread(&file, at, len as usize);
                let end = (at + len).min(size) as usize;
                let want = model.get(at as usize..end).unwrap_or(&[]);
                assert_bytes(&got, want, &format!("{what}: pread {at}+{len}"));
            }
            // mmap read / write of a range inside the file
            45..=54 if size > 0 => {
                let writing = op >= 50;
                let map_len = NonZeroUsize::new(size as usize).unwrap();
                let prot = if writing {
                    ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
                } else {
                    ProtFlags::PROT_READ
                };
                // SAFETY: a fresh shared mapping of our own open file, within its size.
                let map =
                    unsafe { mmap(None, map_len, prot, MapFlags::MAP_SHARED, file.as_fd(), 0) }
                        .unwrap_or_else(|e| panic!("{what}: mmap: {e}"));
                // SAFETY: the mapping is `size` bytes long and alive until munmap.
                let view = unsafe {
                    std::slice::from_raw_parts_mut(map.as_ptr() as *mut u8, size as usize)
                };
                at = rng.below(size);
                len = rng.len().min(size - at);
                let range = at as usize..(at + len) as usize;
                if writing {
                    let data = rng.bytes(len as usize);
                    view[range.clone()].copy_from_slice(&data);
                    model[range].copy_from_slice(&data);
                    // SAFETY: the same mapping.
                    unsafe { msync(map, size as usize, MsFlags::MS_SYNC) }
                        .unwrap_or_else(|e| panic!("{what}: msync: {e}"));
                } else {
                    assert_bytes(
                        &view[range.clone()],
                        &model[range],
                        &format!("{what}: mmap read"),
                    );
                }
                // SAFETY: unmapping what mmap returned.
                unsafe { munmap(map, size as usize) }.unwrap();
            }
            // ftruncate, down or up
            55..=64 => {
                let new = rng.offset(MAX_SIZE);
                file.set_len(new).unwrap();
                model.resize(new as usize, 0);
                at = new.saturating_sub(3);
                len = 6;
            }
            // fallocate: extend, punch a hole, zero a range
            65..=74 => {
                len = rng.len();
                at = rng.offset(MAX_SIZE - len);
                let (flags, name) = match rng.below(3) {
                    0 => (FallocateFlags::empty(), "extend"),
                    1 => (
                        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                        "punch hole",
                    ),
                    _ => (FallocateFlags::FALLOC_FL_ZERO_RANGE, "zero range"),
                };
                fallocate(&file, flags, at as i64, len as i64)
                    .unwrap_or_else(|e| panic!("{what}: fallocate {name} {at}+{len}: {e}"));
                let end = (at + len) as usize;
                if !flags.contains(FallocateFlags::FALLOC_FL_KEEP_SIZE) && model.len() < end {
                    model.resize(end, 0);
                }
                if !flags.is_empty() {
                    let stop = end.min(model.len());
                    if (at as usize) < stop {
                        model[at as usize..stop].fill(0);
                    }
                }
            }
            // copy_file_range / sendfile from the source file
            75..=84 => {
                let from = rng.below(source_bytes.len() as u64);
                len = rng.len().min(source_bytes.len() as u64 - from);
                at = rng.offset(MAX_SIZE - len);
                let mut done = 0u64;
                if op < 80 {
                    while done < len {
                        let mut off_in = (from + done) as i64;
                        let mut off_out = (at + done) as i64;
                        let n = copy_file_range(
                            &source,
                            Some(&mut off_in),
                            &file,
                            Some(&mut off_out),
                            (len - done) as usize,
                        )
                        .unwrap_or_else(|e| panic!("{what}: copy_file_range: {e}"));
                        assert!(n > 0, "{what}: copy_file_range made no progress");
                        done += n as u64;
                    }
                } else {
                    // sendfile writes at the file offset: place it first.
                    use std::io::{Seek, SeekFrom};
                    file.seek(SeekFrom::Start(at)).unwrap();
                    while done < len {
                        let mut off_in = (from + done) as i64;
                        let n =
                            sendfile64(&file, &source, Some(&mut off_in), (len - done) as usize)
                                .unwrap_or_else(|e| panic!("{what}: sendfile: {e}"));
                        assert!(n > 0, "{what}: sendfile made no progress");
                        done += n as u64;
                    }
                }
                let end = (at + len) as usize;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[at as usize..end]
                    .copy_from_slice(&source_bytes[from as usize..(from + len) as usize]);
            }
            // fsync, or close and reopen
            85..=92 => file
                .sync_all()
                .unwrap_or_else(|e| panic!("{what}: fsync: {e}")),
            _ => {
                drop(file);
                file = open(&path);
            }
        }
        // After every step: the size, and the bytes around what the step touched.
        let size = file.metadata().unwrap().len();
        assert_eq!(size, model.len() as u64, "{what}: size (op {op})");
        let lo = at.saturating_sub(5).min(size);
        let hi = (at + len + 5).min(size);
        assert_bytes(
            &pread(&file, lo, (hi - lo) as usize),
            &model[lo as usize..hi as usize],
            &format!("{what}: bytes around the step (op {op})"),
        );
        if step % 250 == 249 {
            assert_bytes(
                &pread(&file, 0, model.len()),
                &model,
                &format!("{what}: whole file"),
            );
        }
    }
    file.sync_all().unwrap();
    drop(file);
    assert_bytes(
        &std::fs::read(&path).unwrap(),
        &model,
        &format!("seed {seed}: after close"),
    );
    model
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_io_matches_a_model_and_survives_in_the_store() {
    if !fuse_available() {
        return;
    }
    let seeds = env_or("AVFS_RANDOM_IO_SEEDS", 6) as u64;
    let steps = env_or("AVFS_RANDOM_IO_STEPS", 1500);
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let mut models = Vec::new();
    for seed in 0..seeds {
        let rel = format!("f{seed}");
        models.push((rel.clone(), exercise(&m, &rel, seed, steps)));
    }
    let server = m.pid;
    assert!(
        Path::new(&format!("/proc/{server}")).exists(),
        "the mount's server is still running"
    );
    m.unmount();
    // The store, read by a separate process, holds exactly the model.
    for (rel, model) in &models {
        assert_bytes(
            &avfs.cat(&format!("/{rel}")),
            model,
            &format!("{rel} in the store"),
        );
    }
}

/// A sparse size change costs O(1): a petabyte file is a number, not rows,
/// up to the largest size the kernel and the format hold. (A file the mount
/// spools for passthrough can only grow as far as the store's own file system
/// lets its spool: `a_spooled_file_past_the_spool_limit_fails_cleanly`.)
#[test]
fn huge_sparse_sizes_are_cheap() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let path = m.join("huge");
    std::fs::write(&path, b"head").unwrap();
    // Reopened with content: the editor path, which stores sizes, not bytes.
    let file = open(&path);
    for size in [1u64 << 40, 16 << 40, 1 << 50, i64::MAX as u64] {
        file.set_len(size).unwrap();
        assert_eq!(file.metadata().unwrap().len(), size);
        let mut tail = [7u8; 4];
        file.read_exact_at(&mut tail, size - 4).unwrap();
        assert_eq!(tail, [0; 4], "the hole reads as zeros at {size}");
    }
    // Two files of the largest size add up past what a usage counter holds:
    // the counter clamps (it used to overflow into an I/O error), and both go.
    for name in ["max-a", "max-b"] {
        File::create(m.join(name)).unwrap();
        nix::unistd::truncate(&m.join(name), i64::MAX).unwrap();
    }
    for name in ["max-a", "max-b"] {
        std::fs::remove_file(m.join(name)).unwrap();
    }
    file.set_len(1 << 50).unwrap();
    file.write_all_at(b"tail", (1 << 50) - 4).unwrap();
    file.sync_all().unwrap();
    drop(file);
    m.unmount();
    let stat: common::EntryDoc = avfs.json(["stat", "/huge"]);
    assert_eq!(stat.entry.size, 1 << 50);
    let db = avfs.store_disk_bytes();
    assert!(
        db < 64 << 20,
        "the store holds the bytes written, not the size: {db}"
    );
}

/// With passthrough on, a new file is spooled on the local disk, whose file system
/// bounds its size (ext4: 16 TiB): growing it past that is EFBIG, and the
/// mount, the file and the store stay sound.
#[test]
fn a_spooled_file_past_the_spool_limit_fails_cleanly() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::with_env(&avfs, "main", &[], &[("AVFS_PASSTHROUGH", "on")]);
    let file = open(&m.join("grown"));
    file.write_all_at(b"data", 0).unwrap();
    match file.set_len(1 << 60) {
        Ok(()) => assert_eq!(file.metadata().unwrap().len(), 1 << 60),
        Err(e) => assert_eq!(e.raw_os_error(), Some(nix::libc::EFBIG), "{e}"),
    }
    file.set_len(8).unwrap();
    file.sync_all().unwrap();
    drop(file);
    assert_bytes(
        &std::fs::read(m.join("grown")).unwrap(),
        b"data\0\0\0\0",
        "after",
    );
    m.unmount();
    assert_bytes(&avfs.cat("/grown"), b"data\0\0\0\0", "in the store");
    avfs.ok(["verify"]);
}
