//! Small-file benchmark: the store work a proxy run's private mount does for
//! each file a program creates, without FUSE around it.
//!
//! Per file, in one open batch and one savepoint per request as the mount
//! runs them: the create (an empty file, its version deferred), a write of
//! 100 bytes into its editor, and the commit of the editor at close (flush);
//! 100 files per directory. This is the server's own share of a created
//! small file; the kernel's round trips come on top (BENCHMARKS.md, "Where a
//! small file's time goes").
//!
//! A second case rewrites files that have a history, as editors, git
//! (`index.lock` renamed over `index`) and package managers save: a temporary
//! file written and renamed over the old one, 100 paths rewritten 50 times
//! each, each path's versions trimmed to the default 20 as they grow.
//!
//! Figures are medians in microseconds per file; markdown goes to stdout,
//! progress to stderr. Run: `cargo bench --bench files`
//! (`AVFS_BENCH_QUICK=1` cuts the repetitions). Without `--bench` (as `cargo
//! test --benches` does) it smoke-tests a small size.

use avfs::vault::{NewNode, Owner, ROOT_INO, RenameMode, StateRef, Store};
use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Files per directory, as `scripts/bench-fuse` creates them.
const PER_DIR: usize = 100;

fn main() -> ExitCode {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("AVFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (files, reps) = match (bench_mode, quick) {
        (true, false) => (10_000, 9),
        (true, true) => (10_000, 3),
        (false, _) => (300, 1),
    };
    match run(files, reps) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("files bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(files: usize, reps: usize) -> BenchResult<()> {
    let rewrites = files / 2;
    let (mut created, mut rewritten) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for rep in 0..reps {
        let took = create_files(files)?;
        eprintln!(
            "rep {rep}: {:.1} µs per created file",
            per_file(took, files)
        );
        created.push(took);
        let took = rewrite_files(rewrites)?;
        eprintln!(
            "rep {rep}: {:.1} µs per rewritten file",
            per_file(took, rewrites)
        );
        rewritten.push(took);
    }
    println!("| private mount's store work per file | files | µs per file, median of {reps} |");
    println!("|---|---:|---:|");
    println!(
        "| created (create, write 100 B, flush) | {files} | {:.1} |",
        per_file(median(created), files)
    );
    println!(
        "| rewritten (create a temporary, write 100 B, flush, rename over) | {rewrites} | {:.1} |",
        per_file(median(rewritten), rewrites)
    );
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn per_file(took: Duration, files: usize) -> f64 {
    took.as_secs_f64() * 1e6 / files as f64
}

/// Creates `files` files of 100 B as a private mount does; returns the time
/// from the batch's start to its commit.
fn create_files(files: usize) -> BenchResult<Duration> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(&dir.path().join("store.db"), Owner::default())?;
    store.create_vault("v")?;
    let state = StateRef::Head {
        vault: "v".to_string(),
    };
    let body = [b'x'; 100];
    let start = Instant::now();
    store.begin_batch()?;
    for d in 0..files.div_ceil(PER_DIR) {
        let name = format!("d{d}");
        let parent = store
            .write_unjournaled("v", |w| {
                w.create(ROOT_INO, name.as_bytes(), NewNode::dir(0o755))
            })?
            .ino;
        for f in 0..PER_DIR.min(files - d * PER_DIR) {
            let name = format!("f{f}");
            let attr = store.write_unjournaled("v", |w| {
                let (content, size) = w.store_content(&[][..])?;
                let node = NewNode::file(content, size, 0o644).without_version();
                w.create(parent, name.as_bytes(), node)
            })?;
            let mut editor = store.read(&state, |t| t.edit(&attr))?;
            store.read(&state, |t| t.write_edited(&mut editor, 0, &body))?;
            store.write_unjournaled("v", |w| w.commit_edited(attr.ino, &mut editor, None))?;
        }
    }
    store.commit_batch()?;
    Ok(start.elapsed())
}

/// Saves `files` new contents over 100 existing paths (each path in turn) the
/// way editors and git do: a temporary file created, written and flushed,
/// then renamed over the path. Returns the time from the batch's start to
/// its commit; the paths are made, with one version each, before it.
fn rewrite_files(files: usize) -> BenchResult<Duration> {
    const PATHS: usize = 100;
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(&dir.path().join("store.db"), Owner::default())?;
    store.create_vault("v")?;
    let state = StateRef::Head {
        vault: "v".to_string(),
    };
    let save = |store: &mut Store, name: &str, body: &[u8]| -> BenchResult<()> {
        let attr = store.write_unjournaled("v", |w| {
            let (content, size) = w.store_content(&[][..])?;
            let node = NewNode::file(content, size, 0o644).without_version();
            w.create(ROOT_INO, b"save.tmp", node)
        })?;
        let mut editor = store.read(&state, |t| t.edit(&attr))?;
        store.read(&state, |t| t.write_edited(&mut editor, 0, body))?;
        store.write_unjournaled("v", |w| w.commit_edited(attr.ino, &mut editor, None))?;
        store.write_unjournaled("v", |w| {
            w.rename(
                ROOT_INO,
                b"save.tmp",
                ROOT_INO,
                name.as_bytes(),
                RenameMode::Replace,
            )
        })?;
        Ok(())
    };
    store.begin_batch()?;
    for p in 0..PATHS {
        save(&mut store, &format!("f{p}"), b"first")?;
    }
    store.commit_batch()?;
    let start = Instant::now();
    store.begin_batch()?;
    for i in 0..files {
        let body = format!("save {i} ").into_bytes();
        save(&mut store, &format!("f{}", i % PATHS), &body)?;
    }
    store.commit_batch()?;
    Ok(start.elapsed())
}
