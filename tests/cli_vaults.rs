//! Vaults, checkpoints, diff, import and export through the real binary.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

#[test]
fn vault_lifecycle_and_selection() {
    let a = Avfs::new();
    let (err, status) = a.fails(["ls"]);
    assert_eq!((err.code.as_str(), status), ("no_current_vault", 3));
    assert!(err.hint.is_some());

    let made: VaultDoc = a.json(["vault", "create", "myproject"]);
    assert!(made.vault.current, "the first vault becomes current");
    assert_eq!(
        (made.vault.checkpoints, made.vault.forked_from.clone()),
        (0, None)
    );
    let other: VaultDoc = a.json(["vault", "create", "other"]);
    assert!(
        !other.vault.current,
        "a second vault does not steal the selection"
    );

    a.ok(["write", "/f", "in myproject"]);
    let fork: VaultDoc = a.json(["vault", "fork", "myproject", "task-001", "--use"]);
    assert_eq!(fork.vault.forked_from.as_deref(), Some("myproject"));
    assert!(fork.vault.current);
    assert_eq!(a.cat("/f"), b"in myproject");

    let list: VaultList = a.json(["vault", "list"]);
    let names: Vec<_> = list.vaults.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["myproject", "other", "task-001"]);
    assert_eq!(list.current.as_deref(), Some("task-001"));

    // --vault beats AVFS_VAULT beats the current vault.
    a.ok(["--vault", "other", "write", "/f", "in other"]);
    let run = a
        .command()
        .env("AVFS_VAULT", "other")
        .args(["cat", "/f"])
        .output()
        .unwrap();
    assert_eq!(run.stdout, b"in other");
    let run = a
        .command()
        .env("AVFS_VAULT", "other")
        .args(["--vault", "myproject", "cat", "/f"])
        .output()
        .unwrap();
    assert_eq!(run.stdout, b"in myproject");

    let info: VaultDoc = a.json(["vault", "info"]);
    assert_eq!(info.vault.name, "task-001");
    a.ok(["vault", "use", "myproject"]);
    let info: VaultDoc = a.json(["vault", "info"]);
    assert_eq!(info.vault.name, "myproject");

    // Deleting the source keeps the fork's data; deleting the current vault unselects it.
    a.ok(["vault", "delete", "myproject"]);
    assert_eq!(a.fails(["ls"]).0.code, "no_current_vault");
    a.ok(["vault", "use", "task-001"]);
    assert_eq!(a.cat("/f"), b"in myproject");

    for (argv, code, status) in [
        (vec!["vault", "create", "task-001"], "vault_exists", 4),
        (vec!["vault", "create", "-bad"], "usage_error", 2),
        (vec!["vault", "create", "bad name"], "invalid_name", 2),
        (vec!["vault", "create", "a:b"], "invalid_name", 2),
        (vec!["vault", "use", "ghost"], "vault_not_found", 3),
        (vec!["vault", "fork", "ghost", "x"], "vault_not_found", 3),
        (
            vec!["vault", "fork", "task-001", "other"],
            "vault_exists",
            4,
        ),
        (vec!["vault", "delete", "ghost"], "vault_not_found", 3),
        (vec!["--vault", "ghost", "ls"], "vault_not_found", 3),
    ] {
        let (err, got) = a.fails(&argv);
        assert_eq!((err.code.as_str(), got), (code, status), "for {argv:?}");
    }
}

#[test]
fn fork_isolation_both_ways() {
    let a = Avfs::with_vault();
    a.ok(["write", "/shared", "v1"]);
    a.ok(["vault", "fork", "main", "fork"]);
    a.ok(["write", "/shared", "parent v2"]);
    a.ok(["--vault", "fork", "write", "/mine", "fork only"]);
    assert_eq!(a.ok(["--vault", "fork", "cat", "/shared"]), "v1");
    assert_eq!(a.fails(["cat", "/mine"]).0.code, "path_not_found");
    let d: DiffDoc = a.json(["diff", "--from", "vault:main", "--to", "vault:fork"]);
    assert_eq!(
        d.pairs(),
        pairs(&[("added", "/mine"), ("modified", "/shared")])
    );
}

