//! In-process workload benchmark of the store (`avfs::vault::Store`): per-file
//! write and read at 1 KiB, 64 KiB and 1 MiB; listing 10, 100 and 1,000
//! entries; concurrent agents (1 to 16) running the mixed workload on one
//! vault; 10 to 100 vaults worked in parallel; fork, checkpoint save and
//! checkpoint restore at 1,000, 10,000 and 100,000 files; full-text search
//! over 100 and 10,000 documents.
//!
//! The cases and their data live in `benches/harness`, shared with the
//! agentvfs twin (`benches/peer/agentvfs.rs`), so both do the same work.
//!
//! - `cargo bench --bench workload` runs every case here (avfs alone) and
//!   prints medians; `AVFS_BENCH_QUICK=1` for 3 repetitions.
//! - `--serve` speaks the harness protocol on stdin/stdout:
//!   `scripts/bench-inprocess` drives this and the agentvfs twin in turns,
//!   repetition by repetition, and prints the side-by-side tables.
//! - Without `--bench` (as `cargo test --benches` runs it) it smoke-tests a
//!   few small cases once.
//!
//! Each timed call is what one CLI command does in the store: a whole
//! `BEGIN IMMEDIATE … COMMIT` (with its journal entry) for a change, a read
//! transaction for a read. Agents and vault workers each open their own
//! `Store` (their own SQLite connection), as separate avfs processes would.

mod harness;

use avfs::vault::{Op, Owner, StateRef, Store, VaultPath};
use harness::{BATCH, BenchResult, Case, MixOp, Picker, Reply, Subject, timed};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const VAULT: &str = "bench";

fn vp(s: &str) -> BenchResult<VaultPath> {
    Ok(VaultPath::parse_str(s)?)
}

fn head(vault: &str) -> StateRef {
    StateRef::Head {
        vault: vault.to_string(),
    }
}

/// A fresh store file in its own temporary directory.
struct Scratch {
    store: Store,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Scratch {
    fn new(vaults: &[&str]) -> BenchResult<Scratch> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.db");
        let mut store = Store::open(&path, Owner::default())?;
        for v in vaults {
            store.create_vault(v)?;
        }
        Ok(Scratch {
            store,
            path,
            _dir: dir,
        })
    }
}

fn write_file(store: &mut Store, vault: &str, path: &str, data: &[u8]) -> BenchResult<()> {
    let p = vp(path)?;
    store.write(vault, Op::new("bench.write", path), |w| {
        w.write_file(&p, data, false, 0o644)
    })?;
    Ok(())
}

fn mkdir(store: &mut Store, vault: &str, path: &str) -> BenchResult<()> {
    let p = vp(path)?;
    store.write(vault, Op::new("bench.mkdir", path), |w| {
        w.mkdir(&p, true, 0o755)
    })?;
    Ok(())
}

/// Reads a whole file, as `avfs cat` does.
fn read_file(store: &mut Store, vault: &str, path: &str) -> BenchResult<Vec<u8>> {
    let p = vp(path)?;
    Ok(store.read(&head(vault), |t| {
        let attr = t.stat(&p)?;
        let reader = t.open(&attr)?;
        let mut buf = vec![0u8; attr.size as usize];
        let mut off = 0;
        while off < buf.len() {
            let n = reader.read_at(off as u64, &mut buf[off..])?;
            if n == 0 {
                break;
            }
            off += n;
        }
        buf.truncate(off);
        Ok(buf)
    })?)
}

fn list(store: &mut Store, vault: &str, path: &str) -> BenchResult<usize> {
    let p = vp(path)?;
    Ok(store.read(&head(vault), |t| {
        let dir = t.dir(&p)?;
        Ok(t.read_dir(dir.ino)?.len())
    })?)
}

/// A vault of `files` small files, for fork and checkpoints.
struct TreeFixture {
    scratch: Scratch,
    files: usize,
}

fn build_tree(files: usize) -> BenchResult<TreeFixture> {
    let mut scratch = Scratch::new(&[VAULT])?;
    // Transactions of 10,000 files, as `avfs import` batches.
    for first in (0..files).step_by(10_000) {
        let last = (first + 10_000).min(files);
        scratch.store.write(
            VAULT,
            Op::new("bench.build", format!("{first}..{last}")),
            |w| {
                for k in first..last {
                    let path = VaultPath::parse_str(&harness::tree_path(k))?;
                    if k.is_multiple_of(harness::FILES_PER_DIR) {
                        w.mkdir(&path.parent().expect("has a parent"), true, 0o755)?;
                    }
                    w.write_file(
                        &path,
                        &harness::content(k as u64, harness::TREE_FILE_BYTES)[..],
                        false,
                        0o644,
                    )?;
                }
                Ok(())
            },
        )?;
    }
    // Reopen, as the next CLI command would.
    let path = scratch.path.clone();
    scratch.store = Store::open(&path, Owner::default())?;
    Ok(TreeFixture { scratch, files })
}

