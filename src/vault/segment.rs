//! Chunk bytes written once: append-only segment files beside the store.
//!
//! SQLite in WAL mode writes every page twice, once into the WAL and again at
//! the checkpoint. For chunk bytes that doubled the cost of every large write,
//! so chunks of [`SEGMENT_MIN`] bytes or more live in segment files in the
//! directory `<store>-segments/` and their `chunks` row only says where
//! (docs/format.md, "Segments"). Small chunks stay inline, where a row costs
//! less than a file write.
//!
//! Rules that keep this as safe as the inline form:
//! - Each process appends only to segments it created itself and holds an
//!   exclusive `flock` on while it lives; nothing else ever writes to them
//!   but hole punching of ranges no row names any more.
//! - A chunk's bytes are durable before any row naming them commits: every
//!   connection's commit hook `fdatasync`s the segments this process has
//!   appended to since the last commit (a failed sync turns the commit into a
//!   rollback). Each append starts its bytes towards the disk at once, so that
//!   sync waits only for the last ones.
//! - Deleting a chunk row records its range in `segment_free` (a trigger).
//!   [`reclaim`] punches those ranges once no reader can still be inside a
//!   snapshot older than their deletion, and gc also sweeps ranges no row
//!   names (bytes of rolled-back transactions) in segments no process holds.
//!   A process sweeps its own segments the same way as it lets go of the
//!   store ([`let_go`]), so a write that failed on a full disk gives its
//!   bytes back when its command ends, not at the next gc.

use super::error::{Result, VaultError};
use nix::fcntl::{FallocateFlags, Flock, FlockArg};
use rusqlite::Connection;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Chunks at least this long are written to a segment; shorter ones stay inline.
pub const SEGMENT_MIN: usize = 64 * 1024;
/// A segment is closed for appends once it reaches this size.
const SEGMENT_MAX: u64 = 1 << 30;

/// Where a chunk's bytes live in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    /// The segment's id (its file name in hex).
    pub segment: i64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// The segments of one store file, shared by every connection of this process.
pub(crate) struct Segments {
    dir: PathBuf,
    /// The segment appends go to, and those this process filled before it.
    appender: Mutex<Appender>,
    /// Set by an append, cleared by the sync in the next commit hook.
    unsynced: AtomicBool,
    /// Open read handles by segment id.
    readers: Mutex<HashMap<i64, Arc<Reader>>>,
}

#[derive(Default)]
struct Appender {
    /// The open segment: id, locked file, length.
    current: Option<(i64, Flock<File>, u64)>,
    /// Segments filled earlier, by id, still locked (their bytes may belong
    /// to an open transaction) until this process lets go of the store.
    full: Vec<(i64, Flock<File>)>,
}

/// A segment open for reading, and where its last read ended.
struct Reader {
    file: File,
    last_end: std::sync::atomic::AtomicU64,
}

/// How far ahead of a sequential reader a segment is prefetched.
const PREFETCH: i64 = 4 << 20;

