//! `avfs verify` on real store files: a clean store is intact, flipped bytes
//! inside a chunk and a deleted chunk row are faults naming the vault paths
//! they reach, with exit status 5.

mod common;
use common::*;
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Checked {
    chunks: u64,
    bytes: u64,
    contents: u64,
    layers: u64,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Affected {
    vault: String,
    checkpoint: Option<String>,
    path: String,
    path_b64: Option<String>,
    version: Option<u64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Fault {
    kind: String,
    message: String,
    chunk: Option<i64>,
    content: Option<String>,
    paths: Vec<Affected>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Report {
    intact: bool,
    code: Option<String>,
    checked: Checked,
    faults: Vec<Fault>,
}

/// Runs `verify --json`; returns the report and the exit status.
fn verify(a: &Avfs) -> (Report, i32) {
    let run = a.run(["--json", "verify"]);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    (parse_one(&run.stdout), run.status)
}

fn affected(vault: &str, checkpoint: Option<&str>, path: &str, version: Option<u64>) -> Affected {
    Affected {
        vault: vault.into(),
        checkpoint: checkpoint.map(Into::into),
        path: path.into(),
        path_b64: None,
        version,
    }
}

/// A vault `main` with `/data.bin` (two chunks of noise) saved in checkpoint
/// `c1`, a fork `other` sharing it, and a small unrelated file.
fn populated() -> (Avfs, Vec<u8>) {
    let a = Avfs::with_vault();
    let data = noise(42, 300 * 1024);
    let run = a.run_stdin(["write", "/data.bin"], &data);
    assert_eq!(run.status, 0, "{}", run.stderr);
    a.ok(["write", "/small.txt", "small"]);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["vault", "fork", "main", "other"]);
    (a, data)
}

#[test]
fn a_clean_store_is_intact() {
    let (a, data) = populated();
    let (report, status) = verify(&a);
    assert_eq!(status, 0, "{report:?}");
    assert!(report.intact && report.code.is_none(), "{report:?}");
    assert!(report.faults.is_empty());
    assert_eq!(report.checked.chunks, 2);
    assert_eq!(report.checked.bytes, data.len() as u64);
    assert_eq!(report.checked.contents, 2);
    assert!(report.checked.layers >= 3);
}

#[test]
fn flipped_bytes_inside_a_chunk_are_found_and_named() {
    let (a, data) = populated();
    // No avfs process is running: the WAL is checkpointed into the file.
    a.flip_stored_byte(&data[100_000..100_064]);
    let integrity: String = rusqlite::Connection::open(a.store_path())
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "SQLite alone does not see it");

    let (report, status) = verify(&a);
    assert_eq!(status, 5);
    assert!(!report.intact);
    assert_eq!(report.code.as_deref(), Some("store_corrupt"));
    assert_eq!(report.faults.len(), 1, "{report:?}");
    let fault = &report.faults[0];
    assert_eq!(fault.kind, "chunk_hash_mismatch");
    assert!(fault.chunk.is_some() && fault.content.is_none());
    assert!(fault.message.contains("hash"), "{}", fault.message);
    assert_eq!(
        fault.paths,
        [
            affected("main", None, "/data.bin", None),
            affected("main", None, "/data.bin", Some(1)),
            affected("main", Some("c1"), "/data.bin", None),
            affected("main", Some("c1"), "/data.bin", Some(1)),
            affected("other", None, "/data.bin", None),
            affected("other", None, "/data.bin", Some(1)),
        ]
    );
    let human = a.run(["verify"]);
    assert_eq!(human.status, 5);
    assert!(
        human.stdout_str().contains("main@c1:/data.bin"),
        "{}",
        human.stdout_str()
    );
}

#[test]
fn a_deleted_chunk_row_is_found_and_named() {
    let (a, _) = populated();
    let entry: EntryDoc = a.json(["stat", "/data.bin"]);
    let hash = hex::decode(entry.entry.hash.unwrap()).unwrap();
    let conn = rusqlite::Connection::open(a.store_path()).unwrap();
    let chunk: i64 = conn
        .query_row(
            "SELECT chunk FROM content_chunks WHERE content = ?1 AND idx = 1",
            [&hash],
            |r| r.get(0),
        )
        .unwrap();
    // Bypass the schema's own guard, as damage would.
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    conn.execute("DELETE FROM chunks WHERE id = ?1", [chunk])
        .unwrap();
    drop(conn);
    // Only the main vault's head may name it once the fork rewrote its file.
    a.ok(["--vault", "other", "write", "/data.bin", "rewritten"]);

    let (report, status) = verify(&a);
    assert_eq!(status, 5, "{report:?}");
    assert_eq!(report.code.as_deref(), Some("store_corrupt"));
    let kinds: Vec<_> = report.faults.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["chunk_missing"], "{report:?}");
    let fault = &report.faults[0];
    assert_eq!(fault.chunk, Some(chunk));
    assert_eq!(fault.content.as_deref(), Some(hex::encode(&hash).as_str()));
    assert_eq!(
        fault.paths,
        [
            affected("main", None, "/data.bin", None),
            affected("main", None, "/data.bin", Some(1)),
            affected("main", Some("c1"), "/data.bin", None),
            affected("main", Some("c1"), "/data.bin", Some(1)),
            affected("other", None, "/data.bin", Some(1)),
        ]
    );
}

