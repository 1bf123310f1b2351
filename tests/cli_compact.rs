//! `avfs compact`: squashed chains read exactly as before.

mod common;
use common::*;

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct CompactDoc {
    layers_merged: u64,
    db_bytes_before: u64,
    db_bytes_after: u64,
}

fn snapshot(a: &Avfs, vault: &str) -> Vec<(String, Option<String>, String)> {
    let tree: EntriesDoc = a.json(["--vault", vault, "tree"]);
    tree.entries
        .into_iter()
        .map(|e| (e.path, e.hash, e.mode))
        .collect()
}

#[test]
fn compact_squashes_unnamed_layers_and_changes_no_state() {
    let a = Avfs::with_vault();
    for i in 0..6 {
        a.ok(["write", "-p", &format!("/d{}/f", i % 2), &format!("v{i}")]);
        a.ok(["write", &format!("/g{i}"), "x"]);
        if i == 2 {
            a.ok(["rm", "/g0"]);
        }
        a.ok(["checkpoint", "save", &format!("c{i}")]);
    }
    a.ok(["vault", "fork", "main", "fork"]);
    a.ok(["--vault", "fork", "write", "/only-fork", "y"]);
    for i in [0, 1, 3, 4] {
        a.ok(["checkpoint", "delete", &format!("c{i}")]);
    }
    let before_main = snapshot(&a, "main");
    let before_fork = snapshot(&a, "fork");
    let before_c2: DiffDoc = a.json(["diff", "--from", "c2", "--to", "c5"]);
    let before_log: LogDoc = a.json(["log", "/d0/f"]);
    let info: VaultDoc = a.json(["vault", "info"]);
    let depth_before = info.vault.layer_depth;
    let doc: CompactDoc = a.json(["compact"]);
    assert_eq!(
        doc.layers_merged, 4,
        "c0, c1, c3 and c4 were nobody's state"
    );
    assert!(doc.db_bytes_before > 0 && doc.db_bytes_after > 0);
    let info: VaultDoc = a.json(["vault", "info"]);
    assert_eq!(info.vault.layer_depth, depth_before - 4);
    assert_eq!(snapshot(&a, "main"), before_main);
    assert_eq!(snapshot(&a, "fork"), before_fork);
    let after_c2: DiffDoc = a.json(["diff", "--from", "c2", "--to", "c5"]);
    assert_eq!(after_c2.pairs(), before_c2.pairs());
    let after_log: LogDoc = a.json(["log", "/d0/f"]);
    assert_eq!(after_log.summary(), before_log.summary());
    a.ok(["checkpoint", "restore", "c2"]);
    assert_eq!(a.cat("/d0/f"), b"v2");
    assert!(a.run(["stat", "/g0"]).status != 0);
    let again: CompactDoc = a.json(["compact"]);
    assert_eq!(again.layers_merged, 0);
    assert_eq!(a.run(["audit", "verify"]).status, 0);
}
