//! `avfs stats`: each vault's files, directories and bytes (only the selected
//! one with `--vault` or `$AVFS_VAULT`), and what the store spends on them:
//! the vaults' current content stored once, what only history keeps, and what
//! deduplication saves.

use super::error::CliResult;
use super::human;
use super::wire_docs::{StatsDoc, WireStoreStats, WireVaultStats, to_json};
use super::{Ctx, Output, env};

/// Runs `stats`.
pub fn run(ctx: &mut Ctx) -> CliResult<Output> {
    // Only an explicit choice narrows the table: the current vault alone would
    // hide the others from a plain `avfs stats`.
    let explicit =
        ctx.vault_flag.is_some() || std::env::var(env::AVFS_VAULT).is_ok_and(|v| !v.is_empty());
    let only = if explicit { Some(ctx.vault()?) } else { None };
    let store = ctx.store()?;
    let mut per_vault = Vec::new();
    for info in store.vaults()? {
        let stats = store.vault_stats(&info.name)?;
        per_vault.push((info.name, stats));
    }
    let all: Vec<_> = per_vault.iter().map(|(_, s)| s.clone()).collect();
    let total = store.store_stats(&all)?;
    if let Some(name) = &only {
        per_vault.retain(|(n, _)| n == name);
    }
    let vaults: Vec<_> = per_vault
        .iter()
        .map(|(name, s)| WireVaultStats {
            name: name.clone(),
            files: s.files,
            dirs: s.dirs,
            symlinks: s.symlinks,
            logical_bytes: s.logical_bytes,
            chain_depth: s.chain_depth,
            checkpoints: s.checkpoints,
        })
        .collect();
    // Rounded so the document does not carry float noise.
    let ratio = (total.dedup_ratio() * 1000.0).round() / 1000.0;
    let history_bytes = total.stored_bytes.saturating_sub(total.head_bytes);
    let saved = total.logical_bytes.saturating_sub(total.head_bytes);
    let store_doc = WireStoreStats {
        vaults: total.vaults,
        layers: total.layers,
        checkpoints: total.checkpoints,
        contents: total.contents,
        chunks: total.chunks,
        logical_bytes: total.logical_bytes,
        stored_bytes: total.stored_bytes,
        head_bytes: total.head_bytes,
        history_bytes,
        dedup_saved_bytes: saved,
        dedup_ratio: ratio,
        db_bytes: total.db_bytes,
        segment_bytes: total.segment_bytes,
    };
    let mut lines = vec![format!(
        "{:<20} {:>8} {:>8} {:>8} {:>12} {:>6} {:>6}",
        "vault", "files", "dirs", "links", "bytes", "depth", "ckpts"
    )];
    for (name, s) in &per_vault {
        lines.push(format!(
            "{name:<20} {:>8} {:>8} {:>8} {:>12} {:>6} {:>6}",
            s.files,
            s.dirs,
            s.symlinks,
            human::size(s.logical_bytes),
            s.chain_depth,
            s.checkpoints
        ));
    }
    let row = |label: &str, bytes: u64, note: &str| {
        format!("  {label:<22} {:>12}  {note}", human::size(bytes))
    };
    lines.push(format!(
        "\nstore: {} vaults, {} layers, {} checkpoints, {} contents in {} chunks",
        total.vaults, total.layers, total.checkpoints, total.contents, total.chunks,
    ));
    lines.push(row(
        "files in all vaults",
        total.logical_bytes,
        "every current file's size added up",
    ));
    lines.push(row(
        "stored once",
        total.head_bytes,
        "those files' content, each identical content once",
    ));
    lines.push(row(
        "saved by deduplication",
        saved,
        "identical content shared across files and vaults",
    ));
    lines.push(row(
        "kept only for history",
        history_bytes,
        "content only checkpoints and versions reach (or nothing, until gc)",
    ));
    lines.push(row(
        "database file",
        total.db_bytes,
        "pages on disk, WAL not included",
    ));
    lines.push(row(
        "segment files",
        total.segment_bytes,
        "large chunks' bytes, beside the database",
    ));
    Ok(Output::doc(
        to_json(&StatsDoc {
            vaults,
            store: store_doc,
        }),
        lines.join("\n"),
    ))
}
