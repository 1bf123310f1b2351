//! When writes reach the store: the mount's commit policy.
//!
//! Changes are grouped into one open transaction (a batch,
//! `Store::begin_batch`), each request under its own savepoint (a failed one
//! leaves nothing). A file's unsaved writes (its `ContentEditor`) join the
//! batch on fsync and release, and on a shared mount at every flush (a close);
//! past [`SPILL_AT`] dirty bytes its full chunks are stored early, so memory
//! stays bounded whatever the file size.
//! When the batch itself commits depends on [`Sharing`]:
//!
//! - **shared** (`avfs mount`): on fsync and at least every
//!   [`BATCH_MAX_AGE`]; a close leaves its file in the batch, which then holds
//!   the store's fence until it commits (close-to-open across processes:
//!   another process's avfs command, or another mount's open, waits for that
//!   commit before it reads, `Store::wait_for_owed`);
//! - **private** (a proxy run's own mount, which no other process reads until
//!   the run ends): on fsync, once it is [`PRIVATE_BATCH_AGE`] old or holds
//!   [`BATCH_MAX_BYTES`] of file content, and at the end of the session. It
//!   answers the kernel's first FLUSH with ENOSYS, so closes send none: a
//!   file joins the batch at its release, which the closing program does not
//!   wait for. A `chmod`, `chown` or `utimensat` of an open file waits
//!   with its writes too (`UnsavedAttrs`).
//!
//! After a timed commit the mount leaves a [`BATCH_GAP`] so other writers of
//! the store get its lock. A crash loses at most the open batch: what was not
//! fsynced, as POSIX allows; a committed batch is never partly visible.

use super::errno::errno;
use super::fault::{self, FaultLog};
use super::kernel_cache::Invalidator;
use super::open_files::UnsavedAttrs;
use super::vaultfs::{Inner, SessionStats, lock};
use crate::vault::{ROOT_INO, Store, TreeWriter, VaultError};
use fuser::Errno;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Dirty bytes one open file may hold in memory before its full chunks are stored.
pub const SPILL_AT: usize = 16 << 20;
/// How long a shared mount's changes (closed files too) may wait in a batch
/// before they are committed (fsync commits at once).
pub const BATCH_MAX_AGE: Duration = Duration::from_millis(20);
/// How long a reader (another mount's open, an avfs command) waits for a
/// shared mount's batch to commit what it owes: the batch commits within
/// [`BATCH_MAX_AGE`] unless its mount is stopped, and past this the reader
/// reads what is committed.
pub const OWED_WAIT: Duration = Duration::from_secs(1);
/// After a timed batch commit, how long new writes run unbatched so that
/// other writers (who poll the lock every millisecond) can get in.
const BATCH_GAP: Duration = Duration::from_millis(3);
/// A private mount's batch commits once it is this old: the store's write
/// lock is never held longer, so other runs and commands wait at most this.
pub const PRIVATE_BATCH_AGE: Duration = Duration::from_millis(250);
/// A batch commits once it holds this much file content, which bounds the
/// write-ahead log.
pub const BATCH_MAX_BYTES: u64 = 64 << 20;

/// Who else reads and writes the vault while it is mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharing {
    /// `avfs mount`: other processes use the store at the same time, so a
    /// closed file is committed at once (close-to-open) and what the kernel
    /// caches is invalidated when another process commits (`kernel_cache`).
    #[default]
    Shared,
    /// A proxy run's own mount: nothing else changes what it shows and
    /// nothing reads it before the run ends, so commits are grouped (fsync,
    /// size and age bounds, the end) and the kernel caches for long.
    Private,
}

/// The batching state of one mount.
#[derive(Default)]
pub(super) struct Batcher {
    sharing: Sharing,
    /// No new batch before this instant: a gap in which other writers get the lock.
    quiet_until: Option<Instant>,
    /// When the open batch began.
    opened: Option<Instant>,
    /// File content committed into the open batch, in bytes.
    bytes: u64,
}

impl Batcher {
    /// A batcher for a mount shared as `sharing` says.
    pub(super) fn new(sharing: Sharing) -> Self {
        Self {
            sharing,
            ..Self::default()
        }
    }

