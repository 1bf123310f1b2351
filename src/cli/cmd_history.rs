//! File history: `avfs log`, `avfs cat -v`, `avfs checkout`, `avfs revert`,
//! `avfs diff PATH --v1 N [--v2 M]`, and the unified text diffs of `--patch`.

use super::args::PathArg;
use super::args_ops::CheckoutArgs;
use super::error::{CliError, CliResult, ExitStatus};
use super::wire::{WireEntry, WirePath, timestamp};
use super::wire_docs::{
    CheckoutDoc, LogDoc, RevertDoc, VersionDiffDoc, VersionSide, WireVersion, to_json,
};
use super::{Ctx, Output, existing_path, slash, vault_path};
use crate::vault::history::{Provenance, Version};
use crate::vault::{ContentHash, Op, StateRef, Tree, VaultPath};
use std::io::{Read, Write};

/// Largest content a text diff reads (each side); larger files are summarized.
const PATCH_MAX: u64 = 16 * 1024 * 1024;
/// A content with a NUL in its first this-many bytes is binary.
const BINARY_PROBE: usize = 8000;

fn head(vault: &str) -> StateRef {
    StateRef::Head {
        vault: vault.to_string(),
    }
}

/// A version as it appears in JSON.
fn version_doc(v: &Version, p: &Provenance) -> WireVersion {
    WireVersion {
        version: v.version,
        path: WirePath::from_path(&v.path),
        size: v.size,
        hash: v.content.map(|h| h.to_hex()),
        deleted: v.content.is_none(),
        time: timestamp(v.time_ns),
        time_ns: v.time_ns,
        source: v.source.clone(),
        checkpoint: p.checkpoint.clone(),
        run: p.run.clone(),
    }
}

/// `avfs log PATH`
pub fn log(ctx: &mut Ctx, args: PathArg) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = existing_path(ctx, &vault, &args.path)?;
    let versions = ctx.store()?.log(&head(&vault), &path)?;
    if versions.is_empty() {
        // Distinguish "no such file" from "a file with no recorded change" (a directory).
        ctx.store()?.read(&head(&vault), |t| t.stat(&path))?;
    }
    let docs: Vec<_> = versions.iter().map(|(v, p)| version_doc(v, p)).collect();
    let text = versions
        .iter()
        .map(|(v, p)| {
            let what = match v.content {
                Some(h) => format!("{:>10} B  {}", v.size, &h.to_hex()[..12]),
                None => format!("{:>10}    {:<12}", "", "(deleted)"),
            };
            let mut from = v.source.clone();
            if let Some(run) = &p.run {
                from.push_str(&format!(" (run {run})"));
            }
            if let Some(c) = &p.checkpoint {
                from.push_str(&format!(" [in {c}]"));
            }
            format!(
                "v{:<4} {}  {what}  {from}",
                v.version,
                super::human::short_time(v.time_ns)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let doc = LogDoc {
        path: WirePath::from_path(&path),
        versions: docs,
    };
    Ok(Output::doc(to_json(&doc), text))
}

/// `avfs cat PATH -v N`
pub fn cat_version(ctx: &mut Ctx, raw: &std::ffi::OsStr, n: u64) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = existing_path(ctx, &vault, raw)?;
    let json_mode = ctx.json;
    let bytes = ctx
        .store()?
        .read(&head(&vault), |t| {
            let v = t.version(&path, n)?;
            let mut reader = t.open_version(&v)?;
            if !json_mode {
                let mut out = std::io::stdout().lock();
                match std::io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                    _ => return Ok(None),
                }
            }
            if v.size > super::cmd_files::JSON_CAT_MAX {
                return Ok(Some(Err(v.size)));
            }
            let mut bytes = Vec::with_capacity(v.size as usize);
            reader.read_to_end(&mut bytes)?;
            Ok(Some(Ok(bytes)))
        })
        .map_err(|e| e.at_path(&path))?;
    match bytes {
        None => Ok(Output::Streamed),
        Some(Err(size)) => Err(CliError::new(
            "too_large",
            ExitStatus::Usage,
            format!("version {n} of {path} is {size} bytes, more than --json embeds (16 MiB)"),
        )
        .hint("run `avfs cat -v N` without --json to stream the bytes")),
        Some(Ok(bytes)) => Ok(Output::doc(
            super::cmd_files::cat_doc(&path, bytes),
            String::new(),
        )),
    }
}