#[derive(Default)]
struct Avfs {
    /// Per-file and listing cases: a store with data written by `prepare`.
    fixture: Option<Scratch>,
    /// Fork and checkpoint trees by size, shared by the three operations.
    trees: HashMap<usize, TreeFixture>,
}

impl Subject for Avfs {
    fn prepare(&mut self, case: Case) -> BenchResult<Reply> {
        match case {
            Case::Write(_) => {
                let mut s = Scratch::new(&[VAULT])?;
                mkdir(&mut s.store, VAULT, "/w")?;
                self.fixture = Some(s);
            }
            Case::Read(size) => {
                let mut s = Scratch::new(&[VAULT])?;
                mkdir(&mut s.store, VAULT, "/r")?;
                for i in 0..BATCH {
                    write_file(
                        &mut s.store,
                        VAULT,
                        &format!("/r/f{i}"),
                        &harness::content(i as u64, size),
                    )?;
                }
                self.fixture = Some(s);
            }
            Case::List(n) => {
                let mut s = Scratch::new(&[VAULT])?;
                let store = &mut s.store;
                let dir = vp("/l")?;
                store.write(VAULT, Op::new("bench.build", "list"), |w| {
                    w.mkdir(&dir, true, 0o755)?;
                    for i in 0..n {
                        w.write_file(
                            &dir.join(format!("f{i}").as_bytes()),
                            &harness::content(i as u64, 100)[..],
                            false,
                            0o644,
                        )?;
                    }
                    Ok(())
                })?;
                self.fixture = Some(s);
            }
            Case::Search(docs) => {
                let mut s = Scratch::new(&[VAULT])?;
                let store = &mut s.store;
                let dir = vp("/s")?;
                store.write(VAULT, Op::new("bench.build", "search"), |w| {
                    w.mkdir(&dir, true, 0o755)?;
                    for i in 0..docs {
                        w.write_file(
                            &dir.join(format!("d{i}.txt").as_bytes()),
                            &harness::content(i as u64, 1024)[..],
                            false,
                            0o644,
                        )?;
                    }
                    Ok(())
                })?;
                // Writes queue their contents; index them here, untimed, as
                // agentvfs indexes inside its (untimed) writes.
                store.update_search_index()?;
                self.fixture = Some(s);
            }
            Case::Mixed(_) | Case::Vaults(_) => {}
            Case::Fork(n) | Case::Save(n) | Case::Restore(n) => {
                if let std::collections::hash_map::Entry::Vacant(e) = self.trees.entry(n) {
                    e.insert(build_tree(n)?);
                }
                if let Case::Restore(_) = case {
                    let t = self.trees.get_mut(&n).expect("built");
                    write_file(&mut t.scratch.store, VAULT, "/restore-a.txt", b"a")?;
                    t.scratch.store.checkpoint_save(VAULT, "restore-a", None)?;
                    write_file(&mut t.scratch.store, VAULT, "/restore-b.txt", b"b")?;
                    t.scratch.store.checkpoint_save(VAULT, "restore-b", None)?;
                }
            }
        }
        Ok(Reply::Timed {
            elapsed: Duration::ZERO,
            ops: 0,
        })
    }

