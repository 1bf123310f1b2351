//! Model-based tests of the store (`src/vault`).
//!
//! Random sequences of steps run against both a real in-memory [`Store`] and
//! a plain model: per vault, a map from path to node (directory, file bytes,
//! symlink target, and mode) plus a map from checkpoint name to a frozen copy
//! of that map. Steps: write, append, mkdir (-p or not), rm (-r or not), mv
//! (replace through the path API; no-replace and exchange through the inode
//! API, as the mount uses them), cp (-r or not), ln -s, chmod, touch (mtime
//! only), several of those in one transaction (committed or aborted),
//! checkpoint save / restore / delete, vault fork / create / delete.
//!
//! After every step the store must agree with the model:
//!
//! - an operation the model rejects fails in the store too, never with an
//!   internal error, and leaves the store unchanged (a failed `Store::write`
//!   rolls back); one the model accepts succeeds;
//! - every vault head reads back exactly as modelled (kind, mode, bytes,
//!   symlink target), which shows that a fork never sees its parent's later
//!   writes nor the parent the fork's; what the model does not predict
//!   (inode numbers, mtime, ctime, owner, link count) must not change unless
//!   the vault was written to, and is carried exactly by checkpoints,
//!   restores and forks;
//! - every 10 steps (every step in short cases, so shrunk failures are
//!   minimal), and at the end, every checkpoint of every vault reads back as
//!   it was saved, byte for byte and stamp for stamp (frozen layers never
//!   change), and `Store::diff` between pairs of states (checkpoint and head,
//!   two vaults, with and without a path filter) equals the model's
//!   path-by-path comparison.
//!
//! Paths come from a tiny alphabet (`a`, `b`, `c`, depth 1 to 3), and most
//! steps name paths that exist when they run, so operations collide often.
//! File sizes straddle the inline limit and the chunk size.
//!
//! `PROPTEST_CASES=n` changes the number of cases (64 by default);
//! `MODEL_TRACE=1` prints the steps of every passing case (to check the mix).

use avfs::vault::{
    CHUNK_SIZE, ChangeKind, ContentHash, EntryState, Kind, Op, Owner, RenameMode, StateRef, Store,
    TreeWriter, VaultError, VaultPath,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::rc::Rc;

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// One entry of a modelled tree.
#[derive(Clone, PartialEq, Eq)]
enum Node {
    Dir { mode: u32 },
    File { data: Rc<Vec<u8>>, mode: u32 },
    Symlink { target: Vec<u8>, mode: u32 },
}

impl Node {
    fn kind(&self) -> Kind {
        match self {
            Node::Dir { .. } => Kind::Dir,
            Node::File { .. } => Kind::File,
            Node::Symlink { .. } => Kind::Symlink,
        }
    }

    fn mode(&self) -> u32 {
        match self {
            Node::Dir { mode } | Node::File { mode, .. } | Node::Symlink { mode, .. } => *mode,
        }
    }

    fn size(&self) -> u64 {
        match self {
            Node::Dir { .. } => 0,
            Node::File { data, .. } => data.len() as u64,
            Node::Symlink { target, .. } => target.len() as u64,
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }
}

/// FNV-1a, to name file contents briefly in failure messages.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Dir { mode } => write!(f, "dir {mode:o}"),
            Node::File { data, mode } => {
                write!(f, "file {mode:o} len={} fnv={:016x}", data.len(), fnv(data))
            }
            Node::Symlink { target, mode } => {
                write!(f, "symlink {mode:o} -> {}", String::from_utf8_lossy(target))
            }
        }
    }
}

/// A modelled tree: every path (the root included) to its node.
type Fs = BTreeMap<VaultPath, Node>;

fn empty_fs() -> Fs {
    BTreeMap::from([(VaultPath::root(), Node::Dir { mode: 0o755 })])
}

/// One modelled vault.
struct VaultModel {
    name: String,
    head: Fs,
    /// What the store's head must show beyond the model (inodes, times,
    /// owners); `None` right after a change, until the next read learns it.
    stamps: Option<Stamps>,
    /// Each checkpoint's tree and the stamps it had when it was taken.
    checkpoints: BTreeMap<String, (Fs, Stamps)>,
}

/// What the model does not predict but a frozen state must keep exactly:
/// per path, (inode, mtime, ctime, uid, gid, nlink).
type Stamps = BTreeMap<VaultPath, (u64, i64, i64, u32, u32, u32)>;

fn vp(s: &str) -> VaultPath {
    VaultPath::parse_str(s).expect("test paths are valid")
}

/// True if `p` has a parent and it is a directory (what `parent_of` needs).
fn parent_is_dir(fs: &Fs, p: &VaultPath) -> bool {
    p.parent()
        .and_then(|parent| fs.get(&parent))
        .is_some_and(Node::is_dir)
}

fn has_children(fs: &Fs, p: &VaultPath) -> bool {
    fs.keys().any(|k| k != p && k.starts_with(p))
}

/// `p` with its prefix `from` replaced by `to`.
fn reroot(p: &VaultPath, from: &VaultPath, to: &VaultPath) -> VaultPath {
    p.components()[from.components().len()..]
        .iter()
        .fold(to.clone(), |acc, name| acc.join(name))
}

fn subtree(fs: &Fs, p: &VaultPath) -> Vec<(VaultPath, Node)> {
    fs.iter()
        .filter(|(k, _)| k.starts_with(p))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn remove_subtree(fs: &mut Fs, p: &VaultPath) {
    fs.retain(|k, _| !k.starts_with(p));
}

/// File content made from a cheap pattern: `len` bytes, varied by `seed`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Content {
    len: usize,
    seed: u8,
}

impl Content {
    fn bytes(self) -> Vec<u8> {
        (0..self.len)
            .map(|i| {
                ((i as u32)
                    .wrapping_mul(31)
                    .wrapping_add(self.seed as u32 * 7)
                    % 251) as u8
            })
            .collect()
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B#{}", self.len, self.seed)
    }
}

/// A tree operation, applied through one `Store::write`. `P` is how paths
/// are given: a [`PathSpec`] when generated, a string once resolved.
#[derive(Clone)]
enum TreeOp<P = String> {
    Write {
        path: P,
        content: Content,
        append: bool,
        mode: u32,
    },
    Mkdir {
        path: P,
        parents: bool,
        mode: u32,
    },
    Remove {
        path: P,
        recursive: bool,
    },
    /// `Replace` goes through the path API (`rename_path`); the other modes
    /// through the inode API, as the mount calls it.
    Rename {
        src: P,
        dst: P,
        mode: RenameMode,
    },
    Copy {
        src: P,
        dst: P,
        recursive: bool,
    },
    Symlink {
        path: P,
        target: String,
    },
    Chmod {
        path: P,
        mode: u32,
    },
    /// Sets only the modification time: no change as far as diff goes.
    Touch {
        path: P,
        mtime_ns: i64,
    },
}

