//! `avfs remote add|list|remove|check`, `push`, `pull` and `clone`.

use super::args_remote::{CloneArgs, PullArgs, PushArgs, RemoteCommand};
use super::error::{CliError, CliResult, ExitStatus};
use super::wire_docs::{ErrorBody, ErrorDoc, to_json};
use super::wire_remote::{
    CloneDoc, GcDeleted, GcReachable, PullDoc, PushDoc, RemoteCheckDoc, RemoteDoc, RemoteGcDoc,
    RemoteListDoc, RemoteRemoveDoc, RemoteVault, RemoteVaultListDoc, RunPush, RunPushed, WireClone,
    WireMoved, WirePull, WirePush, WireRemote,
};
use super::{Ctx, Output};
use crate::remote::{Client, PushOptions, RemoteError, RemoteSpec, check, spec};
use crate::vault::remotes::RemoteRow;

/// The remote used when none is named and the vault tracks none.
const DEFAULT_REMOTE: &str = "origin";

/// A configured remote's spec and a client for it.
fn connect(ctx: &mut Ctx, name: &str) -> CliResult<(RemoteSpec, Client)> {
    let row = ctx.store()?.remote(name)?;
    let spec = RemoteSpec::from_row(&row)?;
    let credentials = super::credentials::lookup()
        .ok_or_else(|| CliError::from(RemoteError::Auth("no S3 credentials found".into())))?;
    let client = Client::new(&spec, &credentials)?;
    Ok((spec, client))
}

