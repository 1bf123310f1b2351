//! Merge benchmark: what a run's attempt costs the store, and a merge of a
//! 10-file change by vault size.
//!
//! - **attempt**: the store work a `proxy exec -- true` adds for its attempt
//!   (fork the head, diff the attempt, merge it back: a fast-forward that
//!   deletes the attempt), against the store work a run did before attempts
//!   (checkpoint save, diff from it, checkpoint delete for `--checkpoint
//!   never`), on a file-backed store, side by side in the same run. Both
//!   with and without a kept run checkpoint.
//! - **merge**: a fork changes 10 files, its parent 10 others; the fork is
//!   merged into the parent (three-way) and, separately, into an unmoved
//!   parent (fast-forward), in vaults of 1,000 and 100,000 files. The merge
//!   diffs only the layers the two sides do not share, so its time should
//!   not grow with the vault.
//!
//! Figures are medians in milliseconds; markdown goes to stdout, progress to
//! stderr. Run: `cargo bench --bench merge` (`AVFS_BENCH_QUICK=1` cuts the
//! repetitions). Without `--bench` (as `cargo test --benches` does) it
//! smoke-tests small sizes.

use avfs::vault::{
    MergeCheckpoint, MergeRequest, MergeStatus, OnConflict, Op, Owner, StateRef, Store, VaultPath,
};
use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Files per `Store::write` transaction while building.
const BUILD_BATCH: usize = 10_000;

struct Config {
    sizes: [usize; 2],
    attempt_reps: usize,
    merge_reps: usize,
}

