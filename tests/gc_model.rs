//! Property test of `gc` (invariant 5) and `compact`: against a model of every
//! vault head and every checkpoint, random writes, removals, checkpoints (saved,
//! restored, deleted), forks, vault deletions, gc and compact runs. After every
//! compact, all states read back as modelled, and after every gc:
//!
//! - everything a vault or checkpoint reaches reads back byte for byte, and so
//!   does every version its history still lists (gc never frees reachable content);
//! - the store holds exactly the contents that some state's files or history
//!   name, and exactly the chunks those contents use (gc frees what nothing reaches).
//!
//! `PROPTEST_CASES=n` changes the number of cases (48 by default).

use avfs::vault::gc::GcOptions;
use avfs::vault::{ContentHash, Kind, Op, Owner, StateRef, Store, VaultPath};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

type Files = BTreeMap<String, Vec<u8>>;

#[derive(Clone, Debug)]
enum Step {
    Write {
        vault: usize,
        file: usize,
        seed: u8,
        big: bool,
    },
    Remove {
        vault: usize,
        file: usize,
    },
    Save {
        vault: usize,
    },
    Restore {
        vault: usize,
        pick: usize,
    },
    DeleteCheckpoint {
        vault: usize,
        pick: usize,
    },
    Fork {
        vault: usize,
    },
    DeleteVault {
        vault: usize,
    },
    Gc,
    Compact,
}

fn step() -> impl Strategy<Value = Step> {
    let v = 0..3usize;
    prop_oneof![
        6 => (v.clone(), 0..4usize, 0..5u8, prop::bool::weighted(0.3))
            .prop_map(|(vault, file, seed, big)| Step::Write { vault, file, seed, big }),
        2 => (v.clone(), 0..4usize).prop_map(|(vault, file)| Step::Remove { vault, file }),
        2 => v.clone().prop_map(|vault| Step::Save { vault }),
        1 => (v.clone(), 0..8usize).prop_map(|(vault, pick)| Step::Restore { vault, pick }),
        2 => (v.clone(), 0..8usize).prop_map(|(vault, pick)| Step::DeleteCheckpoint { vault, pick }),
        1 => v.clone().prop_map(|vault| Step::Fork { vault }),
        1 => v.prop_map(|vault| Step::DeleteVault { vault }),
        2 => Just(Step::Gc),
        1 => Just(Step::Compact),
    ]
}

/// Bytes that depend on (seed, big) only, so equal seeds deduplicate.
fn bytes(seed: u8, big: bool) -> Vec<u8> {
    let len = if big { 300 * 1024 } else { 10 + seed as usize };
    let mut out = vec![0u8; len];
    let mut h = blake3::Hasher::new();
    h.update(&[seed, big as u8]);
    h.finalize_xof().fill(&mut out);
    out
}

struct World {
    store: Store,
    heads: BTreeMap<String, Files>,
    checkpoints: BTreeMap<String, Vec<(String, Files)>>,
    next: u64,
}

