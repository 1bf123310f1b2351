//! The FUSE adapter: each kernel request becomes one vault operation, and
//! every handler replies in exactly one place from a `Result<_, Errno>`.
//!
//! Writes go into a per-inode [`ContentEditor`] shared by every handle open
//! on that inode (so two descriptors see each other's writes) and are
//! committed in one transaction on flush, fsync and release; an editor's full
//! dirty chunks are stored early once it holds [`SPILL_AT`] bytes, so memory
//! stays bounded whatever the file size.

use super::errno::errno;
use super::fault;
use super::guard::PathGuard;
use crate::policy::Op as PathOp;
use crate::vault::{
    Attr, ContentEditor, Kind, NewNode, ROOT_INO, RenameMode, StateRef, Store, Tree, TreeWriter,
    VaultError, VaultPath,
};
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, Notifier, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the kernel may cache entries and attributes.
const TTL: Duration = Duration::from_secs(1);
/// Dirty bytes one open file may hold in memory before its full chunks are stored.
pub const SPILL_AT: usize = 16 << 20;
/// How long directory and attribute changes may wait in a batch before they are
/// committed (file contents are committed on close and fsync).
pub const BATCH_MAX_AGE: Duration = Duration::from_millis(20);
/// After a timed batch commit, how long new writes run unbatched so that
/// other writers (who poll the lock every millisecond) can get in.
const BATCH_GAP: Duration = Duration::from_millis(3);
/// Largest write the kernel sends at once.
const MAX_WRITE: u32 = 1 << 20;

/// What a mount shows and whether it may change it.
#[derive(Clone, Debug)]
pub struct MountTarget {
    /// The vault.
    pub vault: String,
    /// A checkpoint to show instead of the head (always read-only).
    pub checkpoint: Option<String>,
    /// Refuse every change with EROFS.
    pub readonly: bool,
}

impl MountTarget {
    /// The vault state this mount reads.
    pub fn state(&self) -> StateRef {
        match &self.checkpoint {
            Some(name) => StateRef::Checkpoint {
                vault: self.vault.clone(),
                name: name.clone(),
            },
            None => StateRef::Head {
                vault: self.vault.clone(),
            },
        }
    }

    /// True when nothing may be written.
    pub fn is_readonly(&self) -> bool {
        self.readonly || self.checkpoint.is_some()
    }
}

/// Counts of what a mount session changed, for its journal entry.
#[derive(Default, Debug, Clone)]
pub struct SessionStats {
    /// Files whose content was committed.
    pub files_written: u64,
    /// Files, directories and symlinks created.
    pub created: u64,
    /// Entries removed.
    pub removed: u64,
    /// Renames.
    pub renamed: u64,
    /// Attribute changes (chmod, chown, utimens, xattrs).
    pub attrs_changed: u64,
}

/// An inode some handle has open.
struct OpenFile {
    opens: usize,
    /// Unsaved writes over the stored content; also caches the chunk list for reads.
    editor: Option<ContentEditor>,
    /// The latest attributes seen, served after the inode is unlinked.
    last: Attr,
    /// An mtime set explicitly since the last write, kept when the content commits.
    mtime_override: Option<i64>,
    /// A write asked for setuid/setgid to be dropped (the kernel leaves that
    /// to us under FUSE_HANDLE_KILLPRIV_V2).
    kill_suidgid: bool,
    /// A request on this file failed halfway (it panicked): its unsaved writes
    /// are gone, so reads, writes and commits through it fail with EIO until
    /// every handle has closed, rather than anything partial being committed.
    broken: bool,
}

impl OpenFile {
    fn new(last: Attr) -> Self {
        Self {
            opens: 0,
            editor: None,
            last,
            mtime_override: None,
            kill_suidgid: false,
            broken: false,
        }
    }

    /// The file's editor, opened on `attr`'s content the first time it is needed.
    fn editor(&mut self, tree: &Tree<'_>, attr: &Attr) -> Result<&mut ContentEditor, VaultError> {
        if self.broken {
            return Err(VaultError::Io(std::io::Error::other(
                "an earlier request on this open file failed; its unsaved writes are lost",
            )));
        }
        if self.editor.is_none() {
            self.editor = Some(tree.edit(attr)?);
        }
        Ok(self.editor.as_mut().expect("set above"))
    }
}

enum Handle {
    File {
        ino: u64,
        append: bool,
        /// Opened for writing on a path the rules do not let the caller read:
        /// reads through this handle are refused (and recorded) as they come.
        unreadable: Option<VaultPath>,
    },
    Dir {
        entries: Vec<(Vec<u8>, Attr)>,
    },
}

struct Inner {
    store: Store,
    files: HashMap<u64, OpenFile>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    stats: SessionStats,
    /// No new batch before this instant: a gap in which other writers get the lock.
    quiet_until: Option<Instant>,
}