/// Runs one `remote` subcommand.
pub fn run(ctx: &mut Ctx, cmd: RemoteCommand) -> CliResult<Output> {
    match cmd {
        RemoteCommand::Add {
            name,
            url,
            endpoint,
            region,
            unsafe_single_writer,
        } => {
            spec::parse_url(&url)?;
            if let Some(e) = &endpoint {
                spec::check_endpoint(e)?;
            }
            let row = RemoteRow {
                name: name.clone(),
                url,
                endpoint,
                region: region.or_else(super::credentials::default_region),
                unsafe_single_writer,
                conditional_writes: None,
                created_ns: crate::vault::now_ns(),
            };
            ctx.store()?.add_remote(&row)?;
            let mut text = format!("added remote {name} ({})", row.url);
            if unsafe_single_writer {
                text.push_str("\nwarning: unsafe single-writer mode: pushes do not use conditional writes; never push one vault from two machines at once");
            }
            Ok(Output::doc(
                to_json(&RemoteDoc {
                    remote: WireRemote::from(&row),
                }),
                text,
            ))
        }
        RemoteCommand::List => {
            let rows = ctx.store()?.remotes()?;
            let text = if rows.is_empty() {
                "no remotes: add one with `avfs remote add origin s3://BUCKET/PREFIX`".to_string()
            } else {
                rows.iter()
                    .map(|r| {
                        let endpoint = r.endpoint.as_deref().unwrap_or("AWS");
                        format!("{:<16} {}  ({endpoint})", r.name, r.url)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let remotes = rows.iter().map(WireRemote::from).collect();
            Ok(Output::doc(to_json(&RemoteListDoc { remotes }), text))
        }
        RemoteCommand::Remove { name } => {
            ctx.store()?.remove_remote(&name)?;
            Ok(Output::doc(
                to_json(&RemoteRemoveDoc {
                    removed: name.clone(),
                }),
                format!("removed remote {name}"),
            ))
        }
        RemoteCommand::Gc {
            name,
            grace,
            dry_run,
        } => {
            let (spec, client) = connect(ctx, &name)?;
            let r = crate::remote::gc::gc(&client, grace.0.as_secs() as i64, dry_run)?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            let text = format!(
                "{name} ({}): {} vaults reach {} layers and {} chunks; {verb} {} layers and {} chunks ({} bytes); kept {} younger than the grace period",
                spec.display(),
                r.vaults,
                r.reachable_layers,
                r.reachable_chunks,
                r.deleted_layers,
                r.deleted_chunks,
                r.deleted_bytes,
                r.kept_young
            );
            if !dry_run {
                ctx.store()?.journal(
                    None,
                    crate::vault::Op::new(
                        "remote.gc",
                        format!(
                            "{name}: {} layers, {} chunks, {} bytes",
                            r.deleted_layers, r.deleted_chunks, r.deleted_bytes
                        ),
                    ),
                )?;
            }
            Ok(Output::doc(
                to_json(&RemoteGcDoc {
                    remote: name,
                    dry_run,
                    grace_s: grace.0.as_secs(),
                    vaults: r.vaults,
                    reachable: GcReachable {
                        layers: r.reachable_layers,
                        chunks: r.reachable_chunks,
                    },
                    deleted: GcDeleted {
                        layers: r.deleted_layers,
                        chunks: r.deleted_chunks,
                        bytes: r.deleted_bytes,
                    },
                    kept_young: r.kept_young,
                    requests: r.requests,
                }),
                text,
            ))
        }
        RemoteCommand::Check { name } => {
            let (spec, client) = connect(ctx, &name)?;
            let report = check::check(&client)?;
            ctx.store()?
                .set_remote_conditional_writes(&name, report.conditional_writes)?;
            let mut text = format!(
                "{name} ({}): reachable, credentials accepted\nconditional writes: {}\nvaults: {}",
                spec.display(),
                if report.conditional_writes {
                    "yes"
                } else {
                    "NO (pushes refuse unless the remote is in --unsafe-single-writer mode)"
                },
                if report.vaults.is_empty() {
                    "none".to_string()
                } else {
                    report.vaults.join(", ")
                }
            );
            if spec.unsafe_single_writer {
                text.push_str("\nmode: unsafe single writer");
            }
            Ok(Output::doc(
                to_json(&RemoteCheckDoc {
                    remote: name,
                    url: spec.display(),
                    reachable: true,
                    credentials: true,
                    conditional_writes: report.conditional_writes,
                    unsafe_single_writer: spec.unsafe_single_writer,
                    vaults: report.vaults,
                    requests: report.requests,
                }),
                text,
            ))
        }
    }
}

/// The remote and remote vault name for a vault: flags, else its upstream,
/// else origin and its own name.
fn target(
    ctx: &mut Ctx,
    vault: &str,
    remote: Option<String>,
    remote_vault: Option<String>,
) -> CliResult<(String, String)> {
    let upstream = ctx.store()?.upstream(vault)?;
    let remote = remote
        .or_else(|| upstream.as_ref().map(|u| u.0.clone()))
        .unwrap_or_else(|| DEFAULT_REMOTE.to_string());
    let same_remote = upstream.as_ref().is_some_and(|u| u.0 == remote);
    let remote_vault = remote_vault
        .or_else(|| upstream.filter(|_| same_remote).map(|u| u.1))
        .unwrap_or_else(|| vault.to_string());
    crate::vault::validate_label(&remote_vault)?;
    Ok((remote, remote_vault))
}

/// `avfs push`
pub fn push(ctx: &mut Ctx, args: PushArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let (remote, remote_vault) = target(ctx, &vault, args.remote, args.remote_vault)?;
    let (spec, client) = connect(ctx, &remote)?;
    let opts = PushOptions {
        checkpoints: args.checkpoints,
        force: args.force,
    };
    let report = crate::remote::push(ctx.store()?, &client, &spec, &vault, &remote_vault, opts)?;
    let mut text = if report.up_to_date {
        format!(
            "{vault}: {remote}/{remote_vault} is up to date (generation {})",
            report.generation
        )
    } else {
        format!(
            "pushed {vault} to {remote}/{remote_vault}: generation {}, {} layers, {} chunks, {} bytes uploaded",
            report.generation, report.moved.layers, report.moved.chunks, report.moved.bytes
        )
    };
    if let Some(kept) = &report.kept_as {
        text.push_str(&format!(
            "\nforced: the replaced remote head is kept as checkpoint {kept}"
        ));
    }
    if !report.checkpoints_skipped.is_empty() {
        text.push_str(&format!(
            "\nnot pushed (the remote has other states under these names): {}",
            report.checkpoints_skipped.join(", ")
        ));
    }
    Ok(Output::doc(
        to_json(&PushDoc {
            push: WirePush {
                vault,
                remote,
                remote_vault,
                generation: report.generation,
                up_to_date: report.up_to_date,
                forced: report.forced,
                kept_as: report.kept_as,
                uploaded: WireMoved::from(&report.moved),
                checkpoints_pushed: report.checkpoints_pushed,
                checkpoints_skipped: report.checkpoints_skipped,
                requests: report.requests,
            },
        }),
        text,
    ))
}

/// `avfs vault list --remote NAME`: the vaults on a remote, from their heads.
pub fn list_vaults(ctx: &mut Ctx, remote: &str) -> CliResult<Output> {
    let (_, client) = connect(ctx, remote)?;
    let names = check::list_vaults(&client)?;
    let mut vaults = Vec::new();
    let mut text = String::new();
    for name in &names {
        let Some((head, _)) = crate::remote::transfer::read_head(&client, name)? else {
            continue;
        };
        let checkpoints: Vec<&String> = head.checkpoints.keys().collect();
        text.push_str(&format!(
            "{:<24} generation {:>4}  {:>4} checkpoints  pushed {}\n",
            name,
            head.generation,
            checkpoints.len(),
            super::human::short_time(head.pushed_ns)
        ));
        vaults.push(RemoteVault {
            name: name.clone(),
            generation: head.generation,
            checkpoints: checkpoints.into_iter().cloned().collect(),
            pushed: super::wire::timestamp(head.pushed_ns),
        });
    }
    if vaults.is_empty() {
        text = format!("{remote} has no vaults yet: `avfs push` puts one there");
    }
    Ok(Output::doc(
        to_json(&RemoteVaultListDoc {
            remote: remote.to_string(),
            vaults,
        }),
        text,
    ))
}

/// Pushes a vault (with its checkpoints) after a proxy run; the result, or
/// the error, as the run document's `push` field. A failed push never turns
/// into the run's own failure: the command's exit status stays its own.
pub fn push_after_run(ctx: &mut Ctx, vault: &str, remote: Option<String>) -> (RunPush, String) {
    let args = PushArgs {
        remote,
        remote_vault: None,
        checkpoints: true,
        force: false,
    };
    let pushed = (|| -> CliResult<(String, RunPush)> {
        let (remote, remote_vault) = target(ctx, vault, args.remote, args.remote_vault)?;
        let (spec, client) = connect(ctx, &remote)?;
        let opts = PushOptions {
            checkpoints: true,
            force: false,
        };
        let r = crate::remote::push(ctx.store()?, &client, &spec, vault, &remote_vault, opts)?;
        Ok((
            format!(
                "pushed {vault} to {remote}/{remote_vault}: generation {}",
                r.generation
            ),
            RunPush::Pushed(RunPushed {
                remote,
                remote_vault,
                generation: r.generation,
                up_to_date: r.up_to_date,
                uploaded: WireMoved::from(&r.moved),
                checkpoints_pushed: r.checkpoints_pushed,
            }),
        ))
    })();
    match pushed {
        Ok((text, doc)) => (doc, text),
        Err(e) => (
            RunPush::Failed(ErrorDoc {
                error: ErrorBody {
                    code: e.code.to_string(),
                    message: e.message.clone(),
                    exit_status: e.status as u8,
                    hint: None,
                    merge: None,
                },
            }),
            format!("push of {vault} failed ({}): {}", e.code, e.message),
        ),
    }
}

/// `avfs pull`
pub fn pull(ctx: &mut Ctx, args: PullArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let (remote, remote_vault) = target(ctx, &vault, args.remote, args.remote_vault)?;
    let (spec, client) = connect(ctx, &remote)?;
    let report = crate::remote::pull(ctx.store()?, &client, &spec, &vault, &remote_vault)?;
    let text = match report.status {
        "up_to_date" => format!("{vault} is up to date with {remote}/{remote_vault}"),
        "ahead" => format!(
            "{vault} already contains {remote}/{remote_vault} (generation {}); push to publish its changes",
            report.generation
        ),
        _ => format!(
            "pulled {remote}/{remote_vault} into {vault}: generation {}, {} layers, {} chunks, {} bytes downloaded",
            report.generation, report.moved.layers, report.moved.chunks, report.moved.bytes
        ),
    };
    Ok(Output::doc(
        to_json(&PullDoc {
            pull: WirePull {
                vault,
                remote,
                remote_vault,
                generation: report.generation,
                status: report.status,
                downloaded: WireMoved::from(&report.moved),
                checkpoints_added: report.checkpoints_added,
                requests: report.requests,
            },
        }),
        text,
    ))
}

/// `avfs clone`
pub fn clone(ctx: &mut Ctx, args: CloneArgs) -> CliResult<Output> {
    let local = args
        .local_name
        .clone()
        .unwrap_or_else(|| args.remote_vault.clone());
    crate::vault::validate_label(&args.remote_vault)?;
    let (spec, client) = connect(ctx, &args.remote)?;
    let report = crate::remote::clone(
        ctx.store()?,
        &client,
        &spec,
        &args.remote_vault,
        &local,
        args.lazy,
    )?;
    let current = ctx.current_vault()?;
    let dangling = match &current {
        Some(c) => ctx.store()?.vault_info(c).is_err(),
        None => true,
    };
    if args.use_it || dangling {
        ctx.set_current_vault(Some(&local))?;
    }
    let text = format!(
        "cloned {}/{} into {local}: generation {}, {} layers, {} chunks, {} bytes downloaded{}",
        args.remote,
        args.remote_vault,
        report.generation,
        report.moved.layers,
        report.moved.chunks,
        report.moved.bytes,
        if args.lazy {
            " (lazy: content is fetched on first read)"
        } else {
            ""
        }
    );
    Ok(Output::doc(
        to_json(&CloneDoc {
            clone: WireClone {
                vault: local,
                remote: args.remote,
                remote_vault: args.remote_vault,
                generation: report.generation,
                lazy: report.lazy,
                downloaded: WireMoved::from(&report.moved),
                checkpoints: report.checkpoints_added,
                requests: report.requests,
            },
        }),
        text,
    ))
}

impl From<RemoteError> for CliError {
    fn from(err: RemoteError) -> Self {
        use ExitStatus::*;
        let message = err.to_string();
        let (code, status, hint) = match &err {
            RemoteError::Vault(_) => {
                let RemoteError::Vault(inner) = err else {
                    unreachable!()
                };
                return inner.into();
            }
            RemoteError::Unreachable(_) => (
                "remote_unreachable",
                Storage,
                Some("check the endpoint and that the server is up (`avfs remote check NAME`)"),
            ),
            RemoteError::Auth(_) => (
                "remote_auth",
                Storage,
                Some(
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials)",
                ),
            ),
            RemoteError::NoBucket(_) => (
                "remote_bucket_not_found",
                NotFound,
                Some("create the bucket first; avfs never creates buckets"),
            ),
            RemoteError::InvalidUrl(_) => ("invalid_remote", Usage, None),
            RemoteError::Diverged(_) => (
                "remote_diverged",
                Conflict,
                Some(
                    "nothing was changed; `avfs pull` brings the remote head if this vault has no unpushed changes, or `avfs push --force` replaces it (keeping it on the remote as a checkpoint)",
                ),
            ),
            RemoteError::Corrupt(_) => (
                "remote_corrupt",
                Storage,
                Some("nothing corrupt entered the store; the object on the remote is damaged"),
            ),
            RemoteError::VaultNotFound { .. } => (
                "remote_vault_not_found",
                NotFound,
                Some("`avfs remote check NAME` lists the remote's vaults"),
            ),
            RemoteError::NoConditionalWrites(_) => (
                "remote_no_conditional_writes",
                Conflict,
                Some(
                    "use a server with conditional PutObject (AWS S3, Ceph RGW, MinIO, R2), or re-add the remote with --unsafe-single-writer if only one machine ever pushes",
                ),
            ),
        };
        let out = CliError::new(code, status, message);
        match hint {
            Some(h) => out.hint(h),
            None => out,
        }
    }
}
