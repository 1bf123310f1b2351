//! `VaultFs`: a vault (or one of its checkpoints) served as a file system, and
//! the state its requests share. The operations live in `ops` (names and
//! attributes) and `io` (file data); `fs` adapts them to fuser.

use super::commit::{Batcher, Finisher, OWED_WAIT, Sharing};
use super::errno::errno;
use super::fault::{self, FaultLog};
use super::guard::PathGuard;
use super::kernel_cache::{Invalidator, KernelCache};
use super::notify::KernelLink;
use super::open_files::{OpenFile, OpenFiles};
use super::owner::Caller;
use super::poll_window::PollWindow;
use crate::policy::Op as PathOp;
use crate::vault::path::PATH_MAX;
use crate::vault::{
    Attr, ChunkSink, ROOT_INO, StateRef, Store, Tree, TreeWriter, VaultError, VaultPath,
};
use fuser::Errno;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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
    /// What a private mount logged (a failed commit, a request that failed
    /// inside avfs), in order; a shared mount logs to stderr instead.
    pub faults: Vec<String>,
}

/// The state every request locks: the store connection, the open files, the
/// batching policy and the session's counts.
pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) open: OpenFiles,
    pub(super) stats: SessionStats,
    pub(super) batch: Batcher,
    /// Byte length of directories' paths (`/a/b` is 4), for the `PATH_MAX`
    /// check of new names; emptied by every rename and rmdir through this mount.
    pub(super) dir_path_len: HashMap<u64, usize>,
    /// The store's count of rolled-back batches when last looked at.
    pub(super) rollbacks_seen: u64,
    /// The mount's log (the same as [`VaultFs`]'s).
    pub(super) faults: Arc<FaultLog>,
}

/// A vault (or one of its checkpoints) served as a file system.
pub struct VaultFs {
    pub(super) target: MountTarget,
    pub(super) state: StateRef,
    pub(super) store_dir: PathBuf,
    pub(super) writeback: AtomicBool,
    /// The kernel granted FUSE passthrough and registering a spool works
    /// (see `spool`); cleared for good when registering fails.
    pub(super) passthrough: AtomicBool,
    /// Who else uses the vault (see [`Sharing`]).
    pub(super) sharing: Sharing,
    /// What the kernel caches of a shared mount, for invalidation.
    pub(super) cached: Arc<Mutex<KernelCache>>,
    /// Where the mount's faults are logged (kept for a run's report).
    pub(super) faults: Arc<FaultLog>,
    pub(super) guard: Option<Arc<PathGuard>>,
    pub(super) inner: Arc<Mutex<Inner>>,
    /// The channel for telling the kernel to drop what it caches, once mounted.
    pub(super) kernel: Arc<OnceLock<KernelLink>>,
    /// How file data travels, once the kernel has answered `init`.
    pub(super) data_path: Arc<OnceLock<&'static str>>,
    /// Where the server polls for the next request, once mounted (see `poll_window`).
    pub(super) poll_window: Arc<OnceLock<PollWindow>>,
    /// Where a write's whole chunks go before it takes `inner`'s lock.
    pub(super) sink: Option<ChunkSink>,
}

pub(super) fn checked_name(name: &OsStr) -> Result<&[u8], Errno> {
    let bytes = name.as_bytes();
    if bytes.len() > crate::vault::path::NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(bytes)
}

/// A request being answered, for the session's poll window: a handler holds
/// it until the end, and dropping it after the answer has gone opens the
/// window (see `poll_window`).
pub(super) struct Answering<'a> {
    window: Option<&'a PollWindow>,
    requester: u32,
    on_reader: bool,
    /// The request reads or writes file data or syncs: its answer keeps the window as it is.
    data: bool,
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if let Some(window) = self.window {
            window.extend(self.requester, self.on_reader, !self.data);
        }
    }
}

/// How long the kernel may cache names and attributes of a private mount,
/// which nothing else changes. A shared mount's TTLs are [`KernelCache`]'s.
const PRIVATE_TTL: Duration = Duration::from_secs(3600);

/// Directory path lengths remembered at most (the map is emptied when full).
const PATH_LEN_CACHE: usize = 65_536;

