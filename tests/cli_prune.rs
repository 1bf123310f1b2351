//! `avfs prune`: old automatic checkpoints and old versions, by count and age;
//! named checkpoints only when asked; the current version always stays.

mod common;
use common::*;

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Pruned {
    vault: String,
    checkpoints: Vec<String>,
    versions: u64,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PruneDoc {
    dry_run: bool,
    pruned: Vec<Pruned>,
}

fn names(a: &Avfs) -> Vec<String> {
    let list: CheckpointList = a.json(["checkpoint", "list"]);
    list.checkpoints.into_iter().map(|c| c.name).collect()
}

/// Makes automatic checkpoints the way avfs does: restores keep `pre-restore-N`.
fn with_auto_checkpoints() -> Avfs {
    let a = Avfs::with_vault();
    a.ok(["checkpoint", "save", "named"]);
    for i in 0..3 {
        a.ok(["write", "/f", &format!("state {i}")]);
        a.ok(["checkpoint", "restore", "named"]);
    }
    a
}

#[test]
fn prune_keeps_the_newest_automatic_checkpoints_and_every_named_one() {
    let a = with_auto_checkpoints();
    assert_eq!(
        names(&a),
        ["named", "pre-restore-2", "pre-restore-3", "pre-restore-4"]
    );
    let dry: PruneDoc = a.json(["prune", "--keep-checkpoints", "1", "--dry-run"]);
    assert!(dry.dry_run);
    assert_eq!(
        dry.pruned[0].checkpoints,
        ["pre-restore-2", "pre-restore-3"]
    );
    assert_eq!(names(&a).len(), 4, "a dry run removes nothing");
    let doc: PruneDoc = a.json(["prune", "--keep-checkpoints", "1"]);
    assert_eq!(
        (
            doc.pruned[0].vault.as_str(),
            doc.pruned[0].checkpoints.len()
        ),
        ("main", 2)
    );
    assert_eq!(names(&a), ["named", "pre-restore-4"]);
    let doc: PruneDoc = a.json(["prune", "--checkpoints-older-than", "2999-01-01T00:00:00Z"]);
    assert_eq!(doc.pruned[0].checkpoints, ["pre-restore-4"]);
    assert_eq!(names(&a), ["named"]);
    // Named ones only with --named.
    let doc: PruneDoc = a.json(["prune", "--keep-checkpoints", "0", "--named"]);
    assert_eq!(doc.pruned[0].checkpoints, ["named"]);
    assert!(names(&a).is_empty());
    let audit: AuditDoc = a.json(["audit"]);
    assert_eq!(audit.entries.iter().filter(|e| e.op == "prune").count(), 3);
}

#[test]
fn prune_drops_old_versions_but_never_the_current_one_and_gc_frees_them() {
    let a = Avfs::with_vault();
    for i in 0..5 {
        a.run_stdin(["write", "/f"], &vec![i as u8 + 1; 300 * 1024]);
    }
    a.ok(["write", "/g", "only"]);
    let doc: PruneDoc = a.json(["prune", "--keep-versions", "2"]);
    assert_eq!(doc.pruned[0].versions, 3);
    let log: LogDoc = a.json(["log", "/f"]);
    assert_eq!(
        log.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [4, 5]
    );
    let log: LogDoc = a.json(["log", "/g"]);
    assert_eq!(log.versions.len(), 1);
    a.json::<serde_json::Value, _, _>(["gc"]);
    let stats: StatsDoc = a.json(["stats"]);
    assert_eq!(
        stats.store.chunks, 4,
        "two versions of two chunks each remain"
    );
    let doc: PruneDoc = a.json(["prune", "--versions-older-than", "2999-01-01T00:00:00Z"]);
    assert_eq!(doc.pruned[0].versions, 1, "all but the current one");
    assert_eq!(a.run(["cat", "/f"]).stdout, vec![5u8; 300 * 1024]);
    let (err, _) = a.fails(["revert", "/f"]);
    assert_eq!(err.code, "nothing_to_revert");
}

#[test]
fn prune_needs_a_rule_and_can_cover_every_vault() {
    let a = with_auto_checkpoints();
    a.ok(["vault", "fork", "main", "other"]);
    let (err, status) = a.fails(["prune"]);
    assert_eq!((err.code.as_str(), status), ("invalid_argument", 2));
    let (err, _) = a.fails(["prune", "--keep-versions", "0"]);
    assert_eq!(err.code, "invalid_argument");
    let (err, _) = a.fails(["prune", "--checkpoints-older-than", "soon"]);
    assert_eq!(err.code, "invalid_argument");
    let doc: PruneDoc = a.json(["prune", "--all-vaults", "--keep-checkpoints", "0"]);
    let vaults: Vec<_> = doc.pruned.iter().map(|p| p.vault.as_str()).collect();
    assert_eq!(vaults, ["main", "other"]);
}
