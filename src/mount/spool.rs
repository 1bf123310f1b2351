//! Spool files: the passthrough data path.
//!
//! With passthrough on (`AVFS_PASSTHROUGH=on`, see [`PASSTHROUGH_ENV`] for
//! why it is off by default), a file the mount creates (or an empty one
//! opened for writing) is backed by an unnamed local file (`O_TMPFILE` beside the store) that the kernel reads
//! and writes directly (FUSE passthrough, Linux 6.9+, as root): its data never
//! crosses /dev/fuse and the server only sees metadata. The bytes enter the
//! store — chunked, hashed and deduplicated like every other write — when the
//! file is committed (see `commit`): at fsync, at close, and at the end of the
//! session. A crash loses only the unnamed spool, i.e. writes not yet fsynced.
//!
//! Files opened for writing with content of their own stay on the editor path
//! (`open_files`): an edit of a large file stores only the chunks it touched,
//! where a spool would be read back whole.

use crate::vault::{Attr, ContentEditor, TreeWriter, VaultError};
use fuser::BackingId;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Bytes read from a spool at a time when it is committed.
const READ_BLOCK: usize = 1 << 20;

/// The local file behind a passthrough-open inode, and its registration.
pub(super) struct Spool {
    file: File,
    /// The kernel's handle on `file`; every open of the inode must use it.
    pub(super) backing: std::sync::Arc<BackingId>,
    /// (size, mtime, ctime) when the store last took the spool's bytes (or
    /// when the spool was made), so that a close with nothing written since
    /// neither reads it again nor moves the file's times.
    committed: (u64, i64, i64),
}

/// The environment variable that turns passthrough on (`AVFS_PASSTHROUGH=on`).
///
/// Off by default, as measured: a spool costs about 100 µs per file (an
/// `O_TMPFILE`, its registration, reading it back), which small files do not
/// win back, and a mount with passthrough loses the writeback cache, so
/// writes into files with content become one round trip each. What it saves
/// (write(2) at the local disk's speed) only shows in the total once the
/// store takes large contents faster than it does today (see BENCHMARKS.md).
pub const PASSTHROUGH_ENV: &str = "AVFS_PASSTHROUGH";

/// Whether this mount should ask the kernel for passthrough: turned on by
/// [`PASSTHROUGH_ENV`], and the process may register spool files.
pub(super) fn wanted() -> bool {
    std::env::var(PASSTHROUGH_ENV).is_ok_and(|v| v == "on") && may_register()
}

/// Whether this process may register spool files with the kernel: that takes
/// CAP_SYS_ADMIN in the initial user namespace, i.e. root outside any user
/// namespace (whose `uid_map` is the identity over every uid).
fn may_register() -> bool {
    let initial_namespace = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]);
    nix::unistd::geteuid().is_root() && initial_namespace
}

/// Makes a new, empty, unnamed spool file in `dir`.
pub(super) fn create_file(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_TMPFILE | nix::libc::O_CLOEXEC)
        .mode(0o600)
        .open(dir)
}

impl Spool {
    /// A spool over `file` (which holds the content of `attr`), registered
    /// with the kernel as `backing`; it starts with the file's mtime.
    pub(super) fn new(file: File, backing: BackingId, attr: &Attr) -> std::io::Result<Self> {
        let mtime = nix::sys::time::TimeSpec::new(
            attr.mtime_ns.div_euclid(1_000_000_000),
            attr.mtime_ns.rem_euclid(1_000_000_000),
        );
        nix::sys::stat::futimens(&file, &mtime, &mtime).map_err(std::io::Error::from)?;
        let mut spool = Self {
            file,
            backing: std::sync::Arc::new(backing),
            committed: (0, 0, 0),
        };
        spool.committed = spool.stamp()?;
        Ok(spool)
    }

    fn stamp(&self) -> std::io::Result<(u64, i64, i64)> {
        let meta = self.file.metadata()?;
        Ok((
            meta.len(),
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        ))
    }