    fn run(&mut self, case: Case, rep: usize) -> BenchResult<Reply> {
        match case {
            Case::Write(size) => {
                let s = self.fixture.as_mut().ok_or("not prepared")?;
                let bodies: Vec<Vec<u8>> = (0..BATCH)
                    .map(|i| harness::content(((rep * BATCH + i) as u64) << 8 | 1, size))
                    .collect();
                timed(BATCH as u64, || {
                    for (i, body) in bodies.iter().enumerate() {
                        write_file(&mut s.store, VAULT, &format!("/w/r{rep}-{i}"), body)?;
                    }
                    Ok(())
                })
            }
            Case::Read(size) => {
                let s = self.fixture.as_mut().ok_or("not prepared")?;
                timed(BATCH as u64, || {
                    for i in 0..BATCH {
                        let got = read_file(&mut s.store, VAULT, &format!("/r/f{i}"))?;
                        if got.len() != size {
                            return Err(format!("read {} bytes, expected {size}", got.len()).into());
                        }
                    }
                    Ok(())
                })
            }
            Case::List(n) => {
                let s = self.fixture.as_mut().ok_or("not prepared")?;
                timed(BATCH as u64, || {
                    for _ in 0..BATCH {
                        let got = list(&mut s.store, VAULT, "/l")?;
                        if got != n {
                            return Err(format!("listed {got} entries, expected {n}").into());
                        }
                    }
                    Ok(())
                })
            }
            Case::Search(_) => {
                let s = self.fixture.as_mut().ok_or("not prepared")?;
                let head = head(VAULT);
                timed(BATCH as u64, || {
                    for i in 0..BATCH {
                        let word = harness::SEARCH_WORDS[i % harness::SEARCH_WORDS.len()];
                        s.store.search(&head, word, 10)?;
                    }
                    Ok(())
                })
            }
            Case::Mixed(agents) => run_mixed(agents, rep),
            Case::Vaults(n) => run_vaults(n),
            Case::Fork(n) => {
                let t = self.trees.get_mut(&n).ok_or("not prepared")?;
                // Dirty the source (untimed) so every fork freezes a non-empty layer.
                write_file(
                    &mut t.scratch.store,
                    VAULT,
                    &format!("/fork-{rep}.txt"),
                    b"fork",
                )?;
                let store = &mut t.scratch.store;
                timed(1, || {
                    store.fork_vault(VAULT, &format!("fork-{rep}"))?;
                    Ok(())
                })
            }
            Case::Save(n) => {
                let t = self.trees.get_mut(&n).ok_or("not prepared")?;
                write_file(
                    &mut t.scratch.store,
                    VAULT,
                    &format!("/save-{rep}.txt"),
                    b"save",
                )?;
                let store = &mut t.scratch.store;
                timed(1, || {
                    store.checkpoint_save(VAULT, &format!("save-{rep}"), None)?;
                    Ok(())
                })
            }
            Case::Restore(n) => {
                let t = self.trees.get_mut(&n).ok_or("not prepared")?;
                write_file(
                    &mut t.scratch.store,
                    VAULT,
                    &format!("/restore-{rep}.txt"),
                    b"r",
                )?;
                let name = if rep.is_multiple_of(2) {
                    "restore-a"
                } else {
                    "restore-b"
                };
                let store = &mut t.scratch.store;
                let reply = timed(1, || {
                    store.checkpoint_restore(VAULT, name)?;
                    Ok(())
                })?;
                // A no-op cannot pass: the restored head still has the whole tree.
                let last = harness::tree_path(t.files - 1);
                read_file(store, VAULT, &last)?;
                Ok(reply)
            }
        }
    }

    fn finish(&mut self, case: Case) -> BenchResult<()> {
        self.fixture = None;
        if let Case::Restore(n) = case {
            self.trees.remove(&n);
        }
        Ok(())
    }
}

/// `agents` threads, each with its own connection, run the mixed workload in
/// their own directory of one vault; times from the common start to the last
/// agent's end.
fn run_mixed(agents: usize, rep: usize) -> BenchResult<Reply> {
    let mut s = Scratch::new(&[VAULT])?;
    for a in 0..agents {
        mkdir(&mut s.store, VAULT, &format!("/agent_{a}"))?;
    }
    let path = Arc::new(s.path.clone());
    let start = Arc::new(Barrier::new(agents + 1));
    let workers: Vec<_> = (0..agents)
        .map(|a| {
            let path = Arc::clone(&path);
            let start = Arc::clone(&start);
            std::thread::spawn(move || -> BenchResult<u64> {
                let mut store = Store::open(&path, Owner::default())?;
                let plan = harness::mix_plan(a, rep);
                start.wait();
                run_agent(&mut store, a, rep, &plan)
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let mut ops = 0;
    for w in workers {
        ops += w.join().map_err(|_| "agent panicked")??;
    }
    let elapsed = t0.elapsed();
    Ok(Reply::Timed { elapsed, ops })
}

/// One agent's steps; returns how many it performed (steps with no file to
/// act on are skipped, on both sides alike).
fn run_agent(store: &mut Store, agent: usize, rep: usize, plan: &[MixOp]) -> BenchResult<u64> {
    let dir = format!("/agent_{agent}");
    let mut files: Vec<String> = Vec::new();
    let mut pick = Picker::new(agent, rep);
    let mut done = 0;
    for (i, op) in plan.iter().enumerate() {
        match *op {
            MixOp::Write(size) => {
                let path = format!("{dir}/w{i}.txt");
                let body = harness::content(
                    ((rep as u64) << 40) | ((agent as u64) << 20) | i as u64,
                    size,
                );
                write_file(store, VAULT, &path, &body)?;
                files.push(path);
            }
            MixOp::Read => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                read_file(store, VAULT, &files[k])?;
            }
            MixOp::List => {
                list(store, VAULT, &dir)?;
            }
            MixOp::Search => {
                // Also indexes what this and the other agents wrote since the
                // last search: avfs's writes only queue their contents.
                let word = harness::SEARCH_WORDS[i % harness::SEARCH_WORDS.len()];
                store.search(&head(VAULT), word, 10)?;
            }
            MixOp::Delete => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                let path = files.remove(k);
                let p = vp(&path)?;
                store.write(VAULT, Op::new("bench.rm", &path), |w| w.remove(&p, false))?;
            }
            MixOp::Copy => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                let dst = format!("{dir}/c{i}.txt");
                let (src_p, dst_p) = (vp(&files[k])?, vp(&dst)?);
                store.write(VAULT, Op::new("bench.cp", &dst), |w| {
                    w.copy(&src_p, &dst_p, false)
                })?;
                files.push(dst);
            }
            MixOp::Move => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                let src = files.remove(k);
                let dst = format!("{dir}/m{i}.txt");
                let (src_p, dst_p) = (vp(&src)?, vp(&dst)?);
                store.write(VAULT, Op::new("bench.mv", &dst), |w| {
                    w.rename_path(&src_p, &dst_p)
                })?;
                files.push(dst);
            }
        }
        done += 1;
    }
    Ok(done)
}

