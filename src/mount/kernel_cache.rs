//! What the kernel may cache of a shared mount, so that it can be told to
//! forget it when another process commits to the store.
//!
//! A shared mount hands out names (missing ones too: negative entries) and
//! attributes with a long TTL and records them here. When the store changes
//! under the mount (`PRAGMA data_version` moves: another connection
//! committed), the mount cannot tell what changed, so it takes the record
//! ([`KernelCache::take`]) and makes the kernel forget all of it: the kernel
//! asks again, and gets the new state. Names that exist are only expired,
//! never unhashed: a process whose current directory (or running program)
//! one of them is would otherwise find it gone (`getcwd` fails with ENOENT).
//! Expiring needs Linux 6.2 (FUSE 7.38); on an older kernel names that exist
//! keep a short TTL and are not recorded.
//! The kernel also keeps a file's pages and a directory's listing from one
//! open to the next, as long as no invalidation came between
//! ([`KernelCache::opened_in_epoch`]).

use super::notify::KernelLink;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long the kernel may cache what is recorded here (names,
/// attributes): a foreign commit invalidates it within a tick of the mount's
/// timer, so the TTL only bounds how long a missed invalidation (the kernel
/// refusing one) could last.
pub(super) const LONG_TTL: Duration = Duration::from_secs(60);
/// The TTL of what the record has no room for, or cannot invalidate safely:
/// the staleness another process's changes may have, as before there was a
/// record at all.
pub(super) const SHORT_TTL: Duration = Duration::from_secs(1);
/// Names recorded at most (about 100 bytes each).
const MAX_NAMES: usize = 1 << 20;

/// Names by parent directory.
type Names = HashMap<u64, HashSet<Vec<u8>>>;

/// Names and inodes handed to the kernel with [`LONG_TTL`].
#[derive(Default)]
pub(super) struct KernelCache {
    /// Missing names, invalidated whole (a negative entry has no users).
    missing: Names,
    /// Names that exist, only expired (see the module's doc).
    present: Names,
    /// How many names `missing` and `present` hold.
    count: usize,
    /// Whether the kernel can expire a name without unhashing it: only then
    /// do names that exist get [`LONG_TTL`].
    expire_only: bool,
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

/// What a foreign commit makes stale.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Stale {
    /// Missing names, to invalidate.
    pub(super) missing: Vec<(u64, Vec<u8>)>,
    /// Names that exist, to expire.
    pub(super) present: Vec<(u64, Vec<u8>)>,
    /// Inodes whose attributes and pages to drop.
    pub(super) inodes: Vec<u64>,
}

/// Adds `name` in `parent` to `names` unless it is there; false when the
/// record is full.
fn record(names: &mut Names, count: &mut usize, parent: u64, name: &[u8]) -> bool {
    if names.get(&parent).is_some_and(|n| n.contains(name)) {
        return true;
    }
    if *count >= MAX_NAMES {
        return false;
    }
    names.entry(parent).or_default().insert(name.to_vec());
    *count += 1;
    true
}

/// Removes `name` in `parent` from `names`, if there.
fn forget(names: &mut Names, count: &mut usize, parent: u64, name: &[u8]) {
    if let Some(set) = names.get_mut(&parent)
        && set.remove(name)
    {
        *count -= 1;
    }
}

/// Every name in `names`, which it empties.
fn drain(names: &mut Names) -> Vec<(u64, Vec<u8>)> {
    std::mem::take(names)
        .into_iter()
        .flat_map(|(parent, names)| names.into_iter().map(move |n| (parent, n)))
        .collect()
}

impl KernelCache {
    /// The current epoch: read it before reading the store for a reply.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The kernel can (or cannot) expire a name without unhashing it.
    pub(super) fn set_expire_only(&mut self, supported: bool) {
        self.expire_only = supported;
    }

    /// Records `name` in `parent` (naming `ino`, or nothing when 0) for a
    /// reply read from the store in `epoch`; returns the TTL to hand it out
    /// with (the entry's and its attributes').
    pub(super) fn entry(&mut self, epoch: u64, parent: u64, name: &[u8], ino: u64) -> Duration {
        self.inodes.insert(parent);
        if ino == 0 {
            if !record(&mut self.missing, &mut self.count, parent, name) {
                return SHORT_TTL;
            }
            return self.ttl(epoch);
        }
        self.inodes.insert(ino);
        // A listing's "." and "..": the kernel makes no entries of them.
        if name == b"." || name == b".." {
            return self.ttl(epoch);
        }
        if !self.exists(parent, name) {
            return SHORT_TTL;
        }
        self.ttl(epoch)
    }

    /// `name` in `parent` exists now (looked up, created, or a rename's
    /// target through this mount): it is no longer a missing name, and is
    /// expired on the next foreign commit. False when it cannot be (an old
    /// kernel, or a full record): the kernel must not cache it for long.
    pub(super) fn exists(&mut self, parent: u64, name: &[u8]) -> bool {
        forget(&mut self.missing, &mut self.count, parent, name);
        self.expire_only && record(&mut self.present, &mut self.count, parent, name)
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
    /// last look, given its `data_version` now. A shared mount takes its
    /// first look before it hands anything out; without one, the first look
    /// counts as a change: whatever was handed out before it may predate a
    /// commit that no look has seen yet.
    pub(super) fn store_changed(&mut self, version: i64) -> bool {
        self.seen.replace(version) != Some(version)
    }

    /// Empties the record, returning what the kernel must forget.
    pub(super) fn take(&mut self) -> Stale {
        self.count = 0;
        self.epoch += 1;
        Stale {
            missing: drain(&mut self.missing),
            present: drain(&mut self.present),
            inodes: std::mem::take(&mut self.inodes).into_iter().collect(),
        }
    }
}

/// A shared mount's record, and the channel that makes the kernel forget it.
#[derive(Clone)]
pub(super) struct Invalidator {
    pub(super) record: Arc<Mutex<KernelCache>>,
    pub(super) kernel: Arc<OnceLock<KernelLink>>,
}

impl Invalidator {
    /// Given the store's `data_version` now: if another connection committed
    /// since the last call, tells the kernel to forget every recorded name
    /// and inode (which ones changed is not known here, and the TTLs are
    /// long). Call it without the mount's lock: the kernel may hold a
    /// directory's lock while a request thread waits for ours.
    pub(super) fn after_commits(&self, version: i64) {
        let Some(kernel) = self.kernel.get() else {
            return;
        };
        let stale = {
            let mut record = super::vaultfs::lock(&self.record);
            if !record.store_changed(version) {
                return;
            }
            record.take()
        };
        for (parent, name) in stale.missing {
            let _ = kernel.inval_entry(parent, &name);
        }
        for (parent, name) in stale.present {
            let refused = kernel
                .expire_entry(parent, &name)
                .is_err_and(|e| e.raw_os_error() == Some(nix::libc::EINVAL));
            if refused {
                // A kernel that does not know the flag: stop caching names
                // that exist for long, and drop this one as best it can be.
                super::vaultfs::lock(&self.record).set_expire_only(false);
                let _ = kernel.inval_entry(parent, &name);
            }
        }
        for ino in stale.inodes {
            let _ = kernel.inval_inode(ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recorded_once_and_taken_whole() {
        let mut cache = KernelCache::default();
        cache.set_expire_only(true);
        assert_eq!(cache.entry(0, 1, b"a", 5), LONG_TTL, "a name that exists");
        cache.entry(0, 5, b"..", 1);
        assert_eq!(cache.entry(0, 5, b"missing", 0), LONG_TTL);
        assert_eq!(cache.entry(0, 5, b"missing", 0), LONG_TTL);
        assert_eq!(cache.entry(0, 5, b"made", 0), LONG_TTL);
        assert!(cache.exists(5, b"made"));
        assert_eq!(cache.attr(0, 5), LONG_TTL);
        assert_eq!(cache.attr(0, 9), LONG_TTL);
        let mut stale = cache.take();
        stale.present.sort();
        stale.inodes.sort();
        assert_eq!(stale.missing, vec![(5, b"missing".to_vec())]);
        assert_eq!(
            stale.present,
            vec![(1, b"a".to_vec()), (5, b"made".to_vec())],
            "names that exist, to expire"
        );
        assert_eq!(
            stale.inodes,
            vec![1, 5, 9],
            "every inode whose attributes went out"
        );
        assert_eq!(cache.take(), Stale::default(), "forgotten once taken");
    }

    #[test]
    fn without_expire_only_names_that_exist_are_short_and_unrecorded() {
        let mut cache = KernelCache::default();
        assert_eq!(cache.entry(0, 1, b"a", 5), SHORT_TTL);
        assert_eq!(cache.entry(0, 1, b"gone", 0), LONG_TTL);
        assert!(!cache.exists(1, b"gone"), "created: not recorded either");
        let stale = cache.take();
        assert!(stale.present.is_empty() && stale.missing.is_empty());
        assert_eq!(stale.inodes.len(), 2, "attributes are still invalidated");
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
            expire_only: true,
            ..KernelCache::default()
        };
        assert_eq!(cache.entry(0, 1, b"late", 0), SHORT_TTL);
        assert_eq!(cache.entry(0, 1, b"there", 7), SHORT_TTL);
    }
}
