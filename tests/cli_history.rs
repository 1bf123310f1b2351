//! File history through the CLI: `log`, `cat -v`, `checkout`, `revert`,
//! `diff --v1/--v2` and `diff --patch`.

mod common;
use common::*;

fn log(a: &Avfs, path: &str) -> LogDoc {
    a.json(["log", path])
}

fn s(v: u64, size: u64, source: &str) -> (u64, u64, String) {
    (v, size, source.to_string())
}

#[test]
fn write_append_overwrite_are_versions_numbered_from_one() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "one\n"]);
    a.ok(["write", "--append", "/f", "two\n"]);
    a.ok(["write", "/f", "three\n"]);
    a.ok(["write", "/f", "three\n"]); // the same bytes again: not a change
    a.ok(["write", "/other", "x"]);
    let doc = log(&a, "/f");
    assert_eq!(
        doc.summary(),
        [s(1, 4, "write"), s(2, 8, "append"), s(3, 6, "write")]
    );
    let stat: EntryDoc = a.json(["stat", "/f"]);
    assert_eq!(
        doc.versions[2].hash, stat.entry.hash,
        "the newest version is the current content"
    );
    assert!(
        doc.versions
            .iter()
            .all(|v| !v.deleted && v.path == "/f" && v.checkpoint.is_none())
    );
    assert!(
        doc.versions
            .windows(2)
            .all(|w| w[0].time_ns <= w[1].time_ns)
    );
    assert_eq!(a.run(["cat", "/f", "-v", "2"]).stdout, b"one\ntwo\n");
    let cat: CatDoc = a.json(["cat", "/f", "--version", "1"]);
    assert_eq!((cat.content.as_str(), cat.size), ("one\n", 4));
    assert_eq!(a.ok(["log", "/f"]).lines().count(), 3);
}

#[test]
fn moves_deletions_and_copies_are_versions_too() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "a"]);
    a.ok(["mv", "/f", "/g"]);
    a.ok(["cp", "/g", "/h"]);
    a.ok(["rm", "/h"]);
    assert_eq!(log(&a, "/f").summary(), [s(1, 1, "write"), s(2, 0, "mv")]);
    assert!(log(&a, "/f").versions[1].deleted);
    assert_eq!(log(&a, "/g").summary(), [s(1, 1, "mv")]);
    assert_eq!(log(&a, "/h").summary(), [s(1, 1, "cp"), s(2, 0, "rm")]);
    // A deleted file keeps its history and can be brought back.
    let doc: CheckoutDoc = a.json(["checkout", "/h", "-v", "1"]);
    assert_eq!(
        (
            doc.from_version,
            doc.version.version,
            doc.version.source.as_str()
        ),
        (1, 3, "checkout")
    );
    assert_eq!(a.cat("/h"), b"a");
    let (err, status) = a.fails(["cat", "/f", "-v", "2"]);
    assert_eq!((err.code.as_str(), status), ("version_deleted", 4));
}

#[test]
fn checkout_restores_a_version_as_a_new_change_and_revert_undoes_the_last() {
    let a = Avfs::with_vault();
    for text in ["v1", "v2", "v3"] {
        a.ok(["write", "/f", text]);
    }
    let doc: CheckoutDoc = a.json(["checkout", "/f", "-v", "1"]);
    assert_eq!(doc.version.version, 4);
    assert_eq!(doc.entry.size, 2);
    assert_eq!(a.cat("/f"), b"v1");
    let doc: RevertDoc = a.json(["revert", "/f"]);
    assert_eq!(a.cat("/f"), b"v3");
    assert_eq!(
        (doc.version.version, doc.version.source.as_str()),
        (5, "revert")
    );
    assert_eq!(doc.entry.unwrap().hash, doc.version.hash);
    // Reverting a revert is a redo.
    a.ok(["revert", "/f"]);
    assert_eq!(a.cat("/f"), b"v1");
    // Reverting the change that created a file removes it.
    a.ok(["write", "/new", "x"]);
    let doc: RevertDoc = a.json(["revert", "/new"]);
    assert!(doc.entry.is_none());
    assert!(doc.version.deleted);
    let (err, _) = a.fails(["stat", "/new"]);
    assert_eq!(err.code, "path_not_found");
}