/// Starts writing `len` bytes at `offset` of a segment to disk without
/// waiting for them. The commit hook's `fdatasync` then waits only for the
/// last appends: it runs under the mount's lock, and a streaming write would
/// otherwise stop there while the disk took everything since the last commit.
/// Every appended byte is synced at the next commit anyway, so this adds no
/// disk writes; a failure only leaves the work to that sync.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is
    // open for as long as `file` is borrowed.
    unsafe {
        nix::libc::sync_file_range(
            file.as_raw_fd(),
            offset as i64,
            len as i64,
            nix::libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Live [`Segments`] by store path, so every connection of a process shares one appender.
static OPEN: LazyLock<Mutex<HashMap<String, Weak<Segments>>>> = LazyLock::new(Default::default);

/// The directory holding a store's segments.
pub fn dir_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-segments");
    PathBuf::from(name)
}

impl Segments {
    /// The segments of the store a connection has open; None for an in-memory store.
    pub(crate) fn of(conn: &Connection) -> Option<Arc<Segments>> {
        let path = conn.path().filter(|p| !p.is_empty())?;
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(live) = open.get(path).and_then(Weak::upgrade) {
            return Some(live);
        }
        let segments = Arc::new(Segments {
            dir: dir_of(Path::new(path)),
            appender: Mutex::new(Appender::default()),
            unsynced: AtomicBool::new(false),
            readers: Mutex::new(HashMap::new()),
        });
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(path.to_string(), Arc::downgrade(&segments));
        Some(segments)
    }

    /// Installs the hook that makes appended bytes durable before a commit.
    pub(crate) fn hook(conn: &mut Connection) -> Result<()> {
        if let Some(segments) = Segments::of(conn) {
            // Returning true turns the commit into a rollback.
            conn.commit_hook(Some(move || segments.sync().is_err()))?;
        }
        Ok(())
    }

    fn path(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id:016x}"))
    }

    /// Appends one chunk's bytes; they become durable at the next commit.
    pub(crate) fn append(&self, data: &[u8]) -> Result<Extent> {
        let len = data.len() as u64;
        let mut appender = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        let full = matches!(&appender.current, Some((_, _, at)) if at + len > SEGMENT_MAX);
        if full && let Some((id, file, _)) = appender.current.take() {
            file.sync_data()?;
            appender.full.push((id, file));
        }
        if appender.current.is_none() {
            appender.current = Some(self.create()?);
        }
        let (id, file, end) = appender
            .current
            .as_mut()
            .expect("a segment was just opened");
        let offset = *end;
        self.unsynced.store(true, Ordering::SeqCst);
        file.write_all_at(data, offset)?;
        *end += len;
        start_writeback(file, offset, len);
        Ok(Extent {
            segment: *id,
            offset,
        })
    }

    /// Creates and locks a new segment, durable as a name before any byte in it is used.
    fn create(&self) -> Result<(i64, Flock<File>, u64)> {
        if !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir)?;
            // The directory's own name must survive a power loss too.
            if let Some(parent) = self.dir.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        loop {
            let id = fresh_id();
            // Made and locked under a name gc's sweep does not read, then
            // renamed: the sweep never sees a segment its maker does not hold.
            let making = self.dir.join(format!(".{id:016x}.new"));
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&making)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            };
            let file = Flock::lock(file, FlockArg::LockExclusiveNonblock)
                .map_err(|(_, e)| std::io::Error::from(e))?;
            if self.path(id).exists() {
                let _ = std::fs::remove_file(&making);
                continue;
            }
            std::fs::rename(&making, self.path(id))?;
            File::open(&self.dir)?.sync_all()?;
            return Ok((id, file, 0));
        }
    }

    /// Makes every byte appended so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        if !self.unsynced.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let appender = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        let synced = appender
            .current
            .as_ref()
            .map_or(Ok(()), |(_, file, _)| file.sync_data());
        if let Err(e) = synced {
            self.unsynced.store(true, Ordering::SeqCst);
            return Err(e.into());
        }
        Ok(())
    }

    /// Reads a whole chunk of `len` bytes at an extent (unchecked: the caller
    /// checks the hash).
    pub(crate) fn read(&self, at: Extent, len: usize) -> Result<Vec<u8>> {
        let reader = self.reader(at.segment)?;
        // A file written in order is laid out in order: a read that starts
        // where the last one ended asks the disk for what follows, so the next
        // chunks arrive while this one is hashed and served.
        let end = at.offset + len as u64;
        if reader.last_end.swap(end, Ordering::Relaxed) == at.offset {
            let _ = nix::fcntl::posix_fadvise(
                &reader.file,
                end as i64,
                PREFETCH,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            );
        }
        self.read_raw(&reader, at.segment, at.offset, len)
    }

    /// Reads part of a full chunk: `out.len()` bytes from `within`, each
    /// block checked against the chunk's block CVs (`cvs`, as stored in its
    /// row), themselves checked against `hash`.
    pub(crate) fn read_part(
        &self,
        at: Extent,
        hash: &[u8; 32],
        cvs: &[u8],
        within: usize,
        out: &mut [u8],
    ) -> Result<()> {
        use super::blocks::{BLOCK, BLOCKS};
        let cvs = super::blocks::from_bytes(cvs, hash)?;
        let reader = self.reader(at.segment)?;
        let first = within / BLOCK;
        let last = (within + out.len()).div_ceil(BLOCK).min(BLOCKS);
        let bytes = self.read_raw(
            &reader,
            at.segment,
            at.offset + (first * BLOCK) as u64,
            (last - first) * BLOCK,
        )?;
        super::blocks::check(&cvs, first, &bytes, hash)?;
        let from = within - first * BLOCK;
        let n = out.len().min(bytes.len() - from);
        out[..n].copy_from_slice(&bytes[from..from + n]);
        out[n..].fill(0);
        Ok(())
    }

    fn read_raw(&self, reader: &Reader, id: i64, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        reader.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                VaultError::Corrupt(format!(
                    "segment {id:016x} ends before the {len} bytes at {offset}"
                ))
            } else {
                e.into()
            }
        })?;
        Ok(buf)
    }

    fn reader(&self, id: i64) -> Result<Arc<Reader>> {
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = readers.get(&id) {
            return Ok(f.clone());
        }
        let file = File::open(self.path(id)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                VaultError::Corrupt(format!("segment {id:016x} is missing"))
            }
            _ => e.into(),
        })?;
        let reader = Arc::new(Reader {
            file,
            last_end: Default::default(),
        });
        readers.insert(id, reader.clone());
        Ok(reader)
    }

    /// Frees the range of a chunk appended here that no row names (it was
    /// stored already, or overwritten before it was stored). Best effort: a
    /// range left is one gc's sweep frees.
    pub(crate) fn discard(&self, at: Extent, len: u64) {
        let _ = self.punch(at.segment, at.offset, len);
    }

    /// Frees a byte range's disk space; the file keeps its size.
    fn punch(&self, id: i64, offset: u64, len: u64) -> Result<()> {
        let file = match OpenOptions::new().write(true).open(self.path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mode = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        nix::fcntl::fallocate(&file, mode, offset as i64, len as i64)
            .map_err(std::io::Error::from)?;
        Ok(())
    }
}

