//! Clap definitions of the history, search and maintenance commands (issue 5),
//! kept apart from `args.rs` so each family's flags stay in one place.

use clap::{Args, Subcommand};
use std::ffi::OsString;

/// `avfs audit [--since TIME] [--limit N]` / `avfs audit verify`
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    /// `verify`: check the hash chain instead of listing.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only entries at or after this time: RFC 3339 (`2026-11-21T15:00:00Z`) or an age (`30s`, `10m`, `2h`, `7d`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show at most this many entries (the newest ones).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: u64,
}

/// `avfs audit ...`
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check every entry against its hash and its link to the previous one; exit status 5 if broken.
    Verify,
}

/// `avfs grep REGEX [PATH] [-i] [-n] [-l]`
#[derive(Args, Debug)]
pub struct GrepArgs {
    /// Regular expression (Rust `regex` syntax), matched against each line.
    pub pattern: String,
    /// File or directory to search [default: /].
    pub path: Option<OsString>,
    /// Match case-insensitively.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Show line numbers (JSON always has them).
    #[arg(short = 'n', long)]
    pub line_number: bool,
    /// List only the files that match.
    #[arg(short = 'l', long)]
    pub files_with_matches: bool,
}

/// `--type` of `avfs find`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindType {
    /// Regular files.
    F,
    /// Directories.
    D,
    /// Symbolic links.
    L,
}

/// `avfs find [PATH] [--name GLOB] [--type f|d|l] [--min-size N] [--max-size N] [--max-depth N]`
#[derive(Args, Debug)]
pub struct FindArgs {
    /// Where to start [default: /].
    pub path: Option<OsString>,
    /// Keep entries whose name matches this glob (`*.rs`, `test_?.py`, `{a,b}*`).
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// Keep only files (f), directories (d) or symlinks (l).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<FindType>,
    /// Keep files of at least this size (bytes, or with K, M, G, KiB, MiB, GiB).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub min_size: Option<u64>,
    /// Keep files of at most this size.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_size: Option<u64>,
    /// Descend at most this many levels below PATH (0: PATH only).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
}

/// A byte count: an integer with an optional unit (`B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB`; powers of 1024).
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (n, unit) = raw.split_at(split);
    let shift = match unit {
        "" | "B" => 0,
        "K" | "KiB" | "k" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => {
            return Err(format!(
                "'{raw}' is not a size (write e.g. 4096, 10K, 5MiB, 1G)"
            ));
        }
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("'{raw}' is not a size (write e.g. 4096, 10K, 5MiB, 1G)"))
}

/// `avfs cat PATH [-v N]`
#[derive(Args, Debug)]
pub struct CatArgs {
    /// Path inside the vault.
    pub path: OsString,
    /// Print this version of the file instead of its current content (see `avfs log`).
    #[arg(short = 'v', long = "version", value_name = "N")]
    pub version: Option<u64>,
}

/// `avfs checkout PATH -v N`
#[derive(Args, Debug)]
pub struct CheckoutArgs {
    /// Path inside the vault (it may have been deleted since).
    pub path: OsString,
    /// The version to restore (see `avfs log PATH`).
    #[arg(short = 'v', long = "version", value_name = "N", required = true)]
    pub version: u64,
}

/// `avfs retention [--keep-versions N | --keep-all]`
#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// Keep the newest N versions of each file (older ones are dropped, and
    /// their space freed, as the file changes). The default is 20.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "keep_all")]
    pub keep_versions: Option<u64>,
    /// Keep every version (the store then grows with every change; see `avfs prune`).
    #[arg(long)]
    pub keep_all: bool,
}

/// `avfs search QUERY [--limit N]`
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// FTS5 query: words, "exact phrases", AND / OR / NOT, prefix*.
    pub query: String,
    /// Show at most this many results.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
}

/// `avfs quota ...`
#[derive(Subcommand, Debug)]
pub enum QuotaCommand {
    /// Set the vault's limits (flags not given keep their value); enforced on every write path.
    Set {
        /// Most bytes all files together may hold (K, M, G, KiB... accepted).
        #[arg(long, value_parser = parse_size, value_name = "SIZE")]
        max_bytes: Option<u64>,
        /// Most entries: files, directories and symlinks (`/` not counted).
        #[arg(long, value_name = "N")]
        max_files: Option<u64>,
        /// Largest size a single file may have.
        #[arg(long, value_parser = parse_size, value_name = "SIZE")]
        max_file_size: Option<u64>,
    },
    /// Show the vault's limits and usage.
    Show,
    /// Remove every limit.
    Clear,
}

/// `avfs gc [--dry-run]`
#[derive(Args, Debug)]
pub struct GcArgs {
    /// Report what would be freed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `avfs prune ...`
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Keep only the newest N automatic checkpoints (proxy runs, pre-restore) of each vault.
    #[arg(long, value_name = "N")]
    pub keep_checkpoints: Option<u64>,
    /// Delete automatic checkpoints older than AGE (`30m`, `12h`, `7d`) or an RFC 3339 time.
    #[arg(long, value_name = "AGE")]
    pub checkpoints_older_than: Option<String>,
    /// Apply the checkpoint rules to named checkpoints too.
    #[arg(long)]
    pub named: bool,
    /// Keep only the newest N versions of each file (the current one always stays).
    #[arg(long, value_name = "N")]
    pub keep_versions: Option<u64>,
    /// Delete versions older than AGE (the current one always stays).
    #[arg(long, value_name = "AGE")]
    pub versions_older_than: Option<String>,
    /// Prune every vault, not only the selected one.
    #[arg(long)]
    pub all_vaults: bool,
    /// Report what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}
