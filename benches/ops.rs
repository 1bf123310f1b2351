//! History, search and maintenance benchmark: full-text search over 10,000
//! documents, and gc over 100,000 files.
//!
//! - **search**: a vault of 10,000 text files (~100 words each, a Zipf-like
//!   vocabulary of 5,000 words, plus a token unique to each file); the first
//!   search's indexing of what the writes queued is timed on its own, then
//!   each query as one `Store::search` call returning at most 20 results.
//! - **gc**: a vault of 100,000 files (300 bytes each, unique contents); gc is
//!   timed with nothing to free (the mark-and-sweep cost over 100,000 live
//!   files), then freeing a deleted vault of 100,000 files of its own (built,
//!   untimed, before each repetition).
//!
//! Figures are medians of the repetitions, in milliseconds; markdown tables go
//! to stdout, progress to stderr. There are no targets: the issue asks for the
//! figures. Run: `cargo bench --bench ops` (or `scripts/bench-ops`);
//! `AVFS_BENCH_QUICK=1` cuts the repetitions. Without `--bench` (as `cargo
//! test --benches` does) it smoke-tests small sizes.

use avfs::vault::gc::GcOptions;
use avfs::vault::{Op, Owner, StateRef, Store, VaultPath};
use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Files per `Store::write` transaction while building.
const BUILD_BATCH: usize = 10_000;

struct Config {
    docs: usize,
    files: usize,
    search_reps: usize,
    gc_reps: usize,
    gc_free_reps: usize,
}

