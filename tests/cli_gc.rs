//! `avfs gc` through the CLI: dry runs change nothing, a real run frees what
//! nothing reaches and keeps what checkpoints and forks reach.

mod common;
use common::*;

#[derive(serde::Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Freed {
    layers: u64,
    rows: u64,
    contents: u64,
    chunks: u64,
    bytes: u64,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct GcDoc {
    dry_run: bool,
    spared_recent_chunks: bool,
    freed: Freed,
}

#[test]
fn gc_keeps_what_checkpoints_and_forks_reach_and_frees_the_rest() {
    let a = Avfs::with_vault();
    let big = vec![3u8; 300 * 1024];
    a.run_stdin(["write", "/big"], &big);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["rm", "/big"]);
    a.ok(["vault", "create", "tmp"]);
    a.ok(["--vault", "tmp", "write", "/t", "temporary"]);
    let doc: GcDoc = a.json(["gc"]);
    assert_eq!(
        doc.freed.contents, 0,
        "the checkpoint reaches /big, nothing else is garbage"
    );
    assert!(!doc.dry_run && !doc.spared_recent_chunks);
    a.ok(["vault", "delete", "tmp"]);
    a.ok(["checkpoint", "delete", "c1"]);
    // /big is still reachable through its history (log /big lists it).
    let doc: GcDoc = a.json(["gc"]);
    assert_eq!(
        doc.freed.contents, 1,
        "only the deleted vault's file: {doc:?}"
    );
    assert_eq!(a.run(["cat", "/big", "-v", "1"]).stdout.len(), big.len());
    // Forget the history too: a new vault from scratch leaves /big reachable by nothing.
    a.ok(["vault", "create", "fresh"]);
    a.ok(["vault", "delete", "main"]);
    let dry: GcDoc = a.json(["gc", "--dry-run"]);
    assert!(dry.dry_run);
    assert_eq!((dry.freed.contents, dry.freed.chunks), (1, 2));
    let stats: StatsDoc = a.json(["stats"]);
    assert_eq!(stats.store.chunks, 2, "a dry run frees nothing");
    let doc: GcDoc = a.json(["gc"]);
    assert_eq!(doc.freed, dry.freed);
    let stats: StatsDoc = a.json(["stats"]);
    assert_eq!(
        (
            stats.store.chunks,
            stats.store.contents,
            stats.store.stored_bytes
        ),
        (0, 0, 0)
    );
    assert!(a.ok(["gc"]).starts_with("freed 0 B"));
    let audit: AuditDoc = a.json(["audit"]);
    assert_eq!(audit.entries.iter().filter(|e| e.op == "gc").count(), 4);
    let (verify, status) = (a.run(["audit", "verify"]).status, 0);
    assert_eq!(verify, status);
}