#[test]
fn history_errors_are_clear_and_change_nothing() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "x"]);
    a.ok(["mkdir", "/d"]);
    let before: AuditDoc = a.json(["audit"]);
    for (args, code, status) in [
        (vec!["cat", "/f", "-v", "9"], "version_not_found", 3),
        (vec!["checkout", "/f", "-v", "0"], "version_not_found", 3),
        (vec!["checkout", "/nope", "-v", "1"], "version_not_found", 3),
        (vec!["revert", "/nope"], "version_not_found", 3),
        (vec!["log", "/nope"], "path_not_found", 3),
        (vec!["diff", "/f", "--v1", "3"], "version_not_found", 3),
        (vec!["diff", "--v1", "1"], "invalid_argument", 2),
        (vec!["diff", "/f", "/d", "--v1", "1"], "invalid_argument", 2),
        (vec!["diff", "/f", "--v2", "1"], "usage_error", 2),
        (vec!["checkout", "/f"], "usage_error", 2),
    ] {
        let (err, got) = a.fails(&args);
        assert_eq!(
            (err.code.as_str(), got),
            (code, status),
            "{args:?}: {}",
            err.message
        );
    }
    let log: LogDoc = a.json(["log", "/d"]);
    assert!(log.versions.is_empty(), "directories have no versions");
    let after: AuditDoc = a.json(["audit"]);
    assert_eq!(
        before.entries.len(),
        after.entries.len(),
        "failed commands journal nothing"
    );
}

#[test]
fn diff_between_versions_is_a_unified_diff_and_binary_files_are_summarized() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "a\nb\nc\n"]);
    a.ok(["write", "/f", "a\nB\nc\nd\n"]);
    a.ok(["write", "/f", "a\nB\nc\nd\ne\n"]);
    let doc: VersionDiffDoc = a.json(["diff", "/f", "--v1", "1", "--v2", "2"]);
    assert_eq!(
        doc.patch.as_deref(),
        Some("--- /f@v1\n+++ /f@v2\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n")
    );
    assert_eq!(
        (doc.added_lines, doc.removed_lines, doc.binary),
        (2, 1, false)
    );
    let doc: VersionDiffDoc = a.json(["diff", "/f", "--v1", "2"]);
    assert_eq!(doc.v2.version, 3, "--v2 defaults to the newest version");
    assert_eq!((doc.added_lines, doc.removed_lines), (1, 0));
    assert!(
        a.ok(["diff", "/f", "--v1", "1"])
            .starts_with("--- /f@v1\n+++ /f@v3\n")
    );
    a.run_stdin(["write", "/bin"], b"\0\x01\x02");
    a.run_stdin(["write", "/bin"], b"\0\x01\x03\x04");
    let doc: VersionDiffDoc = a.json(["diff", "/bin", "--v1", "1", "--v2", "2"]);
    assert!(doc.binary);
    assert_eq!(doc.patch, None);
    assert_eq!((doc.v1.size, doc.v2.size), (3, 4));
    assert!(
        a.ok(["diff", "/bin", "--v1", "1"])
            .contains("binary files differ")
    );
}

#[test]
fn diff_patch_adds_unified_diffs_to_the_change_list() {
    let a = Avfs::with_vault();
    a.ok(["write", "/keep", "same\n"]);
    a.ok(["write", "/mod", "old\n"]);
    a.ok(["write", "/gone", "bye\n"]);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["write", "/mod", "new\n"]);
    a.ok(["rm", "/gone"]);
    a.ok(["write", "/added", "hi\n"]);
    a.ok(["mkdir", "/dir"]);
    a.run_stdin(["write", "/bin"], b"\0\0");
    let doc: PatchedDiffDoc = a.json(["diff", "--from", "c1", "--patch"]);
    let patches: Vec<_> = doc
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.patch.as_deref()))
        .collect();
    assert_eq!(
        patches,
        [
            (
                "/added",
                Some("--- /dev/null\n+++ b/added\n@@ -0,0 +1 @@\n+hi\n")
            ),
            ("/bin", None),
            ("/dir", None),
            (
                "/gone",
                Some("--- a/gone\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n")
            ),
            (
                "/mod",
                Some("--- a/mod\n+++ b/mod\n@@ -1 +1 @@\n-old\n+new\n")
            ),
        ]
    );
    // Without --patch the documented change shape is unchanged.
    let plain: DiffDoc = a.json(["diff", "--from", "c1"]);
    assert_eq!(plain.changes.len(), 5);
    assert!(
        a.ok(["diff", "--from", "c1", "--patch"])
            .contains("-old\n+new")
    );
}

#[test]
fn forks_share_history_up_to_the_fork_and_checkpoints_are_named() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "1"]);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["write", "/f", "2"]);
    a.ok(["vault", "fork", "main", "fork"]);
    a.ok(["write", "/f", "3"]);
    a.ok(["--vault", "fork", "write", "/f", "fork"]);
    let main = log(&a, "/f");
    assert_eq!(
        main.versions.iter().map(|v| v.size).collect::<Vec<_>>(),
        [1, 1, 1]
    );
    assert_eq!(main.versions[0].checkpoint.as_deref(), Some("c1"));
    assert_eq!(
        main.versions[1].checkpoint, None,
        "frozen by the fork, not a checkpoint"
    );
    let fork: LogDoc = a.json(["--vault", "fork", "log", "/f"]);
    assert_eq!(
        fork.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(fork.versions[2].size, 4);
    assert_ne!(fork.versions[2].hash, main.versions[2].hash);
    // Restoring a checkpoint brings back the history it had.
    a.ok(["checkpoint", "restore", "c1"]);
    assert_eq!(log(&a, "/f").versions.len(), 1);
}