impl World {
    fn vault(&self, i: usize) -> Option<String> {
        self.heads.keys().nth(i % self.heads.len().max(1)).cloned()
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Write {
                vault,
                file,
                seed,
                big,
            } => {
                let Some(v) = self.vault(vault) else { return };
                let path = format!("/f{file}");
                let data = bytes(seed, big);
                let p = VaultPath::parse_str(&path).unwrap();
                self.store
                    .write(&v, Op::new("write", &path), |w| {
                        w.write_file(&p, &data[..], false, 0o644)
                    })
                    .unwrap();
                self.heads.get_mut(&v).unwrap().insert(path, data);
            }
            Step::Remove { vault, file } => {
                let Some(v) = self.vault(vault) else { return };
                let path = format!("/f{file}");
                if self.heads[&v].contains_key(&path) {
                    let p = VaultPath::parse_str(&path).unwrap();
                    self.store
                        .write(&v, Op::new("rm", &path), |w| w.remove(&p, false))
                        .unwrap();
                    self.heads.get_mut(&v).unwrap().remove(&path);
                }
            }
            Step::Save { vault } => {
                let Some(v) = self.vault(vault) else { return };
                let name = self.fresh("c");
                self.store.checkpoint_save(&v, &name, None).unwrap();
                let files = self.heads[&v].clone();
                self.checkpoints.entry(v).or_default().push((name, files));
            }
            Step::Restore { vault, pick } => {
                let Some(v) = self.vault(vault) else { return };
                let Some(list) = self.checkpoints.get(&v).filter(|l| !l.is_empty()) else {
                    return;
                };
                let (name, files) = list[pick % list.len()].clone();
                let restored = self.store.checkpoint_restore(&v, &name).unwrap();
                if let Some(saved) = restored.saved_previous {
                    let head = self.heads[&v].clone();
                    self.checkpoints
                        .get_mut(&v)
                        .unwrap()
                        .push((saved.name, head));
                }
                self.heads.insert(v, files);
            }
            Step::DeleteCheckpoint { vault, pick } => {
                let Some(v) = self.vault(vault) else { return };
                let Some(list) = self.checkpoints.get_mut(&v).filter(|l| !l.is_empty()) else {
                    return;
                };
                let (name, _) = list.remove(pick % list.len());
                self.store.checkpoint_delete(&v, &name).unwrap();
            }
            Step::Fork { vault } => {
                let Some(v) = self.vault(vault) else { return };
                if self.heads.len() >= 4 {
                    return;
                }
                let name = self.fresh("v");
                self.store.fork_vault(&v, &name).unwrap();
                let files = self.heads[&v].clone();
                self.heads.insert(name, files);
            }
            Step::DeleteVault { vault } => {
                let Some(v) = self.vault(vault) else { return };
                if self.heads.len() <= 1 {
                    return;
                }
                self.store.delete_vault(&v).unwrap();
                self.heads.remove(&v);
                self.checkpoints.remove(&v);
            }
            Step::Gc => {
                self.store.gc(GcOptions::default()).unwrap();
                self.check(true);
            }
            Step::Compact => {
                self.store.compact().unwrap();
                self.check(false);
            }
        }
    }

    /// Every state reads back as modelled, with its whole history, and (right
    /// after gc) the store keeps exactly what those states reach.
    fn check(&mut self, collected: bool) {
        let mut states: Vec<(StateRef, Files)> = self
            .heads
            .iter()
            .map(|(v, f)| (StateRef::Head { vault: v.clone() }, f.clone()))
            .collect();
        for (v, list) in &self.checkpoints {
            for (name, files) in list {
                states.push((
                    StateRef::Checkpoint {
                        vault: v.clone(),
                        name: name.clone(),
                    },
                    files.clone(),
                ));
            }
        }
        let mut reached: BTreeSet<ContentHash> = BTreeSet::new();
        for (at, files) in &states {
            let (found, hashes) = self
                .store
                .read(at, |t| {
                    let mut found = Files::new();
                    let mut hashes = Vec::new();
                    for (path, attr) in t.walk(&VaultPath::root())? {
                        if attr.kind != Kind::File {
                            continue;
                        }
                        let mut buf = Vec::new();
                        t.open(&attr)?.read_to_end(&mut buf)?;
                        found.insert(path.to_string(), buf);
                        hashes.push(attr.content.unwrap());
                    }
                    for file in 0..4 {
                        let p = VaultPath::parse_str(&format!("/f{file}")).unwrap();
                        for v in t.versions(&p)? {
                            if let Some(h) = v.content {
                                let mut buf = Vec::new();
                                t.open_version(&v)?.read_to_end(&mut buf)?;
                                assert_eq!(
                                    buf.len() as u64,
                                    v.size,
                                    "version {} of {p}",
                                    v.version
                                );
                                hashes.push(h);
                            }
                        }
                    }
                    Ok((found, hashes))
                })
                .unwrap();
            assert_eq!(&found, files, "state {at:?} after gc");
            reached.extend(hashes);
        }
        let conn = self.store.connection();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        if !collected {
            return;
        }
        let stored: BTreeSet<ContentHash> = conn
            .prepare("SELECT hash FROM contents")
            .unwrap()
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|h| ContentHash::from_blob(&h.unwrap()).unwrap())
            .collect();
        assert_eq!(stored, reached, "gc keeps exactly the reachable contents");
        let orphan_chunks: i64 = conn
            .query_row(
                "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM content_chunks cc WHERE cc.chunk = c.id)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphan_chunks, 0, "gc frees every chunk no content uses");
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn gc_frees_exactly_what_nothing_reaches(steps in prop::collection::vec(step(), 1..40)) {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("main").unwrap();
        let mut world = World {
            store,
            heads: BTreeMap::from([("main".to_string(), Files::new())]),
            checkpoints: BTreeMap::new(),
            next: 0,
        };
        for s in &steps {
            world.apply(s);
        }
        world.apply(&Step::Gc);
    }
}

#[test]
fn deleting_everything_then_gc_leaves_an_empty_store() {
    let mut store = Store::open_in_memory(Owner::default()).unwrap();
    store.create_vault("a").unwrap();
    let p = VaultPath::parse_str("/big").unwrap();
    let data = bytes(1, true);
    store
        .write("a", Op::new("write", "/big"), |w| {
            w.write_file(&p, &data[..], false, 0o644)
        })
        .unwrap();
    store.checkpoint_save("a", "c", None).unwrap();
    store.fork_vault("a", "b").unwrap();
    store.delete_vault("a").unwrap();
    let kept = store.gc(GcOptions::default()).unwrap();
    assert_eq!(
        (kept.contents, kept.chunks),
        (0, 0),
        "the fork still reaches everything"
    );
    store.delete_vault("b").unwrap();
    let dry = store
        .gc(GcOptions {
            dry_run: true,
            ..GcOptions::default()
        })
        .unwrap();
    assert!(dry.dry_run && dry.contents == 1 && dry.chunks == 2 && dry.bytes == 300 * 1024);
    let freed = store.gc(GcOptions::default()).unwrap();
    assert_eq!(
        (freed.contents, freed.chunks, freed.bytes),
        (1, 2, 300 * 1024)
    );
    let conn = store.connection();
    for table in [
        "layers",
        "dirents",
        "inodes",
        "versions",
        "contents",
        "chunks",
        "content_chunks",
        "search_docs",
    ] {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}
