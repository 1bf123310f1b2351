//! `avfs diff [--from REF] [--to REF] [PATH...]`.
//!
//! A REF is `CHECKPOINT` (of the selected vault), `vault:NAME` (that vault as
//! it is now) or `vault:NAME@CHECKPOINT`.

use super::args::DiffArgs;
use super::error::{CliError, CliResult, ExitStatus};
use super::human;
use super::wire::{WireChange, WireSummary};
use super::wire_docs::{DiffChange, DiffDoc, to_json};
use super::{Ctx, Output, slash, vault_path};
use crate::vault::StateRef;

/// Parses a state reference relative to the selected vault.
pub fn parse_ref(raw: &str, vault: &str) -> CliResult<StateRef> {
    let Some(rest) = raw.strip_prefix("vault:") else {
        return Ok(StateRef::Checkpoint {
            vault: vault.to_string(),
            name: raw.to_string(),
        });
    };
    let state = match rest.split_once('@') {
        Some((v, c)) => StateRef::Checkpoint {
            vault: v.to_string(),
            name: c.to_string(),
        },
        None => StateRef::Head {
            vault: rest.to_string(),
        },
    };
    match &state {
        StateRef::Head { vault } | StateRef::Checkpoint { vault, .. } if vault.is_empty() => Err(
            CliError::invalid_argument(format!("'{raw}' names no vault"))
                .hint("write vault:NAME or vault:NAME@CHECKPOINT"),
        ),
        _ => Ok(state),
    }
}

fn describe(state: &StateRef) -> String {
    match state {
        StateRef::Head { vault } => format!("vault:{vault}"),
        StateRef::Checkpoint { vault, name } => format!("vault:{vault}@{name}"),
    }
}

/// Runs `diff`.
pub fn run(ctx: &mut Ctx, args: DiffArgs) -> CliResult<Output> {
    if let Some(v1) = args.v1 {
        return super::cmd_history::diff_versions(ctx, &args.paths, v1, args.v2);
    }
    let vault = ctx.vault()?;
    let from = match &args.from {
        Some(raw) => parse_ref(raw, &vault)?,
        None => {
            let latest = ctx.store()?.checkpoints(&vault)?.pop().ok_or_else(|| {
                CliError::new(
                    "no_checkpoints",
                    ExitStatus::NotFound,
                    format!("{vault} has no checkpoint to diff from"),
                )
                .hint("save one with `avfs checkpoint save NAME`, or pass --from")
            })?;
            StateRef::Checkpoint {
                vault: vault.clone(),
                name: latest.name,
            }
        }
    };
    let to = match &args.to {
        Some(raw) => parse_ref(raw, &vault)?,
        None => StateRef::Head {
            vault: vault.clone(),
        },
    };
    let paths = args
        .paths
        .iter()
        .map(|p| vault_path(p))
        .collect::<CliResult<Vec<_>>>()?;
    // A slashed filter names a directory in both states (where it exists).
    for state in [&from, &to] {
        ctx.store()?.read(state, |t| {
            for (raw, path) in args.paths.iter().zip(&paths) {
                slash::check_existing(t, raw, path)?;
            }
            Ok(())
        })?;
    }
    let changes = ctx.store()?.diff(&from, &to, &paths)?;
    let summary = WireSummary::of(&changes);
    let color = ctx.color();
    let mut lines: Vec<String> = changes
        .iter()
        .map(|c| {
            let (tag, code) = human::change_tag(c.change);
            let side = c
                .after
                .as_ref()
                .or(c.before.as_ref())
                .expect("a change has a side");
            let note = match (&c.before, &c.after) {
                (Some(b), Some(a)) if b.kind != a.kind => {
                    format!("{} -> {}", b.kind.as_str(), a.kind.as_str())
                }
                (Some(b), Some(a))
                    if b.mode != a.mode && b.content == a.content && b.target == a.target =>
                {
                    format!("mode {:04o} -> {:04o}", b.mode, a.mode)
                }
                _ => format!("{}, {}", side.kind.as_str(), human::size(side.size)),
            };
            human::paint(color, code, &format!("{tag}  {}  ({note})", c.path))
        })
        .collect();
    lines.push(human::count_line(&summary));
    let mut wire: Vec<_> = changes
        .iter()
        .map(|c| DiffChange {
            change: WireChange::from(c),
            patch: None,
        })
        .collect();
    if args.patch {
        let patches = super::cmd_history::patches(ctx, &from, &changes)?;
        for ((doc, patch), line) in wire.iter_mut().zip(&patches).zip(lines.iter_mut()) {
            doc.patch = Some(patch.clone());
            if let Some(p) = patch.as_deref().filter(|p| !p.is_empty()) {
                line.push('\n');
                line.push_str(p.trim_end());
            }
        }
    }
    Ok(Output::doc(
        to_json(&DiffDoc {
            from: describe(&from),
            to: describe(&to),
            changes: wire,
            summary,
        }),
        lines.join("\n"),
    ))
}