/// The newest version of `path`, after a change, with its provenance.
fn newest(ctx: &mut Ctx, vault: &str, path: &VaultPath) -> CliResult<Option<WireVersion>> {
    let versions = ctx.store()?.log(&head(vault), path)?;
    Ok(versions.last().map(|(v, p)| version_doc(v, p)))
}

/// A version number for people (`?` when there is none).
fn number(v: &Option<WireVersion>) -> String {
    v.as_ref()
        .map_or_else(|| "?".to_string(), |v| v.version.to_string())
}

/// `avfs checkout PATH -v N`
pub fn checkout(ctx: &mut Ctx, args: CheckoutArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = vault_path(&args.path)?;
    let n = args.version;
    let attr = ctx
        .store()?
        .write(&vault, Op::new("checkout", format!("{path} v{n}")), |w| {
            slash::check_target(w, &args.path, &path, false)?;
            w.checkout_version(&path, n)
        })?;
    let version = newest(ctx, &vault, &path)?;
    let text = format!(
        "restored version {n} of {path} as version {} in vault {vault}",
        number(&version)
    );
    let doc = CheckoutDoc {
        path: WirePath::from_path(&path),
        entry: WireEntry::new(&path, &attr),
        from_version: n,
        version,
    };
    Ok(Output::doc(to_json(&doc), text))
}

/// `avfs revert PATH`
pub fn revert(ctx: &mut Ctx, args: PathArg) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = vault_path(&args.path)?;
    let attr = ctx
        .store()?
        .write(&vault, Op::new("revert", path.to_string()), |w| {
            slash::check_existing(w, &args.path, &path)?;
            w.revert_latest(&path)
        })?;
    let version = newest(ctx, &vault, &path)?;
    let entry = attr.as_ref().map(|a| WireEntry::new(&path, a));
    let text = match &attr {
        Some(_) => format!(
            "reverted {path} in vault {vault} to its previous content (version {})",
            number(&version)
        ),
        None => format!(
            "reverted {path} in vault {vault}: it did not exist before its last change, so it is removed"
        ),
    };
    let doc = RevertDoc {
        path: WirePath::from_path(&path),
        entry,
        version,
    };
    Ok(Output::doc(to_json(&doc), text))
}

/// One side of a content comparison.
struct Side {
    label: String,
    content: Option<ContentHash>,
    size: u64,
}

/// A content's bytes when it is text of a size worth diffing; `Err` says why not.
fn text_of(t: &Tree<'_>, side: &Side) -> crate::vault::Result<Result<String, &'static str>> {
    let Some(hash) = side.content else {
        return Ok(Ok(String::new()));
    };
    if side.size > PATCH_MAX {
        return Ok(Err("too_large"));
    }
    let mut bytes = Vec::with_capacity(side.size as usize);
    t.open_content(&hash)?.read_to_end(&mut bytes)?;
    if bytes.iter().take(BINARY_PROBE).any(|b| *b == 0) {
        return Ok(Err("binary"));
    }
    Ok(String::from_utf8(bytes).map_err(|_| "binary"))
}

/// What comparing two contents found.
pub(super) struct Patch {
    /// The unified diff, when both sides are text.
    pub text: Option<String>,
    /// Why there is no text: `binary` or `too_large`.
    pub skipped: Option<&'static str>,
    /// Lines only in the newer side.
    pub added_lines: usize,
    /// Lines only in the older side.
    pub removed_lines: usize,
}

/// A unified diff (3 lines of context) between two contents.
fn compare(t: &Tree<'_>, old: &Side, new: &Side) -> crate::vault::Result<Patch> {
    let (a, b) = match (text_of(t, old)?, text_of(t, new)?) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            return Ok(Patch {
                text: None,
                skipped: Some(why),
                added_lines: 0,
                removed_lines: 0,
            });
        }
    };
    let diff = similar::TextDiff::from_lines(&a, &b);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&old.label, &new.label)
        .to_string();
    Ok(Patch {
        text: Some(text),
        skipped: None,
        added_lines: added,
        removed_lines: removed,
    })
}

