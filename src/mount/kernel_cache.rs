//! What the kernel may cache of a shared mount, so that it can be told to
//! forget it when another process commits to the store.
//!
//! A shared mount hands out missing names (negative entries) and attributes
//! with a long TTL and records them here; names that exist keep a short TTL
//! ([`SHORT_TTL`]), as they were before this record. When the store changes
//! under the mount (`PRAGMA data_version` moves: another connection
//! committed), the mount cannot tell what changed, so it takes the record
//! ([`KernelCache::take`]) and invalidates every recorded missing name and
//! inode in the kernel: the kernel asks again, and gets the new state.
//! Names that exist are never invalidated that way: the kernel would unhash
//! their dentries, and a process whose current directory (or running
//! program) is one of them would find it gone (`getcwd` fails with ENOENT).
//! That needs expire-only invalidation, which fuser cannot send yet.
//! The kernel also keeps a file's pages and a directory's listing from one
//! open to the next, as long as no invalidation came between
//! ([`KernelCache::opened_in_epoch`]).

use fuser::{INodeNo, Notifier};
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long the kernel may cache what is recorded here (missing names,
/// attributes): a foreign commit invalidates it within a tick of the mount's
/// timer, so the TTL only bounds how long a missed invalidation (the kernel
/// refusing one) could last.
pub(super) const LONG_TTL: Duration = Duration::from_secs(60);
/// The TTL of names that exist, and of what the record has no room for: the
/// staleness another process's changes may have, as before there was a
/// record at all.
pub(super) const SHORT_TTL: Duration = Duration::from_secs(1);
/// Missing names recorded at most (about 100 bytes each).
const MAX_NAMES: usize = 1 << 20;

/// Missing names and inodes handed to the kernel with [`LONG_TTL`].
#[derive(Default)]
pub(super) struct KernelCache {
    /// Missing names by parent directory.
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
    /// reply read from the store in `epoch`; returns the TTL to hand it out
    /// with (the entry's and its attributes').
    pub(super) fn entry(&mut self, epoch: u64, parent: u64, name: &[u8], ino: u64) -> Duration {
        self.inodes.insert(parent);
        if ino != 0 {
            self.exists(parent, name);
            self.inodes.insert(ino);
            return SHORT_TTL;
        }
        let known = self.names.get(&parent).is_some_and(|n| n.contains(name));
        if !known {
            if self.count >= MAX_NAMES {
                return SHORT_TTL;
            }
            self.names.entry(parent).or_default().insert(name.to_vec());
            self.count += 1;
        }
        self.ttl(epoch)
    }

    /// `name` in `parent` exists now (created, or a rename's target through
    /// this mount): it is no longer a missing name to invalidate.
    pub(super) fn exists(&mut self, parent: u64, name: &[u8]) {
        if let Some(names) = self.names.get_mut(&parent)
            && names.remove(name)
        {
            self.count -= 1;
        }
    }

    /// Records that the kernel holds `ino`'s attributes, read in `epoch`;
    /// returns the TTL to hand them out with.
    pub(super) fn attr(&mut self, epoch: u64, ino: u64) -> Duration {
        self.inodes.insert(ino);
        self.ttl(epoch)
    }

    fn ttl(&self, epoch: u64) -> Duration {
        if epoch == self.epoch {
            LONG_TTL
        } else {
            SHORT_TTL
        }
    }

    /// Records an open of `ino`; returns the current epoch when its last
    /// open was in it too, so that nothing the kernel cached of it can
    /// predate the last invalidation (a read in flight during one may have
    /// put old bytes back). The kernel may keep its pages (a file's data, a
    /// directory's listing) only then, and only if
    /// [`KernelCache::unchanged_since`] agrees.
    pub(super) fn opened_in_epoch(&mut self, ino: u64) -> Option<u64> {
        if self.opened.len() >= MAX_NAMES {
            self.opened.clear();
        }
        (self.opened.insert(ino, self.epoch) == Some(self.epoch)).then_some(self.epoch)
    }

    /// Whether nothing changed since `epoch` and the last look, given the
    /// store's `data_version` now: no invalidation meanwhile, and no other
    /// connection committed since the mount last looked (close-to-open:
    /// what another process closed before an open must show).
    pub(super) fn unchanged_since(&self, epoch: u64, version: Option<i64>) -> bool {
        epoch == self.epoch && version.is_some() && version == self.seen
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
        assert_eq!(cache.entry(0, 1, b"a", 5), SHORT_TTL, "a name that exists");
        assert_eq!(cache.entry(0, 5, b"missing", 0), LONG_TTL);
        assert_eq!(cache.entry(0, 5, b"missing", 0), LONG_TTL);
        assert_eq!(cache.entry(0, 5, b"made", 0), LONG_TTL);
        cache.exists(5, b"made");
        assert_eq!(cache.attr(0, 5), LONG_TTL);
        assert_eq!(cache.attr(0, 9), LONG_TTL);
        let (names, mut inodes) = cache.take();
        inodes.sort();
        assert_eq!(
            names,
            vec![(5, b"missing".to_vec())],
            "only missing names are invalidated"
        );
        assert_eq!(
            inodes,
            vec![1, 5, 9],
            "every inode whose attributes went out"
        );
        assert!(cache.take().1.is_empty(), "forgotten once taken");
        assert!(cache.take().0.is_empty());
    }

    #[test]
    fn a_reply_read_before_a_take_gets_a_short_ttl() {
        let mut cache = KernelCache::default();
        let epoch = cache.epoch();
        cache.entry(epoch, 1, b"a", 5);
        cache.take();
        assert_eq!(cache.entry(epoch, 1, b"b", 0), SHORT_TTL);
        cache.entry(epoch, 1, b"a", 5);
        assert_eq!(cache.attr(epoch, 5), SHORT_TTL);
        assert_eq!(cache.entry(cache.epoch(), 1, b"b", 0), LONG_TTL);
    }

    #[test]
    fn pages_are_kept_only_from_an_open_in_the_same_epoch() {
        let mut cache = KernelCache::default();
        let keep = |cache: &mut KernelCache, version| {
            cache
                .opened_in_epoch(5)
                .is_some_and(|epoch| cache.unchanged_since(epoch, version))
        };
        cache.store_changed(1);
        assert!(!keep(&mut cache, Some(1)), "first open: nothing cached yet");
        assert!(keep(&mut cache, Some(1)));
        assert!(
            !keep(&mut cache, Some(2)),
            "another process committed since the last look"
        );
        cache.store_changed(2);
        cache.take();
        assert!(!keep(&mut cache, Some(2)), "an invalidation came between");
        assert!(keep(&mut cache, Some(2)));
        assert!(!keep(&mut cache, None), "the store could not say");
        let epoch = cache.opened_in_epoch(5).unwrap();
        cache.take();
        assert!(
            !cache.unchanged_since(epoch, Some(2)),
            "an invalidation between the two steps"
        );
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
        assert_eq!(cache.entry(0, 1, b"late", 0), SHORT_TTL);
    }
}
