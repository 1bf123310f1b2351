//! Store maintenance: `avfs gc`.

use super::args_ops::GcArgs;
use super::error::CliResult;
use super::human;
use super::{Ctx, Output};
use crate::mount::Registry;
use crate::vault::gc::GcOptions;
use serde_json::json;

/// `avfs gc [--dry-run]`
pub fn gc(ctx: &mut Ctx, args: GcArgs) -> CliResult<Output> {
    // A live mount may hold chunks it stored for an open file but has not yet
    // attached to a content: keep recent orphan chunks for a later run then.
    let dir = ctx.store_dir()?;
    let mounted = Registry::new(&dir).records().iter().any(Registry::is_live);
    let report = ctx.store()?.gc(GcOptions {
        dry_run: args.dry_run,
        spare_recent_chunks: mounted,
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
        json!({
            "dry_run": report.dry_run, "spared_recent_chunks": mounted,
            "freed": { "layers": report.layers, "rows": report.rows, "contents": report.contents,
                       "chunks": report.chunks, "bytes": report.bytes },
        }),
        text,
    ))
}
