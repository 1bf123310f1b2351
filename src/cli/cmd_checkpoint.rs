//! `avfs checkpoint save|list|info|restore|delete`.

use super::args::CheckpointCommand;
use super::error::CliResult;
use super::human;
use super::wire::WireCheckpoint;
use super::wire_docs::{
    CheckpointDeleteDoc, CheckpointDoc, CheckpointListDoc, CheckpointRestoreDoc, to_json,
};
use super::{Ctx, Output};
use crate::vault::Checkpoint;

fn line(c: &Checkpoint) -> String {
    let auto = if c.auto { " (auto)" } else { "" };
    let message = c
        .message
        .as_deref()
        .map(|m| format!("  {m}"))
        .unwrap_or_default();
    format!(
        "{:<24} {}{auto}{message}",
        c.name,
        human::short_time(c.created_ns)
    )
}

/// Runs one `checkpoint` subcommand.
pub fn run(ctx: &mut Ctx, cmd: CheckpointCommand) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let reserve = ctx.reserve()?;
    let store = ctx.store()?;
    match cmd {
        CheckpointCommand::Save { name, message } => {
            let c = store.checkpoint_save(&vault, &name, message.as_deref())?;
            Ok(Output::doc(
                to_json(&CheckpointDoc {
                    checkpoint: WireCheckpoint::from(&c),
                }),
                format!("saved checkpoint {name} of {vault}"),
            ))
        }
        CheckpointCommand::List => {
            let all = store.checkpoints(&vault)?;
            let wire: Vec<_> = all.iter().map(WireCheckpoint::from).collect();
            let text = if all.is_empty() {
                format!("{vault} has no checkpoints")
            } else {
                all.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            Ok(Output::doc(
                to_json(&CheckpointListDoc {
                    vault: vault.clone(),
                    checkpoints: wire,
                }),
                text,
            ))
        }
        CheckpointCommand::Info { name } => {
            let c = store.checkpoint(&vault, &name)?;
            let text = format!(
                "checkpoint:  {}\nvault:       {}\ncreated:     {}\nautomatic:   {}\nmessage:     {}",
                c.name,
                c.vault,
                super::wire::timestamp(c.created_ns),
                if c.auto { "yes" } else { "no" },
                c.message.as_deref().unwrap_or("-")
            );
            Ok(Output::doc(
                to_json(&CheckpointDoc {
                    checkpoint: WireCheckpoint::from(&c),
                }),
                text,
            ))
        }
        CheckpointCommand::Restore { name } => {
            let r = store.checkpoint_restore(&vault, &name)?;
            let mut text = format!("restored {vault} to checkpoint {name}");
            if let Some(saved) = &r.saved_previous {
                text.push_str(&format!(
                    "\nthe state it replaced is kept as checkpoint {}",
                    saved.name
                ));
            }
            Ok(Output::doc(
                to_json(&CheckpointRestoreDoc {
                    checkpoint: WireCheckpoint::from(&r.checkpoint),
                    saved_previous: r.saved_previous.as_ref().map(WireCheckpoint::from),
                }),
                text,
            ))
        }
        CheckpointCommand::Delete { name } => {
            super::freeing(&reserve, || store.checkpoint_delete(&vault, &name))?;
            Ok(Output::doc(
                to_json(&CheckpointDeleteDoc {
                    deleted: name.clone(),
                    vault: vault.clone(),
                }),
                format!("deleted checkpoint {name} of {vault}"),
            ))
        }
    }
}