/// `avfs diff PATH --v1 N [--v2 M]`
pub fn diff_versions(
    ctx: &mut Ctx,
    raw: &[std::ffi::OsString],
    v1: u64,
    v2: Option<u64>,
) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let [raw] = raw else {
        return Err(CliError::invalid_argument(
            "--v1 compares versions of exactly one file: give one PATH",
        )
        .hint("avfs diff PATH --v1 N [--v2 M]"));
    };
    let path = existing_path(ctx, &vault, raw)?;
    let (old, new, patch) = ctx.store()?.read(&head(&vault), |t| {
        let old = t.version(&path, v1)?;
        let new = match v2 {
            Some(n) => t.version(&path, n)?,
            None => t.latest_version(&path)?.expect("version v1 exists"),
        };
        let side = |v: &Version| Side {
            label: format!("{path}@v{}", v.version),
            content: v.content,
            size: v.size,
        };
        let patch = compare(t, &side(&old), &side(&new))?;
        Ok((old, new, patch))
    })?;
    let side_doc = |v: &Version| VersionSide {
        version: v.version,
        size: v.size,
        hash: v.content.map(|h| h.to_hex()),
        deleted: v.content.is_none(),
    };
    let text = match (&patch.text, patch.skipped) {
        (Some(t), _) if t.is_empty() => format!(
            "{path}: v{} and v{} are identical",
            old.version, new.version
        ),
        (Some(t), _) => t.trim_end().to_string(),
        (None, why) => format!(
            "{path}: {} files differ (v{}: {} bytes, v{}: {} bytes)",
            if why == Some("binary") {
                "binary"
            } else {
                "large"
            },
            old.version,
            old.size,
            new.version,
            new.size
        ),
    };
    let doc = VersionDiffDoc {
        path: WirePath::from_path(&path),
        v1: side_doc(&old),
        v2: side_doc(&new),
        binary: patch.skipped == Some("binary"),
        too_large: patch.skipped == Some("too_large"),
        patch: patch.text,
        added_lines: patch.added_lines as u64,
        removed_lines: patch.removed_lines as u64,
    };
    Ok(Output::doc(to_json(&doc), text))
}

/// Unified diffs for a change list (`avfs diff --patch`), one per change:
/// `None` for directories, symlinks and binary or huge files.
pub(super) fn patches(
    ctx: &mut Ctx,
    from: &StateRef,
    changes: &[crate::vault::Change],
) -> CliResult<Vec<Option<String>>> {
    // Contents are immutable and store-wide: any state can read both sides.
    Ok(ctx.store()?.read(from, |t| {
        changes
            .iter()
            .map(|c| {
                fn file(s: &Option<crate::vault::EntryState>) -> Option<&crate::vault::EntryState> {
                    s.as_ref().filter(|e| e.kind == crate::vault::Kind::File)
                }
                let (before, after) = (file(&c.before), file(&c.after));
                if before.is_none() && after.is_none() {
                    return Ok(None);
                }
                let side = |e: Option<&crate::vault::EntryState>, label: String| Side {
                    label: if e.is_some() {
                        label
                    } else {
                        "/dev/null".into()
                    },
                    content: e.and_then(|e| e.content),
                    size: e.map_or(0, |e| e.size),
                };
                let old = side(before, format!("a{}", c.path));
                let new = side(after, format!("b{}", c.path));
                Ok(compare(t, &old, &new)?.text)
            })
            .collect::<crate::vault::Result<Vec<_>>>()
    })?)
}

/// `avfs retention [--keep-versions N | --keep-all]`
pub fn retention(ctx: &mut Ctx, args: super::args_ops::RetentionArgs) -> CliResult<Output> {
    let store = ctx.store()?;
    if args.keep_all {
        store.set_retention(None)?;
    } else if let Some(n) = args.keep_versions {
        store.set_retention(Some(n))?;
    }
    let keep = store.retention()?;
    // Retention is store-wide: say so, as other mutating commands name their vault.
    let text = match keep {
        Some(n) => format!("each file in every vault keeps its newest {n} versions"),
        None => "each file in every vault keeps every version".to_string(),
    };
    Ok(Output::doc(
        to_json(&super::wire_docs::RetentionDoc {
            keep_versions: keep,
        }),
        text,
    ))
}
