//! Clap definitions of the history, search and maintenance commands (issue 5),
//! kept apart from `args.rs` so each family's flags stay in one place.

use clap::{Args, Subcommand};

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
