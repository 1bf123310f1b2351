//! Property test of `Store::merge` against a model three-way merge.
//!
//! A random base is written into vault `v`, `v` is forked into `f`, then
//! random operations change each side (ours: `v`, theirs: `f`), and `f` is
//! merged into `v` with a random conflict policy. The model reads the three
//! states as plain maps (path → kind, mode, bytes or target) and merges them
//! by the rules docs/json.md states: a path changed on one side takes that
//! side; changed alike on both, nothing to do; a file changed on both sides
//! keeps both appends or merges text line by line (diffy is the oracle for
//! line merges); kind, mode and content are taken from the side that changed
//! each; anything else is a conflict; a path whose directory one side removed
//! while the other wrote below it is a conflict at the highest such directory.
//!
//! Checked every case: a dry run changes nothing (tree, checkpoints, journal)
//! and reports what the real merge then does; the conflicts are exactly the
//! model's (path and kind); with policy `keep` and conflicts nothing changes,
//! else the target reads back exactly as the model's result; every path
//! changed on one side only is present in the result exactly as that side has it.
//!
//! `PROPTEST_CASES=n` changes the number of cases (128 by default).

use avfs::vault::{
    ConflictKind, Kind, MergeCheckpoint, MergeRequest, MergeStatus, OnConflict, Op, Owner,
    StateRef, Store, VaultPath,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::io::Read;

/// One entry of a modelled tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(Vec<u8>),
}

/// A tree: components → node (the root left out).
type State = BTreeMap<Vec<Vec<u8>>, Node>;

const NAMES: [&str; 3] = ["a", "b", "c"];
const LINES: [&str; 6] = ["one\n", "two\n", "three\n", "four\n", "five\n", "six\n"];

#[derive(Clone, Debug)]
enum Step {
    /// Write a whole file (parents made) from lines `LINES[i..i+n]`, or a binary blob.
    Write(Vec<usize>, usize, usize, bool),
    /// Append a line to a file.
    Append(Vec<usize>, usize),
    /// Replace line `k` of a file.
    Edit(Vec<usize>, usize, usize),
    /// Make a directory (parents made).
    Mkdir(Vec<usize>),
    /// Remove, recursively.
    Remove(Vec<usize>),
    /// Change the mode.
    Chmod(Vec<usize>, u32),
    /// Make a symlink.
    Symlink(Vec<usize>, usize),
}

/// Mostly shallow paths, so that both sides often touch the same ones.
fn path_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        3 => prop::collection::vec(0..NAMES.len(), 1..=2),
        1 => prop::collection::vec(0..NAMES.len(), 3..=3),
    ]
}

/// Files and a directory every base starts with, so that edits find something.
fn seed() -> Vec<Step> {
    vec![
        Step::Write(vec![0], 0, 3, false),
        Step::Write(vec![1, 0], 1, 3, false),
        Step::Write(vec![1, 1], 2, 2, false),
        Step::Mkdir(vec![2]),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (path_strategy(), 0..LINES.len(), 1..4usize, prop::bool::weighted(0.1))
            .prop_map(|(p, i, n, bin)| Step::Write(p, i, n, bin)),
        3 => (path_strategy(), 0..LINES.len()).prop_map(|(p, l)| Step::Append(p, l)),
        3 => (path_strategy(), 0..4usize, 0..LINES.len()).prop_map(|(p, k, l)| Step::Edit(p, k, l)),
        1 => path_strategy().prop_map(Step::Mkdir),
        2 => path_strategy().prop_map(Step::Remove),
        1 => (path_strategy(), prop::sample::select(vec![0o644, 0o600, 0o755]))
            .prop_map(|(p, m)| Step::Chmod(p, m)),
        1 => (path_strategy(), 0..NAMES.len()).prop_map(|(p, t)| Step::Symlink(p, t)),
    ]
}

fn vpath(p: &[usize]) -> VaultPath {
    let s: Vec<&str> = p.iter().map(|i| NAMES[*i]).collect();
    VaultPath::parse_str(&format!("/{}", s.join("/"))).unwrap()
}

fn read_file(store: &mut Store, vault: &str, path: &VaultPath) -> Option<Vec<u8>> {
    let head = StateRef::Head {
        vault: vault.into(),
    };
    store
        .read(&head, |t| {
            let Some(attr) = t.resolve(path)? else {
                return Ok(None);
            };
            if attr.kind != Kind::File {
                return Ok(None);
            }
            let mut out = Vec::new();
            t.open(&attr)?.read_to_end(&mut out)?;
            Ok(Some(out))
        })
        .ok()
        .flatten()
}

