//! Store benchmark: fork, checkpoint save and checkpoint restore are O(1) in
//! the number of files a vault holds.
//!
//! For each size (1,000, 10,000 and 100,000 files) it builds a store file on
//! disk holding one vault and reopens it; then it times each operation on its
//! own over `REPS` repetitions with a fresh name each time, the sizes taking
//! turns within each repetition. It prints markdown tables to stdout (progress
//! goes to stderr) and exits 1 if a target is missed, so the targets live here
//! and in BENCHMARKS.md, never in unit tests:
//!
//! - median at 100,000 files under 10 ms, and
//! - median at 100,000 files at most 2x the median at 1,000 files.
//!
//! Run: `cargo bench --bench store` (or `scripts/bench-store`).
//! `AVFS_BENCH_QUICK=1` cuts the repetitions from 21 to 5. Run without
//! `--bench` (as `cargo test --benches` does) it only smoke-tests 1,000 files
//! and checks no target.

use avfs::vault::{Op, Owner, StateRef, Store, VaultPath};
use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Vault sizes, in files; the first is the baseline for ratios.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Files per directory; directories are nested two deep (`d00/d00/f00.txt`).
const FILES_PER_DIR: usize = 100;
/// Files per `Store::write` transaction while building.
const BUILD_BATCH: usize = 10_000;
/// Bytes per file, each file's content unique.
const FILE_BYTES: usize = 300;
/// Timed repetitions per operation and size (odd, so the median is one sample).
const REPS: usize = 21;
/// Timed repetitions with `AVFS_BENCH_QUICK=1` and in smoke mode.
const QUICK_REPS: usize = 5;
/// Untimed repetitions before the timed ones (statement cache, page cache).
const WARMUP: usize = 1;

/// Target: median at the largest size, in milliseconds (strictly under).
const TARGET_MEDIAN_MS: f64 = 10.0;
/// Target: median at the largest size over median at the smallest (at most).
const TARGET_RATIO: f64 = 2.0;

const VAULT: &str = "bench";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Fork,
    Save,
    Restore,
}

impl Operation {
    const ALL: [Operation; 3] = [Operation::Fork, Operation::Save, Operation::Restore];

    fn label(self) -> &'static str {
        match self {
            Operation::Fork => "vault fork",
            Operation::Save => "checkpoint save",
            Operation::Restore => "checkpoint restore",
        }
    }
}

/// Timings of one operation at one size, sorted.
struct Samples {
    op: Operation,
    files: usize,
    sorted_ms: Vec<f64>,
}

impl Samples {
    fn new(op: Operation, files: usize, times: &[Duration]) -> Self {
        let mut sorted_ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        sorted_ms.sort_by(f64::total_cmp);
        Self {
            op,
            files,
            sorted_ms,
        }
    }

    fn median(&self) -> f64 {
        let v = &self.sorted_ms;
        let mid = v.len() / 2;
        if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        }
    }

    fn min(&self) -> f64 {
        self.sorted_ms[0]
    }

    fn max(&self) -> f64 {
        self.sorted_ms[self.sorted_ms.len() - 1]
    }
}

/// What building one store cost, for context (not a target).
struct Build {
    files: usize,
    dirs: usize,
    elapsed: Duration,
    store_bytes: u64,
}

struct Config {
    sizes: Vec<usize>,
    reps: usize,
    check_targets: bool,
}

