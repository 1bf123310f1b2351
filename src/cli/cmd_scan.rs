//! `avfs grep` and `avfs find`: searching the vault as it is now by walking it.

use super::args_ops::{FindArgs, FindType, GrepArgs};
use super::error::{CliError, CliResult, ExitStatus};
use super::wire::{WireEntry, WirePath};
use super::wire_docs::{GrepDoc, GrepMatch, ListingDoc, to_json};
use super::{Ctx, Output, existing_path};
use crate::vault::scan::{self, FindQuery};
use crate::vault::{Kind, StateRef, VaultPath};

fn start(ctx: &mut Ctx, vault: &str, raw: &Option<std::ffi::OsString>) -> CliResult<VaultPath> {
    match raw {
        Some(p) => existing_path(ctx, vault, p),
        None => Ok(VaultPath::root()),
    }
}

/// A pattern that does not compile.
fn invalid_pattern(what: &str, pattern: &str, err: impl std::fmt::Display) -> CliError {
    CliError::new(
        "invalid_pattern",
        ExitStatus::Usage,
        format!("invalid {what} '{pattern}': {err}"),
    )
}

/// `avfs grep REGEX [PATH] [-i -n -l]`
pub fn grep(ctx: &mut Ctx, args: GrepArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = start(ctx, &vault, &args.path)?;
    let regex = regex::bytes::RegexBuilder::new(&args.pattern)
        .case_insensitive(args.ignore_case)
        .build()
        .map_err(|e| {
            invalid_pattern("regular expression", &args.pattern, e)
                .hint("grep takes Rust regex syntax: https://docs.rs/regex/#syntax")
        })?;
    let found = ctx.store()?.read(&StateRef::Head { vault }, |t| {
        scan::grep(t, &path, &regex, args.files_with_matches)
    })?;
    let matches: Vec<_> = found
        .matches
        .iter()
        .map(|m| GrepMatch {
            path: WirePath::from_path(&m.path),
            line: m.line,
            text: String::from_utf8_lossy(&m.text).into_owned(),
        })
        .collect();
    let files: Vec<_> = found.files.iter().map(WirePath::from_path).collect();
    let text = if args.files_with_matches {
        found
            .files
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    } else {
        found
            .matches
            .iter()
            .map(|m| {
                let line = String::from_utf8_lossy(&m.text);
                if args.line_number {
                    format!("{}:{}:{line}", m.path, m.line)
                } else {
                    format!("{}:{line}", m.path)
                }
            })
            .collect()
    };
    Ok(Output::doc(
        to_json(&GrepDoc {
            pattern: args.pattern.clone(),
            matches,
            files,
            binary_skipped: found.binary_skipped,
        }),
        text.join("\n"),
    ))
}

/// `avfs find [PATH] --name GLOB --type f|d|l --min-size --max-size --max-depth`
pub fn find(ctx: &mut Ctx, args: FindArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = start(ctx, &vault, &args.path)?;
    let glob = args
        .name
        .as_deref()
        .map(|g| {
            globset::GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| invalid_pattern("glob", g, e.kind()))
        })
        .transpose()?;
    let query = FindQuery {
        name: glob.as_ref(),
        kind: args.kind.map(|k| match k {
            FindType::F => Kind::File,
            FindType::D => Kind::Dir,
            FindType::L => Kind::Symlink,
        }),
        min_size: args.min_size,
        max_size: args.max_size,
        max_depth: args.max_depth,
    };
    let found = ctx
        .store()?
        .read(&StateRef::Head { vault }, |t| scan::find(t, &path, &query))?;
    let entries: Vec<_> = found.iter().map(|(p, a)| WireEntry::new(p, a)).collect();
    let text = found
        .iter()
        .map(|(p, _)| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let doc = ListingDoc {
        path: WirePath::from_path(&path),
        entries,
    };
    Ok(Output::doc(to_json(&doc), text))
}