impl<P> TreeOp<P> {
    /// The same operation with every path mapped by `f`.
    fn map<Q>(&self, mut f: impl FnMut(&P) -> Q) -> TreeOp<Q> {
        match self {
            TreeOp::Write {
                path,
                content,
                append,
                mode,
            } => TreeOp::Write {
                path: f(path),
                content: *content,
                append: *append,
                mode: *mode,
            },
            TreeOp::Mkdir {
                path,
                parents,
                mode,
            } => TreeOp::Mkdir {
                path: f(path),
                parents: *parents,
                mode: *mode,
            },
            TreeOp::Remove { path, recursive } => TreeOp::Remove {
                path: f(path),
                recursive: *recursive,
            },
            TreeOp::Rename { src, dst, mode } => TreeOp::Rename {
                src: f(src),
                dst: f(dst),
                mode: *mode,
            },
            TreeOp::Copy {
                src,
                dst,
                recursive,
            } => TreeOp::Copy {
                src: f(src),
                dst: f(dst),
                recursive: *recursive,
            },
            TreeOp::Symlink { path, target } => TreeOp::Symlink {
                path: f(path),
                target: target.clone(),
            },
            TreeOp::Chmod { path, mode } => TreeOp::Chmod {
                path: f(path),
                mode: *mode,
            },
            TreeOp::Touch { path, mtime_ns } => TreeOp::Touch {
                path: f(path),
                mtime_ns: *mtime_ns,
            },
        }
    }
}

impl TreeOp {
    /// The bytes a write writes, made once for both the model and the store.
    fn data(&self) -> Option<Rc<Vec<u8>>> {
        match self {
            TreeOp::Write { content, .. } => Some(Rc::new(content.bytes())),
            _ => None,
        }
    }
}

impl<P: fmt::Display> fmt::Debug for TreeOp<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |on: bool, flag: &'static str| if on { flag } else { "" };
        match self {
            TreeOp::Write {
                path,
                content,
                append,
                mode,
            } => {
                let op = if *append { "append" } else { "write" };
                write!(f, "{op} {path} {content:?} mode={mode:o}")
            }
            TreeOp::Mkdir {
                path,
                parents,
                mode,
            } => write!(f, "mkdir{} {path} mode={mode:o}", flag(*parents, " -p")),
            TreeOp::Remove { path, recursive } => write!(f, "rm{} {path}", flag(*recursive, " -r")),
            TreeOp::Rename { src, dst, mode } => {
                let flag = match mode {
                    RenameMode::Replace => "",
                    RenameMode::NoReplace => " --no-clobber",
                    RenameMode::Exchange => " --exchange",
                };
                write!(f, "mv{flag} {src} {dst}")
            }
            TreeOp::Copy {
                src,
                dst,
                recursive,
            } => write!(f, "cp{} {src} {dst}", flag(*recursive, " -r")),
            TreeOp::Symlink { path, target } => write!(f, "ln -s {target} {path}"),
            TreeOp::Chmod { path, mode } => write!(f, "chmod {mode:o} {path}"),
            TreeOp::Touch { path, mtime_ns } => write!(f, "touch -d @{mtime_ns}ns {path}"),
        }
    }
}

/// How a generated operation names a path. Most name something that exists
/// in the vault when the step runs, so that moves and copies mostly succeed.
#[derive(Clone)]
enum PathSpec {
    /// A literal path, existing or not.
    Literal(String),
    /// The `n`-th existing path below the root (modulo how many there are);
    /// the root if nothing else exists.
    Existing(usize),
    /// A name inside the `n`-th existing directory.
    Under(usize, &'static str),
}

impl fmt::Debug for PathSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PathSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSpec::Literal(p) => f.write_str(p),
            PathSpec::Existing(n) => write!(f, "<existing #{n}>"),
            PathSpec::Under(n, name) => write!(f, "<dir #{n}>/{name}"),
        }
    }
}

impl PathSpec {
    /// The concrete path this names in `fs`.
    fn resolve(&self, fs: &Fs) -> String {
        match self {
            PathSpec::Literal(p) => p.clone(),
            PathSpec::Existing(n) => {
                let below: Vec<&VaultPath> = fs.keys().filter(|p| !p.is_root()).collect();
                match below.len() {
                    0 => "/".to_string(),
                    len => below[n % len].to_string(),
                }
            }
            PathSpec::Under(n, name) => {
                let dirs: Vec<&VaultPath> = fs
                    .iter()
                    .filter(|(_, node)| node.is_dir())
                    .map(|(p, _)| p)
                    .collect();
                dirs[n % dirs.len()].join(name.as_bytes()).to_string()
            }
        }
    }
}

/// Applies a tree operation to the model; `Err` says why the store must refuse it.
/// On `Err`, `fs` may be half-changed: callers apply to a copy.
fn model_tree_op(fs: &mut Fs, op: &TreeOp, data: Option<&Rc<Vec<u8>>>) -> Result<(), &'static str> {
    match op {
        TreeOp::Write {
            path, append, mode, ..
        } => {
            let p = vp(path);
            let data = data.expect("a write has data");
            if !parent_is_dir(fs, &p) {
                return Err("parent is missing or not a directory");
            }
            match fs.get_mut(&p) {
                Some(Node::Dir { .. }) => Err("is a directory"),
                Some(Node::Symlink { .. }) => Err("is a symlink (not followed)"),
                Some(Node::File { data: old, .. }) => {
                    *old = if *append {
                        let mut joined = old.as_ref().clone();
                        joined.extend_from_slice(data);
                        Rc::new(joined)
                    } else {
                        data.clone()
                    };
                    Ok(())
                }
                None => {
                    fs.insert(
                        p,
                        Node::File {
                            data: data.clone(),
                            mode: mode & 0o7777,
                        },
                    );
                    Ok(())
                }
            }
        }
        TreeOp::Mkdir {
            path,
            parents: false,
            mode,
        } => {
            let p = vp(path);
            if !parent_is_dir(fs, &p) {
                return Err("parent is missing or not a directory");
            }
            if fs.contains_key(&p) {
                return Err("exists");
            }
            fs.insert(
                p,
                Node::Dir {
                    mode: mode & 0o7777,
                },
            );
            Ok(())
        }
        TreeOp::Mkdir {
            path,
            parents: true,
            mode,
        } => {
            let mut here = VaultPath::root();
            for name in vp(path).components() {
                here = here.join(name);
                match fs.get(&here) {
                    Some(Node::Dir { .. }) => {}
                    Some(_) => return Err("an ancestor is not a directory"),
                    None => {
                        fs.insert(
                            here.clone(),
                            Node::Dir {
                                mode: mode & 0o7777,
                            },
                        );
                    }
                }
            }
            Ok(())
        }
        TreeOp::Remove { path, recursive } => {
            let p = vp(path);
            if !parent_is_dir(fs, &p) {
                return Err("parent is missing or not a directory (or the root)");
            }
            match fs.get(&p) {
                None => Err("missing"),
                Some(Node::Dir { .. }) if !recursive => Err("is a directory"),
                Some(_) => {
                    remove_subtree(fs, &p);
                    Ok(())
                }
            }
        }
        TreeOp::Rename { src, dst, mode } => {
            let (src, dst) = (vp(src), vp(dst));
            if !parent_is_dir(fs, &src) || !parent_is_dir(fs, &dst) {
                return Err("a parent is missing or not a directory (or the root)");
            }
            let Some(node) = fs.get(&src) else {
                return Err("source missing");
            };
            if node.is_dir() && dst != src && dst.starts_with(&src) {
                return Err("directory into itself");
            }
            match mode {
                RenameMode::NoReplace if fs.contains_key(&dst) => return Err("destination exists"),
                RenameMode::Exchange => {
                    let Some(other) = fs.get(&dst) else {
                        return Err("destination missing");
                    };
                    if other.is_dir() && src != dst && src.starts_with(&dst) {
                        return Err("directory into itself");
                    }
                    let (here, there) = (subtree(fs, &src), subtree(fs, &dst));
                    remove_subtree(fs, &src);
                    remove_subtree(fs, &dst);
                    for (p, n) in here {
                        fs.insert(reroot(&p, &src, &dst), n);
                    }
                    for (p, n) in there {
                        fs.insert(reroot(&p, &dst, &src), n);
                    }
                    return Ok(());
                }
                _ => {}
            }
            if dst == src {
                return Ok(());
            }
            if let Some(existing) = fs.get(&dst) {
                match (node.is_dir(), existing.is_dir()) {
                    (true, false) => return Err("directory over non-directory"),
                    (false, true) => return Err("non-directory over directory"),
                    (true, true) if has_children(fs, &dst) => return Err("destination not empty"),
                    _ => {}
                }
            }
            let moved = subtree(fs, &src);
            remove_subtree(fs, &src);
            remove_subtree(fs, &dst);
            for (p, n) in moved {
                fs.insert(reroot(&p, &src, &dst), n);
            }
            Ok(())
        }
        TreeOp::Copy {
            src,
            dst,
            recursive,
        } => {
            let (src, dst) = (vp(src), vp(dst));
            let Some(node) = fs.get(&src).cloned() else {
                return Err("source missing");
            };
            if node.is_dir() {
                if !recursive {
                    return Err("directory without -r");
                }
                if dst.starts_with(&src) {
                    return Err("directory into itself");
                }
            }
            if !parent_is_dir(fs, &dst) {
                return Err("destination parent is missing or not a directory (or the root)");
            }
            if let Some(existing) = fs.get(&dst) {
                return match (&node, existing) {
                    (Node::File { .. }, Node::File { .. }) => {
                        fs.insert(dst, node);
                        Ok(())
                    }
                    _ => Err("destination exists"),
                };
            }
            for (p, n) in subtree(fs, &src) {
                fs.insert(reroot(&p, &src, &dst), n);
            }
            Ok(())
        }
        TreeOp::Symlink { path, target } => {
            let p = vp(path);
            if !parent_is_dir(fs, &p) {
                return Err("parent is missing or not a directory (or the root)");
            }
            if fs.contains_key(&p) {
                return Err("exists");
            }
            fs.insert(
                p,
                Node::Symlink {
                    target: target.as_bytes().to_vec(),
                    mode: 0o777,
                },
            );
            Ok(())
        }
        TreeOp::Chmod { path, mode: new } => match fs.get_mut(&vp(path)) {
            None => Err("missing"),
            Some(Node::Dir { mode } | Node::File { mode, .. } | Node::Symlink { mode, .. }) => {
                *mode = new & 0o7777;
                Ok(())
            }
        },
        TreeOp::Touch { path, .. } => match fs.contains_key(&vp(path)) {
            true => Ok(()),
            false => Err("missing"),
        },
    }
}

