//! `avfs vault create|list|info|use|delete|fork`.

use super::args::VaultCommand;
use super::error::CliResult;
use super::human;
use super::wire::WireVault;
use super::wire_docs::{VaultDeleteDoc, VaultDoc, VaultListDoc, VaultUseDoc, to_json};
use super::{Ctx, Output};
use crate::vault::VaultInfo;

/// Runs one `vault` subcommand.
pub fn run(ctx: &mut Ctx, cmd: VaultCommand) -> CliResult<Output> {
    match cmd {
        VaultCommand::Create { name, use_it } => {
            let info = ctx.store()?.create_vault(&name)?;
            let made_current = select_if(ctx, &name, use_it)?;
            let note = if made_current {
                " (now the current vault)"
            } else {
                ""
            };
            Ok(described(
                ctx,
                &info,
                format!("created vault {name}{note}"),
            )?)
        }
        VaultCommand::List {
            remote: Some(remote),
        } => super::cmd_remote::list_vaults(ctx, &remote),
        VaultCommand::List { remote: None } => {
            let vaults = ctx.store()?.vaults()?;
            let current = ctx.current_vault()?;
            let wire: Vec<_> = vaults
                .iter()
                .map(|v| WireVault::new(v, current.as_deref()))
                .collect();
            let mut text = String::new();
            for v in &vaults {
                let mark = if current.as_deref() == Some(v.name.as_str()) {
                    "*"
                } else {
                    " "
                };
                let fork = v
                    .forked_from
                    .as_deref()
                    .map(|f| format!("  forked from {f}"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "{mark} {:<24} {:>4} checkpoints  created {}{fork}\n",
                    v.name,
                    v.checkpoints,
                    human::short_time(v.created_ns)
                ));
            }
            if vaults.is_empty() {
                text = "no vaults yet: create one with `avfs vault create NAME`".into();
            }
            Ok(Output::doc(
                to_json(&VaultListDoc {
                    vaults: wire,
                    current,
                }),
                text,
            ))
        }
        VaultCommand::Info { name } => {
            let name = match name {
                Some(n) => n,
                None => ctx.vault()?,
            };
            let info = ctx.store()?.vault_info(&name)?;
            let text = format!(
                "vault:        {}\ncreated:      {}\nforked from:  {}\ncheckpoints:  {}\nlayer depth:  {}",
                info.name,
                super::wire::timestamp(info.created_ns),
                info.forked_from.as_deref().unwrap_or("-"),
                info.checkpoints,
                info.depth
            );
            described(ctx, &info, text)
        }
        VaultCommand::Use { name } => {
            ctx.store()?.vault_info(&name)?;
            ctx.set_current_vault(Some(&name))?;
            Ok(Output::doc(
                to_json(&VaultUseDoc {
                    current: name.clone(),
                }),
                format!("current vault: {name}"),
            ))
        }
        VaultCommand::Delete { name } => {
            let reserve = ctx.reserve()?;
            let store = ctx.store()?;
            super::freeing(&reserve, || store.delete_vault(&name))?;
            if ctx.current_vault()?.as_deref() == Some(name.as_str()) {
                ctx.set_current_vault(None)?;
            }
            Ok(Output::doc(
                to_json(&VaultDeleteDoc {
                    deleted: name.clone(),
                }),
                format!("deleted vault {name}"),
            ))
        }
        VaultCommand::Merge(args) => super::cmd_merge::run(ctx, args),
        VaultCommand::Fork {
            source,
            name,
            use_it,
        } => {
            let info = ctx.store()?.fork_vault(&source, &name)?;
            let made_current = select_if(ctx, &name, use_it)?;
            let note = if made_current {
                " (now the current vault)"
            } else {
                ""
            };
            described(ctx, &info, format!("forked {source} into {name}{note}"))
        }
    }
}

/// Makes `name` current when asked, or when no (existing) vault is current.
fn select_if(ctx: &mut Ctx, name: &str, asked: bool) -> CliResult<bool> {
    let current = ctx.current_vault()?;
    let dangling = match &current {
        Some(c) => ctx.store()?.vault_info(c).is_err(),
        None => true,
    };
    if asked || dangling {
        ctx.set_current_vault(Some(name))?;
        return Ok(true);
    }
    Ok(false)
}

fn described(ctx: &mut Ctx, info: &VaultInfo, text: String) -> CliResult<Output> {
    let current = ctx.current_vault()?;
    Ok(Output::doc(
        to_json(&VaultDoc {
            vault: WireVault::new(info, current.as_deref()),
        }),
        text,
    ))
}
