//! Differences between two states of a vault, in O(changes).
//!
//! Two states share the layers of their common ancestor; only rows in the
//! layers they do not share can differ. Every directory entry and inode those
//! rows touch is turned into paths in both states, and the entries at those
//! paths are compared. A directory replaced or moved (a different inode at the
//! same path) contributes its whole subtree, as a path-based user expects.
//!
//! Only kind, permission bits, content and symlink target count: a change of
//! mtime alone is not a change (as in git).

use super::content::ContentHash;
use super::error::{Result, VaultError};
use super::layer;
use super::path::VaultPath;
use super::tree::{Attr, Kind, ROOT_INO, Tree};
use rusqlite::Connection;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What happened at a path.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ChangeKind {
    /// Exists only in the newer state.
    Added,
    /// Same kind in both, different mode, content or target.
    Modified,
    /// Exists only in the older state.
    Deleted,
    /// A different kind (file, dir, symlink) in each state.
    TypeChanged,
}

impl ChangeKind {
    /// `added`, `modified`, `deleted` or `type_changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::TypeChanged => "type_changed",
        }
    }
}

/// The side of a change: what was at the path in one state.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EntryState {
    /// File, directory, symlink, fifo, socket or device node.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes (symlinks: target length; directories: 0).
    pub size: u64,
    /// File content hash.
    pub content: Option<ContentHash>,
    /// Symlink target.
    pub target: Option<Vec<u8>>,
    /// A device node's device number (0 otherwise).
    pub rdev: u64,
}

impl From<&Attr> for EntryState {
    fn from(a: &Attr) -> Self {
        Self {
            kind: a.kind,
            mode: a.mode,
            size: a.size,
            content: a.content,
            target: a.target.clone(),
            rdev: a.rdev,
        }
    }
}

/// One changed path.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Change {
    /// The path that changed.
    pub path: VaultPath,
    /// How it changed.
    pub change: ChangeKind,
    /// What was there before, if anything.
    pub before: Option<EntryState>,
    /// What is there after, if anything.
    pub after: Option<EntryState>,
}

/// One state as the diff sees it: where its directories are, both ways,
/// and which inodes were found at their only path. All of it cached, so a
/// path costs one lookup below an already known directory.
struct Side<'t, 'c> {
    tree: &'t Tree<'c>,
    /// Directory inode → its path (`None` when unreachable).
    paths: HashMap<u64, Option<VaultPath>>,
    /// Path → its directory inode (`None` when absent or not a directory).
    dirs: HashMap<VaultPath, Option<u64>>,
    /// Inodes met at a path that is their only link (a directory, or
    /// `nlink` 1): their links need not be looked up.
    located: HashSet<u64>,
}

impl<'t, 'c> Side<'t, 'c> {
    fn new(tree: &'t Tree<'c>) -> Self {
        let mut paths = HashMap::new();
        paths.insert(ROOT_INO, Some(VaultPath::root()));
        let mut dirs = HashMap::new();
        dirs.insert(VaultPath::root(), Some(ROOT_INO));
        Self {
            tree,
            paths,
            dirs,
            located: HashSet::new(),
        }
    }

    /// The path of directory `dir` in this state.
    fn path_of(&mut self, dir: u64) -> Result<Option<VaultPath>> {
        // Walk up to a known ancestor, then fill the cache on the way down.
        let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut at = dir;
        let mut base = loop {
            if let Some(known) = self.paths.get(&at) {
                break known.clone();
            }
            match self.tree.links_to(at)?.into_iter().next() {
                Some((parent, name)) => {
                    pending.push((at, name));
                    at = parent;
                }
                None => {
                    self.paths.insert(at, None);
                    break None;
                }
            }
            if pending.len() > 100_000 {
                return Err(VaultError::Corrupt(format!(
                    "directory {dir} is its own ancestor"
                )));
            }
        };
        while let Some((ino, name)) = pending.pop() {
            base = base.map(|p| p.join(&name));
            if let Some(path) = &base {
                self.dirs.insert(path.clone(), Some(ino));
            }
            self.paths.insert(ino, base.clone());
        }
        Ok(base)
    }

    /// The directory inode at `path`, if `path` names a directory here.
    fn dir_at(&mut self, path: &VaultPath) -> Result<Option<u64>> {
        if let Some(known) = self.dirs.get(path) {
            return Ok(*known);
        }
        let found = match self.entry_at(path)? {
            Some(attr) if attr.kind == Kind::Dir => Some(attr.ino),
            _ => None,
        };
        self.dirs.insert(path.clone(), found);
        Ok(found)
    }

    /// The entry at `path`; absent also when an ancestor is not a directory.
    fn entry_at(&mut self, path: &VaultPath) -> Result<Option<Attr>> {
        let ino = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => match self.dir_at(&parent)? {
                Some(dir) => self.tree.lookup(dir, name)?,
                None => None,
            },
            _ => Some(ROOT_INO),
        };
        let Some(attr) = ino.map(|ino| self.tree.attr(ino)).transpose()?.flatten() else {
            return Ok(None);
        };
        if attr.kind == Kind::Dir {
            self.dirs.insert(path.clone(), Some(attr.ino));
        }
        if attr.kind == Kind::Dir || attr.nlink <= 1 {
            self.located.insert(attr.ino);
        }
        Ok(Some(attr))
    }
}

