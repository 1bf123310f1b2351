//! `avfs vault merge` through the real binary: the `Merge` document, the
//! default target, `--into`, `--dry-run`, `--on-conflict`, the `pre-merge-N`
//! checkpoint, the journal entry, and the `merge_conflict` error.

mod common;

use common::{Avfs, Change, Checkpoint, Conflict, Summary};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct MergeDoc {
    source: String,
    target: String,
    status: String,
    dry_run: bool,
    on_conflict: String,
    checkpoint: Option<Checkpoint>,
    changes: Vec<Change>,
    summary: Summary,
    conflicts: Vec<Conflict>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ConflictError {
    code: String,
    message: String,
    exit_status: i32,
    hint: Option<String>,
    merge: MergeDoc,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ConflictErrorDoc {
    error: ConflictError,
}

fn pairs(doc: &MergeDoc) -> Vec<(String, String)> {
    doc.changes
        .iter()
        .map(|c| (c.change.clone(), c.path.clone()))
        .collect()
}

/// `main` with a few files, forked into `fix`.
fn forked() -> Avfs {
    let a = Avfs::with_vault();
    a.ok(["write", "/notes.txt", "one\ntwo\nthree\n"]);
    a.ok(["write", "/keep.txt", "keep\n"]);
    a.ok(["vault", "fork", "main", "fix"]);
    a
}

fn checkpoints(a: &Avfs, vault: &str) -> Vec<String> {
    let list: common::CheckpointList = a.json(["--vault", vault, "checkpoint", "list"]);
    list.checkpoints.into_iter().map(|c| c.name).collect()
}

#[test]
fn a_fork_fast_forwards_into_an_unmoved_parent() {
    let a = forked();
    a.ok(["--vault", "fix", "write", "/new.txt", "new\n"]);
    a.ok(["--vault", "fix", "rm", "/keep.txt"]);
    let doc: MergeDoc = a.json(["vault", "merge", "fix"]);
    assert_eq!((doc.source.as_str(), doc.target.as_str()), ("fix", "main"));
    assert_eq!(doc.status, "fast_forward");
    assert!(!doc.dry_run);
    assert_eq!(doc.on_conflict, "keep");
    assert!(doc.conflicts.is_empty());
    assert_eq!(
        pairs(&doc),
        common::pairs(&[("deleted", "/keep.txt"), ("added", "/new.txt")])
    );
    assert_eq!(
        (doc.summary.added, doc.summary.deleted, doc.summary.total),
        (1, 1, 2)
    );
    let cp = doc.checkpoint.expect("a pre-merge checkpoint");
    assert!(cp.auto && cp.name.starts_with("pre-merge-"), "{cp:?}");
    assert_eq!(cp.vault, "main");
    assert_eq!(a.cat("/new.txt"), b"new\n");
    assert_eq!(a.fails(["cat", "/keep.txt"]).0.code, "path_not_found");
    // The fork is still there and independent; the parent's checkpoint undoes the merge.
    assert_eq!(a.ok(["--vault", "fix", "cat", "/new.txt"]), "new\n");
    a.ok(["checkpoint", "restore", &cp.name]);
    assert_eq!(a.cat("/keep.txt"), b"keep\n");
    let audit = a.ok(["audit"]);
    assert!(audit.contains("vault.merge"), "{audit}");
}

#[test]
fn both_sides_changed_merge_three_way_line_by_line() {
    let a = forked();
    a.ok(["write", "/notes.txt", "ONE\ntwo\nthree\n"]);
    a.ok(["write", "/main-only.txt", "m\n"]);
    a.ok(["--vault", "fix", "write", "/notes.txt", "one\ntwo\nTHREE\n"]);
    a.ok(["--vault", "fix", "write", "/fix-only.txt", "f\n"]);
    a.ok(["--vault", "fix", "write", "--append", "/keep.txt", "more\n"]);

    // A dry run says what would happen and changes nothing.
    let before = checkpoints(&a, "main");
    let dry: MergeDoc = a.json(["vault", "merge", "fix", "--into", "main", "--dry-run"]);
    assert!(dry.dry_run && dry.checkpoint.is_none());
    assert_eq!(dry.status, "merged");
    assert_eq!(checkpoints(&a, "main"), before);
    assert_eq!(a.cat("/notes.txt"), b"ONE\ntwo\nthree\n");
    assert_eq!(a.fails(["cat", "/fix-only.txt"]).0.code, "path_not_found");

    let doc: MergeDoc = a.json(["vault", "merge", "fix"]);
    assert_eq!(doc.status, "merged");
    assert_eq!(pairs(&doc), pairs(&dry));
    assert_eq!(
        pairs(&doc),
        common::pairs(&[
            ("added", "/fix-only.txt"),
            ("modified", "/keep.txt"),
            ("modified", "/notes.txt"),
        ])
    );
    assert_eq!(a.cat("/notes.txt"), b"ONE\ntwo\nTHREE\n");
    assert_eq!(a.cat("/keep.txt"), b"keep\nmore\n");
    assert_eq!(a.cat("/main-only.txt"), b"m\n");
    assert_eq!(a.cat("/fix-only.txt"), b"f\n");
}

#[test]
fn a_conflict_merges_nothing_and_exits_4_unless_a_side_is_chosen() {
    let a = forked();
    a.ok(["write", "/notes.txt", "one\nTWO (main)\nthree\n"]);
    a.ok([
        "--vault",
        "fix",
        "write",
        "/notes.txt",
        "one\nTWO (fix)\nthree\n",
    ]);
    a.ok(["--vault", "fix", "write", "/other.txt", "o\n"]);
    let before = checkpoints(&a, "main");

    let run = a.run(["--json", "vault", "merge", "fix"]);
    assert_eq!(run.status, 4);
    let doc: ConflictErrorDoc = common::parse_one(&run.stdout);
    let err = doc.error;
    assert_eq!((err.code.as_str(), err.exit_status), ("merge_conflict", 4));
    assert!(err.message.contains("/notes.txt"), "{}", err.message);
    assert!(err.hint.is_some());
    assert_eq!(err.merge.status, "conflict");
    assert!(err.merge.changes.is_empty() && err.merge.checkpoint.is_none());
    let c = &err.merge.conflicts;
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].path.as_str(), c[0].kind.as_str()),
        ("/notes.txt", "content")
    );
    let hash = |s: &Option<common::Side>| s.as_ref().and_then(|s| s.hash.clone()).unwrap();
    assert_ne!(hash(&c[0].ours), hash(&c[0].theirs));
    assert_ne!(hash(&c[0].base), hash(&c[0].ours));
    assert_eq!(checkpoints(&a, "main"), before, "nothing happened");
    assert_eq!(a.fails(["cat", "/other.txt"]).0.code, "path_not_found");
    let human = a.run(["vault", "merge", "fix"]);
    assert_eq!(human.status, 4);
    assert!(
        human.stderr.contains("merge_conflict") || human.stderr.contains("conflicting"),
        "{}",
        human.stderr
    );

    let ours: MergeDoc = a.json([
        "vault",
        "merge",
        "fix",
        "--on-conflict",
        "ours",
        "--dry-run",
    ]);
    assert_eq!(
        (ours.status.as_str(), ours.on_conflict.as_str()),
        ("merged", "ours")
    );
    assert_eq!(pairs(&ours), common::pairs(&[("added", "/other.txt")]));
    assert_eq!(
        ours.conflicts.len(),
        1,
        "resolved conflicts are still listed"
    );

    let theirs: MergeDoc = a.json(["vault", "merge", "fix", "--on-conflict", "theirs"]);
    assert_eq!(theirs.status, "merged");
    assert_eq!(a.cat("/notes.txt"), b"one\nTWO (fix)\nthree\n");
    assert_eq!(a.cat("/other.txt"), b"o\n");
}

#[test]
fn bad_merges_fail_clearly_and_change_nothing() {
    let a = forked();
    let (err, status) = a.fails(["vault", "merge", "nope"]);
    assert_eq!((err.code.as_str(), status), ("vault_not_found", 3));
    let (err, status) = a.fails(["vault", "merge", "fix", "--into", "fix"]);
    assert_eq!((err.code.as_str(), status), ("invalid_move", 2));
    a.ok(["vault", "create", "other"]);
    let (err, status) = a.fails(["vault", "merge", "other", "--into", "main"]);
    assert_eq!((err.code.as_str(), status), ("no_merge_base", 4));
    let (err, status) = a.fails(["vault", "merge", "fix", "--on-conflict", "mine"]);
    assert_eq!((err.code.as_str(), status), ("usage_error", 2));
    assert_eq!(checkpoints(&a, "main"), Vec::<String>::new());
    // Nothing to merge: up to date, and no checkpoint that would only repeat the head.
    let doc: MergeDoc = a.json(["vault", "merge", "fix"]);
    assert_eq!(doc.status, "up_to_date");
    assert!(doc.changes.is_empty() && doc.checkpoint.is_none());
    assert_eq!(checkpoints(&a, "main"), Vec::<String>::new());
}