impl Inner {
    /// Refuses a new entry `name` in `dir` whose whole path would be longer
    /// than [`PATH_MAX`] bytes (ENAMETOOLONG), the limit every avfs command
    /// holds paths to. A remembered length is only trusted to accept: a
    /// refusal is always checked against the store again.
    pub(super) fn check_path_len(
        &mut self,
        state: &StateRef,
        dir: u64,
        name: &[u8],
    ) -> Result<(), Errno> {
        let fits = |dir_len: usize| dir_len + 1 + name.len() <= PATH_MAX;
        if self.dir_path_len.get(&dir).is_some_and(|&len| fits(len)) {
            return Ok(());
        }
        // An unlinked directory has no path: creating in it fails on its own.
        let len = self
            .read(state, |t| t.path_of(dir))?
            .map_or(0, |p| p.components().iter().map(|c| 1 + c.len()).sum());
        if self.dir_path_len.len() >= PATH_LEN_CACHE {
            self.dir_path_len.clear();
        }
        self.dir_path_len.insert(dir, len);
        if fits(len) {
            Ok(())
        } else {
            Err(Errno::ENAMETOOLONG)
        }
    }

    pub(super) fn read<T>(
        &mut self,
        state: &StateRef,
        f: impl FnOnce(&Tree<'_>) -> Result<T, VaultError>,
    ) -> Result<T, Errno> {
        self.store.read(state, f).map_err(|e| errno(&e))
    }

    /// Current attributes, with unsaved writes' size and unlinked-but-open files.
    pub(super) fn attr(&mut self, state: &StateRef, ino: u64) -> Result<Attr, Errno> {
        let found = self.read(state, |t| t.attr(ino))?;
        self.with_open_state(ino, found)
    }

    /// `found`, `ino`'s attributes as the store has them, with what its open
    /// handles have not saved yet (size, times, mode, owner; an unlinked file still open).
    pub(super) fn with_open_state(&mut self, ino: u64, found: Option<Attr>) -> Result<Attr, Errno> {
        let open = self.open.files.get_mut(&ino);
        match (found, open) {
            (Some(mut attr), Some(of)) => {
                of.overlay(&mut attr);
                of.last = attr.clone();
                Ok(attr)
            }
            (Some(attr), None) => Ok(attr),
            (None, Some(of)) => {
                let mut attr = of.last.clone();
                attr.nlink = 0;
                of.overlay(&mut attr);
                Ok(attr)
            }
            (None, None) => Err(Errno::ENOENT),
        }
    }

    /// Runs `f` with the store and the open-file entry of `attr.ino` (created
    /// for the call if no handle has the file open). A created entry with no
    /// unsaved writes is dropped again afterwards.
    pub(super) fn with_open_file<T>(
        &mut self,
        attr: &Attr,
        f: impl FnOnce(&mut Store, &mut OpenFile, &mut Batcher) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let of = self.open.entry(attr);
        let out = f(&mut self.store, of, &mut self.batch);
        self.open.drop_if_idle(attr.ino);
        out
    }
}

pub(super) fn lock<T>(inner: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in another handler must not wedge the whole mount.
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl VaultFs {
    /// Serves `target` from `store`; `store_dir` is where the store file lives (for statfs).
    pub fn new(store: Store, target: MountTarget, store_dir: &Path) -> Self {
        let sink = store.chunk_sink();
        let faults = Arc::new(FaultLog::default());
        Self {
            state: target.state(),
            target,
            store_dir: store_dir.to_path_buf(),
            writeback: AtomicBool::new(false),
            passthrough: AtomicBool::new(false),
            sharing: Sharing::Shared,
            cached: Arc::default(),
            faults: Arc::clone(&faults),
            guard: None,
            kernel: Arc::new(OnceLock::new()),
            data_path: Arc::new(OnceLock::new()),
            poll_window: Arc::new(OnceLock::new()),
            sink,
            inner: Arc::new(Mutex::new(Inner {
                store,
                open: OpenFiles::default(),
                stats: SessionStats::default(),
                batch: Batcher::default(),
                dir_path_len: HashMap::new(),
                rollbacks_seen: 0,
                faults,
            })),
        }
    }

    /// Serves the mount as `sharing` says: a private mount groups its commits
    /// and lets the kernel cache names, attributes and file pages for long; a
    /// shared one lets it cache names and attributes for long too, and tells
    /// it to forget them when another process commits to the store.
    pub fn with_sharing(mut self, sharing: Sharing) -> Self {
        self.sharing = sharing;
        // A run's process prints nothing but its document: what its mount
        // logs goes into the run's report.
        self.faults.set_keep(sharing == Sharing::Private);
        {
            let mut inner = Inner::locked(&self.inner);
            inner.batch = Batcher::new(sharing);
            match sharing {
                // Nothing else writes the vault: its reads need no
                // transaction each (the session's timer releases the shared one).
                Sharing::Private => inner.store.hold_reads(),
                // The first look at the store, before anything is handed out,
                // so that the session's first tick forgets nothing unless
                // another connection committed since. Otherwise that tick
                // invalidated every inode once: an invalidation while the
                // kernel waits for a permission check's GETATTR makes it drop
                // the answer and check the mode it had.
                Sharing::Shared => {
                    if let Ok(version) = inner.store.data_version() {
                        lock(&self.cached).store_changed(version);
                    }
                }
            }
        }
        self
    }

    /// Enforces `guard`'s path rules on every operation of this mount.
    pub fn with_guard(mut self, guard: Arc<PathGuard>) -> Self {
        self.guard = Some(guard).filter(|g| g.is_active());
        self
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        Inner::locked(&self.inner)
    }

    /// Runs one request's work on `ino` so that a panic fails only that
    /// request (EIO): before anything is replied, the open file it touched is
    /// quarantined and the kernel told to drop what it caches of the inode.
    pub(super) fn serve<T>(
        &self,
        op: &str,
        ino: u64,
        work: impl FnOnce() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        fault::contain(&self.faults, op, ino, work).unwrap_or_else(|| {
            self.lock().open.quarantine(ino);
            // The kernel may cache what the failed request was about (pages a
            // failed write carried, a size): make it ask again. Not from this
            // thread: the kernel may hold the inode's locks until we reply.
            if let Some(kernel) = self.kernel.get().cloned() {
                std::thread::spawn(move || {
                    let _ = kernel.inval_inode(ino);
                });
            }
            Err(Errno::EIO)
        })
    }

    /// Makes the kernel ask for `ino`'s attributes again (not its pages)
    /// before the request being served is answered, so that nothing the
    /// caller does next meets the old ones. Safe while the kernel holds the
    /// inode's locks for that request: invalidating attributes alone takes
    /// none (`fuse_reverse_inval_inode` with a negative offset).
    pub(super) fn forget_attrs(&self, ino: u64) {
        if let Some(kernel) = self.kernel.get() {
            let _ = kernel.inval_attrs(ino);
        }
    }

    /// The answering of a request from `call`: when dropped, after the
    /// answer, it opens the poll window.
    pub(super) fn answering(&self, call: Caller) -> Answering<'_> {
        self.answering_as(call, false)
    }

    /// The answering of a request from `call` that reads or writes file data
    /// or syncs: its answer leaves the window as it is (see `poll_window`).
    pub(super) fn answering_data(&self, call: Caller) -> Answering<'_> {
        self.answering_as(call, true)
    }