/// The same operation through the store's path API.
fn store_tree_op(
    w: &TreeWriter<'_>,
    op: &TreeOp,
    data: Option<&Rc<Vec<u8>>>,
) -> avfs::vault::Result<()> {
    let p = VaultPath::parse_str;
    match op {
        TreeOp::Write {
            path, append, mode, ..
        } => {
            let data = data.expect("a write has data");
            w.write_file(&p(path)?, &data[..], *append, *mode)?;
        }
        TreeOp::Mkdir {
            path,
            parents,
            mode,
        } => {
            w.mkdir(&p(path)?, *parents, *mode)?;
        }
        TreeOp::Remove { path, recursive } => w.remove(&p(path)?, *recursive)?,
        TreeOp::Rename {
            src,
            dst,
            mode: RenameMode::Replace,
        } => w.rename_path(&p(src)?, &p(dst)?)?,
        TreeOp::Rename { src, dst, mode } => {
            // What the mount does: resolve both parent directories, then rename by inode.
            let entry = |path: &str| -> avfs::vault::Result<(u64, Vec<u8>)> {
                let path = p(path)?;
                let name = path.file_name().ok_or_else(|| VaultError::InvalidPath {
                    path: "/".into(),
                    reason: "the root has no parent",
                })?;
                Ok((
                    w.dir(&path.parent().unwrap_or_default())?.ino,
                    name.to_vec(),
                ))
            };
            let ((sp, sn), (dp, dn)) = (entry(src)?, entry(dst)?);
            w.rename(sp, &sn, dp, &dn, *mode)?;
        }
        TreeOp::Copy {
            src,
            dst,
            recursive,
        } => {
            w.copy(&p(src)?, &p(dst)?, *recursive)?;
        }
        TreeOp::Symlink { path, target } => {
            w.symlink(&p(path)?, target.as_bytes())?;
        }
        TreeOp::Chmod { path, mode } => {
            let attr = w.stat(&p(path)?)?;
            w.set_meta(attr.ino, Some(*mode), None)?;
        }
        TreeOp::Touch { path, mtime_ns } => {
            let attr = w.stat(&p(path)?)?;
            w.set_meta(attr.ino, None, Some(*mtime_ns))?;
        }
    }
    Ok(())
}

/// What the model says `diff(from, to)` must return: path, change, and the
/// (kind, mode, size) on each side.
type DiffRow = (
    VaultPath,
    ChangeKind,
    Option<(Kind, u32, u64)>,
    Option<(Kind, u32, u64)>,
);

fn side(n: &Node) -> (Kind, u32, u64) {
    (n.kind(), n.mode(), n.size())
}

