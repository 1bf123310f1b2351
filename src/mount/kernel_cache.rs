//! What the kernel may cache of a shared mount, so that it can be told to
//! forget it when another process commits to the store.
//!
//! A shared mount answers with long TTLs (names, negative names, attributes)
//! for every name it records here, and with [`SHORT_TTL`] once the record is
//! full. When the store changes under the mount (`PRAGMA data_version` moves:
//! another connection committed), the mount cannot tell what changed, so it
//! takes every record ([`KernelCache::take`]) and invalidates each name and
//! inode in the kernel: the kernel asks again, and gets the new state. The
//! kernel also keeps a file's pages and a directory's listing from one open
//! to the next, as long as no invalidation came between
//! ([`KernelCache::keep_pages`]).

use fuser::{INodeNo, Notifier};
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long the kernel may cache what is recorded here: a foreign commit
/// invalidates it within a tick of the mount's timer, so the TTL only bounds
/// how long a missed invalidation (the kernel refusing one) could last.
pub(super) const LONG_TTL: Duration = Duration::from_secs(60);
/// The TTL of what the record has no room for: the staleness another process's
/// changes may have, as before there was a record at all.
pub(super) const SHORT_TTL: Duration = Duration::from_secs(1);
/// Names recorded at most (about 100 bytes each).
const MAX_NAMES: usize = 1 << 20;

/// Names and inodes handed to the kernel with [`LONG_TTL`].
#[derive(Default)]
pub(super) struct KernelCache {
    /// Names (also of missing entries) by parent directory.
    names: HashMap<u64, HashSet<Vec<u8>>>,
    /// How many names `names` holds.
    count: usize,
    /// Inodes whose attributes the kernel holds.
    inodes: HashSet<u64>,
    /// How many times the record was taken: a reply built from what was read
    /// before a take gets [`SHORT_TTL`], as the take cannot have covered it.
    epoch: u64,
    /// The store's `data_version` when last looked at.
    seen: Option<i64>,
    /// The epoch in which each inode was last opened: its pages (a file's
    /// data, a directory's listing) are from that epoch or later.
    opened: HashMap<u64, u64>,
}

/// What a foreign commit makes stale: names to invalidate, then inodes.
pub(super) type Stale = (Vec<(u64, Vec<u8>)>, Vec<u64>);

impl KernelCache {
    /// The current epoch: read it before reading the store for a reply.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Records `name` in `parent` (naming `ino`, or nothing when 0) for a
    /// reply read from the store in `epoch`; returns the TTL to hand it out with.
    pub(super) fn entry(&mut self, epoch: u64, parent: u64, name: &[u8], ino: u64) -> Duration {
        let known = self.names.get(&parent).is_some_and(|n| n.contains(name));
        if !known {
            if self.count >= MAX_NAMES {
                return SHORT_TTL;
            }
            self.names.entry(parent).or_default().insert(name.to_vec());
            self.count += 1;
        }
        self.inodes.insert(parent);
        if ino != 0 {
            self.inodes.insert(ino);
        }
        self.ttl(epoch)
    }

    /// The TTL for `ino`'s attributes read in `epoch`: long when the kernel
    /// got it from a recorded name (or it is the root), short otherwise.
    pub(super) fn attr(&mut self, epoch: u64, ino: u64) -> Duration {
        if ino == crate::vault::ROOT_INO {
            self.inodes.insert(ino);
        }
        if self.inodes.contains(&ino) {
            self.ttl(epoch)
        } else {
            SHORT_TTL
        }
    }

    fn ttl(&self, epoch: u64) -> Duration {
        if epoch == self.epoch {
            LONG_TTL
        } else {
            SHORT_TTL
        }
    }

    /// Whether the kernel may keep `ino`'s pages at this open, given the
    /// store's `data_version` now: only when no other connection has
    /// committed since the last look (close-to-open: what another process
    /// closed before this open must show), and the inode was last opened in
    /// this epoch, so that nothing it cached can predate the last
    /// invalidation (a read in flight during one may have put old bytes
    /// back). Records this open.
    pub(super) fn keep_pages(&mut self, ino: u64, version: Option<i64>) -> bool {
        if self.opened.len() >= MAX_NAMES {
            self.opened.clear();
        }
        let same_epoch = self.opened.insert(ino, self.epoch) == Some(self.epoch);
        same_epoch && version.is_some() && version == self.seen
    }