    fn answering_as(&self, call: Caller, data: bool) -> Answering<'_> {
        let window = self.poll_window.get();
        Answering {
            window,
            requester: call.pid(),
            on_reader: window.is_some_and(|w| w.begin(call.pid())),
            data,
        }
    }

    /// Where the session's poll window goes once it is mounted.
    pub fn poll_window_slot(&self) -> Arc<OnceLock<PollWindow>> {
        Arc::clone(&self.poll_window)
    }

    /// Where the mount says how file data travels once the kernel has
    /// answered: `passthrough` (spooled files bypass the server) or `fuse`.
    pub fn data_path_slot(&self) -> Arc<OnceLock<&'static str>> {
        Arc::clone(&self.data_path)
    }

    /// Where the session puts its channel to the kernel once it is mounted.
    pub fn kernel_slot(&self) -> Arc<OnceLock<KernelLink>> {
        Arc::clone(&self.kernel)
    }

    /// The path that names `ino`, when path rules apply to it: never for the
    /// root (every run needs it) nor for an unlinked file (checked when opened).
    pub(super) fn guarded_path(
        &self,
        inner: &mut Inner,
        ino: u64,
    ) -> Result<Option<VaultPath>, Errno> {
        if self.guard.is_none() || ino == ROOT_INO {
            return Ok(None);
        }
        inner.read(&self.state, |t| t.path_of(ino))
    }

    /// Checks `op` on the path of `ino` against the path rules, if any.
    pub(super) fn guard_ino(&self, inner: &mut Inner, ino: u64, op: PathOp) -> Result<(), Errno> {
        match (&self.guard, self.guarded_path(inner, ino)?) {
            (Some(guard), Some(path)) => guard.check(&path, op),
            _ => Ok(()),
        }
    }

    /// Checks `op` on the entry `name` of directory `parent`, if path rules apply.
    pub(super) fn guard_entry(
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

    pub(super) fn writable(&self) -> Result<(), Errno> {
        if self.target.is_readonly() {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// One write transaction on the vault head.
    pub(super) fn change<T>(
        &self,
        inner: &mut Inner,
        f: impl FnOnce(&TreeWriter<'_>) -> Result<T, VaultError>,
    ) -> Result<T, Errno> {
        self.writable()?;
        inner.batch.begin(&mut inner.store)?;
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
            faults: Arc::clone(&self.faults),
            invalidator: (self.sharing == Sharing::Shared).then(|| Invalidator {
                record: Arc::clone(&self.cached),
                kernel: Arc::clone(&self.kernel),
            }),
        }
    }

    /// The kernel cache's epoch, read before a request reads the store (see
    /// [`KernelCache`]; always 0 on a private mount).
    pub(super) fn epoch(&self) -> u64 {
        match self.sharing {
            Sharing::Private => 0,
            Sharing::Shared => lock(&self.cached).epoch(),
        }
    }

    /// The TTL to hand `name` in `parent` (naming `ino`, 0 for none) out
    /// with, as read from the store in `epoch`.
    pub(super) fn entry_ttl(&self, epoch: u64, parent: u64, name: &[u8], ino: u64) -> Duration {
        match self.sharing {
            Sharing::Private => PRIVATE_TTL,
            Sharing::Shared => lock(&self.cached).entry(epoch, parent, name, ino),
        }
    }

    /// Close-to-open across processes: on a shared mount, waits (at most
    /// [`OWED_WAIT`]) until no other process's batch still owes the files
    /// it closed, so that what this request reads includes them.
    pub(super) fn see_closed_elsewhere(&self, inner: &mut Inner) {
        if self.sharing == Sharing::Shared {
            inner.store.wait_for_owed(OWED_WAIT);
        }
    }

    /// Whether the kernel may keep `ino`'s pages (data or listing) from its
    /// last open: always on a private mount, on a shared one unless another
    /// process's commit may have come between.
    pub(super) fn keep_pages(&self, ino: u64) -> bool {
        if self.sharing == Sharing::Private {
            return true;
        }
        // A first open (every created file) has nothing to keep: ask the
        // store only when there is. The store is asked without the record's
        // lock, which requests take after the mount's.
        let Some(epoch) = lock(&self.cached).opened_in_epoch(ino) else {
            return false;
        };
        let version = self.lock().store.data_version().ok();
        lock(&self.cached).unchanged_since(epoch, version)
    }

    /// `name` in `parent` exists now (a rename's target through this mount:
    /// the kernel moved its entry there, with the TTL it had).
    pub(super) fn name_exists(&self, parent: u64, name: &[u8]) {
        if self.sharing == Sharing::Shared {
            lock(&self.cached).exists(parent, name);
        }
    }

    /// The TTL to hand `ino`'s attributes out with, as read in `epoch`.
    pub(super) fn attr_ttl(&self, epoch: u64, ino: u64) -> Duration {
        match self.sharing {
            Sharing::Private => PRIVATE_TTL,
            Sharing::Shared => lock(&self.cached).attr(epoch, ino),
        }
    }
}

#[cfg(test)]
impl VaultFs {
    /// A store in a temporary directory holding vault `v`, and a mount of
    /// `v` shared as `sharing` on a connection of its own; the store handle
    /// returned stands for the rest of avfs.
    pub(super) fn on_a_new_store(sharing: Sharing) -> (tempfile::TempDir, Store, VaultFs) {
        use crate::vault::Owner;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let mut other = Store::open(&db, Owner::default()).unwrap();
        other.create_vault("v").unwrap();
        let target = MountTarget {
            vault: "v".into(),
            checkpoint: None,
            readonly: false,
        };
        let fs = VaultFs::new(
            Store::open(&db, Owner::default()).unwrap(),
            target,
            dir.path(),
        )
        .with_sharing(sharing);
        (dir, other, fs)
    }
}
