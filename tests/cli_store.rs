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
