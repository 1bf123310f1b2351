//! `avfs vault merge SOURCE [--into TARGET] [--dry-run] [--on-conflict …]`:
//! one `Merge` document (docs/json.md, "Merges"); a conflict left unresolved
//! is the error `merge_conflict` (exit status 4) carrying that document.

use super::args::MergeArgs;
use super::error::{CliError, CliResult, ExitStatus};
use super::wire::{WireChange, WireCheckpoint, WireConflict, WireSummary};
use super::wire_docs::{MergeDoc, to_json};
use super::{Ctx, Output, human};
use crate::vault::{MergeCheckpoint, MergeOutcome, MergeRequest, MergeStatus, OnConflict};

/// Parses an `--on-conflict` value (clap has checked it is one of the three).
pub fn on_conflict(value: &str) -> OnConflict {
    match value {
        "ours" => OnConflict::Ours,
        "theirs" => OnConflict::Theirs,
        _ => OnConflict::Keep,
    }
}

/// Runs `vault merge`.
pub fn run(ctx: &mut Ctx, args: MergeArgs) -> CliResult<Output> {
    let target = match args.into {
        Some(t) => t,
        None => match ctx.store()?.vault_info(&args.source)?.forked_from {
            Some(parent) => parent,
            None => ctx.vault()?,
        },
    };
    let req = MergeRequest {
        source: args.source,
        target,
        on_conflict: on_conflict(&args.on_conflict),
        dry_run: args.dry_run,
        checkpoint: MergeCheckpoint::PreMerge,
        delete_source: false,
        journal_op: "vault.merge".into(),
    };
    let outcome = ctx.store()?.merge(&req)?;
    let doc = document(&req, &outcome);
    let text = human_text(&req, &outcome, ctx.color());
    if outcome.status == MergeStatus::Conflict {
        let paths: Vec<String> = outcome
            .conflicts
            .iter()
            .map(|c| format!("{} ({})", c.path, c.kind.as_str()))
            .collect();
        return Err(CliError::new(
            "merge_conflict",
            ExitStatus::Conflict,
            format!(
                "merging {} into {}: {} conflicting path(s), nothing was merged: {}",
                req.source,
                req.target,
                outcome.conflicts.len(),
                paths.join(", ")
            ),
        )
        .hint("resolve them in either vault and merge again, or pass --on-conflict ours|theirs")
        .with_merge(doc));
    }
    Ok(Output::doc(to_json(&doc), text))
}

/// The `Merge` document.
fn document(req: &MergeRequest, o: &MergeOutcome) -> MergeDoc {
    MergeDoc {
        source: req.source.clone(),
        target: req.target.clone(),
        status: o.status.as_str(),
        dry_run: req.dry_run,
        on_conflict: req.on_conflict.as_str(),
        checkpoint: o.checkpoint.as_ref().map(WireCheckpoint::from),
        changes: o.applied.iter().map(WireChange::from).collect(),
        summary: WireSummary::of(&o.applied),
        conflicts: o.conflicts.iter().map(WireConflict::from).collect(),
    }
}

fn human_text(req: &MergeRequest, o: &MergeOutcome, color: bool) -> String {
    let verb = if req.dry_run { "would merge" } else { "merged" };
    let mut text = format!(
        "{verb} {} into {}: {} ({} changes",
        req.source,
        req.target,
        o.status.as_str().replace('_', " "),
        o.applied.len()
    );
    if !o.conflicts.is_empty() {
        text.push_str(&format!(
            ", {} conflicts taken from {}",
            o.conflicts.len(),
            req.on_conflict.as_str()
        ));
    }
    text.push(')');
    if let Some(c) = &o.checkpoint {
        text.push_str(&format!("; checkpoint {}", c.name));
    }
    text.push('\n');
    for c in &o.applied {
        let (tag, code) = human::change_tag(c.change);
        text.push_str(&human::paint(color, code, &format!("{tag}  {}", c.path)));
        text.push('\n');
    }
    for c in &o.conflicts {
        text.push_str(&format!("conflict ({})  {}\n", c.kind.as_str(), c.path));
    }
    text
}