/// A new random segment id (positive, so it sorts and prints alike everywhere).
fn fresh_id() -> i64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    let bytes: [u8; 8] = h.finalize().as_bytes()[..8].try_into().expect("8 bytes");
    (u64::from_le_bytes(bytes) >> 1) as i64
}

/// Disk space the store's segments take (allocated blocks: punched ranges are free).
pub(crate) fn disk_bytes(conn: &Connection) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let Some(segments) = Segments::of(conn) else {
        return Ok(0);
    };
    let entries = match std::fs::read_dir(&segments.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut total = 0;
    for entry in entries {
        total += entry?.metadata()?.blocks() * 512;
    }
    Ok(total)
}

/// What [`reclaim`] freed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reclaimed {
    /// Byte ranges punched.
    pub ranges: u64,
    /// Bytes those ranges held.
    pub bytes: u64,
    /// Segment files removed because nothing names them.
    pub files: u64,
}

/// Punches the ranges of deleted chunks once no reader can still see them,
/// and returns the largest `segment_free` id punched (the caller deletes
/// those rows, under a write lock it holds anyway).
///
/// The proof that no snapshot older than a deletion remains is a PASSIVE
/// checkpoint that backfills the whole WAL: SQLite stops a checkpoint at the
/// oldest reader's snapshot, so a complete one means every open read
/// transaction, in any process, began after every commit the WAL holds, and
/// the rows read before it were all committed there. Otherwise nothing is
/// punched now; the next attempt tries again. Punching is idempotent, so a
/// crash before the rows are deleted only repeats it.
pub(crate) fn reclaim(conn: &Connection) -> Result<(Reclaimed, Option<i64>)> {
    let mut done = Reclaimed::default();
    let Some(segments) = Segments::of(conn) else {
        return Ok((done, None));
    };
    let freed: Vec<(i64, i64, i64, i64)> = conn
        .prepare_cached("SELECT id, segment, seg_offset, size FROM segment_free ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let Some(last) = freed.last().map(|r| r.0) else {
        return Ok((done, None));
    };
    let (log, backfilled): (i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })?;
    if log != backfilled {
        return Ok((done, None));
    }
    for &(_, segment, offset, size) in &freed {
        segments.punch(segment, offset as u64, size as u64)?;
        done.ranges += 1;
        done.bytes += size as u64;
    }
    Ok((done, Some(last)))
}

