//! Where the store lives and how its format version is guarded.

mod common;
use common::*;

#[test]
fn store_is_created_on_first_use_under_xdg_data_home() {
    let a = Avfs::new();
    let data = tempfile::tempdir().unwrap();
    let out = a
        .command()
        .env_remove("AVFS_HOME")
        .env("XDG_DATA_HOME", data.path())
        .args(["--json", "vault", "create", "p"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(data.path().join("avfs/store.db").is_file());
    let out = a
        .command()
        .env_remove("AVFS_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", data.path())
        .args(["vault", "create", "q"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(data.path().join(".local/share/avfs/store.db").is_file());
}

#[test]
fn a_store_from_a_newer_avfs_is_refused_untouched() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "data"]);
    let conn = rusqlite::Connection::open(a.store_path()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let (err, status) = a.fails(["cat", "/f"]);
    assert_eq!((err.code.as_str(), status), ("schema_too_new", 5));
    assert!(err.message.contains("99"), "{}", err.message);
    let conn = rusqlite::Connection::open(a.store_path()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[test]
fn the_journal_records_every_mutation_in_a_hash_chain() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "x"]);
    a.ok(["checkpoint", "save", "c"]);
    a.ok(["rm", "/f"]);
    let _ = a.run(["rm", "/f"]); // a failed command journals nothing
    let conn = rusqlite::Connection::open(a.store_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT op, detail, prev_hash, hash FROM journal ORDER BY id")
        .unwrap();
    let rows: Vec<(String, String, Vec<u8>, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ops: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(
        ops,
        [
            ("vault.create", "main"),
            ("write", "/f"),
            ("checkpoint.save", "c"),
            ("rm", "/f")
        ]
    );
    for pair in rows.windows(2) {
        assert_eq!(
            pair[1].2, pair[0].3,
            "each entry chains to the previous one"
        );
    }
}

/// Every file in the store directory (not the mount registry), with its bytes.
fn store_dir_files(a: &Avfs) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(a.home.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_store_file_that_is_not_a_store_is_corrupt_and_left_untouched() {
    let mut foreign = Vec::new();
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        foreign.extend(std::fs::read(&path).unwrap());
    }
    let mut bad_body = b"SQLite format 3\0".to_vec();
    bad_body.extend(std::iter::repeat_n(0x5Au8, 4096));
    let cases: [(&str, &[u8]); 4] = [
        ("truncated to 0 bytes", b""),
        ("garbage", b"this is not a database at all"),
        ("garbage after an SQLite header", &bad_body),
        ("another program's database", &foreign),
    ];
    for (what, bytes) in cases {
        let a = Avfs::new();
        std::fs::write(a.store_path(), bytes).unwrap();
        let before = store_dir_files(&a);
        for args in [
            &["vault", "list"][..],
            &["vault", "create", "main"],
            &["--vault", "main", "write", "/f", "x"],
        ] {
            let (err, status) = a.fails(args);
            assert_eq!(
                (err.code.as_str(), status),
                ("store_corrupt", 5),
                "{what}: {args:?}: {}",
                err.message
            );
            assert!(err.message.contains("store.db"), "{what}: {}", err.message);
        }
        assert_eq!(
            store_dir_files(&a),
            before,
            "{what}: nothing was written beside or into the file"
        );
    }
    let a = Avfs::new();
    std::fs::create_dir(a.store_path()).unwrap();
    let (err, status) = a.fails(["vault", "list"]);
    assert_eq!((err.code.as_str(), status), ("store_corrupt", 5));
    assert!(a.store_path().is_dir());
    assert_eq!(std::fs::read_dir(a.store_path()).unwrap().count(), 0);
}

#[test]
fn only_a_missing_store_is_created() {
    let a = Avfs::new();
    assert!(!a.store_path().exists());
    let list: VaultList = a.json(["vault", "list"]);
    assert!(list.vaults.is_empty());
    assert!(a.store_path().is_file());
    a.ok(["vault", "create", "main"]);
    let names: Vec<String> = store_dir_files(&a).into_iter().map(|(n, _)| n).collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "no temporary store is left behind: {names:?}"
    );
    let list: VaultList = a.json(["vault", "list"]);
    assert_eq!(list.vaults.len(), 1);
}

#[test]
fn processes_creating_the_store_at_once_all_get_the_same_one() {
    let a = Avfs::new();
    let children: Vec<_> = (0..8)
        .map(|i| {
            a.command()
                .args(["--json", "vault", "create", &format!("v{i}")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let list: VaultList = a.json(["vault", "list"]);
    assert_eq!(list.vaults.len(), 8, "every vault is in the one store");
    let names: Vec<String> = store_dir_files(&a).into_iter().map(|(n, _)| n).collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "no temporary store is left behind: {names:?}"
    );
}