    /// Whether the store changed (another connection committed) since the
    /// last look, given its `data_version` now. The first look counts as a
    /// change: whatever was handed out before it may predate a commit that
    /// no look has seen yet.
    pub(super) fn store_changed(&mut self, version: i64) -> bool {
        self.seen.replace(version) != Some(version)
    }

    /// Empties the record, returning what the kernel must forget.
    pub(super) fn take(&mut self) -> Stale {
        let names = std::mem::take(&mut self.names)
            .into_iter()
            .flat_map(|(parent, names)| names.into_iter().map(move |n| (parent, n)))
            .collect();
        self.count = 0;
        self.epoch += 1;
        (
            names,
            std::mem::take(&mut self.inodes).into_iter().collect(),
        )
    }
}

/// A shared mount's record, and the channel that makes the kernel forget it.
#[derive(Clone)]
pub(super) struct Invalidator {
    pub(super) record: Arc<Mutex<KernelCache>>,
    pub(super) kernel: Arc<OnceLock<Notifier>>,
}

impl Invalidator {
    /// Given the store's `data_version` now: if another connection committed
    /// since the last call, tells the kernel to drop every recorded name and
    /// inode (which ones changed is not known here, and the TTLs are long).
    /// Call it without the mount's lock: the kernel may hold a directory's
    /// lock while a request thread waits for ours.
    pub(super) fn after_commits(&self, version: i64) {
        let Some(kernel) = self.kernel.get() else {
            return;
        };
        let (names, inodes) = {
            let mut record = super::vaultfs::lock(&self.record);
            if !record.store_changed(version) {
                return;
            }
            record.take()
        };
        for (parent, name) in names {
            let _ = kernel.inval_entry(INodeNo(parent), OsStr::from_bytes(&name));
        }
        for ino in inodes {
            let _ = kernel.inval_inode(INodeNo(ino), 0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recorded_once_and_taken_whole() {
        let mut cache = KernelCache::default();
        assert_eq!(cache.entry(0, 1, b"a", 5), LONG_TTL);
        assert_eq!(cache.entry(0, 1, b"a", 5), LONG_TTL);
        assert_eq!(cache.entry(0, 5, b"missing", 0), LONG_TTL);
        assert_eq!(cache.attr(0, 5), LONG_TTL);
        assert_eq!(cache.attr(0, 9), SHORT_TTL, "never handed out by name");
        let (mut names, mut inodes) = cache.take();
        names.sort();
        inodes.sort();
        assert_eq!(names, vec![(1, b"a".to_vec()), (5, b"missing".to_vec())]);
        assert_eq!(inodes, vec![1, 5]);
        assert_eq!(cache.attr(1, 5), SHORT_TTL, "forgotten once taken");
        assert!(cache.take().0.is_empty());
    }

    #[test]
    fn a_reply_read_before_a_take_gets_a_short_ttl() {
        let mut cache = KernelCache::default();
        let epoch = cache.epoch();
        cache.take();
        assert_eq!(cache.entry(epoch, 1, b"a", 5), SHORT_TTL);
        assert_eq!(cache.attr(epoch, 5), SHORT_TTL);
        assert_eq!(cache.entry(cache.epoch(), 1, b"a", 5), LONG_TTL);
    }

    #[test]
    fn pages_are_kept_only_from_an_open_in_the_same_epoch() {
        let mut cache = KernelCache::default();
        cache.store_changed(1);
        assert!(
            !cache.keep_pages(5, Some(1)),
            "first open: nothing cached yet"
        );
        assert!(cache.keep_pages(5, Some(1)));
        assert!(
            !cache.keep_pages(5, Some(2)),
            "another process committed since the last look"
        );
        cache.store_changed(2);
        cache.take();
        assert!(
            !cache.keep_pages(5, Some(2)),
            "an invalidation came between"
        );
        assert!(cache.keep_pages(5, Some(2)));
        assert!(!cache.keep_pages(5, None), "the store could not say");
    }

    #[test]
    fn the_store_changed_when_its_data_version_moved() {
        let mut cache = KernelCache::default();
        assert!(cache.store_changed(3), "the first look counts as a change");
        assert!(!cache.store_changed(3));
        assert!(cache.store_changed(4));
        assert!(!cache.store_changed(4));
    }

    #[test]
    fn a_full_record_hands_out_short_ttls() {
        let mut cache = KernelCache {
            count: MAX_NAMES,
            ..KernelCache::default()
        };
        assert_eq!(cache.entry(0, 1, b"late", 7), SHORT_TTL);
        assert_eq!(cache.attr(0, 7), SHORT_TTL);
    }
}