#[test]
fn checkpoints_save_list_info_restore_delete() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "one"]);
    let saved: CheckpointDoc = a.json(["checkpoint", "save", "before-refactor", "-m", "why"]);
    assert_eq!(
        (
            saved.checkpoint.name.as_str(),
            saved.checkpoint.vault.as_str(),
            saved.checkpoint.message.as_deref(),
            saved.checkpoint.auto
        ),
        ("before-refactor", "main", Some("why"), false)
    );
    a.ok(["write", "/f", "two"]);
    a.ok(["write", "/g", "new"]);

    let restored: RestoreDoc = a.json(["checkpoint", "restore", "before-refactor"]);
    assert_eq!(a.cat("/f"), b"one");
    assert_eq!(a.fails(["cat", "/g"]).0.code, "path_not_found");
    // The replaced state is kept, so a restore never loses work.
    let kept = restored.saved_previous.expect("unsaved changes are kept");
    assert!(kept.auto);
    a.ok(["checkpoint", "restore", &kept.name]);
    assert_eq!(
        (a.cat("/f"), a.cat("/g")),
        (b"two".to_vec(), b"new".to_vec())
    );

    let list: CheckpointList = a.json(["checkpoint", "list"]);
    let names: Vec<_> = list.checkpoints.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["before-refactor", kept.name.as_str()]);
    let info: CheckpointDoc = a.json(["checkpoint", "info", "before-refactor"]);
    assert_eq!(info.checkpoint.message.as_deref(), Some("why"));

    // Restoring the state you are in saves nothing new.
    let again: RestoreDoc = a.json(["checkpoint", "restore", &kept.name]);
    assert!(again.saved_previous.is_none());

    a.ok(["checkpoint", "delete", "before-refactor"]);
    for (argv, code, status) in [
        (
            vec!["checkpoint", "info", "before-refactor"],
            "checkpoint_not_found",
            3,
        ),
        (
            vec!["checkpoint", "restore", "before-refactor"],
            "checkpoint_not_found",
            3,
        ),
        (
            vec!["checkpoint", "delete", "before-refactor"],
            "checkpoint_not_found",
            3,
        ),
        (
            vec!["checkpoint", "save", &kept.name],
            "checkpoint_exists",
            4,
        ),
        (vec!["checkpoint", "save", "no/slash"], "invalid_name", 2),
    ] {
        let (err, got) = a.fails(&argv);
        assert_eq!((err.code.as_str(), got), (code, status), "for {argv:?}");
    }
}

/// Every entry of a host tree: relative path, kind, mode, mtime (ns), bytes or target.
fn host_manifest(root: &Path) -> Vec<(String, String, u32, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
            let (kind, body) = if m.file_type().is_symlink() {
                (
                    "symlink",
                    fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec(),
                )
            } else if m.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else {
                ("file", fs::read(&path).unwrap())
            };
            let mode = if kind == "symlink" {
                0
            } else {
                m.mode() & 0o7777
            };
            out.push((rel, kind.to_string(), mode, mtime, body));
        }
    }
    out.sort();
    out
}