    /// Opens a batch unless the mount is leaving a gap for other writers (then
    /// the write runs as its own transaction).
    pub(super) fn begin(&mut self, store: &mut Store) -> Result<(), Errno> {
        if self.quiet_until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        if !store.in_batch() {
            store.begin_batch().map_err(|e| errno(&e))?;
            self.opened = Some(Instant::now());
            self.bytes = 0;
        }
        Ok(())
    }

    /// Commits the open batch, if any.
    pub(super) fn commit(&mut self, store: &mut Store) -> Result<(), Errno> {
        store.commit_batch().map_err(|e| errno(&e))?;
        self.opened = None;
        Ok(())
    }

    /// Whether the open batch is due: always on a shared mount (called every
    /// [`BATCH_MAX_AGE`]), past its age or size bound on a private one.
    fn due(&self) -> bool {
        match self.sharing {
            Sharing::Shared => true,
            Sharing::Private => {
                self.bytes >= BATCH_MAX_BYTES
                    || self
                        .opened
                        .is_some_and(|t| t.elapsed() >= PRIVATE_BATCH_AGE)
            }
        }
    }

    /// Leaves the write lock free for a moment after a timed commit.
    fn gap(&mut self) {
        self.quiet_until = Some(Instant::now() + BATCH_GAP);
    }
}

impl Inner {
    /// Locks the mount's state, first putting right what a rolled-back batch
    /// left in it (see [`Inner::after_rollback`]).
    pub(super) fn locked(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
        let mut guard = lock(inner);
        if guard.store.batches_rolled_back() != guard.rollbacks_seen {
            guard.after_rollback();
        }
        guard
    }

    /// A batch commit failed and the store rolled the batch back: what open
    /// files hold in memory may name its rows, which are gone (a spilled
    /// chunk's id, which the next chunk stored would take over). A file with
    /// unsaved writes loses them and fails until closed (ENOSPC on a full
    /// disk, else EIO); any other loads its content from the store again
    /// when next used.
    fn after_rollback(&mut self) {
        self.rollbacks_seen = self.store.batches_rolled_back();
        let code = if self.store.last_rollback_was_disk_full() {
            Errno::ENOSPC
        } else {
            Errno::EIO
        };
        let mut failed = 0;
        for of in self.open.files.values_mut() {
            let unsaved = of.spool.is_some() || of.editor.as_ref().is_some_and(|e| e.is_changed());
            if unsaved && of.failed.is_none() {
                of.fail(code);
                failed += 1;
            } else {
                of.editor = None;
            }
        }
        // Logged here, not through the thread: a lock may be taken outside
        // any request's work.
        self.faults.write(format_args!(
            "a batch commit failed and was rolled back: {failed} open files lost their unsaved writes"
        ));
    }

    /// Commits an inode's unsaved writes and attribute changes, if any, in
    /// one transaction.
    pub(super) fn commit(&mut self, vault: &str, ino: u64) -> Result<(), Errno> {
        let Inner {
            store,
            open,
            stats,
            batch,
            ..
        } = self;
        let Some(of) = open.files.get_mut(&ino) else {
            return Ok(());
        };
        of.writable()?;
        let mtime = of.mtime_override;
        // Written in the content's own row write where the editor has new
        // content (below); otherwise (a spool, no new content) on their own,
        // before anything else of the commit. Kept on the file until written,
        // so that a commit that fails (or never starts) loses none of them.
        let attrs = of.unsaved_attrs;
        let save = |w: &TreeWriter<'_>| attrs.map_or(Ok(()), |a| write_attrs(w, ino, &a, mtime));
        if let Some(spool) = of.spool.as_mut()
            && spool.is_changed().map_err(Errno::from)?
        {
            of.fresh = false;
            batch.begin(store)?;
            let committed = store
                .write_unjournaled(vault, |w| {
                    save(w)?;
                    spool.commit(w, ino, mtime, SPILL_AT)
                })
                .map_err(|e| of.fail_with(&e))?;
            of.unsaved_attrs = None;
            if let Some(attr) = committed {
                batch.bytes += attr.size;
                of.last = attr;
                stats.files_written += 1;
            }
            return Ok(());
        }
        let fresh = std::mem::take(&mut of.fresh);
        let Some(editor) = of.editor.as_mut().filter(|e| e.is_changed()) else {
            if fresh || attrs.is_some() {
                batch.begin(store)?;
                store
                    .write_unjournaled(vault, |w| {
                        save(w)?;
                        if fresh { w.record_current(ino) } else { Ok(()) }
                    })
                    .map_err(|e| errno(&e))?;
                of.unsaved_attrs = None;
            }
            return Ok(());
        };
        batch.begin(store)?;
        batch.bytes += editor.size();
        let committed = store
            .write_unjournaled(vault, |w| {
                w.commit_edited_as(ino, editor, mtime, |attr| {
                    if let Some(a) = &attrs {
                        a.apply(attr);
                    }
                })
            })
            .map_err(|e| of.fail_with(&e))?;
        of.unsaved_attrs = None;
        if let Some(attr) = committed {
            of.last = attr;
            stats.files_written += 1;
        }
        Ok(())
    }