/// Forgets punched ranges: `segment_free` rows up to `last`.
pub(crate) fn forget_punched(conn: &Connection, last: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM segment_free WHERE id <= ?1")?
        .execute([last])?;
    Ok(())
}

/// Gc's sweep: in every segment no process holds, punches the ranges no
/// chunk row (nor a pending free) names, and removes segments nothing names.
pub(crate) fn sweep(conn: &Connection) -> Result<Reclaimed> {
    let mut done = Reclaimed::default();
    let Some(segments) = Segments::of(conn) else {
        return Ok(done);
    };
    let entries = match std::fs::read_dir(&segments.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(e.into()),
    };
    let mut named = conn.prepare_cached(NAMED_RANGES)?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_str().unwrap_or_default();
        if name.starts_with('.') && name.ends_with(".new") {
            // A segment its maker died making (before the rename): nothing
            // names it, and a held one is still being made.
            let file = OpenOptions::new().write(true).open(entry.path())?;
            if Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok() {
                std::fs::remove_file(entry.path())?;
                done.files += 1;
            }
            continue;
        }
        let Ok(id) = i64::from_str_radix(name, 16) else {
            continue;
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(entry.path())?;
        // Held: a live process may still commit rows naming bytes in it.
        let Ok(file) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        segments.trim(&mut named, id, &file, &mut done)?;
    }
    Ok(done)
}

/// The statement listing the ranges a segment's rows name (`?1`: its id), in order.
const NAMED_RANGES: &str = "SELECT seg_offset, size FROM chunks WHERE segment = ?1
     UNION ALL SELECT seg_offset, size FROM segment_free WHERE segment = ?1
     ORDER BY 1";

/// As the last connection of this process lets go of the store: frees what
/// it appended to its own segments that no row names (bytes of its
/// transactions that rolled back, say on a full disk), as gc's sweep would
/// once this process is gone, so a failed write does not hold the disk
/// until someone runs gc. Done only when nothing else of this process holds
/// the segments (another connection, a placed chunk, a writer's sink): any
/// of them may still name appended bytes.
pub(crate) fn let_go(conn: &Connection) -> Result<Reclaimed> {
    let mut done = Reclaimed::default();
    let Some(segments) = Segments::of(conn) else {
        return Ok(done);
    };
    // Held while counting and sweeping: no connection of this process can
    // pick the segments up in between.
    let _open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    // Ours, and the closing connection's commit hook.
    if Arc::strong_count(&segments) > 2 {
        return Ok(done);
    }
    let own: Vec<(i64, Flock<File>)> = {
        let mut appender = segments.appender.lock().unwrap_or_else(|e| e.into_inner());
        let current = appender.current.take().map(|(id, file, _)| (id, file));
        appender.full.drain(..).chain(current).collect()
    };
    if own.is_empty() {
        return Ok(done);
    }
    let mut named = conn.prepare_cached(NAMED_RANGES)?;
    for (id, file) in own {
        segments.trim(&mut named, id, &file, &mut done)?;
    }
    Ok(done)
}