#[test]
fn a_damaged_page_is_reported_not_fatal() {
    let (a, _) = populated();
    let conn = rusqlite::Connection::open(a.store_path()).unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'journal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut file = std::fs::read(a.store_path()).unwrap();
    let at = ((root - 1) * page_size) as usize;
    file[at..at + 16].fill(0xFF);
    std::fs::write(a.store_path(), &file).unwrap();

    let (report, status) = verify(&a);
    assert_eq!(status, 5);
    assert_eq!(report.code.as_deref(), Some("store_corrupt"));
    let messages: Vec<_> = report
        .faults
        .iter()
        .map(|f| format!("{}: {}", f.kind, f.message))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("unreadable: journal: ")),
        "the journal check names what it could not read: {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("unreadable: integrity check: ") || m.starts_with("integrity: ")),
        "SQLite's own check says so too: {messages:?}"
    );
    // The rest of the store was still checked.
    assert_eq!(report.checked.chunks, 2);
}

/// The segment files of a store (large chunks' bytes, docs/format.md "Segments").
fn segments(a: &Avfs) -> Vec<std::path::PathBuf> {
    let dir = format!("{}-segments", a.store_path().display());
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn large_chunks_are_written_once_into_a_segment_and_small_ones_stay_inline() {
    let (a, data) = populated();
    let files = segments(&a);
    assert_eq!(files.len(), 1, "one process wrote one segment: {files:?}");
    let segment = std::fs::read(&files[0]).unwrap();
    let db = std::fs::read(a.store_path()).unwrap();
    let full = &data[1000..1064];
    let tail = &data[280_000..280_064];
    let within = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(
        within(&segment, full) && !within(&db, full),
        "a full chunk lives in the segment only"
    );
    assert!(
        within(&db, tail) && !within(&segment, tail),
        "a 44 KiB tail chunk stays in the database"
    );
    assert_eq!(segment.len(), 256 * 1024, "written once, and nothing else");
    assert!(a.cat("/data.bin") == data);
}

#[test]
fn two_writers_at_once_append_to_their_own_segments() {
    let a = Avfs::with_vault();
    a.ok(["vault", "create", "second"]);
    let one = noise(7, 3 << 20);
    let two = noise(8, 3 << 20);
    let spawn = |vault: &str, bytes: &[u8]| {
        let mut child = a
            .command()
            .args(["--vault", vault, "write", "/big.bin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&bytes).unwrap();
        });
        (child, feeder)
    };
    let writers = [spawn("main", &one), spawn("second", &two)];
    for (child, feeder) in writers {
        feeder.join().unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        segments(&a).len(),
        2,
        "each process appends to its own segment"
    );
    assert!(a.cat("/big.bin") == one);
    assert!(a.run(["--vault", "second", "cat", "/big.bin"]).stdout == two);
    let (report, status) = verify(&a);
    assert_eq!(status, 0, "{report:?}");
    assert_eq!(report.checked.chunks, 24);
}

#[test]
fn a_missing_segment_is_found_named_and_never_read_as_data() {
    let (a, _) = populated();
    std::fs::remove_dir_all(format!("{}-segments", a.store_path().display())).unwrap();
    let (report, status) = verify(&a);
    assert_eq!(status, 5, "{report:?}");
    assert_eq!(report.code.as_deref(), Some("store_corrupt"));
    let kinds: Vec<_> = report.faults.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["chunk_missing"], "{report:?}");
    assert!(
        report.faults[0].message.contains("is missing"),
        "{report:?}"
    );
    assert!(
        report.faults[0]
            .paths
            .contains(&affected("main", None, "/data.bin", None))
    );
    let (err, code) = a.fails(["cat", "/data.bin"]);
    assert_eq!((err.code.as_str(), code), ("store_corrupt", 5));
    assert_eq!(
        a.cat("/small.txt"),
        b"small",
        "the rest of the store reads on"
    );
}
