//! `avfs stats`: counts per vault and the store's deduplication.

mod common;
use common::*;

#[test]
fn stats_counts_files_dirs_bytes_and_dedup_across_forks() {
    let a = Avfs::with_vault();
    let big = vec![7u8; 600 * 1024]; // three chunks: two identical full ones and a tail
    let host = tempfile::tempdir().unwrap();
    host_file(host.path(), "big.bin", &big);
    a.ok(["import".as_ref(), host.path().as_os_str(), "/d".as_ref()]);
    a.ok(["write", "/d/small", "hello"]);
    a.ok(["cp", "/d/big.bin", "/d/copy.bin"]);
    a.ok(["mkdir", "/e"]);
    a.ok(["write", "/l", "x"]);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["vault", "fork", "main", "f"]);
    let doc: StatsDoc = a.json(["stats"]);
    let main = VaultStats {
        name: "main".into(),
        files: 4,
        dirs: 3,
        symlinks: 0,
        logical_bytes: 2 * 600 * 1024 + 5 + 1,
        chain_depth: 2,
        checkpoints: 1,
    };
    assert_eq!(doc.vaults[1], main);
    assert_eq!(doc.vaults[0].name, "f");
    assert_eq!(doc.vaults[0].files, 4);
    assert_eq!(doc.store.vaults, 2);
    assert_eq!(doc.store.checkpoints, 1);
    assert_eq!(doc.store.logical_bytes, 2 * main.logical_bytes);
    // One 256 KiB chunk of sevens serves both full chunks of both copies in both vaults.
    assert_eq!(doc.store.chunks, 2);
    assert_eq!(
        doc.store.stored_bytes,
        256 * 1024 + (600 - 512) * 1024 + 5 + 1
    );
    assert!(
        (doc.store.dedup_ratio - 6.977).abs() < 0.001,
        "{}",
        doc.store.dedup_ratio
    );
    assert!(doc.store.db_bytes > 0);
    assert!(a.ok(["stats"]).contains("dedup ratio"));
}
