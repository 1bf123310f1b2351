//! The agentvfs 0.1.6 twin of `benches/workload.rs`: the same cases
//! (`benches/harness`), driven through agentvfs's library API, served on the
//! same stdin/stdout protocol so `scripts/bench-inprocess` can interleave the
//! two repetition by repetition.
//!
//! Not part of the avfs build: agentvfs links its own bundled SQLite
//! (rusqlite 0.31), which cannot share a dependency graph with ours
//! (rusqlite 0.41). `scripts/bench-agentvfs` builds this file in a scratch
//! crate outside the repository that depends on `agentvfs = "=0.1.6"`.
//!
//! How agentvfs does each operation (its public API, nothing private):
//! a vault is one SQLite file (`VaultBackend::open`), files go through
//! `FileSystem` (each write also records a version and updates its FTS5
//! index), `WorkspaceService::fork` copies the vault's file, and checkpoints
//! are `save_snapshot`/`restore_snapshot`, which copy every row.

#[path = "../harness/mod.rs"]
mod harness;

use agentvfs::fs::FileSystem;
use agentvfs::runtime::workspace::WorkspaceService;
use agentvfs::storage::{BackendType, VaultBackend};
use agentvfs::vault::{Config, VaultManager};
use harness::{BATCH, BenchResult, Case, MixOp, Picker, Reply, Subject, timed};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn open(path: &Path) -> BenchResult<FileSystem> {
    let backend = Arc::new(VaultBackend::open(path, BackendType::Sqlite).map_err(err)?);
    Ok(FileSystem::new(backend))
}

fn err(e: impl std::fmt::Display) -> Box<dyn std::error::Error + Send + Sync> {
    e.to_string().into()
}

/// One vault file in a temporary directory.
struct Scratch {
    fs: FileSystem,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> BenchResult<Scratch> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bench.avfs");
        Ok(Scratch {
            fs: open(&path)?,
            path,
            _dir: dir,
        })
    }
}

/// A named vault of `files` small files under a private agentvfs home, so
/// `WorkspaceService::fork` can find it.
struct TreeFixture {
    config: Config,
    fs: FileSystem,
    files: usize,
    _home: tempfile::TempDir,
}

fn build_tree(files: usize) -> BenchResult<TreeFixture> {
    let home = tempfile::tempdir()?;
    let config = Config::with_base_dir(home.path().to_path_buf()).map_err(err)?;
    VaultManager::with_config(config.clone())
        .create("bench")
        .map_err(err)?;
    let fs = open(&config.vault_path("bench"))?;
    for k in 0..files {
        let path = harness::tree_path(k);
        if k.is_multiple_of(harness::FILES_PER_DIR) {
            let parent = &path[..path.rfind('/').expect("has a parent")];
            fs.create_dir_all(parent).map_err(err)?;
        }
        fs.write_file(&path, &harness::content(k as u64, harness::TREE_FILE_BYTES))
            .map_err(err)?;
    }
    Ok(TreeFixture {
        config,
        fs,
        files,
        _home: home,
    })
}

#[derive(Default)]
struct Agentvfs {
    fixture: Option<Scratch>,
    trees: HashMap<usize, TreeFixture>,
}