/// A vault (or one of its checkpoints) served as a file system.
pub struct VaultFs {
    target: MountTarget,
    state: StateRef,
    store_dir: PathBuf,
    writeback: AtomicBool,
    guard: Option<Arc<PathGuard>>,
    inner: Arc<Mutex<Inner>>,
    /// The channel for telling the kernel to drop what it caches, once mounted.
    kernel: Arc<OnceLock<Notifier>>,
}

fn to_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

fn from_time(t: TimeOrNow) -> i64 {
    let t = match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
    }
}

fn fuse_attr(attr: &Attr) -> FileAttr {
    let mtime = to_time(attr.mtime_ns);
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: mtime,
        mtime,
        ctime: to_time(attr.ctime_ns),
        crtime: mtime,
        kind: file_type(attr.kind),
        perm: (attr.mode & 0o7777) as u16,
        nlink: if attr.kind == Kind::Dir {
            2
        } else {
            attr.nlink
        },
        uid: attr.uid,
        gid: attr.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// The attributes of a cached "does not exist" answer (inode 0).
fn negative_entry() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn checked_name(name: &OsStr) -> Result<&[u8], Errno> {
    let bytes = name.as_bytes();
    if bytes.len() > crate::vault::path::NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(bytes)
}

impl Inner {
    fn read<T>(
        &mut self,
        state: &StateRef,
        f: impl FnOnce(&Tree<'_>) -> Result<T, VaultError>,
    ) -> Result<T, Errno> {
        self.store.read(state, f).map_err(|e| errno(&e))
    }

    /// Current attributes, with unsaved writes' size and unlinked-but-open files.
    fn attr(&mut self, state: &StateRef, ino: u64) -> Result<Attr, Errno> {
        let found = self.read(state, |t| t.attr(ino))?;
        let open = self.files.get_mut(&ino);
        match (found, open) {
            (Some(mut attr), Some(of)) => {
                if let Some(ed) = &of.editor {
                    attr.size = ed.size();
                }
                of.last = attr.clone();
                Ok(attr)
            }
            (Some(attr), None) => Ok(attr),
            (None, Some(of)) => {
                let mut attr = of.last.clone();
                attr.nlink = 0;
                if let Some(ed) = &of.editor {
                    attr.size = ed.size();
                }
                Ok(attr)
            }
            (None, None) => Err(Errno::ENOENT),
        }
    }

    /// Commits an inode's unsaved writes, if any, in one transaction.
    fn commit(&mut self, vault: &str, ino: u64) -> Result<(), Errno> {
        let Inner {
            store,
            files,
            stats,
            quiet_until,
            ..
        } = self;
        let Some(of) = files.get_mut(&ino) else {
            return Ok(());
        };
        if of.broken {
            return Err(Errno::EIO);
        }
        let mtime = of.mtime_override;
        let kill = std::mem::take(&mut of.kill_suidgid);
        let Some(editor) = of.editor.as_mut().filter(|e| e.is_changed()) else {
            return Ok(());
        };
        begin_batch(store, quiet_until)?;
        let committed = store
            .write_unjournaled(vault, |w| {
                let attr = w.commit_edited(ino, editor, mtime)?;
                match attr {
                    Some(a) if kill && a.mode & 0o6000 != 0 => {
                        w.set_meta(ino, Some(a.mode & !0o6000), None).map(Some)
                    }
                    other => Ok(other),
                }
            })
            .map_err(|e| errno(&e))?;
        if let (Some(attr), Some(of)) = (committed, files.get_mut(&ino)) {
            of.last = attr;
            stats.files_written += 1;
        }
        Ok(())
    }

    /// Commits an inode's unsaved writes and the open batch, so that other
    /// processes see everything done so far (on close and fsync).
    fn publish(&mut self, vault: &str, ino: u64) -> Result<(), Errno> {
        self.commit(vault, ino)?;
        self.store.commit_batch().map_err(|e| errno(&e))
    }

    fn new_handle(&mut self, handle: Handle) -> u64 {
        self.next_fh += 1;
        self.handles.insert(self.next_fh, handle);
        self.next_fh
    }

    /// Runs `f` with the store and the open-file entry of `attr.ino` (created
    /// for the call if no handle has the file open). A created entry with no
    /// unsaved writes is dropped again afterwards.
    fn with_open_file<T>(
        &mut self,
        attr: &Attr,
        f: impl FnOnce(&mut Store, &mut OpenFile, &Option<Instant>) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let of = self
            .files
            .entry(attr.ino)
            .or_insert_with(|| OpenFile::new(attr.clone()));
        let out = f(&mut self.store, of, &self.quiet_until);
        let unsaved = of.editor.as_ref().is_some_and(|e| e.is_changed());
        if of.opens == 0 && !unsaved {
            self.files.remove(&attr.ino);
        }
        out
    }

    /// After a request on `ino` panicked: its open file's unsaved writes may be
    /// half-applied, so they are dropped and the file fails with EIO until closed.
    fn quarantine(&mut self, ino: u64) {
        if let Some(of) = self.files.get_mut(&ino) {
            of.editor = None;
            of.broken = true;
        }
    }

    fn open_file(&mut self, attr: &Attr, append: bool, unreadable: Option<VaultPath>) -> u64 {
        let of = self
            .files
            .entry(attr.ino)
            .or_insert_with(|| OpenFile::new(attr.clone()));
        of.opens += 1;
        self.new_handle(Handle::File {
            ino: attr.ino,
            append,
            unreadable,
        })
    }
}

/// Opens a batch unless the mount is leaving a gap for other writers (then the
/// write runs as its own transaction).
fn begin_batch(store: &mut Store, quiet_until: &Option<Instant>) -> Result<(), Errno> {
    if quiet_until.is_some_and(|t| Instant::now() < t) {
        return Ok(());
    }
    store.begin_batch().map_err(|e| errno(&e))
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // A panic in another handler must not wedge the whole mount.
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// Commits what a mount session left unsaved and reports what it changed.
#[derive(Clone)]
pub struct Finisher {
    inner: Arc<Mutex<Inner>>,
    vault: String,
}

impl Finisher {
    /// Commits every open file's unsaved writes; returns the session's counts.
    pub fn finish(&self) -> SessionStats {
        let mut inner = lock(&self.inner);
        let inos: Vec<u64> = inner.files.keys().copied().collect();
        for ino in inos {
            // One file failing (even by a panic) must not cost the others their commit.
            if !fault::contain("commit", ino, || {
                let _ = inner.commit(&self.vault, ino);
            }) {
                inner.quarantine(ino);
            }
        }
        let _ = inner.store.commit_batch();
        inner.stats.clone()
    }

    /// Commits the open batch of directory and attribute changes, if any; the
    /// session calls this every [`BATCH_MAX_AGE`] so they reach other processes soon.
    pub fn tick(&self) {
        fault::contain("batch commit", ROOT_INO, || self.tick_once());
    }

    fn tick_once(&self) {
        let mut inner = lock(&self.inner);
        if !inner.store.in_batch() {
            return;
        }
        match inner.store.commit_batch() {
            // Leave the write lock free for a moment: a busy mount would
            // otherwise retake it at once and starve CLI writers.
            Ok(()) => inner.quiet_until = Some(Instant::now() + BATCH_GAP),
            Err(e) => eprintln!("avfs mount: commit failed: {e}"),
        }
    }
}

impl VaultFs {
    /// Serves `target` from `store`; `store_dir` is where the store file lives (for statfs).
    pub fn new(store: Store, target: MountTarget, store_dir: &Path) -> Self {
        Self {
            state: target.state(),
            target,
            store_dir: store_dir.to_path_buf(),
            writeback: AtomicBool::new(false),
            guard: None,
            kernel: Arc::new(OnceLock::new()),
            inner: Arc::new(Mutex::new(Inner {
                store,
                files: HashMap::new(),
                handles: HashMap::new(),
                next_fh: 0,
                stats: SessionStats::default(),
                quiet_until: None,
            })),
        }
    }

    /// Enforces `guard`'s path rules on every operation of this mount.
    pub fn with_guard(mut self, guard: Arc<PathGuard>) -> Self {
        self.guard = Some(guard).filter(|g| g.is_active());
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Serves one request on `ino` (its whole handler, reply included) so that
    /// a panic fails only that request; see [`fault`].
    fn serve(&self, op: &str, ino: u64, handler: impl FnOnce()) {
        if !fault::contain(op, ino, handler) {
            self.lock().quarantine(ino);
            // The kernel may cache what the failed request was about (pages a
            // failed write carried, a size): make it ask again. Not from this
            // thread: the kernel may hold the inode's locks until we return.
            if let Some(kernel) = self.kernel.get().cloned() {
                std::thread::spawn(move || {
                    let _ = kernel.inval_inode(INodeNo(ino), 0, 0);
                });
            }
        }
    }

    /// Where the session puts its kernel notifier once it is mounted.
    pub fn kernel_slot(&self) -> Arc<OnceLock<Notifier>> {
        Arc::clone(&self.kernel)
    }

    /// The path that names `ino`, when path rules apply to it: never for the
    /// root (every run needs it) nor for an unlinked file (checked when opened).
    fn guarded_path(&self, inner: &mut Inner, ino: u64) -> Result<Option<VaultPath>, Errno> {
        if self.guard.is_none() || ino == ROOT_INO {
            return Ok(None);
        }
        inner.read(&self.state, |t| t.path_of(ino))
    }

    /// Checks `op` on the path of `ino` against the path rules, if any.
    fn guard_ino(&self, inner: &mut Inner, ino: u64, op: PathOp) -> Result<(), Errno> {
        match (&self.guard, self.guarded_path(inner, ino)?) {
            (Some(guard), Some(path)) => guard.check(&path, op),
            _ => Ok(()),
        }
    }

    /// Checks `op` on the entry `name` of directory `parent`, if path rules apply.
    fn guard_entry(
        &self,
        inner: &mut Inner,
        parent: u64,
        name: &[u8],
        op: PathOp,
    ) -> Result<(), Errno> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let dir = if parent == ROOT_INO {
            Some(VaultPath::root())
        } else {
            inner.read(&self.state, |t| t.path_of(parent))?
        };
        match dir {
            Some(dir) => guard.check(&dir.join(name), op),
            None => Ok(()),
        }
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.target.is_readonly() {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// One write transaction on the vault head.
    fn change<T>(
        &self,
        inner: &mut Inner,
        f: impl FnOnce(&TreeWriter<'_>) -> Result<T, VaultError>,
    ) -> Result<T, Errno> {
        self.writable()?;
        begin_batch(&mut inner.store, &inner.quiet_until)?;
        inner
            .store
            .write_unjournaled(&self.target.vault, f)
            .map_err(|e| errno(&e))
    }

    /// A handle that can finish the session after the file system is handed to fuser.
    pub fn finisher(&self) -> Finisher {
        Finisher {
            inner: Arc::clone(&self.inner),
            vault: self.target.vault.clone(),
        }
    }

    fn do_lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, Errno> {
        let name = checked_name(name)?;
        let mut inner = self.lock();
        let ino = inner
            .read(&self.state, |t| t.lookup(parent, name))?
            .ok_or(Errno::ENOENT)?;
        inner.attr(&self.state, ino)
    }

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        mtime: Option<TimeOrNow>,
    ) -> Result<Attr, Errno> {
        self.writable()?;
        let mut guard = self.lock();
        let inner = &mut *guard;
        let attr = inner.attr(&self.state, ino)?;
        self.guard_ino(inner, ino, PathOp::Write)?;
        // An unlinked file that is still open has no row to change: its
        // attributes live (and die) with the open file.
        let in_tree = inner.read(&self.state, |t| t.attr(ino))?.is_some();
        let mtime_ns = mtime.map(from_time);
        if let Some(size) = size {
            if attr.kind == Kind::Dir {
                return Err(Errno::EISDIR);
            }
            inner.with_open_file(&attr, |store, of, quiet_until| {
                let editor = store
                    .read(&self.state, |t| {
                        let editor = of.editor(t, &attr)?;
                        t.truncate_edited(editor, size)?;
                        Ok(editor)
                    })
                    .map_err(|e| errno(&e))?;
                if in_tree {
                    begin_batch(store, quiet_until)?;
                    store
                        .write_unjournaled(&self.target.vault, |w| {
                            w.commit_edited(ino, editor, mtime_ns)
                        })
                        .map_err(|e| errno(&e))?;
                }
                Ok(())
            })?;
        }
        if let (Some(of), Some(ns)) = (inner.files.get_mut(&ino), mtime_ns) {
            // Content committed later (on close) must keep this time (cp -p, tar).
            of.mtime_override = Some(ns);
        }
        if mode.is_some() || uid.is_some() || gid.is_some() || mtime.is_some() {
            if in_tree {
                self.change(inner, |w| {
                    if uid.is_some() || gid.is_some() {
                        w.set_owner(ino, uid, gid)?;
                    }
                    if mode.is_some() || mtime_ns.is_some() {
                        w.set_meta(ino, mode, mtime_ns)?;
                    }
                    Ok(())
                })?;
            } else if let Some(of) = inner.files.get_mut(&ino) {
                let last = &mut of.last;
                last.mode = mode.map_or(last.mode, |m| m & 0o7777);
                last.uid = uid.unwrap_or(last.uid);
                last.gid = gid.unwrap_or(last.gid);
                last.mtime_ns = mtime_ns.unwrap_or(last.mtime_ns);
            }
            inner.stats.attrs_changed += 1;
        }
        inner.attr(&self.state, ino)
    }

    fn do_create_node(
        &self,
        parent: u64,
        name: &OsStr,
        node: impl FnOnce(&TreeWriter<'_>) -> Result<NewNode, VaultError>,
    ) -> Result<Attr, Errno> {
        let name = checked_name(name)?;
        let mut inner = self.lock();
        if self.guard.is_some() {
            self.writable()?;
            // An existing name is EEXIST, as without rules: `mkdir -p` relies on it.
            if inner
                .read(&self.state, |t| t.lookup(parent, name))?
                .is_some()
            {
                return Err(Errno::EEXIST);
            }
            self.guard_entry(&mut inner, parent, name, PathOp::Create)?;
        }
        let attr = self.change(&mut inner, |w| {
            let node = node(w)?;
            let attr = w.create(parent, name, node)?;
            fault::trigger(name);
            Ok(attr)
        })?;
        inner.stats.created += 1;
        Ok(attr)
    }

    fn do_remove(&self, parent: u64, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        let name = checked_name(name)?;
        let mut inner = self.lock();
        let ino = inner
            .read(&self.state, |t| t.lookup(parent, name))?
            .ok_or(Errno::ENOENT)?;
        let attr = inner.attr(&self.state, ino)?;
        match (want_dir, attr.kind == Kind::Dir) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            _ => {}
        }
        self.writable()?;
        self.guard_entry(&mut inner, parent, name, PathOp::Delete)?;
        self.change(&mut inner, |w| w.unlink(parent, name))?;
        if let Some(of) = inner.files.get_mut(&ino) {
            of.last.nlink = of.last.nlink.saturating_sub(1);
        }
        inner.stats.removed += 1;
        Ok(())
    }

    fn do_rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        let (name, newname) = (checked_name(name)?, checked_name(newname)?);
        let mode = if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            RenameMode::Exchange
        } else if flags.contains(RenameFlags::RENAME_NOREPLACE) {
            RenameMode::NoReplace
        } else if flags.is_empty() {
            RenameMode::Replace
        } else {
            return Err(Errno::EINVAL);
        };
        let mut inner = self.lock();
        if self.guard.is_some() {
            self.writable()?;
            let replaced = inner.read(&self.state, |t| t.lookup(newparent, newname))?;
            if mode == RenameMode::Exchange {
                self.guard_entry(&mut inner, parent, name, PathOp::Write)?;
                self.guard_entry(&mut inner, newparent, newname, PathOp::Write)?;
            } else {
                self.guard_entry(&mut inner, parent, name, PathOp::Delete)?;
                // Renaming over a file rewrites it; onto a free name creates one.
                let op = if replaced.is_some() {
                    PathOp::Write
                } else {
                    PathOp::Create
                };
                self.guard_entry(&mut inner, newparent, newname, op)?;
            }
        }
        self.change(&mut inner, |w| {
            w.rename(parent, name, newparent, newname, mode)
        })?;
        inner.stats.renamed += 1;
        Ok(())
    }

    fn do_link(&self, ino: u64, newparent: u64, newname: &OsStr) -> Result<Attr, Errno> {
        let newname = checked_name(newname)?;
        let mut inner = self.lock();
        if self.guard.is_some() {
            self.writable()?;
            self.guard_entry(&mut inner, newparent, newname, PathOp::Create)?;
        }
        let attr = self.change(&mut inner, |w| w.link(ino, newparent, newname))?;
        inner.stats.created += 1;
        Ok(attr)
    }

    fn do_open(&self, ino: u64, flags: OpenFlags) -> Result<u64, Errno> {
        let wants_write = flags.0 & nix::libc::O_ACCMODE != nix::libc::O_RDONLY;
        if wants_write {
            self.writable()?;
        }
        let mut inner = self.lock();
        let attr = inner.attr(&self.state, ino)?;
        if attr.kind == Kind::Dir && wants_write {
            return Err(Errno::EISDIR);
        }
        let mut unreadable = None;
        if let (Some(guard), Some(path)) = (&self.guard, self.guarded_path(&mut inner, ino)?) {
            if wants_write {
                guard.check(&path, PathOp::Write)?;
                // The writeback cache turns O_WRONLY into O_RDWR, so a read-write
                // open cannot be refused for reading: its reads are, if they come.
                if !guard.allows(&path, PathOp::Read) {
                    unreadable = Some(path);
                }
            } else {
                guard.check(&path, PathOp::Read)?;
            }
        }
        // Close-to-open consistency: an editor with nothing unsaved is only a read
        // cache, and another process may have committed new content since.
        if let Some(of) = inner.files.get_mut(&ino)
            && of.editor.as_ref().is_some_and(|e| !e.is_changed())
        {
            of.editor = None;
        }
        let append = flags.0 & nix::libc::O_APPEND != 0;
        Ok(inner.open_file(&attr, append, unreadable))
    }

    fn do_read(&self, ino: u64, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let mut inner = self.lock();
        if let (
            Some(guard),
            Some(Handle::File {
                unreadable: Some(path),
                ..
            }),
        ) = (&self.guard, inner.handles.get(&fh))
        {
            guard.check(path, PathOp::Read)?;
        }
        let attr = inner.attr(&self.state, ino)?;
        if attr.kind != Kind::File {
            return Err(Errno::EISDIR);
        }
        let len = (size as u64).min(attr.size.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; len];
        // Read through the open file's editor: it loads the chunk list once, not per read.
        let n = inner.with_open_file(&attr, |store, of, _| {
            store
                .read(&self.state, |t| {
                    let editor = of.editor(t, &attr)?;
                    t.read_edited(editor, offset, &mut buf)
                })
                .map_err(|e| errno(&e))
        })?;
        buf.truncate(n);
        Ok(buf)
    }

    fn do_write(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        kill_suidgid: bool,
    ) -> Result<u32, Errno> {
        self.writable()?;
        let mut inner = self.lock();
        let attr = inner.attr(&self.state, ino)?;
        let append = matches!(
            inner.handles.get(&fh),
            Some(Handle::File { append: true, .. })
        );
        inner.with_open_file(&attr, |store, of, quiet_until| {
            // A write after an explicit mtime moves the time on again.
            of.mtime_override = None;
            of.kill_suidgid |= kill_suidgid;
            let spill = store
                .read(&self.state, |t| {
                    let editor = of.editor(t, &attr)?;
                    // With the writeback cache the kernel resolves O_APPEND itself.
                    let at = if append && !self.writeback.load(Ordering::Relaxed) {
                        editor.size()
                    } else {
                        offset
                    };
                    let end = at + data.len() as u64;
                    if end > editor.size() {
                        t.check_growth(&self.target.vault, ino, end)?;
                    }
                    t.write_edited(editor, at, data)?;
                    fault::trigger(data);
                    Ok(editor.dirty_bytes() > SPILL_AT)
                })
                .inspect_err(|e| {
                    // Over the quota: drop the file's unsaved changes too, so
                    // that nothing partial of it is ever committed.
                    if matches!(
                        e,
                        VaultError::QuotaExceeded { .. } | VaultError::FileTooLarge { .. }
                    ) {
                        of.editor = None;
                    }
                })
                .map_err(|e| errno(&e))?;
            if spill {
                let editor = of.editor.as_mut().expect("written above");
                begin_batch(store, quiet_until)?;
                store
                    .write_unjournaled(&self.target.vault, |w| w.spill_edited(editor))
                    .map_err(|e| errno(&e))?;
            }
            Ok(data.len() as u32)
        })
    }

    fn do_release(&self, fh: u64) -> Result<(), Errno> {
        let mut inner = self.lock();
        let Some(Handle::File { ino, .. }) = inner.handles.remove(&fh) else {
            return Ok(());
        };
        let result = inner.publish(&self.target.vault, ino);
        if let Some(of) = inner.files.get_mut(&ino) {
            of.opens = of.opens.saturating_sub(1);
            if of.opens == 0 {
                inner.files.remove(&ino);
            }
        }
        result
    }

    fn do_fsync(&self, ino: u64) -> Result<(), Errno> {
        let mut inner = self.lock();
        inner.commit(&self.target.vault, ino)?;
        inner.store.sync().map_err(|e| errno(&e))
    }

    fn do_opendir(&self, ino: u64) -> Result<u64, Errno> {
        let mut inner = self.lock();
        self.guard_ino(&mut inner, ino, PathOp::Read)?;
        let (dir, parent, children) = inner.read(&self.state, |t| {
            let dir = t
                .attr(ino)?
                .ok_or(VaultError::PathNotFound(format!("inode {ino}")))?;
            if dir.kind != Kind::Dir {
                return Err(VaultError::NotADirectory(format!("inode {ino}")));
            }
            let parent = t.parent_dir(ino)?.unwrap_or(ino);
            let parent = t.attr(parent)?.unwrap_or_else(|| dir.clone());
            Ok((dir, parent, t.read_dir(ino)?))
        })?;
        let mut entries = vec![(b".".to_vec(), dir), (b"..".to_vec(), parent)];
        entries.extend(children.into_iter().map(|e| (e.name, e.attr)));
        Ok(inner.new_handle(Handle::Dir { entries }))
    }

    /// Calls `add` for each directory entry from `offset` until it reports a full buffer.
    fn each_dir_entry(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, &[u8], &Attr) -> bool,
    ) -> Result<(), Errno> {
        let inner = self.lock();
        let Some(Handle::Dir { entries }) = inner.handles.get(&fh) else {
            return Err(Errno::EBADF);
        };
        for (i, (name, attr)) in entries.iter().enumerate().skip(offset as usize) {
            if add(i as u64 + 1, name, attr) {
                break;
            }
        }
        Ok(())
    }

    fn do_statfs(&self) -> Result<(u64, u64, u64, u32), Errno> {
        let st =
            nix::sys::statvfs::statvfs(&self.store_dir).map_err(|e| Errno::from_i32(e as i32))?;
        Ok((
            st.blocks() as u64,
            st.blocks_free() as u64,
            st.blocks_available() as u64,
            st.fragment_size() as u32,
        ))
    }

    fn do_setxattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32) -> Result<(), Errno> {
        let name = name.as_bytes();
        let mut inner = self.lock();
        self.guard_ino(&mut inner, ino, PathOp::Write)?;
        let exists = inner.read(&self.state, |t| t.xattr(ino, name))?.is_some();
        if flags & nix::libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & nix::libc::XATTR_REPLACE != 0 && !exists {
            return Err(Errno::ENODATA);
        }
        self.change(&mut inner, |w| w.set_xattr(ino, name, Some(value)))?;
        inner.stats.attrs_changed += 1;
        Ok(())
    }

    fn do_removexattr(&self, ino: u64, name: &OsStr) -> Result<(), Errno> {
        let name = name.as_bytes();
        let mut inner = self.lock();
        self.guard_ino(&mut inner, ino, PathOp::Write)?;
        if inner.read(&self.state, |t| t.xattr(ino, name))?.is_none() {
            return Err(Errno::ENODATA);
        }
        self.change(&mut inner, |w| w.set_xattr(ino, name, None))?;
        inner.stats.attrs_changed += 1;
        Ok(())
    }

    fn do_fallocate(&self, ino: u64, offset: u64, length: u64, mode: i32) -> Result<(), Errno> {
        if mode != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let size = self.lock().attr(&self.state, ino)?.size;
        let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
        if end > size {
            self.do_setattr(ino, None, None, None, Some(end), None)?;
        }
        Ok(())
    }
}

/// Replies with an xattr value or its size, as the `size` argument asks.
fn reply_xattr(reply: ReplyXattr, data: Result<Vec<u8>, Errno>, size: u32) {
    match data {
        Err(e) => reply.error(e),
        Ok(data) if size == 0 => reply.size(data.len() as u32),
        Ok(data) if data.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(data) => reply.data(&data),
    }
}

impl Filesystem for VaultFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(MAX_WRITE);
        let _ = config.set_max_readahead(MAX_WRITE);
        // HANDLE_KILLPRIV_V2: we drop setuid/setgid on write ourselves, so the
        // kernel stops asking for security.capability before every write(2).
        let wanted = InitFlags::FUSE_HANDLE_KILLPRIV_V2
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_CACHE_SYMLINKS;
        let _ = config.add_capabilities(wanted & config.capabilities());
        if !self.target.is_readonly()
            && config
                .add_capabilities(InitFlags::FUSE_WRITEBACK_CACHE)
                .is_ok()
        {
            self.writeback.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn destroy(&mut self) {
        let finisher = self.finisher();
        fault::contain("destroy", ROOT_INO, || {
            finisher.finish();
        });
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.serve("lookup", parent.0, || {
            match self.do_lookup(parent.0, name) {
                Ok(attr) => reply.entry(&TTL, &fuse_attr(&attr), Generation(0)),
                // Inode 0 tells the kernel to cache "no such name" for the TTL: tools
                // probe many missing paths. Creating the name through the mount
                // replaces the negative entry at once.
                Err(e) if e == Errno::ENOENT => reply.entry(&TTL, &negative_entry(), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.serve("getattr", ino.0, || {
            match self.lock().attr(&self.state, ino.0) {
                Ok(attr) => reply.attr(&TTL, &fuse_attr(&attr)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.serve("setattr", ino.0, || {
            match self.do_setattr(ino.0, mode, uid, gid, size, mtime) {
                Ok(attr) => reply.attr(&TTL, &fuse_attr(&attr)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.serve("readlink", ino.0, || {
            let attr = {
                let mut inner = self.lock();
                self.guard_ino(&mut inner, ino.0, PathOp::Read)
                    .and_then(|()| inner.attr(&self.state, ino.0))
            };
            match attr {
                Ok(Attr {
                    target: Some(target),
                    ..
                }) => reply.data(&target),
                Ok(_) => reply.error(Errno::EINVAL),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        self.serve("mknod", parent.0, || {
            // Only regular files: devices, fifos and sockets have no place in a workspace store.
            if mode & nix::libc::S_IFMT != nix::libc::S_IFREG {
                return reply.error(Errno::EPERM);
            }
            let result = self.do_create_node(parent.0, name, |w| {
                let (content, size) = w.store_content(&[][..])?;
                Ok(NewNode::file(content, size, mode & !umask))
            });
            match result {
                Ok(attr) => reply.entry(&TTL, &fuse_attr(&attr), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.serve("mkdir", parent.0, || {
            match self.do_create_node(parent.0, name, |_| Ok(NewNode::dir(mode & !umask))) {
                Ok(attr) => reply.entry(&TTL, &fuse_attr(&attr), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.serve("unlink", parent.0, || {
            match self.do_remove(parent.0, name, false) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.serve("rmdir", parent.0, || {
            match self.do_remove(parent.0, name, true) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.serve("symlink", parent.0, || {
            let target = target.as_os_str().as_bytes().to_vec();
            match self.do_create_node(parent.0, link_name, |_| Ok(NewNode::symlink(target))) {
                Ok(attr) => reply.entry(&TTL, &fuse_attr(&attr), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.serve("rename", parent.0, || {
            match self.do_rename(parent.0, name, newparent.0, newname, flags) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.serve("link", ino.0, || {
            match self.do_link(ino.0, newparent.0, newname) {
                Ok(attr) => reply.entry(&TTL, &fuse_attr(&attr), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.serve("open", ino.0, || match self.do_open(ino.0, flags) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        });
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.serve("read", ino.0, || {
            match self.do_read(ino.0, fh.0, offset, size) {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(e),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.serve("write", ino.0, || {
            let kill = write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID);
            match self.do_write(ino.0, fh.0, offset, data, kill) {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e),
            }
        });
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.serve("flush", ino.0, || {
            match self.lock().publish(&self.target.vault, ino.0) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.serve("release", ino.0, || match self.do_release(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        });
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.serve("fsync", ino.0, || match self.do_fsync(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.serve("opendir", ino.0, || match self.do_opendir(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.serve("readdir", ino.0, || {
            let result = self.each_dir_entry(fh.0, offset, |next, name, attr| {
                reply.add(
                    INodeNo(attr.ino),
                    next,
                    file_type(attr.kind),
                    OsStr::from_bytes(name),
                )
            });
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        self.serve("readdirplus", ino.0, || {
            let result = self.each_dir_entry(fh.0, offset, |next, name, attr| {
                reply.add(
                    INodeNo(attr.ino),
                    next,
                    OsStr::from_bytes(name),
                    &TTL,
                    &fuse_attr(attr),
                    Generation(0),
                )
            });
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.serve("releasedir", ino.0, || {
            self.lock().handles.remove(&fh.0);
            reply.ok();
        });
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.serve("fsyncdir", ino.0, || {
            // Directory changes are committed as they happen; make them durable.
            match self.lock().store.sync() {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        self.serve("statfs", ino.0, || match self.do_statfs() {
            Ok((blocks, bfree, bavail, frsize)) => reply.statfs(
                blocks,
                bfree,
                bavail,
                u64::from(u32::MAX),
                u64::from(u32::MAX),
                frsize,
                255,
                frsize,
            ),
            Err(e) => reply.error(e),
        });
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        self.serve("setxattr", ino.0, || {
            match self.do_setxattr(ino.0, name, value, flags) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        self.serve("getxattr", ino.0, || {
            let value = self
                .lock()
                .read(&self.state, |t| t.xattr(ino.0, name.as_bytes()))
                .and_then(|v| v.ok_or(Errno::ENODATA));
            reply_xattr(reply, value, size);
        });
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.serve("listxattr", ino.0, || {
            let names = self
                .lock()
                .read(&self.state, |t| t.xattr_names(ino.0))
                .map(|names| {
                    names
                        .into_iter()
                        .flat_map(|mut n| {
                            n.push(0);
                            n
                        })
                        .collect::<Vec<u8>>()
                });
            reply_xattr(reply, names, size);
        });
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.serve("removexattr", ino.0, || {
            match self.do_removexattr(ino.0, name) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        self.serve("access", ino.0, || {
            // Permission bits are checked by the kernel (default_permissions); this
            // only has to say whether the inode exists.
            match self.lock().attr(&self.state, ino.0) {
                Ok(_) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.serve("create", parent.0, || {
            let result = self
                .do_create_node(parent.0, name, |w| {
                    let (content, size) = w.store_content(&[][..])?;
                    Ok(NewNode::file(content, size, mode & !umask))
                })
                .map(|attr| {
                    let fh = self
                        .lock()
                        .open_file(&attr, flags & nix::libc::O_APPEND != 0, None);
                    (attr, fh)
                });
            match result {
                Ok((attr, fh)) => reply.created(
                    &TTL,
                    &fuse_attr(&attr),
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::empty(),
                ),
                Err(e) => reply.error(e),
            }
        });
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.serve("fallocate", ino.0, || {
            match self.do_fallocate(ino.0, offset, length, mode) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }
}
