//! `avfs search QUERY`: ranked full-text search with snippets.

use super::args_ops::SearchArgs;
use super::error::CliResult;
use super::wire::WirePath;
use super::wire_docs::{SearchDoc, SearchResult, to_json};
use super::{Ctx, Output};
use crate::vault::StateRef;

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
            SearchResult {
                path: WirePath::from_path(&h.path),
                score,
                hash: h.hash.to_hex(),
                snippet: h.snippet.clone(),
            }
        })
        .collect();
    let text = hits
        .iter()
        .map(|h| format!("{}\n    {}", h.path, h.snippet.replace('\n', " ")))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::doc(
        to_json(&SearchDoc {
            query: args.query.clone(),
            results: docs,
        }),
        text,
    ))
}
