//! `avfs audit`: the journal as a list, and `audit verify` catching every
//! edited or deleted entry.

mod common;
use common::*;

fn verify(a: &Avfs) -> (VerifyDoc, i32) {
    let run = a.run(["--json", "audit", "verify"]);
    (parse_one(&run.stdout), run.status)
}

fn tamper(a: &Avfs, sql: &str) {
    let conn = rusqlite::Connection::open(a.store_path()).unwrap();
    conn.execute_batch(sql).unwrap();
}

fn sample() -> Avfs {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "x"]);
    a.ok(["checkpoint", "save", "c"]);
    a.ok(["write", "/f", "y", "--append"]);
    a.ok(["rm", "/f"]);
    a
}

#[test]
fn audit_lists_every_mutation_oldest_first_and_limits_to_the_newest() {
    let a = sample();
    let doc: AuditDoc = a.json(["audit"]);
    let ops: Vec<_> = doc
        .entries
        .iter()
        .map(|e| (e.op.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("vault.create", "main"),
            ("write", "/f"),
            ("checkpoint.save", "c"),
            ("append", "/f"),
            ("rm", "/f")
        ]
    );
    assert!(
        doc.entries
            .iter()
            .all(|e| e.vault.as_deref() == Some("main") && e.hash.len() == 64)
    );
    assert_eq!(
        doc.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let doc: AuditDoc = a.json(["audit", "--limit", "2"]);
    assert_eq!(doc.entries.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 5]);
    let doc: AuditDoc = a.json(["audit", "--since", "1h"]);
    assert_eq!(doc.entries.len(), 5);
    let doc: AuditDoc = a.json(["audit", "--since", "2999-01-01T00:00:00Z"]);
    assert!(doc.entries.is_empty());
    let (err, status) = a.fails(["audit", "--since", "yesterday"]);
    assert_eq!((err.code.as_str(), status), ("invalid_argument", 2));
}

#[test]
fn verify_passes_on_an_untouched_journal() {
    let a = sample();
    let (doc, status) = verify(&a);
    assert_eq!(status, 0);
    assert!(doc.intact);
    assert_eq!(doc.entries, 5);
    assert!(doc.problems.is_empty());
    assert!(a.ok(["audit", "verify"]).contains("intact"));
}

#[test]
fn verify_detects_an_edited_entry() {
    let a = sample();
    tamper(&a, "UPDATE journal SET detail = '/g' WHERE id = 2");
    let (doc, status) = verify(&a);
    assert_eq!(status, 5);
    assert!(!doc.intact);
    assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
    assert_eq!(doc.problems[0].id, 2);
    assert!(doc.problems[0].problem.contains("edited"));
}

#[test]
fn verify_detects_an_entry_rehashed_after_editing() {
    // Recomputing the edited entry's own hash still breaks the next link.
    let a = sample();
    tamper(
        &a,
        "UPDATE journal SET op = 'mkdir', hash = zeroblob(32) WHERE id = 3",
    );
    let (doc, status) = verify(&a);
    assert_eq!(status, 5);
    assert_eq!(
        doc.problems.iter().map(|p| p.id).collect::<Vec<_>>(),
        [3, 4]
    );
}

#[test]
fn verify_detects_deleted_entries_in_the_middle_at_the_start_and_at_the_end() {
    for (sql, first_bad) in [
        ("DELETE FROM journal WHERE id = 3", 4),
        ("DELETE FROM journal WHERE id = 1", 2),
        ("DELETE FROM journal WHERE id = 5", 5),
        ("DELETE FROM journal", 5),
    ] {
        let a = sample();
        tamper(&a, sql);
        let (doc, status) = verify(&a);
        assert_eq!(status, 5, "{sql}");
        assert!(!doc.intact, "{sql}");
        assert_eq!(doc.problems[0].id, first_bad, "{sql}: {:?}", doc.problems);
    }
}

#[test]
fn the_chain_continues_across_commands_after_verification() {
    let a = sample();
    a.ok(["write", "/g", "z"]);
    a.ok(["vault", "create", "other"]);
    let (doc, status) = verify(&a);
    assert_eq!((status, doc.entries, doc.intact), (0, 7, true));
}
