//! `avfs quota set|show|clear`: per-vault limits, enforced by the store on
//! every write path (CLI, mount, proxy).

use super::args_ops::QuotaCommand;
use super::error::{CliError, CliResult};
use super::human;
use super::wire_docs::{QuotaDoc, WireQuota, WireUsage, to_json};
use super::{Ctx, Output};
use crate::vault::quota::{Limits, Usage};

/// Runs `quota`.
pub fn run(ctx: &mut Ctx, cmd: QuotaCommand) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let store = ctx.store()?;
    let (limits, usage) = match cmd {
        QuotaCommand::Show => store.quota(&vault)?,
        QuotaCommand::Clear => store.set_quota(&vault, Limits::default())?,
        QuotaCommand::Set {
            max_bytes,
            max_files,
            max_file_size,
        } => {
            if max_bytes.is_none() && max_files.is_none() && max_file_size.is_none() {
                return Err(CliError::invalid_argument("quota set needs a limit to set")
                    .hint("pass --max-bytes, --max-files or --max-file-size; `avfs quota clear` removes them"));
            }
            let (old, _) = store.quota(&vault)?;
            let limits = Limits {
                max_bytes: max_bytes.or(old.max_bytes),
                max_files: max_files.or(old.max_files),
                max_file_size: max_file_size.or(old.max_file_size),
            };
            store.set_quota(&vault, limits)?
        }
    };
    Ok(Output::doc(
        doc(&vault, &limits, &usage),
        text(&vault, &limits, &usage),
    ))
}

fn doc(vault: &str, l: &Limits, u: &Usage) -> serde_json::Value {
    to_json(&QuotaDoc {
        vault: vault.to_string(),
        quota: WireQuota {
            max_bytes: l.max_bytes,
            max_files: l.max_files,
            max_file_size: l.max_file_size,
        },
        usage: WireUsage {
            bytes: u.bytes,
            files: u.files,
        },
    })
}

fn text(vault: &str, l: &Limits, u: &Usage) -> String {
    let limit = |v: Option<u64>, size: bool| match v {
        None => "no limit".to_string(),
        Some(v) if size => human::size(v),
        Some(v) => v.to_string(),
    };
    format!(
        "vault {vault}\nbytes:          {} of {}\nfiles:          {} of {}\nmax file size:  {}",
        human::size(u.bytes),
        limit(l.max_bytes, true),
        u.files,
        limit(l.max_files, false),
        limit(l.max_file_size, true)
    )
}
