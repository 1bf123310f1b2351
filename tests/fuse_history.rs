//! FUSE end to end for issue 5: versions, search and quotas see what is
//! written through a mount, exactly as they see CLI writes.

mod common;

use common::fuse::{Mounted, fuse_available};
use common::{Avfs, LogDoc, QuotaDoc, QuotaUsage, SearchDoc};
use std::fs::{self, OpenOptions};
use std::io::Write;

#[test]
fn writes_appends_overwrites_and_atomic_saves_through_the_mount_are_versions() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let m = Mounted::new(&a, "main", &[]);
    fs::write(m.join("f"), b"one\n").unwrap();
    OpenOptions::new()
        .append(true)
        .open(m.join("f"))
        .unwrap()
        .write_all(b"two\n")
        .unwrap();
    fs::write(m.join("f"), b"three\n").unwrap();
    // An editor's atomic save: write a temporary file, rename it over.
    fs::write(m.join(".f.swp"), b"four\n").unwrap();
    fs::rename(m.join(".f.swp"), m.join("f")).unwrap();
    m.unmount();
    let log: LogDoc = a.json(["log", "/f"]);
    let contents: Vec<Vec<u8>> = log
        .versions
        .iter()
        .map(|v| a.run(["cat", "/f", "-v", &v.version.to_string()]).stdout)
        .collect();
    // Creating a file and truncating it (O_TRUNC) are committed changes of
    // their own in a mount; every version must be a state the file really had,
    // in order, ending with the last.
    let real: Vec<&[u8]> = vec![b"", b"one\n", b"one\ntwo\n", b"", b"three\n", b"four\n"];
    let mut at = 0;
    for c in &contents {
        at += real[at..]
            .iter()
            .position(|r| r == c)
            .unwrap_or_else(|| panic!("{c:?} is not a real state, in order: {contents:?}"));
    }
    for must in [&b"one\n"[..], b"one\ntwo\n", b"three\n", b"four\n"] {
        assert!(
            contents.iter().any(|c| c == must),
            "{must:?} missing from {contents:?}"
        );
    }
    assert_eq!(contents.last().unwrap(), b"four\n");
    assert!(log.versions.iter().all(|v| v.source == "mount"));
    assert_eq!(
        log.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        (1..=log.versions.len() as u64).collect::<Vec<_>>()
    );
}

#[test]
fn search_finds_text_written_through_the_mount() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let m = Mounted::new(&a, "main", &[]);
    fs::create_dir(m.join("notes")).unwrap();
    fs::write(m.join("notes/today.md"), b"remember the aardvark meeting").unwrap();
    // Visible to the CLI once the file is closed, while still mounted.
    let doc: SearchDoc = a.json(["search", "aardvark"]);
    assert_eq!(doc.paths(), ["/notes/today.md"]);
    assert!(doc.results[0].snippet.contains("[aardvark]"));
    fs::write(m.join("notes/today.md"), b"meeting moved").unwrap();
    m.unmount();
    let doc: SearchDoc = a.json(["search", "aardvark"]);
    assert!(doc.results.is_empty());
}

#[test]
fn a_quota_exceeded_inside_the_mount_is_edquot_and_stores_nothing_partial() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    a.ok(["write", "/keep", "kept"]);
    a.ok(["quota", "set", "--max-bytes", "1M", "--max-file-size", "2M"]);
    let m = Mounted::new(&a, "main", &[]);
    let mut f = fs::File::create(m.join("big")).unwrap();
    let data = vec![b'x'; 1536 * 1024];
    let err = f
        .write_all(&data)
        .and_then(|_| f.sync_all())
        .expect_err("over the quota");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EDQUOT), "{err}");
    drop(f);
    // A file over the per-file limit is EFBIG (with room in the vault, so the
    // byte limit cannot answer first, whichever size the kernel's writes have).
    a.ok(["quota", "set", "--max-bytes", "100M"]);
    let mut g = fs::File::create(m.join("huge")).unwrap();
    let err = g
        .write_all(&vec![b'y'; 3 * 1024 * 1024])
        .and_then(|_| g.sync_all())
        .expect_err("over the file size limit");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EFBIG), "{err}");
    drop(g);
    // Small writes still fit.
    fs::write(m.join("small"), b"fits").unwrap();
    m.unmount();
    let big = a.json::<common::EntryDoc, _, _>(["stat", "/big"]).entry;
    assert_eq!(
        big.size, 0,
        "created empty, never given the partial content"
    );
    let log: LogDoc = a.json(["log", "/big"]);
    assert!(log.versions.iter().all(|v| v.size == 0));
    let quota: QuotaDoc = a.json(["quota", "show"]);
    assert_eq!(quota.usage, QuotaUsage { bytes: 8, files: 4 });
    assert_eq!(a.cat("/small"), b"fits");
}

#[derive(serde::Deserialize)]
struct RunCheckpoint {
    name: String,
}

#[derive(serde::Deserialize)]
struct RunDoc {
    checkpoint: Option<RunCheckpoint>,
}

/// A proxy run's changes are versions that name the run's checkpoint; a later
/// CLI write is not attributed to it.
fn proxy_runs_are_named_in_the_log(mode: &str) {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "before\n"]);
    let run = a.run([
        "--json",
        "proxy",
        "exec",
        "--mode",
        mode,
        "--shell",
        "echo during >> f && echo new > g",
    ]);
    assert_eq!(run.status, 0, "{}", run.stdout_str());
    let doc: RunDoc = common::parse_one(&run.stdout);
    let name = doc.checkpoint.expect("an automatic checkpoint").name;
    a.ok(["write", "--append", "/f", "after\n"]);
    let log: LogDoc = a.json(["log", "/f"]);
    let seen: Vec<_> = log
        .versions
        .iter()
        .map(|v| (v.size, v.source.as_str(), v.run.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (7, "write", None),
            (14, "mount", Some(name.as_str())),
            (20, "append", None)
        ],
        "{mode}"
    );
    assert_eq!(
        log.versions[0].checkpoint.as_deref(),
        Some(name.as_str()),
        "the run's checkpoint froze v1"
    );
    let g: LogDoc = a.json(["log", "/g"]);
    assert_eq!(g.versions[0].run.as_deref(), Some(name.as_str()));
    let found: SearchDoc = a.json(["search", "during"]);
    assert_eq!(found.paths(), ["/f"]);
}

