//! What the in-process workload benchmarks share, whichever store they drive:
//! the case list, deterministic data, the mixed-workload plan, and the line
//! protocol through which `scripts/bench-inprocess` runs two implementations
//! (avfs's `benches/workload.rs` and agentvfs's `benches/peer/agentvfs.rs`)
//! side by side, repetition by repetition.
//!
//! Both sides compile this same file, so a case means the same work on both.
//! Not a bench target itself: cargo only discovers `benches/*.rs` and
//! `benches/*/main.rs`.
//!
//! Protocol (one request per stdin line, one JSON reply per stdout line):
//!
//! - `prepare CASE` — untimed set-up (build a 100,000-file vault, ...); replies `{"ok":true}`
//!   or `{"unsupported":"why"}` when this implementation lacks the operation.
//! - `run CASE REP` — one timed repetition; replies `{"seconds":S,"ops":N}`:
//!   `S` is the timed wall time, `N` how many operations it covered.
//! - `finish CASE` — drop what `prepare` built; replies `{"ok":true}`.
//!
//! Any failure replies `{"error":"..."}`; the driver stops that case.

#![allow(dead_code)] // each side uses a different subset

use std::error::Error;
use std::fmt;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

pub type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Per-file write and read sizes.
pub const FILE_SIZES: [usize; 3] = [1 << 10, 64 << 10, 1 << 20];
/// Directory sizes for listing.
pub const LIST_SIZES: [usize; 3] = [10, 100, 1_000];
/// Corpus sizes for full-text search.
pub const SEARCH_DOCS: [usize; 2] = [100, 10_000];
/// Concurrent agents on one vault.
pub const AGENTS: [usize; 5] = [1, 2, 4, 8, 16];
/// Operations each agent performs per repetition (agentvfs's own setting).
pub const OPS_PER_AGENT: usize = 100;
/// Vaults worked in parallel.
pub const VAULTS: [usize; 3] = [10, 50, 100];
/// Per vault in the parallel-vaults case: writes, then as many reads, then one listing.
pub const VAULT_WRITES: usize = 10;
/// Bytes per file in the parallel-vaults case.
pub const VAULT_FILE_BYTES: usize = 4 << 10;
/// Vault sizes for fork and checkpoints.
pub const TREE_SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Files per directory in those trees (`d0/d7/f42.txt`).
pub const FILES_PER_DIR: usize = 100;
/// Bytes per file in those trees.
pub const TREE_FILE_BYTES: usize = 300;
/// Operations per timed sample for the per-file cases: one call is tens of
/// microseconds, so a sample times a batch and reports the time per call.
pub const BATCH: usize = 20;

/// One benchmark case: an operation and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Write one new file of this many bytes.
    Write(usize),
    /// Read one file of this many bytes, whole.
    Read(usize),
    /// List a directory of this many entries.
    List(usize),
    /// Full-text query over this many documents.
    Search(usize),
    /// This many agents run the mixed workload on one vault at once.
    Mixed(usize),
    /// This many vaults, one thread each: create, write, read, list.
    Vaults(usize),
    /// Fork a vault of this many files.
    Fork(usize),
    /// Save a checkpoint of a vault of this many files.
    Save(usize),
    /// Restore a checkpoint of a vault of this many files.
    Restore(usize),
}

impl Case {
    /// Every case, in the order the report lists them.
    pub fn all() -> Vec<Case> {
        let mut out = Vec::new();
        out.extend(FILE_SIZES.map(Case::Write));
        out.extend(FILE_SIZES.map(Case::Read));
        out.extend(LIST_SIZES.map(Case::List));
        out.extend(SEARCH_DOCS.map(Case::Search));
        out.extend(AGENTS.map(Case::Mixed));
        out.extend(VAULTS.map(Case::Vaults));
        out.extend(TREE_SIZES.map(Case::Fork));
        out.extend(TREE_SIZES.map(Case::Save));
        out.extend(TREE_SIZES.map(Case::Restore));
        out
    }

    pub fn parse(s: &str) -> BenchResult<Case> {
        let (kind, n) = s.split_once('/').ok_or("case is KIND/N")?;
        let n: usize = n.parse()?;
        Ok(match kind {
            "write" => Case::Write(n),
            "read" => Case::Read(n),
            "list" => Case::List(n),
            "search" => Case::Search(n),
            "mixed" => Case::Mixed(n),
            "vaults" => Case::Vaults(n),
            "fork" => Case::Fork(n),
            "save" => Case::Save(n),
            "restore" => Case::Restore(n),
            _ => return Err(format!("unknown case kind {kind:?}").into()),
        })
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, n) = match *self {
            Case::Write(n) => ("write", n),
            Case::Read(n) => ("read", n),
            Case::List(n) => ("list", n),
            Case::Search(n) => ("search", n),
            Case::Mixed(n) => ("mixed", n),
            Case::Vaults(n) => ("vaults", n),
            Case::Fork(n) => ("fork", n),
            Case::Save(n) => ("save", n),
            Case::Restore(n) => ("restore", n),
        };
        write!(f, "{kind}/{n}")
    }
}

/// What one timed repetition measured.
pub enum Reply {
    Timed { elapsed: Duration, ops: u64 },
    Unsupported(String),
}

/// One implementation under test.
pub trait Subject {
    fn prepare(&mut self, case: Case) -> BenchResult<Reply>;
    fn run(&mut self, case: Case, rep: usize) -> BenchResult<Reply>;
    fn finish(&mut self, case: Case) -> BenchResult<()>;
}

