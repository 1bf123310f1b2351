//! When writes reach the store: the mount's commit policy.
//!
//! Directory and attribute changes are grouped into one open transaction (a
//! batch, `Store::begin_batch`), each request under its own savepoint; the
//! batch commits on every close and fsync and at least every
//! [`BATCH_MAX_AGE`], then leaves a [`BATCH_GAP`] so other writers get the
//! lock. A file's unsaved writes (its `ContentEditor`) are committed on flush,
//! fsync and release; past [`SPILL_AT`] dirty bytes its full chunks are stored
//! early, so memory stays bounded whatever the file size.

use super::errno::errno;
use super::fault;
use super::vaultfs::{Inner, SessionStats, lock};
use crate::vault::{ROOT_INO, Store};
use fuser::Errno;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Dirty bytes one open file may hold in memory before its full chunks are stored.
pub const SPILL_AT: usize = 16 << 20;
/// How long directory and attribute changes may wait in a batch before they are
/// committed (file contents are committed on close and fsync).
pub const BATCH_MAX_AGE: Duration = Duration::from_millis(20);
/// After a timed batch commit, how long new writes run unbatched so that
/// other writers (who poll the lock every millisecond) can get in.
const BATCH_GAP: Duration = Duration::from_millis(3);

/// The batching state of one mount.
#[derive(Default)]
pub(super) struct Batcher {
    /// No new batch before this instant: a gap in which other writers get the lock.
    quiet_until: Option<Instant>,
}

impl Batcher {
    /// Opens a batch unless the mount is leaving a gap for other writers (then
    /// the write runs as its own transaction).
    pub(super) fn begin(&self, store: &mut Store) -> Result<(), Errno> {
        if self.quiet_until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        store.begin_batch().map_err(|e| errno(&e))
    }

    /// Leaves the write lock free for a moment after a timed commit.
    fn gap(&mut self) {
        self.quiet_until = Some(Instant::now() + BATCH_GAP);
    }
}

impl Inner {
    /// Commits an inode's unsaved writes, if any, in one transaction.
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
        let fresh = std::mem::take(&mut of.fresh);
        let Some(editor) = of.editor.as_mut().filter(|e| e.is_changed()) else {
            if fresh {
                batch.begin(store)?;
                store
                    .write_unjournaled(vault, |w| w.record_current(ino))
                    .map_err(|e| errno(&e))?;
            }
            return Ok(());
        };
        batch.begin(store)?;
        let committed = store
            .write_unjournaled(vault, |w| w.commit_edited(ino, editor, mtime))
            .map_err(|e| errno(&e))?;
        if let (Some(attr), Some(of)) = (committed, open.files.get_mut(&ino)) {
            of.last = attr;
            stats.files_written += 1;
        }
        Ok(())
    }

    /// Commits an inode's unsaved writes and the open batch, so that other
    /// processes see everything done so far (on close and fsync).
    pub(super) fn publish(&mut self, vault: &str, ino: u64) -> Result<(), Errno> {
        self.commit(vault, ino)?;
        self.store.commit_batch().map_err(|e| errno(&e))
    }
}

/// Commits what a mount session left unsaved and reports what it changed.
#[derive(Clone)]
pub struct Finisher {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) vault: String,
}

impl Finisher {
    /// Commits every open file's unsaved writes; returns the session's counts.
    pub fn finish(&self) -> SessionStats {
        let mut inner = lock(&self.inner);
        let inos: Vec<u64> = inner.open.files.keys().copied().collect();
        for ino in inos {
            // One file failing (even by a panic) must not cost the others their commit.
            if fault::contain("commit", ino, || inner.commit(&self.vault, ino)).is_none() {
                inner.open.quarantine(ino);
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
            Ok(()) => inner.batch.gap(),
            Err(e) => eprintln!("avfs mount: commit failed: {e}"),
        }
    }
}