fn model_diff(from: &Fs, to: &Fs, filter: &[VaultPath]) -> Vec<DiffRow> {
    let mut paths: Vec<&VaultPath> = from.keys().chain(to.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for p in paths {
        if !filter.is_empty() && !filter.iter().any(|f| p.starts_with(f)) {
            continue;
        }
        let (a, b) = (from.get(p), to.get(p));
        let change = match (a, b) {
            (None, None) => None,
            (None, Some(_)) => Some(ChangeKind::Added),
            (Some(_), None) => Some(ChangeKind::Deleted),
            (Some(x), Some(y)) if x.kind() != y.kind() => Some(ChangeKind::TypeChanged),
            // Same kind: mode, bytes or target (never mtime) make a change.
            (Some(x), Some(y)) => (x != y).then_some(ChangeKind::Modified),
        };
        if let Some(change) = change {
            out.push((p.clone(), change, a.map(side), b.map(side)));
        }
    }
    out
}

fn store_side(e: &EntryState) -> (Kind, u32, u64) {
    (e.kind, e.mode, e.size)
}

// ---------------------------------------------------------------------------
// The steps a test case runs
// ---------------------------------------------------------------------------

/// One step. Vaults and checkpoints are chosen by index modulo what exists
/// when the step runs, so every shrunk sequence is still meaningful; the
/// failure message spells out what each step resolved to.
#[derive(Clone, Debug)]
enum Step {
    Tree {
        v: usize,
        op: TreeOp<PathSpec>,
    },
    /// Several operations in one transaction, each one's error ignored (as a
    /// caller may); with `abort` the transaction then fails and rolls back.
    Batch {
        v: usize,
        ops: Vec<TreeOp<PathSpec>>,
        abort: bool,
    },
    Save {
        v: usize,
        name: &'static str,
    },
    /// Restores the `pick`-th checkpoint (sorted by name); `None` names one
    /// that does not exist.
    Restore {
        v: usize,
        pick: Option<usize>,
    },
    DeleteCheckpoint {
        v: usize,
        pick: Option<usize>,
    },
    /// Forks into a new vault, or onto an existing name (which must fail).
    Fork {
        v: usize,
        onto: Option<usize>,
    },
    DeleteVault {
        v: usize,
    },
    /// A new, empty vault: it shares no layer with the others.
    CreateVault,
}

const NAMES: [&str; 3] = ["a", "b", "c"];

/// Paths: the root, a literal path, an existing path, a name in an existing
/// directory, with these weights.
fn paths(root: u32, literal: u32, existing: u32, under: u32) -> impl Strategy<Value = PathSpec> {
    prop_oneof![
        root => Just(PathSpec::Literal("/".to_string())),
        literal => prop::collection::vec(prop::sample::select(&NAMES[..]), 1..=3)
            .prop_map(|names| PathSpec::Literal(format!("/{}", names.join("/")))),
        existing => (0usize..64).prop_map(PathSpec::Existing),
        under => (0usize..64, prop::sample::select(&NAMES[..])).prop_map(|(n, name)| PathSpec::Under(n, name)),
    ]
}

/// A path to create or write.
fn path_strategy() -> impl Strategy<Value = PathSpec> {
    paths(1, 8, 8, 8)
}

/// A path that should mostly exist (what is moved, copied, removed, changed).
fn source_strategy() -> impl Strategy<Value = PathSpec> {
    paths(1, 3, 12, 3)
}

fn mode_strategy() -> impl Strategy<Value = u32> {
    // File-type bits in a mode are dropped, as `chmod` does.
    prop::sample::select(vec![0o644, 0o600, 0o755, 0o700, 0o444, 0o100644, 0o4755])
}

fn rename_mode_strategy() -> impl Strategy<Value = RenameMode> {
    prop_oneof![
        6 => Just(RenameMode::Replace),
        1 => Just(RenameMode::NoReplace),
        1 => Just(RenameMode::Exchange),
    ]
}

fn content_strategy() -> impl Strategy<Value = Content> {
    let len = prop_oneof![
        2 => Just(0usize),
        2 => Just(1),
        6 => Just(5),
        1 => Just(4096),
        2 => Just(4097),
        1 => Just(CHUNK_SIZE),
        1 => Just(CHUNK_SIZE + 3),
    ];
    (len, 0u8..4).prop_map(|(len, seed)| Content { len, seed })
}

fn tree_op_strategy() -> impl Strategy<Value = TreeOp<PathSpec>> {
    prop_oneof![
        6 => (path_strategy(), content_strategy(), prop::bool::weighted(0.3), mode_strategy())
            .prop_map(|(path, content, append, mode)| TreeOp::Write { path, content, append, mode }),
        5 => (path_strategy(), any::<bool>(), mode_strategy())
            .prop_map(|(path, parents, mode)| TreeOp::Mkdir { path, parents, mode }),
        3 => (source_strategy(), prop::bool::weighted(0.7))
            .prop_map(|(path, recursive)| TreeOp::Remove { path, recursive }),
        4 => (source_strategy(), path_strategy(), rename_mode_strategy())
            .prop_map(|(src, dst, mode)| TreeOp::Rename { src, dst, mode }),
        1 => (source_strategy(), source_strategy())
            .prop_map(|(src, dst)| TreeOp::Rename { src, dst, mode: RenameMode::Exchange }),
        3 => (source_strategy(), path_strategy(), prop::bool::weighted(0.8))
            .prop_map(|(src, dst, recursive)| TreeOp::Copy { src, dst, recursive }),
        2 => (path_strategy(), prop::sample::select(vec!["a", "../b", "/etc/passwd", "c/a"]))
            .prop_map(|(path, target)| TreeOp::Symlink { path, target: target.to_string() }),
        2 => (source_strategy(), mode_strategy()).prop_map(|(path, mode)| TreeOp::Chmod { path, mode }),
        1 => (source_strategy(), prop::sample::select(vec![0i64, -1, 1_700_000_000_123_456_789]))
            .prop_map(|(path, mtime_ns)| TreeOp::Touch { path, mtime_ns }),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let v = 0usize..6;
    prop_oneof![
        25 => (v.clone(), tree_op_strategy()).prop_map(|(v, op)| Step::Tree { v, op }),
        2 => (v.clone(), prop::collection::vec(tree_op_strategy(), 2..5), prop::bool::weighted(0.3))
            .prop_map(|(v, ops, abort)| Step::Batch { v, ops, abort }),
        // Users may name a checkpoint like the automatic ones.
        4 => (v.clone(), prop::sample::select(vec!["c0", "c1", "c2", "c0", "c1", "c2", "pre-restore-3", "pre-restore-5"]))
            .prop_map(|(v, name)| Step::Save { v, name }),
        3 => (v.clone(), prop::option::weighted(0.9, 0usize..8)).prop_map(|(v, pick)| Step::Restore { v, pick }),
        1 => (v.clone(), prop::option::weighted(0.9, 0usize..8))
            .prop_map(|(v, pick)| Step::DeleteCheckpoint { v, pick }),
        2 => (v.clone(), prop::option::weighted(0.15, 0usize..6)).prop_map(|(v, onto)| Step::Fork { v, onto }),
        1 => v.prop_map(|v| Step::DeleteVault { v }),
        1 => Just(Step::CreateVault),
    ]
}

/// Steps that grow the first vault's tree, so that later steps find things to move.
fn populate_strategy() -> impl Strategy<Value = Step> {
    let literal = prop::collection::vec(prop::sample::select(&NAMES[..]), 1..=3)
        .prop_map(|names| PathSpec::Literal(format!("/{}", names.join("/"))));
    prop_oneof![
        (literal, mode_strategy()).prop_map(|(path, mode)| TreeOp::Mkdir {
            path,
            parents: true,
            mode
        }),
        (
            0usize..64,
            prop::sample::select(&NAMES[..]),
            0u8..4,
            mode_strategy()
        )
            .prop_map(|(n, name, seed, mode)| {
                TreeOp::Write {
                    path: PathSpec::Under(n, name),
                    content: Content { len: 5, seed },
                    append: false,
                    mode,
                }
            }),
    ]
    .prop_map(|op| Step::Tree { v: 0, op })
}

/// A whole case: a few populating steps, then anything.
fn steps_strategy() -> impl Strategy<Value = Vec<Step>> {
    (
        prop::collection::vec(populate_strategy(), 0..6),
        prop::collection::vec(step_strategy(), 1..36),
    )
        .prop_map(|(mut steps, more)| {
            steps.extend(more);
            steps
        })
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

/// Errors that mean the store broke, not that it refused an operation.
fn is_internal(e: &VaultError) -> bool {
    matches!(
        e,
        VaultError::Sqlite(_) | VaultError::Corrupt(_) | VaultError::Io(_)
    )
}

fn head(vault: &str) -> StateRef {
    StateRef::Head {
        vault: vault.to_string(),
    }
}

fn checkpoint(vault: &str, name: &str) -> StateRef {
    StateRef::Checkpoint {
        vault: vault.to_string(),
        name: name.to_string(),
    }
}

fn describe(at: &StateRef) -> String {
    match at {
        StateRef::Head { vault } => format!("head of {vault}"),
        StateRef::Checkpoint { vault, name } => format!("checkpoint {vault}@{name}"),
    }
}

/// Reads a whole state back from the store. With `cache`, file bytes already
/// read for the same content hash are reused (contents are immutable); without,
/// every byte is read again.
fn read_state(
    store: &mut Store,
    at: &StateRef,
    mut cache: Option<&mut HashMap<ContentHash, Rc<Vec<u8>>>>,
) -> Result<(Fs, Stamps), String> {
    let mut anomalies = Vec::new();
    let state = store
        .read(at, |t| {
            let mut fs = Fs::new();
            let mut stamps = Stamps::new();
            for (path, attr) in t.walk(&VaultPath::root())? {
                let node = match attr.kind {
                    Kind::Dir => Node::Dir { mode: attr.mode },
                    Kind::Symlink => Node::Symlink {
                        target: attr.target.clone().unwrap_or_default(),
                        mode: attr.mode,
                    },
                    Kind::File => {
                        let hash = attr
                            .content
                            .ok_or_else(|| VaultError::Corrupt(format!("{path}: no content")))?;
                        let cached = cache.as_ref().and_then(|c| c.get(&hash).cloned());
                        let data = match cached {
                            Some(data) => data,
                            None => {
                                let mut buf = Vec::new();
                                t.open(&attr)?.read_to_end(&mut buf)?;
                                let data = Rc::new(buf);
                                if let Some(c) = cache.as_mut() {
                                    c.insert(hash, data.clone());
                                }
                                data
                            }
                        };
                        Node::File {
                            data,
                            mode: attr.mode,
                        }
                    }
                    // The model makes no fifos, sockets or devices.
                    other => {
                        return Err(VaultError::Corrupt(format!("{path}: unexpected {other:?}")));
                    }
                };
                if attr.kind == Kind::Dir {
                    let mut subdirs = 0;
                    for (_, child) in t.entries(attr.ino)? {
                        if t.attr(child)?.is_some_and(|a| a.kind == Kind::Dir) {
                            subdirs += 1;
                        }
                    }
                    if attr.nlink != 2 + subdirs {
                        anomalies.push(format!(
                            "{path}: nlink {} with {subdirs} subdirectories",
                            attr.nlink
                        ));
                    }
                }
                if attr.kind != Kind::Dir && attr.nlink != 1 {
                    anomalies.push(format!("{path}: nlink {} without hard links", attr.nlink));
                }
                if attr.size != node.size() {
                    anomalies.push(format!(
                        "{path}: size {} but {} bytes",
                        attr.size,
                        node.size()
                    ));
                }
                let stamp = (
                    attr.ino,
                    attr.mtime_ns,
                    attr.ctime_ns,
                    attr.uid,
                    attr.gid,
                    attr.nlink,
                );
                stamps.insert(path.clone(), stamp);
                if fs.insert(path.clone(), node).is_some() {
                    anomalies.push(format!("{path}: walked twice"));
                }
            }
            Ok((fs, stamps))
        })
        .map_err(|e| format!("reading {}: {e}", describe(at)))?;
    if !anomalies.is_empty() {
        return Err(format!("{}: {}", describe(at), anomalies.join("; ")));
    }
    Ok(state)
}

/// Describes how two maps differ, path by path; `None` if they are equal.
fn mismatch<T: PartialEq + fmt::Debug>(
    what: &str,
    model: &BTreeMap<VaultPath, T>,
    store: &BTreeMap<VaultPath, T>,
) -> Option<String> {
    if model == store {
        return None;
    }
    let mut lines = vec![format!("{what} differs from the model:")];
    let mut paths: Vec<&VaultPath> = model.keys().chain(store.keys()).collect();
    paths.sort();
    paths.dedup();
    for p in paths {
        let (m, s) = (model.get(p), store.get(p));
        if m != s {
            lines.push(format!("    {p}: model {m:?}, store {s:?}"));
        }
    }
    Some(lines.join("\n"))
}

/// Formats one side of a diff row for a failure message.
fn show_side(side: &Option<(Kind, u32, u64)>) -> String {
    match side {
        None => "-".to_string(),
        Some((kind, mode, size)) => format!("{} {mode:o} {size}B", kind.as_str()),
    }
}

struct Harness {
    store: Store,
    vaults: Vec<VaultModel>,
    next_vault: usize,
    trace: Vec<String>,
    cache: HashMap<ContentHash, Rc<Vec<u8>>>,
}

impl Harness {
    fn new() -> Self {
        let owner = Owner {
            uid: 1000,
            gid: 100,
        };
        let mut store = Store::open_in_memory(owner).expect("open store");
        store.create_vault("v0").expect("create v0");
        Self {
            store,
            vaults: vec![VaultModel {
                name: "v0".into(),
                head: empty_fs(),
                stamps: None,
                checkpoints: BTreeMap::new(),
            }],
            next_vault: 1,
            trace: Vec::new(),
            cache: HashMap::new(),
        }
    }

    fn fail(&self, msg: impl fmt::Display) -> String {
        let mut out = format!("{msg}\nsteps run (model verdict => store result):\n");
        for line in &self.trace {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Records a step and checks that the store agreed with the model about
    /// whether it may succeed.
    fn verdict<T>(
        &mut self,
        what: String,
        model: Result<(), &str>,
        store: &avfs::vault::Result<T>,
    ) -> Result<(), String> {
        let model_text = match &model {
            Ok(()) => "ok".to_string(),
            Err(why) => format!("refused ({why})"),
        };
        let store_text = match store {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("err ({e})"),
        };
        self.trace.push(format!(
            "#{} {what}: {model_text} => {store_text}",
            self.trace.len()
        ));
        if let Err(e) = store
            && is_internal(e)
        {
            return Err(self.fail(format!("internal store error: {e:?}")));
        }
        if model.is_ok() != store.is_ok() {
            return Err(self.fail("the store and the model disagree about the last step"));
        }
        Ok(())
    }

    fn vault_index(&self, v: usize) -> usize {
        v % self.vaults.len()
    }

    /// The name of the `pick`-th checkpoint of vault `vi`, or of one that does not exist.
    fn pick_checkpoint(
        &self,
        vi: usize,
        pick: Option<usize>,
    ) -> (String, Result<(), &'static str>) {
        let names: Vec<&String> = self.vaults[vi].checkpoints.keys().collect();
        match pick.and_then(|k| names.get(k % names.len().max(1))) {
            Some(name) => (name.to_string(), Ok(())),
            None => ("nope".to_string(), Err("no such checkpoint")),
        }
    }

    fn new_vault(&mut self, head: Fs, stamps: Option<Stamps>) -> String {
        let name = format!("v{}", self.next_vault);
        self.next_vault += 1;
        self.vaults.push(VaultModel {
            name: name.clone(),
            head,
            stamps,
            checkpoints: BTreeMap::new(),
        });
        name
    }

    fn apply(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Tree { v, op } => {
                let vi = self.vault_index(*v);
                let name = self.vaults[vi].name.clone();
                let op = &op.map(|p| p.resolve(&self.vaults[vi].head));
                let data = op.data();
                let mut next = self.vaults[vi].head.clone();
                let model = model_tree_op(&mut next, op, data.as_ref());
                let got = self
                    .store
                    .write(&name, Op::new("model", format!("{op:?}")), |w| {
                        store_tree_op(w, op, data.as_ref())
                    });
                self.verdict(format!("[{name}] {op:?}"), model, &got)?;
                if got.is_ok() {
                    self.vaults[vi].head = next;
                    self.vaults[vi].stamps = None;
                }
            }
            Step::Batch { v, ops, abort } => {
                let vi = self.vault_index(*v);
                let name = self.vaults[vi].name.clone();
                // Resolve and judge every operation against the model as it evolves.
                let mut next = self.vaults[vi].head.clone();
                let mut planned = Vec::new();
                for op in ops {
                    let op = op.map(|p| p.resolve(&next));
                    let data = op.data();
                    let mut attempt = next.clone();
                    let model = model_tree_op(&mut attempt, &op, data.as_ref());
                    if model.is_ok() {
                        next = attempt;
                    }
                    planned.push((op, data, model));
                }
                let mut results = Vec::new();
                let got = self.store.write(&name, Op::new("model", "batch"), |w| {
                    for (op, data, _) in &planned {
                        results.push(store_tree_op(w, op, data.as_ref()));
                    }
                    match abort {
                        true => Err(VaultError::InvalidMove("the test aborts this batch".into())),
                        false => Ok(()),
                    }
                });
                for ((op, _, model), result) in planned.iter().zip(&results) {
                    self.verdict(format!("  [{name}] (in batch) {op:?}"), *model, result)?;
                }
                let model = if *abort {
                    Err("aborted by the test")
                } else {
                    Ok(())
                };
                let what = format!(
                    "[{name}] batch of {}, {}",
                    planned.len(),
                    if *abort { "aborted" } else { "committed" }
                );
                self.verdict(what, model, &got)?;
                if got.is_ok() {
                    self.vaults[vi].head = next;
                    self.vaults[vi].stamps = None;
                }
            }
            Step::Save { v, name: cp } => {
                let vi = self.vault_index(*v);
                let name = self.vaults[vi].name.clone();
                let model = match self.vaults[vi].checkpoints.contains_key(*cp) {
                    true => Err("checkpoint exists"),
                    false => Ok(()),
                };
                let got = self.store.checkpoint_save(&name, cp, Some("model"));
                self.verdict(format!("[{name}] checkpoint save {cp}"), model, &got)?;
                if got.is_ok() {
                    let vault = &mut self.vaults[vi];
                    let stamps = vault.stamps.clone().expect("checked after every step");
                    vault
                        .checkpoints
                        .insert(cp.to_string(), (vault.head.clone(), stamps));
                }
            }
            Step::Restore { v, pick } => {
                let vi = self.vault_index(*v);
                let name = self.vaults[vi].name.clone();
                let (cp, model) = self.pick_checkpoint(vi, *pick);
                let got = self.store.checkpoint_restore(&name, &cp);
                self.verdict(format!("[{name}] checkpoint restore {cp}"), model, &got)?;
                if let Ok(restored) = got {
                    if restored.checkpoint.name != cp {
                        let msg =
                            format!("restore reported checkpoint {}", restored.checkpoint.name);
                        return Err(self.fail(msg));
                    }
                    let vault = &mut self.vaults[vi];
                    let (fs, stamps) = vault.checkpoints[&cp].clone();
                    let before = std::mem::replace(&mut vault.head, fs);
                    let before_stamps = vault
                        .stamps
                        .replace(stamps)
                        .expect("checked after every step");
                    match restored.saved_previous {
                        Some(saved) => {
                            let fresh = !vault.checkpoints.contains_key(&saved.name);
                            vault
                                .checkpoints
                                .insert(saved.name.clone(), (before, before_stamps));
                            self.trace.push(format!(
                                "   (the replaced state was kept as {})",
                                saved.name
                            ));
                            if !saved.auto || !fresh {
                                return Err(
                                    self.fail(format!("bad automatic checkpoint {saved:?}"))
                                );
                            }
                        }
                        None => {
                            // Only allowed if the replaced state is a checkpoint already.
                            let before = (before, before_stamps);
                            if !vault.checkpoints.values().any(|kept| *kept == before) {
                                return Err(
                                    self.fail("restore dropped a state that no checkpoint keeps")
                                );
                            }
                        }
                    }
                }
            }
            Step::DeleteCheckpoint { v, pick } => {
                let vi = self.vault_index(*v);
                let name = self.vaults[vi].name.clone();
                let (cp, model) = self.pick_checkpoint(vi, *pick);
                let got = self.store.checkpoint_delete(&name, &cp);
                self.verdict(format!("[{name}] checkpoint delete {cp}"), model, &got)?;
                if got.is_ok() {
                    self.vaults[vi].checkpoints.remove(&cp);
                }
            }
            Step::Fork { v, onto } => {
                let vi = self.vault_index(*v);
                let src = self.vaults[vi].name.clone();
                let (dst, model) = match onto {
                    Some(o) => (
                        self.vaults[self.vault_index(*o)].name.clone(),
                        Err("vault exists"),
                    ),
                    None => (format!("v{}", self.next_vault), Ok(())),
                };
                let got = self.store.fork_vault(&src, &dst);
                self.verdict(format!("fork {src} -> {dst}"), model, &got)?;
                if got.is_ok() {
                    let (head, stamps) =
                        (self.vaults[vi].head.clone(), self.vaults[vi].stamps.clone());
                    self.new_vault(head, stamps);
                }
            }
            Step::DeleteVault { v } => {
                if self.vaults.len() == 1 {
                    self.trace.push(format!(
                        "#{} delete vault: skipped (only one left)",
                        self.trace.len()
                    ));
                    return Ok(());
                }
                let vi = self.vault_index(*v);
                let name = self.vaults[vi].name.clone();
                let got = self.store.delete_vault(&name);
                self.verdict(format!("delete vault {name}"), Ok(()), &got)?;
                self.vaults.remove(vi);
            }
            Step::CreateVault => {
                let name = format!("v{}", self.next_vault);
                let got = self.store.create_vault(&name);
                self.verdict(format!("create vault {name}"), Ok(()), &got)?;
                self.new_vault(empty_fs(), None);
            }
        }
        Ok(())
    }

    /// Every vault head equals its model (stamps included, where known), and
    /// the lists of vaults and checkpoints match.
    fn check_heads(&mut self) -> Result<(), String> {
        let names: Vec<String> = self
            .store
            .vaults()
            .map_err(|e| self.fail(e))?
            .into_iter()
            .map(|v| v.name)
            .collect();
        let mut expected: Vec<String> = self.vaults.iter().map(|v| v.name.clone()).collect();
        expected.sort();
        if names != expected {
            return Err(self.fail(format!("vaults are {names:?}, model has {expected:?}")));
        }
        for i in 0..self.vaults.len() {
            let name = self.vaults[i].name.clone();
            let (fs, stamps) = read_state(&mut self.store, &head(&name), Some(&mut self.cache))
                .map_err(|e| self.fail(e))?;
            let what = format!("head of {name}");
            if let Some(m) = mismatch(&what, &self.vaults[i].head, &fs) {
                return Err(self.fail(m));
            }
            match &self.vaults[i].stamps {
                None => self.vaults[i].stamps = Some(stamps),
                Some(known) => {
                    let what = format!("{what} (inode, mtime, ctime, uid, gid, nlink)");
                    if let Some(m) = mismatch(&what, known, &stamps) {
                        return Err(self.fail(m));
                    }
                }
            }
            let mut cps: Vec<String> = self
                .store
                .checkpoints(&name)
                .map_err(|e| self.fail(e))?
                .into_iter()
                .map(|c| c.name)
                .collect();
            cps.sort();
            let model: Vec<String> = self.vaults[i].checkpoints.keys().cloned().collect();
            if cps != model {
                return Err(self.fail(format!(
                    "{name} has checkpoints {cps:?}, model has {model:?}"
                )));
            }
        }
        Ok(())
    }

    /// Every state (heads and checkpoints) read fresh, and diffs between them.
    fn check_everything(&mut self) -> Result<(), String> {
        self.check_heads()?;
        let mut states: Vec<(StateRef, Fs, Stamps)> = Vec::new();
        for v in &self.vaults {
            let stamps = v.stamps.clone().expect("learned by check_heads");
            states.push((head(&v.name), v.head.clone(), stamps));
            for (cp, (fs, stamps)) in &v.checkpoints {
                states.push((checkpoint(&v.name, cp), fs.clone(), stamps.clone()));
            }
        }
        for (at, model, model_stamps) in &states {
            let (fs, stamps) = read_state(&mut self.store, at, None).map_err(|e| self.fail(e))?;
            if let Some(m) = mismatch(&describe(at), model, &fs) {
                return Err(self.fail(m));
            }
            let what = format!("{} (inode, mtime, ctime, uid, gid, nlink)", describe(at));
            if let Some(m) = mismatch(&what, model_stamps, &stamps) {
                return Err(self.fail(m));
            }
        }
        // Diffs: every ordered pair when there are few states, else each
        // checkpoint against its head and each head against the others.
        let mut pairs = Vec::new();
        for i in 0..states.len() {
            for j in 0..states.len() {
                if i == j {
                    continue;
                }
                let related = match (&states[i].0, &states[j].0) {
                    (StateRef::Head { .. }, StateRef::Head { .. }) => true,
                    (StateRef::Head { vault: x }, StateRef::Checkpoint { vault: y, .. })
                    | (StateRef::Checkpoint { vault: y, .. }, StateRef::Head { vault: x }) => {
                        x == y
                    }
                    _ => false,
                };
                if states.len() <= 8 || related {
                    pairs.push((i, j));
                }
            }
        }
        let filters = [vec![], vec![vp("/a")], vec![vp("/b/c"), vp("/c")]];
        for (n, (i, j)) in pairs.into_iter().enumerate() {
            let filter = &filters[n % filters.len()];
            let (from, to) = (&states[i], &states[j]);
            let expected = model_diff(&from.1, &to.1, filter);
            let got: Vec<DiffRow> = self
                .store
                .diff(&from.0, &to.0, filter)
                .map_err(|e| self.fail(format!("diff: {e}")))?
                .into_iter()
                .map(|c| {
                    (
                        c.path,
                        c.change,
                        c.before.as_ref().map(store_side),
                        c.after.as_ref().map(store_side),
                    )
                })
                .collect();
            if got != expected {
                let show = |rows: &[DiffRow]| {
                    rows.iter()
                        .map(|(p, c, a, b)| {
                            format!(
                                "    {p} {} {} -> {}",
                                c.as_str(),
                                show_side(a),
                                show_side(b)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                return Err(self.fail(format!(
                    "diff {} -> {} (filter {filter:?}) differs from the model\n  store:\n{}\n  model:\n{}",
                    describe(&from.0),
                    describe(&to.0),
                    show(&got),
                    show(&expected)
                )));
            }
        }
        Ok(())
    }
}

/// Runs one case; `Err` carries a readable account of the first disagreement.
fn run(steps: &[Step]) -> Result<(), String> {
    let mut h = Harness::new();
    h.check_heads()?;
    for (i, step) in steps.iter().enumerate() {
        h.apply(step)?;
        // Short cases (shrunk ones, notably) check everything after every step.
        if steps.len() <= 12 || i % 10 == 9 {
            h.check_everything()?;
        } else {
            h.check_heads()?;
        }
    }
    h.check_everything()?;
    // Nothing the store did may leave it inconsistent.
    let ok: String = h
        .store
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| h.fail(e))?;
    if ok != "ok" {
        return Err(h.fail(format!("integrity_check: {ok}")));
    }
    if std::env::var_os("MODEL_TRACE").is_some() {
        for line in &h.trace {
            eprintln!("TRACE {line}");
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(steps in steps_strategy()) {
        run(&steps).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------
// Specific scenarios
// ---------------------------------------------------------------------------

fn write_str(store: &mut Store, vault: &str, path: &str, text: &str) {
    store
        .write(vault, Op::new("write", path), |w| {
            w.write_file(&vp(path), text.as_bytes(), false, 0o644)
        })
        .expect("write");
}

fn read_str(store: &mut Store, at: &StateRef, path: &str) -> Option<String> {
    store
        .read(at, |t| {
            let Some(attr) = t.resolve(&vp(path))? else {
                return Ok(None);
            };
            let mut out = String::new();
            t.open(&attr)?.read_to_string(&mut out)?;
            Ok(Some(out))
        })
        .expect("read")
}

#[test]
fn restoring_the_automatic_checkpoint_brings_back_the_newer_state() {
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("w").unwrap();
    let h = head("w");
    write_str(&mut store, "w", "/f", "one");
    store.checkpoint_save("w", "c1", None).unwrap();
    write_str(&mut store, "w", "/f", "two");
    write_str(&mut store, "w", "/g", "new");

    let r = store.checkpoint_restore("w", "c1").unwrap();
    let pre = r.saved_previous.expect("unsaved changes are kept").name;
    assert!(pre.starts_with("pre-restore-"), "{pre}");
    assert_eq!(read_str(&mut store, &h, "/f").as_deref(), Some("one"));
    assert_eq!(read_str(&mut store, &h, "/g"), None);

    // Write after the restore, then go back to the automatic checkpoint.
    write_str(&mut store, "w", "/h", "after restore");
    let r2 = store.checkpoint_restore("w", &pre).unwrap();
    let pre2 = r2
        .saved_previous
        .expect("the write after the restore is kept")
        .name;
    assert_ne!(pre, pre2);
    assert_eq!(read_str(&mut store, &h, "/f").as_deref(), Some("two"));
    assert_eq!(read_str(&mut store, &h, "/g").as_deref(), Some("new"));
    assert_eq!(read_str(&mut store, &h, "/h"), None);

    // And forward again: the second automatic checkpoint has "/h" on top of c1.
    let r3 = store.checkpoint_restore("w", &pre2).unwrap();
    assert!(
        r3.saved_previous.is_none(),
        "nothing changed since restoring {pre}, which is saved"
    );
    assert_eq!(read_str(&mut store, &h, "/f").as_deref(), Some("one"));
    assert_eq!(
        read_str(&mut store, &h, "/h").as_deref(),
        Some("after restore")
    );

    // Every checkpoint still reads as it was taken.
    assert_eq!(
        read_str(&mut store, &checkpoint("w", "c1"), "/f").as_deref(),
        Some("one")
    );
    assert_eq!(read_str(&mut store, &checkpoint("w", "c1"), "/h"), None);
    assert_eq!(
        read_str(&mut store, &checkpoint("w", &pre), "/f").as_deref(),
        Some("two")
    );
    assert_eq!(
        read_str(&mut store, &checkpoint("w", &pre2), "/h").as_deref(),
        Some("after restore")
    );
}

#[test]
fn restoring_an_older_checkpoint_keeps_later_ones_restorable() {
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("w").unwrap();
    let h = head("w");
    for (i, cp) in ["c1", "c2", "c3"].iter().enumerate() {
        write_str(&mut store, "w", "/f", &format!("v{i}"));
        store.checkpoint_save("w", cp, None).unwrap();
    }
    let r = store.checkpoint_restore("w", "c1").unwrap();
    assert!(r.saved_previous.is_none(), "head was exactly c3");
    assert_eq!(read_str(&mut store, &h, "/f").as_deref(), Some("v0"));
    store.checkpoint_restore("w", "c3").unwrap();
    assert_eq!(read_str(&mut store, &h, "/f").as_deref(), Some("v2"));
    store.checkpoint_restore("w", "c2").unwrap();
    assert_eq!(read_str(&mut store, &h, "/f").as_deref(), Some("v1"));
    let diff = store
        .diff(&checkpoint("w", "c1"), &checkpoint("w", "c3"), &[])
        .unwrap();
    assert_eq!(diff.len(), 1);
    assert_eq!(
        (diff[0].path.to_string().as_str(), diff[0].change),
        ("/f", ChangeKind::Modified)
    );
}

#[test]
fn a_failed_write_leaves_no_trace() {
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("w").unwrap();
    write_str(&mut store, "w", "/keep", "kept");
    store.checkpoint_save("w", "c", None).unwrap();
    let top = store.vault_info("w").unwrap().top_layer;

    // Several successful changes, then a failure: all of it must vanish.
    let err = store
        .write("w", Op::new("batch", "fails at the end"), |w| {
            w.mkdir(&vp("/d/e"), true, 0o755)?;
            w.write_file(&vp("/d/e/f"), &b"data"[..], false, 0o644)?;
            w.remove(&vp("/keep"), false)?;
            w.rename_path(&vp("/d"), &vp("/d/e/inside"))
        })
        .unwrap_err();
    assert!(matches!(err, VaultError::InvalidMove(_)), "{err:?}");

    assert_eq!(store.vault_info("w").unwrap().top_layer, top);
    assert!(
        store
            .diff(&checkpoint("w", "c"), &head("w"), &[])
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        read_str(&mut store, &head("w"), "/keep").as_deref(),
        Some("kept")
    );
    assert_eq!(read_str(&mut store, &head("w"), "/d"), None);
    // The head layer is still empty, so a restore needs no automatic checkpoint.
    let r = store.checkpoint_restore("w", "c").unwrap();
    assert!(r.saved_previous.is_none());
}

#[test]
fn forks_and_parents_evolve_apart_and_survive_deletion() {
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("p").unwrap();
    store
        .write("p", Op::new("setup", ""), |w| {
            w.mkdir(&vp("/d"), false, 0o755)?;
            let big: Vec<u8> = (0..CHUNK_SIZE + 3).map(|i| (i % 251) as u8).collect();
            w.write_file(&vp("/d/big"), &big[..], false, 0o644)
        })
        .unwrap();
    store.fork_vault("p", "f").unwrap();
    write_str(&mut store, "p", "/d/big", "parent");
    store
        .write("f", Op::new("append", ""), |w| {
            w.write_file(&vp("/d/big"), &b"tail"[..], true, 0o644)
        })
        .unwrap();
    store
        .write("f", Op::new("mv", ""), |w| {
            w.rename_path(&vp("/d"), &vp("/e"))
        })
        .unwrap();

    assert_eq!(
        read_str(&mut store, &head("p"), "/d/big").as_deref(),
        Some("parent")
    );
    let size = store
        .read(&head("f"), |t| t.stat(&vp("/e/big")))
        .unwrap()
        .size;
    assert_eq!(size, CHUNK_SIZE as u64 + 7);
    assert_eq!(read_str(&mut store, &head("f"), "/d"), None);

    let diff = store.diff(&head("p"), &head("f"), &[]).unwrap();
    let rows: Vec<(String, ChangeKind)> = diff
        .iter()
        .map(|c| (c.path.to_string(), c.change))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("/d".to_string(), ChangeKind::Deleted),
            ("/d/big".to_string(), ChangeKind::Deleted),
            ("/e".to_string(), ChangeKind::Added),
            ("/e/big".to_string(), ChangeKind::Added),
        ]
    );

    // Deleting the parent leaves the fork whole.
    store.delete_vault("p").unwrap();
    let mut tail = vec![0u8; 7];
    store
        .read(&head("f"), |t| {
            let attr = t.stat(&vp("/e/big"))?;
            t.open(&attr)?.read_at(CHUNK_SIZE as u64 - 1, &mut tail)?;
            Ok(())
        })
        .unwrap();
    let expected: Vec<u8> = (CHUNK_SIZE - 1..CHUNK_SIZE + 3)
        .map(|i| (i % 251) as u8)
        .chain(*b"tai")
        .collect();
    assert_eq!(tail, expected);
}

#[test]
fn a_file_store_reopens_with_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let mut store = Store::open(&path, Owner::default()).unwrap();
        store.create_vault("w").unwrap();
        write_str(&mut store, "w", "/f", "saved");
        store.checkpoint_save("w", "c", None).unwrap();
        write_str(&mut store, "w", "/f", "head");
        store.fork_vault("w", "x").unwrap();
        store.sync().unwrap();
    }
    let mut store = Store::open(&path, Owner::default()).unwrap();
    assert_eq!(
        read_str(&mut store, &head("w"), "/f").as_deref(),
        Some("head")
    );
    assert_eq!(
        read_str(&mut store, &head("x"), "/f").as_deref(),
        Some("head")
    );
    assert_eq!(
        read_str(&mut store, &checkpoint("w", "c"), "/f").as_deref(),
        Some("saved")
    );
}

#[test]
fn a_user_checkpoint_named_like_an_automatic_one_does_not_block_restore() {
    // Found by the model: the automatic checkpoint took the name
    // `pre-restore-<next checkpoint id>` even when a user checkpoint had it,
    // and every restore of the vault failed on the UNIQUE constraint.
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("w").unwrap();
    store.checkpoint_save("w", "c0", None).unwrap();
    for n in 3..6 {
        store
            .checkpoint_save("w", &format!("pre-restore-{n}"), None)
            .unwrap();
    }
    write_str(&mut store, "w", "/f", "unsaved");
    let restored = store.checkpoint_restore("w", "c0").unwrap();
    let saved = restored.saved_previous.expect("the unsaved change is kept");
    assert!(saved.auto);
    assert!(saved.name.starts_with("pre-restore-"), "{}", saved.name);
    assert_eq!(
        read_str(&mut store, &checkpoint("w", &saved.name), "/f").as_deref(),
        Some("unsaved")
    );
    // The user's checkpoints are untouched.
    for n in 3..6 {
        let cp = store.checkpoint("w", &format!("pre-restore-{n}")).unwrap();
        assert!(!cp.auto);
    }
    assert_eq!(read_str(&mut store, &head("w"), "/f"), None);
}

#[test]
fn a_checkpoint_taken_by_another_handle_between_writes_stays_frozen() {
    // Two handles on one file, as two processes would have: each write must
    // re-read the vault's top layer, never write into a layer the other froze.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut a = Store::open(&path, Owner::default()).unwrap();
    let mut b = Store::open(&path, Owner::default()).unwrap();
    a.create_vault("w").unwrap();
    write_str(&mut a, "w", "/f", "first");
    assert_eq!(read_str(&mut a, &head("w"), "/f").as_deref(), Some("first"));
    b.checkpoint_save("w", "c", None).unwrap();
    write_str(&mut a, "w", "/f", "second");
    write_str(&mut a, "w", "/g", "new");
    b.fork_vault("w", "x").unwrap();
    write_str(&mut a, "w", "/f", "third");
    for store in [&mut a, &mut b] {
        assert_eq!(
            read_str(store, &checkpoint("w", "c"), "/f").as_deref(),
            Some("first")
        );
        assert_eq!(read_str(store, &checkpoint("w", "c"), "/g"), None);
        assert_eq!(read_str(store, &head("x"), "/f").as_deref(), Some("second"));
        assert_eq!(read_str(store, &head("w"), "/f").as_deref(), Some("third"));
    }
    // A restore by one handle is what the other's next write builds on.
    b.checkpoint_restore("w", "c").unwrap();
    write_str(&mut a, "w", "/h", "after restore");
    assert_eq!(read_str(&mut b, &head("w"), "/f").as_deref(), Some("first"));
    assert_eq!(read_str(&mut b, &head("w"), "/g"), None);
    assert_eq!(
        read_str(&mut b, &head("w"), "/h").as_deref(),
        Some("after restore")
    );
}
