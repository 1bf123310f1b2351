//! `avfs stats`: every vault's files, directories and bytes, and what the
//! store spends on them after deduplication.

use super::error::CliResult;
use super::human;
use super::{Ctx, Output};
use serde_json::json;

/// Runs `stats`.
pub fn run(ctx: &mut Ctx) -> CliResult<Output> {
    let store = ctx.store()?;
    let mut per_vault = Vec::new();
    for info in store.vaults()? {
        let stats = store.vault_stats(&info.name)?;
        per_vault.push((info.name, stats));
    }
    let only: Vec<_> = per_vault.iter().map(|(_, s)| s.clone()).collect();
    let total = store.store_stats(&only)?;
    let vaults: Vec<_> = per_vault
        .iter()
        .map(|(name, s)| {
            json!({
                "name": name, "files": s.files, "dirs": s.dirs, "symlinks": s.symlinks,
                "logical_bytes": s.logical_bytes, "chain_depth": s.chain_depth,
                "checkpoints": s.checkpoints,
            })
        })
        .collect();
    // Rounded so the document does not carry float noise.
    let ratio = (total.dedup_ratio() * 1000.0).round() / 1000.0;
    let store_doc = json!({
        "vaults": total.vaults, "layers": total.layers, "checkpoints": total.checkpoints,
        "contents": total.contents, "chunks": total.chunks,
        "logical_bytes": total.logical_bytes, "stored_bytes": total.stored_bytes,
        "dedup_ratio": ratio, "db_bytes": total.db_bytes,
    });
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
    lines.push(format!(
        "\nstore: {} vaults, {} layers, {} checkpoints, {} contents in {} chunks\n\
         logical {} / stored {} (dedup ratio {ratio:.2}); database {}",
        total.vaults,
        total.layers,
        total.checkpoints,
        total.contents,
        total.chunks,
        human::size(total.logical_bytes),
        human::size(total.stored_bytes),
        human::size(total.db_bytes)
    ));
    Ok(Output::doc(
        json!({ "vaults": vaults, "store": store_doc }),
        lines.join("\n"),
    ))
}