/// Applies one step; a step that does not apply (no such file, a file where a
/// directory is needed) fails and changes nothing, as the store guarantees.
fn apply(store: &mut Store, vault: &str, step: &Step) {
    let op = Op::new("test", "");
    let _ = match step {
        Step::Write(p, i, n, bin) => {
            let path = vpath(p);
            let data: Vec<u8> = if *bin {
                b"bin\0ary\n".to_vec()
            } else {
                LINES
                    .iter()
                    .cycle()
                    .skip(*i)
                    .take(*n)
                    .copied()
                    .collect::<String>()
                    .into_bytes()
            };
            store.write(vault, op, |w| {
                if let Some(parent) = path.parent() {
                    w.mkdir(&parent, true, 0o755)?;
                }
                w.write_file(&path, &data[..], false, 0o644).map(|_| ())
            })
        }
        Step::Append(p, l) => {
            let path = vpath(p);
            if read_file(store, vault, &path).is_none() {
                return;
            }
            store.write(vault, op, |w| {
                w.write_file(&path, LINES[*l].as_bytes(), true, 0o644)
                    .map(|_| ())
            })
        }
        Step::Edit(p, k, l) => {
            let path = vpath(p);
            let Some(old) = read_file(store, vault, &path) else {
                return;
            };
            let mut lines: Vec<Vec<u8>> = old
                .split_inclusive(|b| *b == b'\n')
                .map(|l| l.to_vec())
                .collect();
            if *k >= lines.len() {
                return;
            }
            lines[*k] = LINES[*l].as_bytes().to_vec();
            let data = lines.concat();
            store.write(vault, op, |w| {
                w.write_file(&path, &data[..], false, 0o644).map(|_| ())
            })
        }
        Step::Mkdir(p) => store.write(vault, op, |w| w.mkdir(&vpath(p), true, 0o755).map(|_| ())),
        Step::Remove(p) => store.write(vault, op, |w| w.remove(&vpath(p), true)),
        Step::Chmod(p, mode) => store.write(vault, op, |w| {
            let attr = w.stat(&vpath(p))?;
            w.set_meta(attr.ino, Some(*mode), None).map(|_| ())
        }),
        Step::Symlink(p, t) => store.write(vault, op, |w| {
            w.symlink(&vpath(p), NAMES[*t].as_bytes()).map(|_| ())
        }),
    };
}

/// A vault head as a model tree.
fn snapshot(store: &mut Store, vault: &str) -> State {
    let head = StateRef::Head {
        vault: vault.into(),
    };
    store
        .read(&head, |t| {
            let mut out = State::new();
            for (path, attr) in t.walk(&VaultPath::root())? {
                if path.is_root() {
                    continue;
                }
                let node = match attr.kind {
                    Kind::Dir => Node::Dir(attr.mode),
                    Kind::Symlink => Node::Link(attr.target.clone().unwrap_or_default()),
                    Kind::File => {
                        let mut data = Vec::new();
                        t.open(&attr)?.read_to_end(&mut data)?;
                        Node::File(attr.mode, data)
                    }
                    other => panic!("the model makes no {other:?}"),
                };
                out.insert(path.components().to_vec(), node);
            }
            Ok(out)
        })
        .unwrap()
}

// ---------------------------------------------------------------------------
// The model merge
// ---------------------------------------------------------------------------

fn pick<T: PartialEq + Clone>(base: Option<&T>, ours: &T, theirs: &T) -> Option<T> {
    if Some(ours) == base || ours == theirs {
        Some(theirs.clone())
    } else if Some(theirs) == base {
        Some(ours.clone())
    } else {
        None
    }
}

fn line_merge(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    if ours.starts_with(base) && theirs.starts_with(base) {
        return Some([ours, &theirs[base.len()..]].concat());
    }
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| !s.contains('\0'))
            .map(str::to_string)
    };
    diffy::merge(&text(base)?, &text(ours)?, &text(theirs)?)
        .ok()
        .map(String::into_bytes)
}

/// One path both sides changed differently: its result, or the conflict.
fn both(
    b: Option<&Node>,
    o: Option<&Node>,
    t: Option<&Node>,
) -> Result<Option<Node>, ConflictKind> {
    let (Some(o), Some(t)) = (o, t) else {
        return Err(if b.is_none() {
            ConflictKind::AddAdd
        } else {
            ConflictKind::ModifyDelete
        });
    };
    let Some(b) = b else {
        return Err(ConflictKind::AddAdd);
    };
    match (b, o, t) {
        (_, Node::Dir(om), Node::Dir(tm)) => {
            let bm = match b {
                Node::Dir(m) => Some(m),
                _ => None,
            };
            pick(bm, om, tm)
                .map(|m| Some(Node::Dir(m)))
                .ok_or(ConflictKind::Mode)
        }
        (_, Node::Link(ot), Node::Link(tt)) => {
            let bt = match b {
                Node::Link(x) => Some(x),
                _ => None,
            };
            pick(bt, ot, tt)
                .map(|x| Some(Node::Link(x)))
                .ok_or(ConflictKind::Content)
        }
        (_, Node::File(om, od), Node::File(tm, td)) => {
            let (bm, bd) = match b {
                Node::File(m, d) => (Some(m), Some(d)),
                _ => (None, None),
            };
            let mode = pick(bm, om, tm).ok_or(ConflictKind::Mode)?;
            let data = match pick(bd, od, td) {
                Some(d) => d,
                None => line_merge(bd.ok_or(ConflictKind::Content)?, od, td)
                    .ok_or(ConflictKind::Content)?,
            };
            Ok(Some(Node::File(mode, data)))
        }
        _ => Err(ConflictKind::Type),
    }
}