    /// The file's attributes as the kernel's writes left them: `attr` with
    /// the spool's size and, if it was written since the store took it and
    /// no mtime was set explicitly since (`mtime_set`), its modification time.
    pub(super) fn patch(&self, attr: &mut Attr, mtime_set: Option<i64>) {
        if let Ok(stamp) = self.stamp() {
            attr.size = stamp.0;
            if mtime_set.is_none() && stamp != self.committed {
                attr.mtime_ns = stamp.1;
            }
        }
    }

    /// True when the spool holds writes the store has not taken yet.
    pub(super) fn is_changed(&self) -> std::io::Result<bool> {
        Ok(self.committed != self.stamp()?)
    }

    /// Sets the spool's length (truncate).
    pub(super) fn set_len(&self, size: u64) -> std::io::Result<()> {
        self.file.set_len(size)
    }

    /// Allocates, punches or zeroes a range, as fallocate(2) with `mode`.
    pub(super) fn fallocate(&self, mode: i32, offset: u64, len: u64) -> std::io::Result<()> {
        let mode = nix::fcntl::FallocateFlags::from_bits_retain(mode);
        nix::fcntl::fallocate(&self.file, mode, offset as i64, len as i64).map_err(Into::into)
    }

    /// Reads at `offset` (a request that reached the server anyway).
    pub(super) fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.file.read_at(&mut buf[done..], offset + done as u64)? {
                0 => break,
                n => done += n,
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    /// Writes at `offset` (a request that reached the server anyway).
    pub(super) fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    /// The byte ranges that hold data, skipping holes (SEEK_DATA/SEEK_HOLE).
    fn data_ranges(&self, size: u64) -> std::io::Result<Vec<(u64, u64)>> {
        use nix::unistd::{Whence, lseek};
        let seek = |offset: u64, whence| match lseek(&self.file, offset as i64, whence) {
            Ok(at) => Ok(Some(at as u64)),
            // ENXIO: no data at or after `offset`.
            Err(nix::errno::Errno::ENXIO) => Ok(None),
            Err(e) => Err(std::io::Error::from(e)),
        };
        let mut ranges = Vec::new();
        let mut at = 0;
        while at < size {
            let Some(start) = seek(at, Whence::SeekData)? else {
                break;
            };
            let end = seek(start, Whence::SeekHole)?.unwrap_or(size).min(size);
            if end > start {
                ranges.push((start, end));
            }
            at = end.max(start + 1);
        }
        Ok(ranges)
    }

    /// Makes the spool's bytes the content of `ino` in the store (chunked,
    /// hashed, deduplicated; holes stay holes), stamped `mtime_ns` when set
    /// explicitly, else with the time of the last write. `None` if the inode
    /// is gone. Memory stays bounded: full chunks are stored every `spill_at`
    /// bytes.
    pub(super) fn commit(
        &mut self,
        w: &TreeWriter<'_>,
        ino: u64,
        mtime_ns: Option<i64>,
        spill_at: usize,
    ) -> Result<Option<Attr>, VaultError> {
        let stamp = self.stamp()?;
        let (size, written_ns, _) = stamp;
        let mut editor = ContentEditor::default();
        let mut buf = vec![0u8; READ_BLOCK];
        for (start, end) in self.data_ranges(size)? {
            let mut at = start;
            while at < end {
                let want = ((end - at) as usize).min(READ_BLOCK);
                let n = self.file.read_at(&mut buf[..want], at)?;
                if n == 0 {
                    break;
                }
                w.write_edited(&mut editor, at, &buf[..n])?;
                if editor.dirty_bytes() > spill_at {
                    w.spill_edited(&mut editor)?;
                }
                at += n as u64;
            }
        }
        w.truncate_edited(&mut editor, size)?;
        let attr = w.commit_edited(ino, &mut editor, Some(mtime_ns.unwrap_or(written_ns)))?;
        self.committed = stamp;
        Ok(attr)
    }
}
