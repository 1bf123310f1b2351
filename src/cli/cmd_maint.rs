//! Store maintenance: `avfs gc`, `avfs prune` and `avfs compact`.

use super::args_ops::{GcArgs, PruneArgs};
use super::error::{CliError, CliResult};
use super::human;
use super::wire_docs::{CompactDoc, GcDoc, GcFreed, PruneDoc, PrunedVault, to_json};
use super::{Ctx, Output};
use crate::mount::Registry;
use crate::vault::gc::GcOptions;
use crate::vault::prune::PruneRules;

/// `avfs gc [--dry-run]`
pub fn gc(ctx: &mut Ctx, args: GcArgs) -> CliResult<Output> {
    // A live mount may hold chunks it stored for an open file but has not yet
    // attached to a content: keep recent orphan chunks for a later run then.
    let dir = ctx.store_dir()?;
    let mounted = Registry::new(&dir).records().iter().any(Registry::is_live);
    let reserve = ctx.reserve()?;
    let store = ctx.store()?;
    let report = super::freeing(&reserve, || {
        store.gc(GcOptions {
            dry_run: args.dry_run,
            spare_recent_chunks: mounted,
        })
    })?;
    let verb = if args.dry_run { "would free" } else { "freed" };
    let text = format!(
        "{verb} {} in {} chunks and {} contents; {} unreachable layers ({} rows){}",
        human::size(report.bytes),
        report.chunks,
        report.contents,
        report.layers,
        report.rows,
        if mounted {
            "\nrecent orphan chunks kept: a mount is live"
        } else {
            ""
        }
    );
    Ok(Output::doc(
        to_json(&GcDoc {
            dry_run: report.dry_run,
            spared_recent_chunks: mounted,
            freed: GcFreed {
                layers: report.layers,
                rows: report.rows,
                contents: report.contents,
                chunks: report.chunks,
                bytes: report.bytes,
            },
        }),
        text,
    ))
}

/// `avfs prune`
pub fn prune(ctx: &mut Ctx, args: PruneArgs) -> CliResult<Output> {
    let age = |raw: &Option<String>| {
        raw.as_deref()
            .map(super::cmd_audit::parse_since)
            .transpose()
    };
    let rules = PruneRules {
        keep_checkpoints: args.keep_checkpoints,
        checkpoints_before_ns: age(&args.checkpoints_older_than)?,
        named: args.named,
        keep_versions: args.keep_versions,
        versions_before_ns: age(&args.versions_older_than)?,
    };
    if args.keep_checkpoints.is_none()
        && args.checkpoints_older_than.is_none()
        && args.keep_versions.is_none()
        && args.versions_older_than.is_none()
    {
        return Err(CliError::invalid_argument("prune needs a rule: nothing to prune by")
            .hint("pass --keep-checkpoints N, --checkpoints-older-than AGE, --keep-versions N or --versions-older-than AGE"));
    }
    if args.keep_versions == Some(0) {
        return Err(CliError::invalid_argument(
            "--keep-versions must be at least 1 (the current version always stays)",
        ));
    }
    let vaults = if args.all_vaults {
        ctx.store()?.vaults()?.into_iter().map(|v| v.name).collect()
    } else {
        vec![ctx.vault()?]
    };
    let mut docs = Vec::new();
    let mut lines = Vec::new();
    let reserve = ctx.reserve()?;
    for vault in vaults {
        let store = ctx.store()?;
        let report = super::freeing(&reserve, || store.prune(&vault, &rules, args.dry_run))?;
        lines.push(format!(
            "{vault}: {} {} checkpoints{}, {} versions",
            if args.dry_run {
                "would remove"
            } else {
                "removed"
            },
            report.checkpoints.len(),
            if report.checkpoints.is_empty() {
                String::new()
            } else {
                format!(" ({})", report.checkpoints.join(", "))
            },
            report.versions
        ));
        docs.push(PrunedVault {
            vault: vault.clone(),
            checkpoints: report.checkpoints,
            versions: report.versions,
        });
    }
    if !args.dry_run {
        lines.push("run `avfs gc` to free the space they held".into());
    }
    Ok(Output::doc(
        to_json(&PruneDoc {
            dry_run: args.dry_run,
            pruned: docs,
        }),
        lines.join("\n"),
    ))
}

/// `avfs compact`
pub fn compact(ctx: &mut Ctx) -> CliResult<Output> {
    let report = ctx.store()?.compact()?;
    Ok(Output::doc(
        to_json(&CompactDoc {
            layers_merged: report.layers_merged,
            db_bytes_before: report.db_bytes_before,
            db_bytes_after: report.db_bytes_after,
        }),
        format!(
            "merged {} layers; database {} -> {}",
            report.layers_merged,
            human::size(report.db_bytes_before),
            human::size(report.db_bytes_after)
        ),
    ))
}