#[test]
fn a_moved_directory_takes_its_files_histories_along() {
    let a = Avfs::with_vault();
    a.ok(["write", "-p", "/src/a.rs", "1"]);
    a.ok(["write", "/src/a.rs", "22"]);
    a.ok(["mv", "/src", "/lib"]);
    assert_eq!(
        log(&a, "/lib/a.rs").summary(),
        [s(1, 1, "write"), s(2, 2, "write")]
    );
    let doc = log(&a, "/lib/a.rs");
    assert!(doc.versions.iter().all(|v| v.path == "/lib/a.rs"));
    a.ok(["revert", "/lib/a.rs"]);
    assert_eq!(a.cat("/lib/a.rs"), b"1");
    // The old directory is gone, and with it any way to name its entries.
    let (err, _) = a.fails(["log", "/src/a.rs"]);
    assert_eq!(err.code, "path_not_found");
    // A new directory of the same name starts a history of its own.
    a.ok(["write", "-p", "/src/a.rs", "new"]);
    assert_eq!(log(&a, "/src/a.rs").summary(), [s(1, 3, "write")]);
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RetentionDoc {
    keep_versions: Option<u64>,
}

/// Two chunks (256 KiB + 1 byte) of `fill`: each value is a distinct content.
fn big(fill: u8) -> Vec<u8> {
    vec![fill; 256 * 1024 + 1]
}

fn rewrite(a: &Avfs, fills: std::ops::Range<u8>) {
    for i in fills {
        let run = a.run_stdin(["write", "/f"], &big(i));
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
}

fn versions(a: &Avfs) -> Vec<u64> {
    log(a, "/f").versions.iter().map(|v| v.version).collect()
}

#[test]
fn history_is_pruned_automatically_and_its_space_freed() {
    let a = Avfs::with_vault();
    let shown: RetentionDoc = a.json(["retention"]);
    assert_eq!(shown.keep_versions, Some(20), "20 by default");

    rewrite(&a, 0..30);
    assert_eq!(versions(&a), (11..=30).collect::<Vec<_>>());
    let stats: StatsDoc = a.json(["stats"]);
    assert_eq!(
        (stats.store.contents, stats.store.chunks),
        (20, 40),
        "what the dropped versions held is freed at once, without gc"
    );
    assert_eq!(stats.store.stored_bytes, 20 * big(0).len() as u64);
    assert_eq!(a.cat("/f"), big(29));
    let old = a.run(["cat", "/f", "-v", "11"]);
    assert_eq!(old.stdout, big(10));

    // A checkpoint's history stays as it was frozen; the head keeps 20 more.
    a.ok(["checkpoint", "save", "c"]);
    rewrite(&a, 30..55);
    assert_eq!(versions(&a), (11..=30).chain(36..=55).collect::<Vec<_>>());
    a.ok(["checkpoint", "restore", "c"]);
    assert_eq!(a.cat("/f"), big(29), "the checkpoint reads back whole");
    assert_eq!(versions(&a), (11..=30).collect::<Vec<_>>());
    a.ok(["checkpoint", "restore", "pre-restore-2"]);

    // Keeping everything, then trimming hard: a file trims at its next change.
    let all: RetentionDoc = a.json(["retention", "--keep-all"]);
    assert_eq!(all.keep_versions, None);
    rewrite(&a, 55..60);
    assert_eq!(versions(&a).len(), 45);
    let three: RetentionDoc = a.json(["retention", "--keep-versions", "3"]);
    assert_eq!(three.keep_versions, Some(3));
    rewrite(&a, 60..61);
    assert_eq!(
        versions(&a),
        (11..=30).chain(36..=55).chain(59..=61).collect::<Vec<_>>(),
        "the head's layer keeps 3; what checkpoints froze stays"
    );
    let (err, status) = a.fails(["retention", "--keep-versions", "0"]);
    assert_eq!((err.code.as_str(), status), ("usage_error", 2));
    let verify = a.run(["--json", "verify"]);
    assert_eq!(verify.status, 0, "{}", verify.stdout_str());
    let audit: AuditDoc = a.json(["audit"]);
    let ops: Vec<_> = audit
        .entries
        .iter()
        .filter(|e| e.op == "retention.set")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(ops, ["keep every version", "keep 3 versions per file"]);
}
