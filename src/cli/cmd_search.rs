//! `avfs search QUERY`: ranked full-text search with snippets.

use super::args_ops::SearchArgs;
use super::error::CliResult;
use super::wire::put_path;
use super::{Ctx, Output};
use crate::vault::StateRef;
use serde_json::json;

/// Runs `search`.
pub fn run(ctx: &mut Ctx, args: SearchArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let hits = ctx
        .store()?
        .search(&StateRef::Head { vault }, &args.query, args.limit)?;
    let docs: Vec<_> = hits
        .iter()
        .map(|h| {
            // bm25 is lower-is-better and negative; report a positive score, rounded.
            let score = (-h.rank * 1000.0).round() / 1000.0;
            let mut doc = json!({ "score": score, "hash": h.hash.to_hex(), "snippet": h.snippet });
            put_path(&mut doc, "path", &h.path);
            doc
        })
        .collect();
    let text = hits
        .iter()
        .map(|h| format!("{}\n    {}", h.path, h.snippet.replace('\n', " ")))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::doc(
        json!({ "query": args.query, "results": docs }),
        text,
    ))
}