#[test]
fn fuse_proxy_runs_are_named_in_the_log() {
    if !fuse_available() {
        return;
    }
    proxy_runs_are_named_in_the_log("fuse");
}

#[test]
fn materialized_proxy_runs_are_named_in_the_log() {
    proxy_runs_are_named_in_the_log("materialize");
}

#[test]
fn a_runaway_writer_over_the_quota_stores_nothing_in_the_mount() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    a.ok(["quota", "set", "--max-bytes", "1M"]);
    let m = Mounted::new(&a, "main", &[]);
    let mut f = fs::File::create(m.join("runaway")).unwrap();
    let block = vec![b'z'; 1024 * 1024];
    // Far past the point where the mount would store chunks early (16 MiB):
    // each write that grows the file past the quota is refused before that.
    let mut first_error = None;
    for _ in 0..48 {
        if let Err(e) = f.write_all(&block) {
            first_error.get_or_insert(e);
            break;
        }
    }
    let synced = f.sync_all();
    drop(f);
    let err = first_error
        .or(synced.err())
        .expect("the quota refuses the writes");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EDQUOT), "{err}");
    m.unmount();
    let stats: common::StatsDoc = a.json(["stats"]);
    assert_eq!(
        stats.store.chunks, 0,
        "no chunk of the refused data was stored"
    );
    let quota: QuotaDoc = a.json(["quota", "show"]);
    assert_eq!(quota.usage, QuotaUsage { bytes: 0, files: 1 });
}

/// Creating a file and writing it before close is one version (not an empty
/// one, then the content); so is rewriting it with O_TRUNC; a file created
/// and closed empty is one empty version; an editor's temporary file renamed
/// over the original adds one version to the original.
#[test]
fn each_closed_content_is_one_version() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let m = Mounted::new(&a, "main", &[]);
    fs::write(m.join("a"), b"first").unwrap();
    fs::write(m.join("a"), b"second").unwrap();
    fs::File::create(m.join("empty")).unwrap();
    fs::write(m.join(".a.swp"), b"third").unwrap();
    fs::rename(m.join(".a.swp"), m.join("a")).unwrap();
    fs::write(m.join("gone"), b"was here").unwrap();
    fs::remove_file(m.join("gone")).unwrap();
    fs::write(m.join("gone"), b"back").unwrap();
    m.unmount();
    let contents = |path: &str| -> Vec<Vec<u8>> {
        let log: LogDoc = a.json(["log", path]);
        log.versions
            .iter()
            .map(|v| a.run(["cat", path, "-v", &v.version.to_string()]).stdout)
            .collect()
    };
    assert_eq!(
        contents("/a"),
        [&b"first"[..], b"second", b"third"],
        "one version per closed content"
    );
    assert_eq!(contents("/empty"), [b""], "an empty file is one version");
    // A path with history gets a version when the file is created again (its
    // newest version never says "deleted" while a file is there), then its content.
    let gone: LogDoc = a.json(["log", "/gone"]);
    let sizes: Vec<u64> = gone.versions.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [8, 0, 0, 4], "{:?}", gone.summary());
    assert_eq!(a.cat("/gone"), b"back");
    // The temporary name had one content (closed there) and its deletion.
    let log: LogDoc = a.json(["log", "/.a.swp"]);
    assert_eq!(
        log.summary(),
        [(1, 5, "mount".to_string()), (2, 0, "mount".to_string())]
    );
}

/// A file rewritten through the mount again and again (each write fsynced, so
/// each is a version) keeps its newest 20 versions, and the store keeps only
/// what those hold: the chunks of the dropped versions are freed at once.
#[test]
fn a_file_rewritten_through_the_mount_keeps_a_bounded_history() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let m = Mounted::new(&a, "main", &[]);
    let chunk = 256 * 1024;
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(m.join("data.bin"))
        .unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&vec![0u8; 4 * chunk], 0).unwrap();
    f.sync_all().unwrap();
    // Each step rewrites one whole chunk with a value not seen before.
    for i in 1..=60u32 {
        let fill = (i % 251) as u8 + 1;
        let at = (i as usize % 4) * chunk;
        f.write_all_at(&vec![fill; chunk], at as u64).unwrap();
        f.sync_all().unwrap();
    }
    drop(f);
    m.unmount();
    let log: LogDoc = a.json(["log", "/data.bin"]);
    let numbers: Vec<u64> = log.versions.iter().map(|v| v.version).collect();
    // Creating the file with its first 1 MiB (one version: the mount records
    // no empty one first) and 60 rewrites: 61 changes, the last 20 kept.
    assert_eq!(numbers, (42..=61).collect::<Vec<_>>());
    let stats: common::StatsDoc = a.json(["stats"]);
    // 20 versions of 4 chunks; one new chunk per version, so at most 4 + 19.
    assert!(
        stats.store.chunks <= 23,
        "the dropped versions' chunks are freed: {} chunks",
        stats.store.chunks
    );
    let verify = a.run(["--json", "verify"]);
    assert_eq!(verify.status, 0, "{}", verify.stdout_str());
}