    /// Writes `ino`'s unsaved attribute changes to the store now, before
    /// something else changes its attributes there (which would otherwise be
    /// undone when the file commits).
    pub(super) fn save_attrs(&mut self, vault: &str, ino: u64) -> Result<(), Errno> {
        let Some((attrs, mtime)) = self
            .open
            .files
            .get(&ino)
            .and_then(|of| Some((of.unsaved_attrs?, of.mtime_override)))
        else {
            return Ok(());
        };
        self.batch.begin(&mut self.store)?;
        self.store
            .write_unjournaled(vault, |w| write_attrs(w, ino, &attrs, mtime))
            .map_err(|e| errno(&e))?;
        if let Some(of) = self.open.files.get_mut(&ino) {
            of.unsaved_attrs = None;
        }
        Ok(())
    }

    /// A handle of `ino` is closing (flush, release): its unsaved writes join
    /// the batch, which commits once it is big enough, or else at its time.
    /// A shared mount owes other processes everything done so far, so its
    /// batch holds the store's fence until then (their avfs commands and
    /// mounts wait for it before they read); it commits now if it cannot.
    pub(super) fn close_commit(&mut self, vault: &str, ino: u64) -> Result<(), Errno> {
        self.commit(vault, ino)?;
        let owed_later = match self.batch.sharing {
            Sharing::Shared => self.store.owe_visibility(),
            Sharing::Private => true,
        };
        if !owed_later || self.batch.bytes >= BATCH_MAX_BYTES {
            self.batch.commit(&mut self.store)?;
        }
        Ok(())
    }
}

/// Writes `attrs`, and the mtime set explicitly if there is one, over the
/// stored attributes of `ino` (nothing if it is gone).
fn write_attrs(
    w: &TreeWriter<'_>,
    ino: u64,
    attrs: &UnsavedAttrs,
    mtime_ns: Option<i64>,
) -> Result<(), VaultError> {
    if let Some(mut attr) = w.attr(ino)? {
        attrs.apply(&mut attr);
        attr.mtime_ns = mtime_ns.unwrap_or(attr.mtime_ns);
        w.put_attr(&attr)?;
    }
    Ok(())
}

/// Commits what a mount session left unsaved and reports what it changed.
#[derive(Clone)]
pub struct Finisher {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) vault: String,
    /// A shared mount's record of what the kernel caches, for when another
    /// process commits to the store.
    pub(super) invalidator: Option<Invalidator>,
    /// The mount's log.
    pub(super) faults: Arc<FaultLog>,
}

impl Finisher {
    /// Commits every open file's unsaved writes; returns the session's counts.
    pub fn finish(&self) -> SessionStats {
        let mut inner = Inner::locked(&self.inner);
        let inos: Vec<u64> = inner.open.files.keys().copied().collect();
        for ino in inos {
            // A file that failed before has said so already (to its program).
            let failed_before = inner
                .open
                .files
                .get(&ino)
                .is_some_and(|of| of.failed.is_some());
            // One file failing (even by a panic) must not cost the others their commit.
            let committed = fault::contain(&self.faults, "commit", ino, || {
                inner.commit(&self.vault, ino)
            });
            match committed {
                None => inner.open.quarantine(ino),
                Some(Err(code)) if !failed_before => self.faults.write(format_args!(
                    "the last commit of inode {ino} failed ({}): its unsaved writes are lost",
                    fault::describe(code)
                )),
                Some(_) => {}
            }
        }
        let Inner { store, batch, .. } = &mut *inner;
        if let Err(e) = batch.commit(store) {
            self.faults.write(format_args!(
                "the last batch commit failed ({}): the writes it held are lost",
                fault::describe(e)
            ));
        }
        inner.stats.clone()
    }