fn compare(before: Option<&Attr>, after: Option<&Attr>) -> Option<ChangeKind> {
    match (before, after) {
        (None, None) => None,
        (None, Some(_)) => Some(ChangeKind::Added),
        (Some(_), None) => Some(ChangeKind::Deleted),
        (Some(a), Some(b)) if a.kind != b.kind => Some(ChangeKind::TypeChanged),
        (Some(a), Some(b)) => {
            let same = a.mode == b.mode && a.content == b.content && a.target == b.target;
            (!same).then_some(ChangeKind::Modified)
        }
    }
}

/// Compares both sides at every queued path (and, for a directory that is
/// not the same inode on both, at its whole subtree).
fn compare_paths(
    sides: &mut [Side<'_, '_>; 2],
    queue: &mut Vec<VaultPath>,
    seen: &mut HashSet<VaultPath>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    while let Some(path) = queue.pop() {
        let a = sides[0].entry_at(&path)?;
        let b = sides[1].entry_at(&path)?;
        // A directory that is not the same inode on the other side brings its subtree.
        for (side, this, other) in [(&sides[0], &a, &b), (&sides[1], &b, &a)] {
            let replaced = this
                .as_ref()
                .filter(|d| d.kind == Kind::Dir && other.as_ref().map(|o| o.ino) != Some(d.ino));
            if let Some(dir) = replaced {
                for (name, _) in side.tree.entries(dir.ino)? {
                    let child = path.join(&name);
                    if seen.insert(child.clone()) {
                        queue.push(child);
                    }
                }
            }
        }
        if let Some(change) = compare(a.as_ref(), b.as_ref()) {
            changes.push(Change {
                path,
                change,
                before: a.as_ref().map(EntryState::from),
                after: b.as_ref().map(EntryState::from),
            });
        }
    }
    Ok(())
}

