//! `proxy exec --changes summary`: rolled-up directories reported once each,
//! every other change listed, the full list one `avfs diff` away. Runs in
//! materialize mode, so it needs no FUSE.

mod common;
use common::*;
use serde::Deserialize;

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Rollup {
    path: String,
    added: u64,
    modified: u64,
    deleted: u64,
    type_changed: u64,
    total: u64,
    bytes_added: u64,
    bytes_removed: u64,
}

#[derive(Deserialize, Debug)]
struct Listed {
    path: String,
}

#[derive(Deserialize, Debug)]
struct Summary {
    total: u64,
}

#[derive(Deserialize, Debug)]
struct Checkpoint {
    name: String,
}

#[derive(Deserialize, Debug)]
struct Run {
    exit_code: Option<i32>,
    changes_mode: String,
    changes: Vec<Listed>,
    rollups: Vec<Rollup>,
    summary: Summary,
    checkpoint: Option<Checkpoint>,
}

#[derive(Deserialize, Debug)]
struct Diff {
    changes: Vec<Listed>,
}

/// A run that writes like a package install: thousands of small files in
/// node_modules (several packages, nested node_modules), and one real change.
const INSTALL: &str = "set -e; \
    for p in $(seq 1 20); do \
      d=node_modules/pkg$p; mkdir -p $d/lib $d/node_modules/dep; \
      for f in $(seq 1 250); do echo \"module.exports = $f; // package $p\" > $d/lib/f$f.js; done; \
      echo '{}' > $d/package.json; echo x > $d/node_modules/dep/index.js; \
    done; \
    echo changed > src/app.js; mkdir -p target; echo bin > target/app";

#[test]
fn summary_rolls_up_dependency_directories_and_diff_still_lists_them() {
    let a = Avfs::with_vault();
    a.ok(["write", "-p", "/src/app.js", "original"]);
    let run = a.run([
        "--json",
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--changes",
        "summary",
        "--shell",
        INSTALL,
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let size = run.stdout.len();
    let doc: Run = parse_one(&run.stdout);
    assert_eq!(doc.exit_code, Some(0));
    assert_eq!(doc.changes_mode, "summary");
    let listed: Vec<&str> = doc.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(listed, ["/src/app.js"]);
    // 20 packages x (dir, lib, 250 files, package.json, node_modules, dep, index.js) + node_modules itself.
    let files_per_pkg = 250 + 2;
    let node_modules = Rollup {
        path: "/node_modules".into(),
        added: 1 + 20 * (4 + files_per_pkg),
        modified: 0,
        deleted: 0,
        type_changed: 0,
        total: 1 + 20 * (4 + files_per_pkg),
        bytes_added: doc.rollups[0].bytes_added,
        bytes_removed: 0,
    };
    assert_eq!(doc.rollups[0], node_modules);
    assert!(doc.rollups[0].bytes_added > 20 * 250 * 20);
    assert_eq!(doc.rollups[1].path, "/target");
    assert_eq!((doc.rollups[1].added, doc.rollups[1].bytes_added), (2, 4));
    assert_eq!(doc.summary.total, 1 + node_modules.total + 2);
    // Over 5,000 changes fit in a few kilobytes.
    assert!(
        size < 20 * 1024,
        "the summarized run document is {size} bytes"
    );

    // The full list is one diff away.
    let checkpoint = doc.checkpoint.expect("an automatic checkpoint").name;
    let diff: Diff = a.json(["diff", "--from", &checkpoint]);
    assert_eq!(diff.changes.len() as u64, doc.summary.total);

    // Full mode (the default) lists everything, as before.
    let full: Run = a.json([
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--shell",
        "rm -rf node_modules/pkg1",
    ]);
    assert_eq!(full.changes_mode, "full");
    assert!(full.rollups.is_empty());
    assert_eq!(full.changes.len() as u64, full.summary.total);
    assert_eq!(full.summary.total, 4 + files_per_pkg);
}

#[test]
fn the_policy_names_the_directories_to_roll_up() {
    let a = Avfs::with_vault();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"rollup": ["build", "gen/out"]}"#).unwrap();
    let run: Run = a.json([
        "proxy".as_ref(), "exec".as_ref(), "--mode".as_ref(), "materialize".as_ref(),
        "--changes".as_ref(), "summary".as_ref(), "--policy".as_ref(), policy.as_os_str(),
        "--shell".as_ref(), "mkdir -p build gen/out node_modules; echo 1 > build/a; echo 2 > gen/out/b; echo 3 > node_modules/c".as_ref(),
    ]);
    let rolled: Vec<&str> = run.rollups.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(rolled, ["/build", "/gen/out"]);
    let listed: Vec<&str> = run.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(listed, ["/gen", "/node_modules", "/node_modules/c"]);
    std::fs::write(&policy, r#"{"rollup": ["../up"]}"#).unwrap();
    let (err, status) = a.fails([
        "proxy".as_ref(),
        "exec".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
        "--".as_ref(),
        "true".as_ref(),
    ]);
    assert_eq!((err.code.as_str(), status), ("invalid_policy", 2));
    assert!(err.message.contains("rollup[0]"), "{}", err.message);
}