struct Planned {
    o: Option<Node>,
    t: Option<Node>,
    result: Option<Node>,
    conflict: Option<ConflictKind>,
}

/// The model's merge: the target's new state and the conflicts.
fn model_merge(
    b: &State,
    o: &State,
    t: &State,
    policy: OnConflict,
) -> (State, BTreeMap<Vec<Vec<u8>>, ConflictKind>) {
    let mut plan: BTreeMap<Vec<Vec<u8>>, Planned> = BTreeMap::new();
    let keys: std::collections::BTreeSet<_> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    for key in keys {
        let (bb, oo, tt) = (b.get(key), o.get(key), t.get(key));
        if bb == oo && bb == tt {
            continue;
        }
        let (result, conflict) = if oo == bb || oo == tt {
            (tt.cloned(), None)
        } else if tt == bb {
            (oo.cloned(), None)
        } else {
            match both(bb, oo, tt) {
                Ok(r) => (r, None),
                Err(k) => (
                    if policy == OnConflict::Theirs {
                        tt.cloned()
                    } else {
                        oo.cloned()
                    },
                    Some(k),
                ),
            }
        };
        plan.insert(
            key.clone(),
            Planned {
                o: oo.cloned(),
                t: tt.cloned(),
                result,
                conflict,
            },
        );
    }
    let not_dir = |plan: &BTreeMap<Vec<Vec<u8>>, Planned>, k: &[Vec<u8>]| {
        plan.get(k)
            .is_some_and(|p| !matches!(p.result, Some(Node::Dir(_))))
    };
    loop {
        let orphan = plan.iter().find_map(|(k, p)| {
            if p.result.is_none() || k.len() < 2 || !not_dir(&plan, &k[..k.len() - 1]) {
                return None;
            }
            let mut top = k.len() - 1;
            while top > 1 && not_dir(&plan, &k[..top - 1]) {
                top -= 1;
            }
            Some(k[..top].to_vec())
        });
        let Some(dir) = orphan else { break };
        let p = plan.get_mut(&dir).unwrap();
        if p.conflict.is_none() {
            let remover = if matches!(p.o, Some(Node::Dir(_))) {
                &p.t
            } else {
                &p.o
            };
            p.conflict = Some(if remover.is_none() {
                ConflictKind::ModifyDelete
            } else {
                ConflictKind::Type
            });
        }
        for (k, p) in plan.iter_mut() {
            if k.starts_with(&dir) {
                p.result = if policy == OnConflict::Theirs {
                    p.t.clone()
                } else {
                    p.o.clone()
                };
            }
        }
    }
    let conflicts: BTreeMap<_, _> = plan
        .iter()
        .filter_map(|(k, p)| p.conflict.map(|c| (k.clone(), c)))
        .collect();
    let mut result = o.clone();
    if policy == OnConflict::Keep && !conflicts.is_empty() {
        return (result, conflicts);
    }
    for (k, p) in plan {
        match p.result {
            Some(n) => result.insert(k, n),
            None => result.remove(&k),
        };
    }
    (result, conflicts)
}

// ---------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------

fn journal_len(store: &Store) -> i64 {
    store
        .connection()
        .query_row("SELECT count(*) FROM journal", [], |r| r.get(0))
        .unwrap()
}