/// Serves the protocol on stdin/stdout until stdin closes.
pub fn serve(subject: &mut dyn Subject) -> BenchResult<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["prepare", case] => Case::parse(case)
                .and_then(|c| subject.prepare(c))
                .map(render),
            ["run", case, rep] => Case::parse(case)
                .and_then(|c| Ok((c, rep.parse::<usize>()?)))
                .and_then(|(c, r)| subject.run(c, r))
                .map(render),
            ["finish", case] => Case::parse(case)
                .and_then(|c| subject.finish(c))
                .map(|()| r#"{"ok":true}"#.to_string()),
            _ => Err(format!("bad request {line:?}").into()),
        };
        let text =
            reply.unwrap_or_else(|e| format!("{{\"error\":{}}}", json_string(&e.to_string())));
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(())
}

fn render(reply: Reply) -> String {
    match reply {
        Reply::Timed { elapsed, ops } => {
            format!("{{\"seconds\":{:.9},\"ops\":{ops}}}", elapsed.as_secs_f64())
        }
        Reply::Unsupported(why) => format!("{{\"unsupported\":{}}}", json_string(&why)),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Times `f`, which performs `ops` operations.
pub fn timed(ops: u64, f: impl FnOnce() -> BenchResult<()>) -> BenchResult<Reply> {
    let start = Instant::now();
    f()?;
    Ok(Reply::Timed {
        elapsed: start.elapsed(),
        ops,
    })
}

/// A small deterministic generator (xorshift64*): both sides draw the same
/// sequence of operations and sizes from the same seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Text-like content, `len` bytes, unique per `key`: both stores hash
/// content and keep one copy of identical data, so every file written must
/// differ. Words from a small vocabulary (so full-text indexes have
/// something to index), with the key up front.
pub fn content(key: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "agent", "vault", "layer", "chunk", "fork", "note", "todo", "build", "test", "merge",
        "alpha", "delta", "kernel", "queue", "index", "cache",
    ];
    let mut out = format!("doc {key}\n").into_bytes();
    let mut rng = Rng::new(key ^ 0xA5A5_5A5A);
    while out.len() < len {
        out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
        out.push(if rng.below(12) == 0 { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

/// Path of file `k` in the fork/checkpoint trees: 100 per directory, two deep.
pub fn tree_path(k: usize) -> String {
    format!(
        "/d{}/d{}/f{}.txt",
        k / (FILES_PER_DIR * 100),
        (k / FILES_PER_DIR) % 100,
        k % FILES_PER_DIR
    )
}

// ----- the mixed workload -----

/// One step of an agent in the mixed workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixOp {
    /// Write a new file of this many bytes (1 to 64 KiB).
    Write(usize),
    /// Read one of the agent's files, whole.
    Read,
    /// List the agent's directory.
    List,
    /// Full-text query.
    Search,
    /// Delete one of the agent's files.
    Delete,
    /// Copy one of the agent's files to a new name.
    Copy,
    /// Move one of the agent's files to a new name.
    Move,
}

/// The issue's mix, in percent: 30% write, 35% read, 15% list, 10% search,
/// 5% delete, 3% copy, 2% move.
pub const MIX: [(MixKind, f64); 7] = [
    (MixKind::Write, 30.0),
    (MixKind::Read, 35.0),
    (MixKind::List, 15.0),
    (MixKind::Search, 10.0),
    (MixKind::Delete, 5.0),
    (MixKind::Copy, 3.0),
    (MixKind::Move, 2.0),
];

/// SEARCH SHARE: whether the plan draws `Search` steps. When false, the other
/// six shares are scaled up in proportion (30/90, 35/90, ...), on both sides,
/// so the two stores still run the same workload.
pub const MIX_WITH_SEARCH: bool = true;

/// The words `MixOp::Search` queries, one per step in turn.
pub const SEARCH_WORDS: [&str; 4] = ["note", "todo", "kernel", "benchmark"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixKind {
    Write,
    Read,
    List,
    Search,
    Delete,
    Copy,
    Move,
}

/// The steps agent `agent` takes in repetition `rep`: the same on both sides.
pub fn mix_plan(agent: usize, rep: usize) -> Vec<MixOp> {
    let mut rng = Rng::new(((rep as u64) << 32) ^ agent as u64 ^ 0x5EED);
    let shares: Vec<(MixKind, f64)> = MIX
        .iter()
        .copied()
        .filter(|(k, _)| MIX_WITH_SEARCH || *k != MixKind::Search)
        .collect();
    let total: f64 = shares.iter().map(|(_, w)| w).sum();
    (0..OPS_PER_AGENT)
        .map(|_| {
            let mut x = rng.unit() * total;
            let mut kind = shares[shares.len() - 1].0;
            for (k, w) in &shares {
                if x < *w {
                    kind = *k;
                    break;
                }
                x -= w;
            }
            match kind {
                MixKind::Write => MixOp::Write((1 << 10) + rng.below((63 << 10) + 1)),
                MixKind::Read => MixOp::Read,
                MixKind::List => MixOp::List,
                MixKind::Search => MixOp::Search,
                MixKind::Delete => MixOp::Delete,
                MixKind::Copy => MixOp::Copy,
                MixKind::Move => MixOp::Move,
            }
        })
        .collect()
}

/// Which of the agent's files a Read/Delete/Copy/Move step picks: drawn from
/// its own generator so both sides pick the same index.
pub struct Picker(Rng);

impl Picker {
    pub fn new(agent: usize, rep: usize) -> Self {
        Picker(Rng::new(((rep as u64) << 32) ^ agent as u64 ^ 0xF11E))
    }

    pub fn pick(&mut self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.0.below(len))
    }
}