    /// What the mount logged and kept (a private mount) since the last take.
    pub fn take_faults(&self) -> Vec<String> {
        self.faults.take()
    }

    /// Commits the open batch if it is due (see [`Sharing`]), and on a
    /// shared mount makes the kernel forget what it caches once another
    /// process has committed to the store; the session calls this every
    /// [`BATCH_MAX_AGE`].
    pub fn tick(&self) {
        fault::contain(&self.faults, "batch commit", ROOT_INO, || self.tick_once());
        fault::contain(&self.faults, "invalidation", ROOT_INO, || {
            self.invalidate_if_changed()
        });
    }

    /// On a shared mount, makes the kernel forget what it caches once
    /// another process has committed to the store.
    fn invalidate_if_changed(&self) {
        let Some(invalidator) = &self.invalidator else {
            return;
        };
        let Ok(version) = Inner::locked(&self.inner).store.data_version() else {
            return;
        };
        invalidator.after_commits(version);
    }

    fn tick_once(&self) {
        let mut inner = Inner::locked(&self.inner);
        // A private mount's reads share one snapshot: end it every tick, so
        // the WAL can be checkpointed past it.
        if let Err(e) = inner.store.release_reads() {
            fault::log(format_args!("ending a read snapshot failed ({e:?})"));
        }
        if !inner.store.in_batch() || !inner.batch.due() {
            return;
        }
        let Inner { store, batch, .. } = &mut *inner;
        match batch.commit(store) {
            // Leave the write lock free for a moment: a busy mount would
            // otherwise retake it at once and starve CLI writers.
            Ok(()) => batch.gap(),
            Err(e) => fault::log(format_args!(
                "a batch commit failed ({}): the writes it held are lost",
                fault::describe(e)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_batch_is_always_due_a_private_one_at_its_bounds() {
        let mut shared = Batcher::new(Sharing::Shared);
        shared.opened = Some(Instant::now());
        assert!(shared.due());

        let mut private = Batcher::new(Sharing::Private);
        private.opened = Some(Instant::now());
        assert!(!private.due(), "young and small");
        private.bytes = BATCH_MAX_BYTES;
        assert!(private.due(), "at the size bound");
        private.bytes = 0;
        private.opened = Instant::now().checked_sub(PRIVATE_BATCH_AGE);
        assert!(private.due(), "at the age bound");
    }

    #[test]
    fn a_batch_opens_once_and_a_gap_runs_writes_unbatched() {
        let mut store = Store::open_in_memory(crate::vault::Owner { uid: 0, gid: 0 }).unwrap();
        let mut batch = Batcher::new(Sharing::Private);
        batch.begin(&mut store).unwrap();
        assert!(store.in_batch());
        batch.bytes = 5;
        batch.begin(&mut store).unwrap();
        assert_eq!(batch.bytes, 5, "an open batch is not restarted");
        batch.commit(&mut store).unwrap();
        assert!(!store.in_batch());
        batch.gap();
        batch.begin(&mut store).unwrap();
        assert!(!store.in_batch(), "no batch during the gap");
    }

    /// A private mount's reads share one snapshot, which the session's tick
    /// ends: another connection's commit shows after the next tick.
    #[test]
    fn a_tick_ends_a_private_mount_s_held_snapshot() {
        use super::super::vaultfs::VaultFs;
        use crate::vault::{Op, VaultPath};
        let (_dir, mut other, fs) = VaultFs::on_a_new_store(Sharing::Private);
        let finisher = fs.finisher();
        let sees_f = || fs.do_lookup(ROOT_INO, std::ffi::OsStr::new("f")).is_ok();
        assert!(!sees_f());
        let f = VaultPath::parse_str("/f").unwrap();
        other
            .write("v", Op::new("write", "f"), |w| {
                w.write_file(&f, &b"x"[..], false, 0o644)
            })
            .unwrap();
        assert!(!sees_f(), "still the snapshot of the first read");
        finisher.tick();
        assert!(sees_f(), "a new snapshot after the tick");
    }
}
