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

/// Where a directory inode is in one state (cached; `None` when unreachable).
struct DirPaths<'t, 'c> {
    tree: &'t Tree<'c>,
    known: HashMap<u64, Option<VaultPath>>,
}

impl<'t, 'c> DirPaths<'t, 'c> {
    fn new(tree: &'t Tree<'c>) -> Self {
        let mut known = HashMap::new();
        known.insert(ROOT_INO, Some(VaultPath::root()));
        Self { tree, known }
    }

    fn path_of(&mut self, dir: u64) -> Result<Option<VaultPath>> {
        // Walk up to a known ancestor, then fill the cache on the way down.
        let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut at = dir;
        let mut base = loop {
            if let Some(known) = self.known.get(&at) {
                break known.clone();
            }
            match self.tree.links_to(at)?.into_iter().next() {
                Some((parent, name)) => {
                    pending.push((at, name));
                    at = parent;
                }
                None => {
                    self.known.insert(at, None);
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
            self.known.insert(ino, base.clone());
        }
        Ok(base)
    }
}

/// Resolves a path, treating "an ancestor is not a directory" as absent.
fn entry_at(tree: &Tree<'_>, path: &VaultPath) -> Result<Option<Attr>> {
    match tree.resolve(path) {
        Err(VaultError::NotADirectory(_)) => Ok(None),
        other => other,
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

    let mut candidates: BTreeSet<VaultPath> = BTreeSet::new();
    for tree in [&before, &after] {
        let mut dirs = DirPaths::new(tree);
        for (parent, name) in &touched_entries {
            if let Some(dir) = dirs.path_of(*parent)? {
                candidates.insert(dir.join(name));
            }
        }
        for &ino in &touched_inodes {
            if ino == ROOT_INO {
                candidates.insert(VaultPath::root());
                continue;
            }
            for (parent, name) in tree.links_to(ino)? {
                if let Some(dir) = dirs.path_of(parent)? {
                    candidates.insert(dir.join(&name));
                }
            }
        }
    }

    let mut queue: Vec<VaultPath> = candidates.into_iter().collect();
    let mut seen: HashSet<VaultPath> = queue.iter().cloned().collect();
    let mut changes = Vec::new();
    while let Some(path) = queue.pop() {
        let a = entry_at(&before, &path)?;
        let b = entry_at(&after, &path)?;
        // A directory that is not the same inode on the other side brings its subtree.
        for (tree, this, other) in [(&before, &a, &b), (&after, &b, &a)] {
            let replaced = this
                .as_ref()
                .filter(|d| d.kind == Kind::Dir && other.as_ref().map(|o| o.ino) != Some(d.ino));
            if let Some(dir) = replaced {
                for (name, _) in tree.entries(dir.ino)? {
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
    if !filter.is_empty() {
        changes.retain(|c| filter.iter().any(|f| c.path.starts_with(f)));
    }
    changes.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(changes)
}