/// `n` vaults in one store, one thread each (its own connection): create the
/// vault, write 10 files of 4 KiB, read them back, list them.
fn run_vaults(n: usize) -> BenchResult<Reply> {
    let dir = tempfile::tempdir()?;
    let path = Arc::new(dir.path().join("store.db"));
    // The store file exists before the clock starts, as it would for agents.
    drop(Store::open(&path, Owner::default())?);
    let ops = (n * (2 * harness::VAULT_WRITES + 2)) as u64;
    timed(ops, || {
        let workers: Vec<_> = (0..n)
            .map(|v| {
                let path = Arc::clone(&path);
                std::thread::spawn(move || vault_worker(&path, v))
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "vault worker panicked")??;
        }
        Ok(())
    })
}

fn vault_worker(path: &Path, v: usize) -> BenchResult<()> {
    let mut store = Store::open(path, Owner::default())?;
    let vault = format!("v{v}");
    store.create_vault(&vault)?;
    mkdir(&mut store, &vault, "/data")?;
    for i in 0..harness::VAULT_WRITES {
        let body = harness::content(((v as u64) << 20) | i as u64, harness::VAULT_FILE_BYTES);
        write_file(&mut store, &vault, &format!("/data/f{i}"), &body)?;
    }
    for i in 0..harness::VAULT_WRITES {
        read_file(&mut store, &vault, &format!("/data/f{i}"))?;
    }
    if list(&mut store, &vault, "/data")? != harness::VAULT_WRITES {
        return Err("vault worker: wrong listing".into());
    }
    Ok(())
}

// ----- standalone mode -----

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.iter().any(|a| a == "--serve") {
        harness::serve(&mut Avfs::default())
    } else {
        let quick = std::env::var("AVFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if args.iter().any(|a| a == "--bench") {
            standalone(Case::all(), if quick { 3 } else { 9 })
        } else {
            let smoke = vec![
                Case::Write(1024),
                Case::Read(1024),
                Case::List(10),
                Case::Mixed(2),
                Case::Vaults(10),
                Case::Fork(1000),
                Case::Restore(1000),
            ];
            standalone(smoke, 1)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workload bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the cases here, avfs alone, and prints one markdown row per case.
fn standalone(cases: Vec<Case>, reps: usize) -> BenchResult<()> {
    let mut avfs = Avfs::default();
    println!(
        "avfs alone, {reps} repetitions per case; median time per operation (a sample times {BATCH} calls for write/read/list).\n"
    );
    println!("| case | median per op | ops/s |");
    println!("|---|---:|---:|");
    for case in cases {
        eprintln!("workload bench: {case}");
        if let Reply::Unsupported(why) = avfs.prepare(case)? {
            println!("| {case} | — ({why}) | |");
            continue;
        }
        let mut per_op = Vec::new();
        let mut wall = Vec::new();
        for rep in 0..reps {
            if let Reply::Timed { elapsed, ops } = avfs.run(case, rep)? {
                per_op.push(elapsed.as_secs_f64() / ops.max(1) as f64);
                wall.push(elapsed.as_secs_f64());
            }
        }
        avfs.finish(case)?;
        per_op.sort_by(f64::total_cmp);
        let m = per_op[per_op.len() / 2];
        println!("| {case} | {:.3} ms | {:.0} |", m * 1e3, 1.0 / m);
    }
    Ok(())
}