/// The changes that turn the state under `from_top` into the state under `to_top`.
pub fn diff(
    conn: &Connection,
    from_top: i64,
    to_top: i64,
    filter: &[VaultPath],
) -> Result<Vec<Change>> {
    let before = Tree::new(conn, from_top)?;
    let after = Tree::new(conn, to_top)?;
    let from_chain: HashSet<i64> = layer::chain(conn, from_top)?.into_iter().collect();
    let to_chain: HashSet<i64> = layer::chain(conn, to_top)?.into_iter().collect();

    let mut touched_entries: BTreeSet<(u64, Vec<u8>)> = BTreeSet::new();
    let mut touched_inodes: BTreeSet<u64> = BTreeSet::new();
    let mut entries_stmt =
        conn.prepare_cached("SELECT parent, name FROM dirents WHERE layer = ?1")?;
    let mut inodes_stmt = conn.prepare_cached("SELECT ino FROM inodes WHERE layer = ?1")?;
    for layer in from_chain.symmetric_difference(&to_chain) {
        for row in
            entries_stmt.query_map([layer], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
        {
            touched_entries.insert(row?);
        }
        for row in inodes_stmt.query_map([layer], |r| r.get::<_, i64>(0))? {
            touched_inodes.insert(row? as u64);
        }
    }

    let mut sides = [Side::new(&before), Side::new(&after)];
    let mut queue: Vec<VaultPath> = Vec::new();
    let mut seen: HashSet<VaultPath> = HashSet::new();
    for side in &mut sides {
        for (parent, name) in &touched_entries {
            if let Some(dir) = side.path_of(*parent)? {
                let path = dir.join(name);
                if seen.insert(path.clone()) {
                    queue.push(path);
                }
            }
        }
    }
    let mut changes = Vec::new();
    compare_paths(&mut sides, &mut queue, &mut seen, &mut changes)?;
    // Touched inodes at paths no touched entry named (content changed in
    // place, or another link of a changed file). An inode already met at
    // its only link has no other path to find.
    for &ino in &touched_inodes {
        if ino == ROOT_INO {
            if seen.insert(VaultPath::root()) {
                queue.push(VaultPath::root());
            }
            continue;
        }
        for side in &mut sides {
            if side.located.contains(&ino) {
                continue;
            }
            for (parent, name) in side.tree.links_to(ino)? {
                if let Some(dir) = side.path_of(parent)? {
                    let path = dir.join(&name);
                    if seen.insert(path.clone()) {
                        queue.push(path);
                    }
                }
            }
        }
    }
    compare_paths(&mut sides, &mut queue, &mut seen, &mut changes)?;
    if !filter.is_empty() {
        changes.retain(|c| filter.iter().any(|f| c.path.starts_with(f)));
    }
    changes.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{Op, Owner, StateRef, Store, TreeWriter};
    use std::collections::BTreeMap;

    /// Every path of a state and what is there, read by walking the whole tree.
    fn everything(store: &mut Store, at: &StateRef) -> BTreeMap<VaultPath, Attr> {
        store
            .read(at, |t| t.walk(&VaultPath::root()))
            .unwrap()
            .into_iter()
            .collect()
    }

    /// The diff by brute force: both states compared at every path either has.
    fn compared_everywhere(store: &mut Store, from: &StateRef, to: &StateRef) -> Vec<Change> {
        let (a, b) = (everything(store, from), everything(store, to));
        let paths: BTreeSet<&VaultPath> = a.keys().chain(b.keys()).collect();
        paths
            .into_iter()
            .filter_map(|p| {
                let (x, y) = (a.get(p), b.get(p));
                compare(x, y).map(|change| Change {
                    path: p.clone(),
                    change,
                    before: x.map(EntryState::from),
                    after: y.map(EntryState::from),
                })
            })
            .collect()
    }

    /// One random change to the tree (errors such as "no such path" are fine:
    /// the op then changes nothing, as its savepoint rolls back).
    fn random_change(w: &TreeWriter<'_>, roll: &mut impl FnMut(u64) -> u64) -> Result<()> {
        const NAMES: [&str; 6] = ["a", "b", "d", "e", "d/x", "e/y"];
        let mut pick =
            || VaultPath::parse(NAMES[roll(NAMES.len() as u64) as usize].as_bytes()).unwrap();
        let (p, q) = (pick(), pick());
        let body = format!("{}", roll(3));
        match roll(8) {
            0 | 1 => w.write_file(&p, body.as_bytes(), false, 0o644).map(|_| ()),
            2 => w.mkdir(&p, false, 0o755).map(|_| ()),
            3 => w.remove(&p, true),
            4 => w.rename_path(&p, &q),
            5 => {
                // A hard link, so that a change through one name shows at the other.
                let attr = w.stat(&p)?;
                let (parent, name) = (q.parent().unwrap(), q.file_name().unwrap().to_vec());
                let dir = w.dir(&parent)?;
                w.link(attr.ino, dir.ino, &name).map(|_| ())
            }
            6 => {
                // New content in place: no directory entry changes.
                let attr = w.stat(&p)?;
                let (hash, size) = w.store_content(body.as_bytes())?;
                w.set_content(attr.ino, hash, size).map(|_| ())
            }
            _ => {
                let attr = w.stat(&p)?;
                w.set_meta(attr.ino, Some(0o600 | (roll(2) as u32) << 6), None)
                    .map(|_| ())
            }
        }
    }

    #[test]
    fn diff_agrees_with_comparing_every_path() {
        for seed in 1..=100u64 {
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut roll = move |n: u64| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % n
            };
            let mut store = Store::open_in_memory(Owner::default()).unwrap();
            store.create_vault("v").unwrap();
            let head = StateRef::Head { vault: "v".into() };
            let mut saved = Vec::new();
            for step in 0..30 {
                let _ = store.write("v", Op::new("test", ""), |w| random_change(w, &mut roll));
                if step % 3 == 2 {
                    let name = format!("c{step}");
                    store.checkpoint_save("v", &name, None).unwrap();
                    saved.push(StateRef::Checkpoint {
                        vault: "v".into(),
                        name,
                    });
                }
            }
            for from in &saved {
                for to in saved.iter().chain([&head]) {
                    let fast = store.diff(from, to, &[]).unwrap();
                    let slow = compared_everywhere(&mut store, from, to);
                    assert_eq!(fast, slow, "seed {seed}: {from:?} -> {to:?}");
                }
            }
        }
    }

    #[test]
    fn a_change_through_one_link_shows_at_every_other_link() {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        let a = VaultPath::parse(b"a").unwrap();
        store
            .write("v", Op::new("test", ""), |w| {
                let attr = w.write_file(&a, &b"one"[..], false, 0o644)?;
                w.link(attr.ino, ROOT_INO, b"b").map(|_| ())
            })
            .unwrap();
        store.checkpoint_save("v", "c0", None).unwrap();
        // `b` is touched but names the same inode before and after; `a` is not touched.
        store
            .write("v", Op::new("test", ""), |w| {
                let attr = w.stat(&a)?;
                w.unlink(ROOT_INO, b"b")?;
                w.link(attr.ino, ROOT_INO, b"b")?;
                let (hash, size) = w.store_content(&b"two"[..])?;
                w.set_content(attr.ino, hash, size).map(|_| ())
            })
            .unwrap();
        let from = StateRef::Checkpoint {
            vault: "v".into(),
            name: "c0".into(),
        };
        let changed: Vec<_> = store
            .diff(&from, &StateRef::Head { vault: "v".into() }, &[])
            .unwrap()
            .into_iter()
            .map(|c| (c.path.to_string(), c.change))
            .collect();
        assert_eq!(
            changed,
            [
                ("/a".to_string(), ChangeKind::Modified),
                ("/b".to_string(), ChangeKind::Modified)
            ]
        );
    }
}