impl Subject for Agentvfs {
    fn prepare(&mut self, case: Case) -> BenchResult<Reply> {
        match case {
            Case::Write(_) => {
                let s = Scratch::new()?;
                s.fs.create_dir("/w").map_err(err)?;
                self.fixture = Some(s);
            }
            Case::Read(size) => {
                let s = Scratch::new()?;
                s.fs.create_dir("/r").map_err(err)?;
                for i in 0..BATCH {
                    s.fs.write_file(&format!("/r/f{i}"), &harness::content(i as u64, size))
                        .map_err(err)?;
                }
                self.fixture = Some(s);
            }
            Case::List(n) => {
                let s = Scratch::new()?;
                s.fs.create_dir("/l").map_err(err)?;
                for i in 0..n {
                    s.fs.write_file(&format!("/l/f{i}"), &harness::content(i as u64, 100))
                        .map_err(err)?;
                }
                self.fixture = Some(s);
            }
            Case::Search(docs) => {
                let s = Scratch::new()?;
                s.fs.create_dir("/s").map_err(err)?;
                for i in 0..docs {
                    s.fs.write_file(&format!("/s/d{i}.txt"), &harness::content(i as u64, 1024))
                        .map_err(err)?;
                }
                self.fixture = Some(s);
            }
            Case::Mixed(_) | Case::Vaults(_) => {}
            Case::Fork(n) | Case::Save(n) | Case::Restore(n) => {
                if let std::collections::hash_map::Entry::Vacant(e) = self.trees.entry(n) {
                    e.insert(build_tree(n)?);
                }
                if let Case::Restore(_) = case {
                    let t = &self.trees[&n];
                    t.fs.write_file("/restore-a.txt", b"a").map_err(err)?;
                    t.fs.backend()
                        .save_snapshot("restore-a", None)
                        .map_err(err)?;
                    t.fs.write_file("/restore-b.txt", b"b").map_err(err)?;
                    t.fs.backend()
                        .save_snapshot("restore-b", None)
                        .map_err(err)?;
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
                let s = self.fixture.as_ref().ok_or("not prepared")?;
                let bodies: Vec<Vec<u8>> = (0..BATCH)
                    .map(|i| harness::content(((rep * BATCH + i) as u64) << 8 | 1, size))
                    .collect();
                timed(BATCH as u64, || {
                    for (i, body) in bodies.iter().enumerate() {
                        s.fs.write_file(&format!("/w/r{rep}-{i}"), body)
                            .map_err(err)?;
                    }
                    Ok(())
                })
            }
            Case::Read(size) => {
                let s = self.fixture.as_ref().ok_or("not prepared")?;
                timed(BATCH as u64, || {
                    for i in 0..BATCH {
                        let got = s.fs.read_file(&format!("/r/f{i}")).map_err(err)?;
                        if got.len() != size {
                            return Err("short read".into());
                        }
                    }
                    Ok(())
                })
            }
            Case::List(n) => {
                let s = self.fixture.as_ref().ok_or("not prepared")?;
                timed(BATCH as u64, || {
                    for _ in 0..BATCH {
                        if s.fs.list_dir("/l").map_err(err)?.len() != n {
                            return Err("wrong listing".into());
                        }
                    }
                    Ok(())
                })
            }
            Case::Search(_) => {
                let s = self.fixture.as_ref().ok_or("not prepared")?;
                timed(BATCH as u64, || {
                    for i in 0..BATCH {
                        let word = harness::SEARCH_WORDS[i % harness::SEARCH_WORDS.len()];
                        s.fs.backend().search_content(word, 10).map_err(err)?;
                    }
                    Ok(())
                })
            }
            Case::Mixed(agents) => run_mixed(agents, rep),
            Case::Vaults(n) => run_vaults(n),
            Case::Fork(n) => {
                let t = self.trees.get(&n).ok_or("not prepared")?;
                t.fs.write_file(&format!("/fork-{rep}.txt"), b"fork")
                    .map_err(err)?;
                let workspaces = WorkspaceService::with_config(t.config.clone());
                let name = format!("fork-{rep}");
                let reply = timed(1, || {
                    workspaces.fork("bench", &name).map_err(err)?;
                    Ok(())
                })?;
                // Untimed: forks are whole copies; don't fill the disk.
                VaultManager::with_config(t.config.clone())
                    .delete(&name)
                    .map_err(err)?;
                Ok(reply)
            }
            Case::Save(n) => {
                let t = self.trees.get(&n).ok_or("not prepared")?;
                t.fs.write_file(&format!("/save-{rep}.txt"), b"save")
                    .map_err(err)?;
                timed(1, || {
                    t.fs.backend()
                        .save_snapshot(&format!("save-{rep}"), None)
                        .map_err(err)?;
                    Ok(())
                })
            }
            Case::Restore(n) => {
                let t = self.trees.get(&n).ok_or("not prepared")?;
                t.fs.write_file(&format!("/restore-{rep}.txt"), b"r")
                    .map_err(err)?;
                let name = if rep.is_multiple_of(2) {
                    "restore-a"
                } else {
                    "restore-b"
                };
                let reply = timed(1, || {
                    t.fs.backend().restore_snapshot(name).map_err(err)?;
                    Ok(())
                })?;
                t.fs.read_file(&harness::tree_path(t.files - 1))
                    .map_err(err)?;
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

/// As in avfs's `run_mixed`: one connection (one `VaultBackend`) per agent on
/// the same vault file, as separate agent processes would have.
fn run_mixed(agents: usize, rep: usize) -> BenchResult<Reply> {
    let s = Scratch::new()?;
    for a in 0..agents {
        s.fs.create_dir(&format!("/agent_{a}")).map_err(err)?;
    }
    let path = Arc::new(s.path.clone());
    let start = Arc::new(Barrier::new(agents + 1));
    let workers: Vec<_> = (0..agents)
        .map(|a| {
            let path = Arc::clone(&path);
            let start = Arc::clone(&start);
            std::thread::spawn(move || -> BenchResult<u64> {
                let fs = open(&path)?;
                let plan = harness::mix_plan(a, rep);
                start.wait();
                run_agent(&fs, a, rep, &plan)
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let mut ops = 0;
    for w in workers {
        ops += w.join().map_err(|_| "agent panicked")??;
    }
    Ok(Reply::Timed {
        elapsed: t0.elapsed(),
        ops,
    })
}

fn run_agent(fs: &FileSystem, agent: usize, rep: usize, plan: &[MixOp]) -> BenchResult<u64> {
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
                fs.write_file(&path, &body).map_err(err)?;
                files.push(path);
            }
            MixOp::Read => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                fs.read_file(&files[k]).map_err(err)?;
            }
            MixOp::List => {
                fs.list_dir(&dir).map_err(err)?;
            }
            MixOp::Search => {
                let word = harness::SEARCH_WORDS[i % harness::SEARCH_WORDS.len()];
                fs.backend().search_content(word, 10).map_err(err)?;
            }
            MixOp::Delete => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                let path = files.remove(k);
                fs.remove(&path, false).map_err(err)?;
            }
            MixOp::Copy => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                let dst = format!("{dir}/c{i}.txt");
                fs.copy(&files[k], &dst).map_err(err)?;
                files.push(dst);
            }
            MixOp::Move => {
                let Some(k) = pick.pick(files.len()) else {
                    continue;
                };
                let src = files.remove(k);
                let dst = format!("{dir}/m{i}.txt");
                fs.move_entry(&src, &dst).map_err(err)?;
                files.push(dst);
            }
        }
        done += 1;
    }
    Ok(done)
}

/// `n` vaults, one thread each: create the vault (its own file), write 10
/// files of 4 KiB, read them back, list them.
fn run_vaults(n: usize) -> BenchResult<Reply> {
    let dir = tempfile::tempdir()?;
    let root = Arc::new(dir.path().to_path_buf());
    let ops = (n * (2 * harness::VAULT_WRITES + 2)) as u64;
    timed(ops, || {
        let workers: Vec<_> = (0..n)
            .map(|v| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || -> BenchResult<()> {
                    let fs = open(&root.join(format!("v{v}.avfs")))?;
                    fs.create_dir("/data").map_err(err)?;
                    for i in 0..harness::VAULT_WRITES {
                        let body = harness::content(
                            ((v as u64) << 20) | i as u64,
                            harness::VAULT_FILE_BYTES,
                        );
                        fs.write_file(&format!("/data/f{i}"), &body).map_err(err)?;
                    }
                    for i in 0..harness::VAULT_WRITES {
                        fs.read_file(&format!("/data/f{i}")).map_err(err)?;
                    }
                    if fs.list_dir("/data").map_err(err)?.len() != harness::VAULT_WRITES {
                        return Err("wrong listing".into());
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "vault worker panicked")??;
        }
        Ok(())
    })
}

fn main() {
    if let Err(e) = harness::serve(&mut Agentvfs::default()) {
        eprintln!("agentvfs bench: error: {e}");
        std::process::exit(1);
    }
}