impl Segments {
    /// Frees the ranges of segment `id` (open and locked as `file`) that
    /// `named` lists no row for: punches the gaps, cuts the file after the
    /// last named range, and removes it if nothing names any of it.
    fn trim(
        &self,
        named: &mut rusqlite::CachedStatement<'_>,
        id: i64,
        file: &File,
        done: &mut Reclaimed,
    ) -> Result<()> {
        let ranges: Vec<(i64, i64)> = named
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if ranges.is_empty() {
            std::fs::remove_file(self.path(id))?;
            self.readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            done.files += 1;
            return Ok(());
        }
        let mut end = 0u64;
        let mut gaps = Vec::new();
        for (offset, size) in ranges {
            let (offset, size) = (offset as u64, size as u64);
            if offset > end {
                gaps.push((end, offset - end));
            }
            end = end.max(offset + size);
        }
        let len = file.metadata()?.len();
        if len > end {
            file.set_len(end)?;
            done.bytes += len - end;
        }
        for (offset, len) in gaps {
            self.punch(id, offset, len)?;
            done.ranges += 1;
            done.bytes += len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_conn(dir: &Path) -> Connection {
        let mut conn = Connection::open(dir.join("store.db")).unwrap();
        super::super::schema::configure(&mut conn).unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn connections_of_one_store_share_one_appender() {
        let dir = tempfile::tempdir().unwrap();
        let a = store_conn(dir.path());
        let b = store_conn(dir.path());
        let sa = Segments::of(&a).unwrap();
        let sb = Segments::of(&b).unwrap();
        assert!(Arc::ptr_eq(&sa, &sb));
        let x = sa.append(b"first").unwrap();
        let y = sb.append(b"second").unwrap();
        assert_eq!(x.segment, y.segment);
        assert_eq!(y.offset, 5);
        assert_eq!(sa.read(y, 6).unwrap(), b"second");
    }

    /// Pages of `file` that are dirty and not yet on their way to disk
    /// (`cachestat`, Linux 6.5+); None where the kernel cannot say.
    fn dirty_pages(file: &File) -> Option<u64> {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        #[repr(C)]
        #[derive(Default)]
        struct Stat {
            cache: u64,
            dirty: u64,
            writeback: u64,
            evicted: u64,
            recently_evicted: u64,
        }
        // The syscall's number is the same on every architecture (from Linux 6.5).
        const SYS_CACHESTAT: nix::libc::c_long = 451;
        let range = Range { off: 0, len: 0 };
        let mut stat = Stat::default();
        // SAFETY: both structs are laid out as the kernel's and live across the call.
        let rc = unsafe {
            nix::libc::syscall(
                SYS_CACHESTAT,
                file.as_raw_fd(),
                &range as *const Range,
                &mut stat as *mut Stat,
                0,
            )
        };
        (rc == 0).then_some(stat.dirty)
    }

    #[test]
    fn appended_bytes_head_for_the_disk_before_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let fs = nix::sys::statfs::statfs(dir.path()).unwrap();
        if fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC {
            eprintln!(
                "the temporary directory is a tmpfs, whose pages never go to a disk: not checked"
            );
            return;
        }
        let conn = store_conn(dir.path());
        let segments = Segments::of(&conn).unwrap();
        let chunk = vec![7u8; 256 * 1024];
        let mut at = segments.append(&chunk).unwrap();
        for _ in 1..4 {
            at = segments.append(&chunk).unwrap();
        }
        let file = File::open(segments.path(at.segment)).unwrap();
        let Some(dirty) = dirty_pages(&file) else {
            eprintln!("this kernel has no cachestat: not checked");
            return;
        };
        // Without the early writeback all 256 pages would stay dirty until
        // the commit's fdatasync (or the kernel's own flush, 30 s later).
        assert_eq!(dirty, 0, "appended pages still dirty");
    }

    #[test]
    fn a_deleted_chunk_keeps_its_bytes_while_an_older_snapshot_is_open() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let conn = store_conn(dir.path());
        let bytes: Vec<u8> = (0..SEGMENT_MIN * 4).map(|i| (i % 251) as u8 + 1).collect();
        let (id, _) = super::super::content::store_chunk(&conn, &bytes).unwrap();
        let segment: i64 = conn
            .query_row("SELECT segment FROM chunks WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        let segments = Segments::of(&conn).unwrap();
        let blocks = || std::fs::metadata(segments.path(segment)).unwrap().blocks() * 512;
        assert!(blocks() >= bytes.len() as u64);
        // A reader whose snapshot still has the chunk.
        let mut reader = store_conn(dir.path());
        let snapshot = reader.transaction().unwrap();
        let seen: i64 = snapshot
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 1);
        conn.execute("DELETE FROM chunks WHERE id = ?1", [id])
            .unwrap();
        assert_eq!(reclaim(&conn).unwrap(), (Reclaimed::default(), None));
        assert!(
            blocks() >= bytes.len() as u64,
            "the reader may still read them"
        );
        drop(snapshot);
        let (done, last) = reclaim(&conn).unwrap();
        assert_eq!((done.ranges, done.bytes), (1, bytes.len() as u64));
        assert!(blocks() < bytes.len() as u64 / 2, "punched: {}", blocks());
        forget_punched(&conn, last.unwrap()).unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM segment_free", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_random_read_checks_only_its_blocks_and_never_serves_damaged_ones() {
        use super::super::blocks::BLOCK;
        use super::super::content::{CHUNK_SIZE, ChunkCache, ChunkRef, store_chunk};
        let dir = tempfile::tempdir().unwrap();
        let conn = store_conn(dir.path());
        let data: Vec<u8> = (0..CHUNK_SIZE).map(|i| (i * 7 % 253) as u8 + 1).collect();
        let (id, hash) = store_chunk(&conn, &data).unwrap();
        let chunk = ChunkRef {
            id,
            len: CHUNK_SIZE,
            hash,
        };
        let (segment, offset): (i64, i64) = conn
            .query_row(
                "SELECT segment, seg_offset FROM chunks WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let segments = Segments::of(&conn).unwrap();
        let file = segments.path(segment);
        assert_eq!(std::fs::metadata(&file).unwrap().len() as usize, CHUNK_SIZE);
        let read = |within: usize| {
            let mut out = [0u8; 4096];
            ChunkCache::default()
                .read(&conn, &chunk, within, &mut out)
                .map(|()| out.to_vec())
        };
        for within in [5 * BLOCK + 100, 15 * BLOCK + 12_000, 2 * BLOCK - 2000] {
            assert!(read(within).unwrap() == data[within..within + 4096]);
        }
        // Damage block 5: reads of other blocks go on, reads of it fail.
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[offset as usize + 5 * BLOCK + 9] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        segments.readers.lock().unwrap().clear();
        assert!(read(2 * BLOCK).unwrap() == data[2 * BLOCK..2 * BLOCK + 4096]);
        assert!(read(5 * BLOCK).unwrap_err().is_corruption());
        // Damage a stored CV: every partial read checks them against the hash.
        conn.execute("UPDATE chunks SET cvs = zeroblob(512) WHERE id = ?1", [id])
            .unwrap();
        assert!(read(2 * BLOCK).unwrap_err().is_corruption());
    }

    #[test]
    fn a_sweep_keeps_what_rows_name_and_cuts_the_rest() {
        use super::super::content::{CHUNK_SIZE, ChunkCache, ChunkRef, read_chunk, store_chunk};
        let dir = tempfile::tempdir().unwrap();
        let conn = store_conn(dir.path());
        let full: Vec<u8> = (0..CHUNK_SIZE).map(|i| (i % 249) as u8 + 1).collect();
        let short = &full[..SEGMENT_MIN + 5];
        let (first, first_hash) = store_chunk(&conn, &full).unwrap();
        let (second, second_hash) = store_chunk(&conn, short).unwrap();
        let segments = Segments::of(&conn).unwrap();
        let segment = segments
            .append(b"bytes of a transaction that rolled back")
            .unwrap()
            .segment;
        *segments.appender.lock().unwrap() = Appender::default();
        let swept = sweep(&conn).unwrap();
        assert_eq!(swept.files, 0);
        let len = std::fs::metadata(segments.path(segment)).unwrap().len();
        assert_eq!(
            len,
            (CHUNK_SIZE + SEGMENT_MIN + 5) as u64,
            "cut after the last named range"
        );
        let whole = |id, len, hash| read_chunk(&conn, &ChunkRef { id, len, hash }).unwrap();
        assert!(whole(first, CHUNK_SIZE, first_hash) == full);
        assert!(whole(second, short.len(), second_hash) == short);
        let mut part = [0u8; 100];
        let chunk = ChunkRef {
            id: first,
            len: CHUNK_SIZE,
            hash: first_hash,
        };
        ChunkCache::default()
            .read(&conn, &chunk, 200_000, &mut part)
            .unwrap();
        assert!(part[..] == full[200_000..200_100]);
    }

    #[test]
    fn a_held_segment_is_not_swept_and_a_released_one_loses_its_unnamed_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = store_conn(dir.path());
        let segments = Segments::of(&conn).unwrap();
        let at = segments.append(&[7u8; 4096]).unwrap();
        assert!(
            !segments
                .dir
                .join(format!(".{:016x}.new", at.segment))
                .exists()
        );
        assert_eq!(sweep(&conn).unwrap(), Reclaimed::default());
        // Let go of the appender as a process would at exit: the file is
        // unnamed garbage, and so is a segment whose maker died making it.
        *segments.appender.lock().unwrap() = Appender::default();
        let stale = segments.dir.join(".00000000000000ab.new");
        std::fs::write(&stale, b"half made").unwrap();
        let swept = sweep(&conn).unwrap();
        assert_eq!(swept.files, 2);
        assert!(!segments.path(at.segment).exists() && !stale.exists());
    }

    #[test]
    fn the_last_connection_to_let_go_frees_what_no_row_names_and_keeps_the_rest() {
        use super::super::content::store_chunk;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let a = store_conn(dir.path());
        let b = store_conn(dir.path());
        let segments = Segments::of(&a).unwrap();
        // Bytes of a transaction that rolled back, a committed chunk, more lost bytes.
        let lost = segments.append(&[1u8; 8192]).unwrap();
        let data: Vec<u8> = (0..SEGMENT_MIN).map(|i| (i % 251) as u8).collect();
        let (id, _) = store_chunk(&a, &data).unwrap();
        segments.append(&[2u8; 4096]).unwrap();
        let file = segments.path(lost.segment);
        drop(segments);
        // Another connection of this process may still name what was appended.
        assert_eq!(let_go(&a).unwrap(), Reclaimed::default());
        drop(b);
        let freed = let_go(&a).unwrap();
        assert_eq!(
            freed,
            Reclaimed {
                ranges: 1,
                bytes: 8192 + 4096,
                files: 0
            }
        );
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.len(), 8192 + SEGMENT_MIN as u64, "cut after the chunk");
        assert!(
            meta.blocks() * 512 < 8192 + SEGMENT_MIN as u64,
            "the gap is punched"
        );
        let offset: i64 = a
            .query_row("SELECT seg_offset FROM chunks WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        let at = Extent {
            segment: lost.segment,
            offset: offset as u64,
        };
        assert!(Segments::of(&a).unwrap().read(at, data.len()).unwrap() == data);
        // Nothing was appended since: a second let-go has nothing to free.
        assert_eq!(let_go(&a).unwrap(), Reclaimed::default());
    }
}
