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
    // Both chunks are 64 KiB or more, so their bytes live in a segment.
    let segment = 256 * 1024 + (600 - 512) * 1024;
    assert!(
        (segment..segment + (64 << 10)).contains(&doc.store.segment_bytes),
        "{}",
        doc.store.segment_bytes
    );
    // Nothing but the heads is stored: no history, and dedup saves the rest.
    assert_eq!(doc.store.head_bytes, doc.store.stored_bytes);
    assert_eq!(doc.store.history_bytes, 0);
    assert_eq!(
        doc.store.dedup_saved_bytes,
        doc.store.logical_bytes - doc.store.stored_bytes
    );
    let text = a.ok(["stats"]);
    for label in [
        "stored once",
        "saved by deduplication",
        "kept only for history",
        "segment files",
    ] {
        assert!(text.contains(label), "{label} missing:\n{text}");
    }
}

#[test]
fn stats_counts_bytes_only_history_keeps() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", &"a".repeat(5000)]);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["write", "/f", &"b".repeat(3000)]);
    let doc: StatsDoc = a.json(["stats"]);
    assert_eq!(doc.store.logical_bytes, 3000);
    assert_eq!(doc.store.head_bytes, 3000);
    assert_eq!(doc.store.stored_bytes, 8000);
    assert_eq!(doc.store.history_bytes, 5000);
    assert_eq!(doc.store.dedup_saved_bytes, 0);
}

#[test]
fn stats_with_vault_shows_only_that_vault() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "hello"]);
    a.ok(["vault", "create", "other"]);
    a.ok(["--vault", "other", "write", "/g", "hi"]);
    let doc: StatsDoc = a.json(["--vault", "other", "stats"]);
    assert_eq!(doc.vaults.len(), 1);
    assert_eq!(doc.vaults[0].name, "other");
    assert_eq!(doc.vaults[0].logical_bytes, 2);
    // The store section stays store-wide.
    assert_eq!(doc.store.vaults, 2);
    assert_eq!(doc.store.logical_bytes, 7);
    let all: StatsDoc = a.json(["stats"]);
    assert_eq!(all.vaults.len(), 2);
    let text = a.ok(["--vault", "other", "stats"]);
    assert!(text.contains("\nother "), "{text}");
    assert!(!text.contains("\nmain "), "{text}");
    let (err, status) = a.fails(["--vault", "nope", "stats"]);
    assert_eq!((err.code.as_str(), status), ("vault_not_found", 3));
}