fn main() -> ExitCode {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("AVFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let config = match (bench_mode, quick) {
        (true, false) => Config {
            docs: 10_000,
            files: 100_000,
            search_reps: 21,
            gc_reps: 7,
            gc_free_reps: 3,
        },
        (true, true) => Config {
            docs: 10_000,
            files: 100_000,
            search_reps: 5,
            gc_reps: 3,
            gc_free_reps: 1,
        },
        (false, _) => Config {
            docs: 500,
            files: 2_000,
            search_reps: 3,
            gc_reps: 1,
            gc_free_reps: 1,
        },
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ops bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median_ms(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    )
}

/// xorshift64: deterministic noise without a dependency.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Word `n` of the vocabulary: pronounceable, distinct for distinct `n`.
fn word(mut n: u64) -> String {
    const C: &[u8] = b"bcdfghklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut out = String::new();
    loop {
        out.push(C[(n % 16) as usize] as char);
        n /= 16;
        out.push(V[(n % 5) as usize] as char);
        n /= 5;
        if n == 0 {
            return out;
        }
    }
}

/// Document `k`: ~100 words, low word numbers far more frequent (Zipf-like).
fn document(k: usize) -> String {
    let mut x = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut words = vec![format!("doc{k}")];
    for _ in 0..100 {
        let r = (next(&mut x) % 1_000_000) as f64 / 1_000_000.0;
        // r^3 skews towards 0: word 0 is common, word 4,999 rare.
        words.push(word((r * r * r * 5000.0) as u64));
    }
    let mut text = String::new();
    for (i, w) in words.iter().enumerate() {
        text.push_str(w);
        text.push(if i % 12 == 11 { '\n' } else { ' ' });
    }
    text
}

/// Writes `count` files named by `path(k)` with `body(k)` into `vault`, in batches.
fn fill(
    store: &mut Store,
    vault: &str,
    count: usize,
    path: impl Fn(usize) -> String,
    body: impl Fn(usize) -> Vec<u8>,
) -> BenchResult<Duration> {
    let start = Instant::now();
    for first in (0..count).step_by(BUILD_BATCH) {
        let last = (first + BUILD_BATCH).min(count);
        store.write(
            vault,
            Op::new("bench.build", format!("{first}..{last}")),
            |w| {
                for k in first..last {
                    let p = VaultPath::parse_str(&path(k))?;
                    if let Some(parent) = p.parent().filter(|_| k % 100 == 0) {
                        w.mkdir(&parent, true, 0o755)?;
                    }
                    w.write_file(&p, &body(k)[..], false, 0o644)?;
                }
                Ok(())
            },
        )?;
    }
    Ok(start.elapsed())
}

fn nested(k: usize) -> String {
    format!(
        "/d{:02}/d{:02}/f{:02}.txt",
        k / 10_000,
        (k / 100) % 100,
        k % 100
    )
}

fn small_file(seed: usize, k: usize) -> Vec<u8> {
    let mut out = format!("file {seed}/{k}\n").into_bytes();
    let mut x = ((seed * 1_000_003 + k) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < 300 {
        out.push(b"0123456789abcdef"[(next(&mut x) & 0xf) as usize]);
    }
    out
}

fn run(config: &Config) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    search_bench(&dir.path().join("search.db"), config)?;
    gc_bench(&dir.path().join("gc.db"), config)?;
    Ok(())
}

fn search_bench(db: &Path, config: &Config) -> BenchResult<()> {
    let mut store = Store::open(db, Owner::default())?;
    store.create_vault("docs")?;
    eprintln!("search: writing {} documents…", config.docs);
    let built = fill(&mut store, "docs", config.docs, nested, |k| {
        document(k).into_bytes()
    })?;
    let head = StateRef::Head {
        vault: "docs".into(),
    };
    // Writes only queue their contents; the first search indexes them all.
    let start = Instant::now();
    let indexed = store.update_search_index()?;
    let first = start.elapsed();
    assert_eq!(indexed as usize, config.docs);
    let queries = [
        ("unique token", format!("doc{}", config.docs / 2)),
        ("rare word", word(4_000)),
        ("common word", word(1)),
        ("two words (AND)", format!("{} {}", word(3), word(40))),
        ("phrase", format!("\"{} {}\"", word(0), word(0))),
        ("prefix", format!("{}*", word(7))),
    ];
    println!("#### Search over {} documents\n", config.docs);
    println!(
        "Written in {:.2} s ({:.0} documents/s, versions included); the first search then \
         indexed them in {:.2} s ({:.0} documents/s). Each query: one `Store::search`, \
         at most 20 results, {} repetitions after 1 warm-up; ms.\n",
        built.as_secs_f64(),
        config.docs as f64 / built.as_secs_f64(),
        first.as_secs_f64(),
        config.docs as f64 / first.as_secs_f64(),
        config.search_reps
    );
    println!("| query | example | results | median | min | max |");
    println!("|---|---|---:|---:|---:|---:|");
    for (label, q) in &queries {
        let hits = store.search(&head, q, 20)?.len();
        let mut times = Vec::new();
        for _ in 0..config.search_reps {
            let start = Instant::now();
            let n = store.search(&head, q, 20)?.len();
            times.push(start.elapsed());
            assert_eq!(n, hits);
        }
        let (med, min, max) = median_ms(&mut times);
        println!("| {label} | `{q}` | {hits} | {med:.2} | {min:.2} | {max:.2} |");
    }
    println!();
    Ok(())
}

fn gc_bench(db: &Path, config: &Config) -> BenchResult<()> {
    let mut store = Store::open(db, Owner::default())?;
    store.create_vault("live")?;
    eprintln!("gc: writing {} files…", config.files);
    let built = fill(&mut store, "live", config.files, nested, |k| {
        small_file(0, k)
    })?;
    store.checkpoint_save("live", "c1", None)?;
    let mut idle = Vec::new();
    for _ in 0..=config.gc_reps {
        let start = Instant::now();
        let report = store.gc(GcOptions::default())?;
        idle.push(start.elapsed());
        assert_eq!(report.contents, 0);
    }
    idle.remove(0); // warm-up
    let mut freeing = Vec::new();
    for rep in 0..config.gc_free_reps {
        let name = format!("garbage{rep}");
        store.create_vault(&name)?;
        eprintln!("gc: writing {} files to delete…", config.files);
        fill(&mut store, &name, config.files, nested, |k| {
            small_file(rep + 1, k)
        })?;
        store.delete_vault(&name)?;
        let start = Instant::now();
        let report = store.gc(GcOptions::default())?;
        freeing.push(start.elapsed());
        assert_eq!(report.contents as usize, config.files);
    }
    let files = config.files;
    println!("#### gc over {files} files\n");
    println!(
        "A vault of {files} files of 300 bytes (unique contents; built in {:.2} s, {:.0} files/s) \
         and a checkpoint of it; ms.\n",
        built.as_secs_f64(),
        files as f64 / built.as_secs_f64()
    );
    println!("| scenario | repetitions | median | min | max |");
    println!("|---|---:|---:|---:|---:|");
    let (med, min, max) = median_ms(&mut idle);
    println!(
        "| gc, nothing to free ({files} live files) | {} | {med:.0} | {min:.0} | {max:.0} |",
        idle.len()
    );
    let (med, min, max) = median_ms(&mut freeing);
    println!(
        "| gc freeing a deleted vault of {files} files (and {files} live ones kept) | {} | {med:.0} | {min:.0} | {max:.0} |",
        freeing.len()
    );
    println!();
    Ok(())
}