fn main() -> ExitCode {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("AVFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let config = match (bench_mode, quick) {
        (true, false) => Config {
            sizes: [1_000, 100_000],
            attempt_reps: 201,
            merge_reps: 21,
        },
        (true, true) => Config {
            sizes: [1_000, 100_000],
            attempt_reps: 51,
            merge_reps: 5,
        },
        (false, _) => Config {
            sizes: [100, 1_000],
            attempt_reps: 5,
            merge_reps: 2,
        },
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("merge bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn path(k: usize) -> String {
    format!("/d{:03}/f{:03}.txt", k / 1000, k % 1000)
}

/// Writes `count` small files into `vault`.
fn fill(store: &mut Store, vault: &str, count: usize) -> BenchResult<()> {
    for first in (0..count).step_by(BUILD_BATCH) {
        let last = (first + BUILD_BATCH).min(count);
        store.write(vault, Op::new("bench.build", ""), |w| {
            for k in first..last {
                let p = VaultPath::parse_str(&path(k))?;
                if k % 1000 == 0 {
                    w.mkdir(&p.parent().unwrap_or_default(), true, 0o755)?;
                }
                w.write_file(&p, format!("file {k}\n").as_bytes(), false, 0o644)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Appends a line to files `first..first + 10`.
fn change_10(store: &mut Store, vault: &str, first: usize) -> BenchResult<()> {
    store.write(vault, Op::new("bench.change", ""), |w| {
        for k in first..first + 10 {
            let p = VaultPath::parse_str(&path(k))?;
            w.write_file(&p, &b"changed\n"[..], true, 0o644)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn merge_request(source: &str, target: &str, checkpoint: MergeCheckpoint) -> MergeRequest {
    MergeRequest {
        source: source.into(),
        target: target.into(),
        on_conflict: OnConflict::Keep,
        dry_run: false,
        checkpoint,
        delete_source: false,
        journal_op: "bench.merge".into(),
    }
}

fn run(config: &Config) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(&dir.path().join("store.db"), Owner::default())?;
    store.create_vault("small")?;
    fill(&mut store, "small", 10)?;
    attempt_bench(&mut store, config)?;
    merge_bench(&mut store, config)
}

fn attempt_bench(store: &mut Store, config: &Config) -> BenchResult<()> {
    eprintln!("attempt: {} repetitions", config.attempt_reps);
    let head = StateRef::Head {
        vault: "small".into(),
    };
    let mut rows = Vec::new();
    for keep in [false, true] {
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for rep in 0..config.attempt_reps {
            // Before attempts: a checkpoint, the diff from it, and (not kept) its deletion.
            let start = Instant::now();
            let name = format!("run-b{rep}-{keep}");
            store.checkpoint_save_auto("small", &name, Some("true"))?;
            let from = StateRef::Checkpoint {
                vault: "small".into(),
                name: name.clone(),
            };
            let changes = store.diff(&from, &head, &[])?;
            if !keep {
                store.checkpoint_delete("small", &name)?;
            }
            before.push(start.elapsed());
            assert!(changes.is_empty());

            // With attempts: fork, diff the attempt, merge it back (deleting it).
            let start = Instant::now();
            let attempt = format!(".run-a{rep}-{keep}.1");
            store.fork_attempt("small", &attempt)?;
            let changes = store.fork_changes(&attempt)?;
            let checkpoint = if keep {
                MergeCheckpoint::Named {
                    name: format!("run-a{rep}"),
                    message: "true".into(),
                }
            } else {
                MergeCheckpoint::None
            };
            let mut req = merge_request(&attempt, "small", checkpoint);
            req.delete_source = true;
            let outcome = store.merge(&req)?;
            after.push(start.elapsed());
            assert!(changes.is_empty());
            assert_eq!(outcome.status, MergeStatus::UpToDate);
        }
        rows.push((keep, median_ms(&mut before), median_ms(&mut after)));
    }
    println!("#### The store work of a run's attempt (`proxy exec -- true`)\n");
    println!(
        "A 10-file vault in a file-backed store; median of {} runs each, ms. \"before\" is what a \
         run did before attempts (checkpoint save, diff, and for `--checkpoint never` the \
         checkpoint's deletion); \"attempt\" is fork, diff of the attempt, and its merge \
         (a fast-forward that deletes it).\n",
        config.attempt_reps
    );
    println!("| run checkpoint | before | attempt | added by the attempt |");
    println!("|---|---:|---:|---:|");
    for (keep, before, after) in rows {
        let label = if keep {
            "kept (`auto`)"
        } else {
            "none (`never`)"
        };
        println!(
            "| {label} | {before:.3} | {after:.3} | {:+.3} |",
            after - before
        );
    }
    println!();
    Ok(())
}

fn merge_bench(store: &mut Store, config: &Config) -> BenchResult<()> {
    let mut rows = Vec::new();
    for files in config.sizes {
        let vault = format!("v{files}");
        eprintln!("merge: writing {files} files…");
        store.create_vault(&vault)?;
        fill(store, &vault, files)?;
        let (mut three_way, mut ff) = (Vec::new(), Vec::new());
        for rep in 0..config.merge_reps {
            let fork = format!("{vault}-fork{rep}");
            store.fork_vault(&vault, &fork)?;
            change_10(store, &fork, 0)?;
            change_10(store, &vault, files - 10)?;
            let start = Instant::now();
            let out = store.merge(&merge_request(&fork, &vault, MergeCheckpoint::PreMerge))?;
            three_way.push(start.elapsed());
            assert_eq!(out.status, MergeStatus::Merged);
            assert_eq!(out.applied.len(), 10);

            let fork = format!("{vault}-ff{rep}");
            store.fork_vault(&vault, &fork)?;
            change_10(store, &fork, 20)?;
            let start = Instant::now();
            let out = store.merge(&merge_request(&fork, &vault, MergeCheckpoint::PreMerge))?;
            ff.push(start.elapsed());
            assert_eq!(out.status, MergeStatus::FastForward);
            assert_eq!(out.applied.len(), 10);
        }
        rows.push((files, median_ms(&mut three_way), median_ms(&mut ff)));
    }
    println!("#### Merging a 10-file change, by vault size\n");
    println!(
        "A fork appends to 10 files; for the three-way merge its parent appends to 10 others \
         meanwhile. `Store::merge` with a `pre-merge-N` checkpoint, one transaction; median of \
         {} merges, ms.\n",
        config.merge_reps
    );
    println!("| vault | three-way merge | fast-forward |");
    println!("|---:|---:|---:|");
    for (files, three, ff) in &rows {
        println!("| {files} files | {three:.2} | {ff:.2} |");
    }
    let (small, big) = (&rows[0], &rows[1]);
    println!(
        "\nThree-way merge at {} files / at {} files: **{:.2}×**.\n",
        big.0,
        small.0,
        big.1 / small.1
    );
    Ok(())
}