fn main() -> ExitCode {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("AVFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let config = if bench_mode {
        Config {
            sizes: SIZES.to_vec(),
            reps: if quick { QUICK_REPS } else { REPS },
            check_targets: true,
        }
    } else {
        Config {
            sizes: vec![SIZES[0]],
            reps: QUICK_REPS,
            check_targets: false,
        }
    };
    match run(&config) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("store bench: a target was missed (see the table above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("store bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A built store of one size, open for timing.
struct Subject {
    files: usize,
    // Declared before `_dir` so the store closes before its directory goes.
    store: Store,
    _dir: tempfile::TempDir,
}

/// Builds every size, then times each operation with the sizes interleaved
/// rep by rep, so a change in machine load hits every size alike and the
/// ratios stay fair. Returns whether every target was met.
fn run(config: &Config) -> BenchResult<bool> {
    let mut builds = Vec::new();
    let mut subjects = Vec::new();
    for &files in &config.sizes {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("store.db");
        eprintln!("store bench: building {files} files in {}", db.display());
        builds.push(build_store(&db, files)?);
        // Reopen, as a CLI invocation would: the build's WAL is checkpointed
        // and removed on close, so every size starts from the same shape.
        let store = Store::open(&db, Owner::default())?;
        subjects.push(Subject {
            files,
            store,
            _dir: dir,
        });
    }
    let mut samples = Vec::new();
    for op in Operation::ALL {
        eprintln!(
            "store bench: timing {} x {} per size",
            op.label(),
            config.reps
        );
        for subject in &mut subjects {
            prepare(&mut subject.store, op)?;
        }
        let mut times = vec![Vec::with_capacity(config.reps); subjects.len()];
        for i in 0..WARMUP + config.reps {
            for (subject, times) in subjects.iter_mut().zip(&mut times) {
                let elapsed = time_once(&mut subject.store, op, i)?;
                if i >= WARMUP {
                    times.push(elapsed);
                }
            }
        }
        for (subject, times) in subjects.iter().zip(&times) {
            samples.push(Samples::new(op, subject.files, times));
        }
    }
    for subject in &mut subjects {
        check_states(&mut subject.store, subject.files, config.reps)?;
    }
    print_report(config, &builds, &samples)
}

/// The path of file `k` (100 files per directory, directories two deep).
fn file_path(k: usize) -> String {
    format!(
        "d{:02}/d{:02}/f{:02}.txt",
        k / (FILES_PER_DIR * 100),
        (k / FILES_PER_DIR) % 100,
        k % FILES_PER_DIR
    )
}

fn vault_path(s: &str) -> BenchResult<VaultPath> {
    Ok(VaultPath::parse_str(s)?)
}

/// Content of file `k`: a header naming it, then deterministic noise, `FILE_BYTES` long.
fn file_content(k: usize) -> Vec<u8> {
    let mut out = format!("file {k}\n").into_bytes();
    let mut x = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    while out.len() < FILE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(if out.len() % 65 == 64 {
            b'\n'
        } else {
            HEX[(x & 0xf) as usize]
        });
    }
    out
}

/// Creates a store at `db` with one vault of `files` files, in batches of `BUILD_BATCH`.
fn build_store(db: &Path, files: usize) -> BenchResult<Build> {
    let start = Instant::now();
    let mut store = Store::open(db, Owner::default())?;
    store.create_vault(VAULT)?;
    let mut dirs = 0;
    for first in (0..files).step_by(BUILD_BATCH) {
        let last = (first + BUILD_BATCH).min(files);
        let made = store.write(
            VAULT,
            Op::new("bench.build", format!("files {first}..{last}")),
            |w| {
                let mut made = 0;
                for k in first..last {
                    let path = VaultPath::parse_str(&file_path(k))?;
                    if k.is_multiple_of(FILES_PER_DIR) {
                        w.mkdir(&path.parent().expect("file has a parent"), true, 0o755)?;
                        made += 1;
                    }
                    w.write_file(&path, &file_content(k)[..], false, 0o644)?;
                }
                Ok(made)
            },
        )?;
        dirs += made;
    }
    drop(store);
    let elapsed = start.elapsed();
    let store_bytes = std::fs::metadata(db)?.len();
    Ok(Build {
        files,
        dirs,
        elapsed,
        store_bytes,
    })
}

/// Writes one small file into the vault's head (untimed set-up), so the next
/// operation has a non-empty top layer to freeze.
fn touch(store: &mut Store, path: &str, body: &str) -> BenchResult<()> {
    let path = vault_path(path)?;
    store.write(VAULT, Op::new("bench.touch", path.to_string()), |w| {
        w.mkdir(&path.parent().expect("file has a parent"), true, 0o755)?;
        w.write_file(&path, body.as_bytes(), false, 0o644)
    })?;
    Ok(())
}

/// Untimed set-up before timing `op`.
fn prepare(store: &mut Store, op: Operation) -> BenchResult<()> {
    if op == Operation::Restore {
        // Two checkpoints with different states to alternate between.
        touch(store, "bench/restore-a.txt", "a")?;
        store.checkpoint_save(VAULT, "restore-a", None)?;
        touch(store, "bench/restore-b.txt", "b")?;
        store.checkpoint_save(VAULT, "restore-b", None)?;
    }
    Ok(())
}

/// Runs `op` once as repetition `i`, after its untimed set-up; times only the operation.
fn time_once(store: &mut Store, op: Operation, i: usize) -> BenchResult<Duration> {
    Ok(match op {
        Operation::Fork => {
            // Dirty the source so every fork freezes a non-empty layer.
            touch(store, &format!("bench/fork-{i}.txt"), "fork")?;
            let name = format!("fork-{i}");
            let start = Instant::now();
            store.fork_vault(VAULT, &name)?;
            start.elapsed()
        }
        Operation::Save => {
            touch(store, &format!("bench/save-{i}.txt"), "save")?;
            let name = format!("save-{i}");
            let start = Instant::now();
            store.checkpoint_save(VAULT, &name, None)?;
            start.elapsed()
        }
        Operation::Restore => {
            touch(store, &format!("bench/restore-{i}.txt"), "restore")?;
            let name = if i.is_multiple_of(2) {
                "restore-a"
            } else {
                "restore-b"
            };
            let start = Instant::now();
            let restored = store.checkpoint_restore(VAULT, name)?;
            let elapsed = start.elapsed();
            if restored.saved_previous.is_none() {
                return Err("restore of a dirty head kept no pre-restore checkpoint".into());
            }
            elapsed
        }
    })
}

/// Checks that what was timed did real work: forks and checkpoints see the
/// whole vault, and the head is the last restored checkpoint.
fn check_states(store: &mut Store, files: usize, reps: usize) -> BenchResult<()> {
    let last_file = vault_path(&file_path(files - 1))?;
    let last = WARMUP + reps - 1;
    let states = [
        StateRef::Head {
            vault: format!("fork-{last}"),
        },
        StateRef::Checkpoint {
            vault: VAULT.into(),
            name: format!("save-{last}"),
        },
        StateRef::Head {
            vault: VAULT.into(),
        },
    ];
    for state in &states {
        let size = store.read(state, |t| Ok(t.stat(&last_file)?.size))?;
        if size != FILE_BYTES as u64 {
            return Err(
                format!("{state:?}: {last_file} has {size} bytes, expected {FILE_BYTES}").into(),
            );
        }
    }
    let head = StateRef::Head {
        vault: VAULT.into(),
    };
    let expect_a = last.is_multiple_of(2);
    let only_in_b = vault_path("bench/restore-b.txt")?;
    let has_b = store.read(&head, |t| Ok(t.resolve(&only_in_b)?.is_some()))?;
    if has_b == expect_a {
        return Err("the head is not the last restored checkpoint".into());
    }
    Ok(())
}

fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints the tables; returns whether every target was met.
fn print_report(config: &Config, builds: &[Build], samples: &[Samples]) -> BenchResult<bool> {
    let base = config.sizes[0];
    let largest = *config.sizes.last().expect("at least one size");
    let mut all_met = true;

    println!(
        "Timed: {} repetitions per operation and size, after {WARMUP} untimed warm-up; times in ms.",
        config.reps
    );
    if config.check_targets {
        println!(
            "Targets at {} files: median < {TARGET_MEDIAN_MS} ms and median / median at {} files <= {TARGET_RATIO}.",
            fmt_count(largest),
            fmt_count(base)
        );
    } else {
        println!("Smoke run (no --bench): targets not checked.");
    }
    println!();
    println!(
        "| operation | files | median | min | max | ratio vs {} | target |",
        fmt_count(base)
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for s in samples {
        let baseline = samples
            .iter()
            .find(|b| b.op == s.op && b.files == base)
            .ok_or("no baseline sample")?;
        let ratio = s.median() / baseline.median();
        let verdict = if !config.check_targets || s.files != largest {
            String::new()
        } else {
            let fast = s.median() < TARGET_MEDIAN_MS;
            let flat = ratio <= TARGET_RATIO;
            all_met &= fast && flat;
            match (fast, flat) {
                (true, true) => "met".to_string(),
                (false, true) => format!("MISSED: median >= {TARGET_MEDIAN_MS} ms"),
                (true, false) => format!("MISSED: ratio > {TARGET_RATIO}"),
                (false, false) => {
                    format!("MISSED: median >= {TARGET_MEDIAN_MS} ms and ratio > {TARGET_RATIO}")
                }
            }
        };
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.2} | {} |",
            s.op.label(),
            fmt_count(s.files),
            s.median(),
            s.min(),
            s.max(),
            ratio,
            verdict
        );
    }
    println!();
    println!("Building each store (context, not a target):");
    println!();
    println!(
        "| files | directories of {FILES_PER_DIR} files | transactions | build s | files/s | store file MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for b in builds {
        let secs = b.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {} | {:.2} | {} | {:.1} |",
            fmt_count(b.files),
            fmt_count(b.dirs),
            b.files.div_ceil(BUILD_BATCH),
            secs,
            fmt_count((b.files as f64 / secs) as usize),
            b.store_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(all_met)
}