fn sample_tree(root: &Path) {
    host_file(root, "src/main.rs", b"fn main() {}\n");
    host_file(root, "src/lib/deep.txt", b"deep");
    host_file(root, "run.sh", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("src/lib"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("src/main.rs", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("abs-link")).unwrap();
    fs::hard_link(root.join("run.sh"), root.join("run-again.sh")).unwrap();
    let big: Vec<u8> = (0..700_000u32).flat_map(|i| i.to_le_bytes()).collect();
    host_file(root, "big.bin", &big);
    // A nanosecond mtime, to prove it survives the round trip.
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123_456_789);
    fs::File::options()
        .write(true)
        .open(root.join("src/main.rs"))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn import_export_round_trip_keeps_modes_links_and_mtimes() {
    let a = Avfs::with_vault();
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("in");
    sample_tree(&src);
    let imported: ImportDoc = a.json(["import".as_ref(), src.as_os_str(), "/proj".as_ref()]);
    let c = &imported.imported;
    assert_eq!((c.files, c.dirs, c.symlinks, c.hard_links), (4, 2, 2, 1));
    assert_eq!(imported.dest, "/proj");
    let st: EntryDoc = a.json(["stat", "/proj/run-again.sh"]);
    assert_eq!((st.entry.nlink, st.entry.mode.as_str()), (2, "0755"));

    let out = host.path().join("out");
    let exported: ExportDoc = a.json(["export".as_ref(), "/proj".as_ref(), out.as_os_str()]);
    assert_eq!(exported.exported.hard_links, 1);
    assert_eq!(host_manifest(&src), host_manifest(&out));
    assert_eq!(
        fs::metadata(out.join("run.sh")).unwrap().ino(),
        fs::metadata(out.join("run-again.sh")).unwrap().ino()
    );

    // A non-empty destination is refused without --force and left alone.
    host_file(&out, "mine.txt", b"keep");
    let (err, status) = a.fails(["export".as_ref(), "/proj".as_ref(), out.as_os_str()]);
    assert_eq!((err.code.as_str(), status), ("destination_exists", 4));
    assert_eq!(fs::read(out.join("mine.txt")).unwrap(), b"keep");
    // --force writes into it, and never through a host symlink planted where a file goes.
    fs::remove_file(out.join("big.bin")).unwrap();
    let victim = host.path().join("victim");
    fs::write(&victim, b"untouched").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("big.bin")).unwrap();
    a.ok([
        "export".as_ref(),
        "/proj".as_ref(),
        out.as_os_str(),
        "--force".as_ref(),
    ]);
    assert_eq!(fs::read(&victim).unwrap(), b"untouched");
    assert_eq!(
        fs::read(out.join("big.bin")).unwrap(),
        fs::read(src.join("big.bin")).unwrap()
    );

    // Importing a file (not a directory) is a usage error.
    let (err, _) = a.fails(["import".as_ref(), src.join("run.sh").as_os_str()]);
    assert_eq!(err.code, "invalid_argument");
    let (err, _) = a.fails(["import", "/no/such/dir"]);
    assert_eq!(err.code, "io_error");
}

#[test]
fn import_keeps_special_files_and_a_conflict_changes_nothing() {
    let a = Avfs::with_vault();
    let host = tempfile::tempdir().unwrap();
    host_file(host.path(), "ok.txt", b"fine");
    // A fifo is stored as a fifo.
    nix::unistd::mkfifo(
        &host.path().join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let doc: ImportDoc = a.json(["import".as_ref(), host.path().as_os_str(), "/x".as_ref()]);
    assert_eq!(
        (
            doc.imported.files,
            doc.imported.special,
            doc.imported.skipped.len()
        ),
        (1, 1, 0)
    );
    let stat: common::EntryDoc = a.json(["stat", "/x/pipe"]);
    assert_eq!(stat.entry.kind, "fifo");
    // A file where the import needs a directory aborts the whole import.
    host_file(host.path(), "sub/new.txt", b"new");
    a.ok(["rm", "-r", "/x"]);
    a.ok(["mkdir", "/x"]);
    a.ok(["write", "/x/sub", "a file in the way"]);
    let (err, status) = a.fails(["import".as_ref(), host.path().as_os_str(), "/x".as_ref()]);
    assert_eq!((err.code.as_str(), status), ("path_exists", 4));
    assert_eq!(
        a.ok(["ls", "/x"]),
        "sub\n",
        "nothing of the failed import landed"
    );
}

#[test]
fn restore_is_byte_exact_with_modes_symlinks_and_mtimes() {
    let a = Avfs::with_vault();
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("in");
    sample_tree(&src);
    a.ok(["import".as_ref(), src.as_os_str()]);
    a.ok(["checkpoint", "save", "base"]);
    a.ok(["write", "/src/main.rs", "broken"]);
    a.ok(["rm", "-r", "/src/lib"]);
    a.ok(["rm", "/link"]);
    a.ok(["write", "/link", "now a file"]);
    a.ok(["write", "/junk", "x"]);
    a.ok(["checkpoint", "restore", "base"]);
    let out = host.path().join("out");
    a.ok(["export".as_ref(), "/".as_ref(), out.as_os_str()]);
    assert_eq!(host_manifest(&src), host_manifest(&out));
}

#[test]
fn diff_reports_each_kind_of_change() {
    let a = Avfs::with_vault();
    a.ok(["mkdir", "-p", "/d/sub", "/gone"]);
    for (p, c) in [
        ("/d/a", "a"),
        ("/d/sub/b", "b"),
        ("/gone/x", "x"),
        ("/mode", "m"),
        ("/same", "s"),
        ("/kind", "k"),
    ] {
        a.ok(["write", p, c]);
    }
    a.ok(["checkpoint", "save", "c1"]);
    let none: DiffDoc = a.json(["diff"]);
    assert_eq!(
        (none.changes.len(), none.summary.total),
        (0, 0),
        "a run that changes nothing reports nothing"
    );

    a.ok(["write", "/d/a", "a2"]); // modified
    a.ok(["write", "/new", "n"]); // added
    a.ok(["rm", "-r", "/gone"]); // deleted, with its content
    a.ok(["rm", "/kind"]);
    a.ok(["mkdir", "/kind"]); // type changed
    a.ok(["mv", "/d/sub", "/moved"]); // a directory rename moves its subtree
    a.ok(["write", "/same", "s"]); // rewritten with the same bytes: no change
    let st: EntryDoc = a.json(["stat", "/mode"]);
    assert_eq!(st.entry.mode, "0644");
    let d: DiffDoc = a.json(["diff", "--from", "c1"]);
    assert_eq!(
        d.pairs(),
        pairs(&[
            ("modified", "/d/a"),
            ("deleted", "/d/sub"),
            ("deleted", "/d/sub/b"),
            ("deleted", "/gone"),
            ("deleted", "/gone/x"),
            ("type_changed", "/kind"),
            ("added", "/moved"),
            ("added", "/moved/b"),
            ("added", "/new"),
        ])
    );
    assert_eq!(
        d.summary,
        Summary {
            added: 3,
            modified: 1,
            deleted: 4,
            type_changed: 1,
            total: 9
        }
    );
    assert_eq!(
        (d.from.as_str(), d.to.as_str()),
        ("vault:main@c1", "vault:main")
    );
    let m = &d.changes[0];
    assert_eq!(m.kind, "file");
    let (before, after) = (m.before.clone().unwrap(), m.after.clone().unwrap());
    assert_eq!((before.size, after.size), (1, 2));
    assert_ne!(before.hash, after.hash);
    let t = d.changes.iter().find(|c| c.path == "/kind").unwrap();
    assert_eq!(
        (t.before.as_ref().unwrap().kind.as_str(), t.kind.as_str()),
        ("file", "dir")
    );

    // Path filter, and the default --from (the latest checkpoint).
    let only: DiffDoc = a.json(["diff", "--from", "c1", "/gone"]);
    assert_eq!(
        only.pairs(),
        pairs(&[("deleted", "/gone"), ("deleted", "/gone/x")])
    );
    let default: DiffDoc = a.json(["diff"]);
    assert_eq!(default.pairs(), d.pairs());

    // Between two checkpoints; the human form.
    a.ok(["checkpoint", "save", "c2"]);
    a.ok(["write", "/later", "not in c2"]);
    let between: DiffDoc = a.json(["diff", "--from", "c1", "--to", "c2"]);
    assert_eq!(between.pairs(), d.pairs());
    assert_eq!(
        a.ok(["diff", "--from", "c1", "--to", "c2", "/d"]),
        "M  /d/a  (file, 2 B)\nD  /d/sub  (dir, 0 B)\nD  /d/sub/b  (file, 1 B)\n3 changes: 0 added, 1 modified, 2 deleted, 0 type changed\n"
    );
}

#[test]
fn diff_counts_mode_only_and_symlink_target_changes() {
    let a = Avfs::with_vault();
    let host = tempfile::tempdir().unwrap();
    host_file(host.path(), "script", b"echo");
    std::os::unix::fs::symlink("a", host.path().join("link")).unwrap();
    a.ok(["import".as_ref(), host.path().as_os_str()]);
    a.ok(["checkpoint", "save", "c1"]);
    fs::set_permissions(
        host.path().join("script"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::remove_file(host.path().join("link")).unwrap();
    std::os::unix::fs::symlink("b", host.path().join("link")).unwrap();
    a.ok(["import".as_ref(), host.path().as_os_str()]);
    let d: DiffDoc = a.json(["diff", "--from", "c1"]);
    assert_eq!(
        d.pairs(),
        pairs(&[("modified", "/link"), ("modified", "/script")])
    );
    let link = &d.changes[0];
    assert_eq!(
        (
            link.before.as_ref().unwrap().target.as_deref(),
            link.after.as_ref().unwrap().target.as_deref()
        ),
        (Some("a"), Some("b"))
    );
    let script = &d.changes[1];
    assert_eq!(
        (
            script.before.as_ref().unwrap().mode.as_str(),
            script.after.as_ref().unwrap().mode.as_str()
        ),
        ("0644", "0755")
    );
    assert_eq!(
        script.before.as_ref().unwrap().hash,
        script.after.as_ref().unwrap().hash
    );
}

#[test]
fn diff_errors() {
    let a = Avfs::with_vault();
    for (argv, code, status) in [
        (vec!["diff"], "no_checkpoints", 3),
        (vec!["diff", "--from", "ghost"], "checkpoint_not_found", 3),
        (vec!["diff", "--from", "vault:ghost"], "vault_not_found", 3),
        (vec!["diff", "--from", "vault:"], "invalid_argument", 2),
        (
            vec!["diff", "--from", "vault:main@ghost"],
            "checkpoint_not_found",
            3,
        ),
    ] {
        let (err, got) = a.fails(&argv);
        assert_eq!((err.code.as_str(), got), (code, status), "for {argv:?}");
    }
}