fn check(base: &[Step], ours: &[Step], theirs: &[Step], policy: OnConflict) -> Result<(), String> {
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("v").unwrap();
    for s in seed().iter().chain(base) {
        apply(&mut store, "v", s);
    }
    store.fork_vault("v", "f").unwrap();
    let b = snapshot(&mut store, "f");
    for s in ours {
        apply(&mut store, "v", s);
    }
    for s in theirs {
        apply(&mut store, "f", s);
    }
    let o = snapshot(&mut store, "v");
    let t = snapshot(&mut store, "f");
    let (expected, expected_conflicts) = model_merge(&b, &o, &t, policy);

    let mut req = MergeRequest {
        source: "f".into(),
        target: "v".into(),
        on_conflict: policy,
        dry_run: true,
        checkpoint: MergeCheckpoint::PreMerge,
        delete_source: false,
        journal_op: "vault.merge".into(),
    };
    let journal_before = journal_len(&store);
    let checkpoints_before = store.checkpoints("v").unwrap();
    let dry = store.merge(&req).map_err(|e| format!("dry run: {e}"))?;
    if snapshot(&mut store, "v") != o || snapshot(&mut store, "f") != t {
        return Err("the dry run changed a vault".into());
    }
    if store.checkpoints("v").unwrap() != checkpoints_before
        || journal_len(&store) != journal_before
    {
        return Err("the dry run left a checkpoint or a journal entry".into());
    }
    if dry.checkpoint.is_some() {
        return Err("the dry run reported a checkpoint".into());
    }

    req.dry_run = false;
    let done = store.merge(&req).map_err(|e| format!("merge: {e}"))?;
    let got_conflicts: BTreeMap<Vec<Vec<u8>>, ConflictKind> = done
        .conflicts
        .iter()
        .map(|c| (c.path.components().to_vec(), c.kind))
        .collect();
    if got_conflicts != expected_conflicts {
        return Err(format!(
            "conflicts: got {got_conflicts:?}, the model says {expected_conflicts:?}"
        ));
    }
    let dry_paths: Vec<_> = dry.applied.iter().map(|c| c.path.clone()).collect();
    let done_paths: Vec<_> = done.applied.iter().map(|c| c.path.clone()).collect();
    if dry.status != done.status || dry_paths != done_paths {
        return Err(format!(
            "the dry run said {:?} {dry_paths:?}, the merge did {:?} {done_paths:?}",
            dry.status, done.status
        ));
    }
    let after = snapshot(&mut store, "v");
    if after != expected {
        return Err(format!(
            "status {:?}: target differs from the model\n got: {after:?}\nwant: {expected:?}",
            done.status
        ));
    }
    if done.status == MergeStatus::Conflict {
        if after != o || done.checkpoint.is_some() {
            return Err("a conflicted merge changed the target".into());
        }
        return Ok(());
    }
    // Every path only one side changed is in the result exactly as that side has it.
    for (k, node) in &t {
        if b.get(k) != Some(node)
            && o.get(k) == b.get(k)
            && !expected_conflicts.keys().any(|c| k.starts_with(c))
            && after.get(k) != Some(node)
        {
            return Err(format!("theirs-only change at {k:?} is missing"));
        }
    }
    if done.status == MergeStatus::UpToDate {
        // Nothing to merge: no checkpoint that would only repeat the head.
        return match (done.checkpoint, after == o) {
            (None, true) => Ok(()),
            _ => Err("an up-to-date merge kept a checkpoint or changed the target".into()),
        };
    }
    let cp = done.checkpoint.ok_or("no pre-merge checkpoint")?;
    store.checkpoint_restore("v", &cp.name).unwrap();
    if snapshot(&mut store, "v") != o {
        return Err("restoring the pre-merge checkpoint does not give back the target".into());
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn merge_matches_a_model_three_way_merge(
        base in prop::collection::vec(step_strategy(), 0..8),
        ours in prop::collection::vec(step_strategy(), 0..8),
        theirs in prop::collection::vec(step_strategy(), 0..8),
        policy in prop::sample::select(vec![OnConflict::Keep, OnConflict::Ours, OnConflict::Theirs]),
    ) {
        check(&base, &ours, &theirs, policy).map_err(TestCaseError::fail)?;
    }
}

/// Two appends to one file keep both; edits of different lines of one text
/// file merge; an edit of the same line conflicts.
#[test]
fn appends_and_separate_line_edits_merge() {
    let f = vec![0usize];
    let base = [Step::Write(f.clone(), 0, 3, false)];
    check(
        &base,
        &[Step::Append(f.clone(), 3)],
        &[Step::Append(f.clone(), 4)],
        OnConflict::Keep,
    )
    .unwrap();
    check(
        &base,
        &[Step::Edit(f.clone(), 0, 5)],
        &[Step::Edit(f.clone(), 2, 4)],
        OnConflict::Keep,
    )
    .unwrap();
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("v").unwrap();
    apply(&mut store, "v", &base[0]);
    store.fork_vault("v", "f").unwrap();
    apply(&mut store, "v", &Step::Edit(f.clone(), 1, 4));
    apply(&mut store, "f", &Step::Edit(f.clone(), 1, 5));
    let out = store
        .merge(&MergeRequest {
            source: "f".into(),
            target: "v".into(),
            on_conflict: OnConflict::Keep,
            dry_run: false,
            checkpoint: MergeCheckpoint::PreMerge,
            delete_source: false,
            journal_op: "vault.merge".into(),
        })
        .unwrap();
    assert_eq!(out.status, MergeStatus::Conflict);
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(out.conflicts[0].kind, ConflictKind::Content);
    assert_eq!(out.conflicts[0].path.to_string(), "/a");
}
