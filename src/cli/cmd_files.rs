//! File commands: `mkdir`, `write`, `cat`, `ls`, `tree`, `stat`, `cp`, `mv`, `rm`.

use super::args::{CpArgs, LsArgs, MkdirArgs, MvArgs, PathArg, RmArgs, TreeArgs, WriteArgs};
use super::error::{CliError, CliResult, ExitStatus};
use super::human;
use super::wire::{WireEntry, WirePath};
use super::wire_docs::{
    EntriesDoc, EntryDoc, FileContentDoc, FromPath, ListingDoc, MoveDoc, RemovedDoc, to_json,
};
use super::{Ctx, Output, existing_path, slash, vault_path};
use crate::vault::{Kind, Op, StateRef, Tree, VaultError, VaultPath};
use base64::Engine;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;

/// Largest file `cat --json` embeds; bigger ones stream with plain `cat`.
pub(super) const JSON_CAT_MAX: u64 = 16 * 1024 * 1024;

fn head(vault: &str) -> StateRef {
    StateRef::Head {
        vault: vault.to_string(),
    }
}

/// Parses path arguments; also returns them joined, for the journal entry.
fn vault_paths(raw: &[std::ffi::OsString]) -> CliResult<(Vec<VaultPath>, String)> {
    let paths = raw
        .iter()
        .map(|p| vault_path(p))
        .collect::<CliResult<Vec<_>>>()?;
    let detail = paths
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Ok((paths, detail))
}

/// `avfs mkdir [-p] PATH...`
pub fn mkdir(ctx: &mut Ctx, args: MkdirArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let (paths, detail) = vault_paths(&args.paths)?;
    let made = ctx.store()?.write(&vault, Op::new("mkdir", detail), |w| {
        paths
            .iter()
            .map(|p| Ok((p.clone(), w.mkdir(p, args.parents, args.mode)?)))
            .collect::<Result<Vec<_>, VaultError>>()
    })?;
    let entries: Vec<_> = made.iter().map(|(p, a)| WireEntry::new(p, a)).collect();
    let text = made
        .iter()
        .map(|(p, _)| format!("created {p}/ in vault {vault}"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::doc(to_json(&EntriesDoc { entries }), text))
}

/// `avfs write PATH [CONTENT] [--append]`
pub fn write(ctx: &mut Ctx, args: WriteArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = vault_path(&args.path)?;
    let raw = args.path.clone();
    let source: Box<dyn Read> = match &args.content {
        Some(content) => Box::new(std::io::Cursor::new(content.as_bytes().to_vec())),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(
                    CliError::invalid_argument("no CONTENT given and stdin is a terminal").hint(
                        "pass the content as an argument, or pipe it: `... | avfs write PATH`",
                    ),
                );
            }
            Box::new(super::interrupt::Stdin)
        }
    };
    let op = if args.append { "append" } else { "write" };
    let attr = ctx
        .store()?
        .write(&vault, Op::new(op, path.to_string()), |w| {
            if args.parents
                && let Some(parent) = path.parent()
            {
                w.mkdir(&parent, true, 0o755)?;
            }
            slash::check_target(w, &raw, &path, false)?;
            w.write_file(&path, source, args.append, args.mode)
        })?;
    let verb = if args.append { "appended to" } else { "wrote" };
    Ok(Output::doc(
        to_json(&EntryDoc {
            entry: WireEntry::new(&path, &attr),
        }),
        format!(
            "{verb} {path} in vault {vault} ({})",
            human::size(attr.size)
        ),
    ))
}

/// `avfs cat PATH`: streams the bytes; with `--json`, embeds them (up to 16 MiB).
pub fn cat(ctx: &mut Ctx, args: super::args_ops::CatArgs) -> CliResult<Output> {
    if let Some(n) = args.version {
        return super::cmd_history::cat_version(ctx, &args.path, n);
    }
    let vault = ctx.vault()?;
    let path = existing_path(ctx, &vault, &args.path)?;
    let json_mode = ctx.json;
    let mut too_large = None;
    let embedded = ctx
        .store()?
        .read(&head(&vault), |t| {
            let attr = t.stat(&path)?;
            match attr.kind {
                Kind::Dir => return Err(VaultError::IsADirectory(path.to_string())),
                Kind::File => {}
                _ => return Ok(Err(attr)),
            }
            let mut reader = t.open(&attr)?;
            if !json_mode {
                let mut out = std::io::stdout().lock();
                match std::io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                    _ => return Ok(Ok(None)),
                }
            }
            if attr.size > JSON_CAT_MAX {
                too_large = Some(attr.size);
                return Ok(Ok(None));
            }
            let mut bytes = Vec::with_capacity(attr.size as usize);
            reader.read_to_end(&mut bytes)?;
            Ok(Ok(Some(bytes)))
        })
        .map_err(|e| e.at_path(&path))?;
    let bytes = match embedded {
        Err(other) => {
            let message = match &other.target {
                Some(target) => format!(
                    "{path} is a symlink to '{}'; avfs does not follow symlinks",
                    String::from_utf8_lossy(target)
                ),
                None => format!("{path} is a {}, which has no content", other.kind.as_str()),
            };
            return Err(CliError::new("not_a_file", ExitStatus::Conflict, message));
        }
        Ok(None) if too_large.is_none() => return Ok(Output::Streamed),
        Ok(None) => {
            return Err(CliError::new(
                "too_large",
                ExitStatus::Usage,
                format!(
                    "{path} is {} bytes, more than --json embeds (16 MiB)",
                    too_large.unwrap_or(0)
                ),
            )
            .hint("run `avfs cat` without --json to stream the bytes"));
        }
        Ok(Some(bytes)) => bytes,
    };
    Ok(Output::doc(cat_doc(&path, bytes), String::new()))
}

/// The `cat --json` document: the bytes as UTF-8 text, or base64.
pub(super) fn cat_doc(path: &VaultPath, bytes: Vec<u8>) -> serde_json::Value {
    let size = bytes.len();
    let (encoding, content) = match String::from_utf8(bytes) {
        Ok(text) => ("utf-8", text),
        Err(e) => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
        ),
    };
    to_json(&FileContentDoc {
        path: WirePath::from_path(path),
        size: size as u64,
        encoding,
        content,
    })
}

/// `avfs ls [-l] [PATH]`
pub fn ls(ctx: &mut Ctx, args: LsArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = match &args.path {
        Some(p) => existing_path(ctx, &vault, p)?,
        None => VaultPath::root(),
    };
    let listed = ctx.store()?.read(&head(&vault), |t| {
        let attr = t.stat(&path)?;
        if attr.kind != Kind::Dir {
            return Ok(vec![(path.clone(), attr)]);
        }
        Ok(t.read_dir(attr.ino)?
            .into_iter()
            .map(|e| (path.join(&e.name), e.attr))
            .collect())
    })?;
    let entries: Vec<_> = listed.iter().map(|(p, a)| WireEntry::new(p, a)).collect();
    let color = ctx.color();
    let lines: Vec<String> = listed
        .iter()
        .map(|(p, a)| {
            let name = String::from_utf8_lossy(p.file_name().unwrap_or(b"/")).into_owned();
            let shown = human::entry_name(&name, a);
            let shown = if a.kind == Kind::Dir {
                human::paint(color, "1;34", &shown)
            } else {
                shown
            };
            if args.long {
                format!(
                    "{} {:>10} {} {shown}",
                    human::mode_string(a),
                    a.size,
                    human::short_time(a.mtime_ns)
                )
            } else {
                shown
            }
        })
        .collect();
    let doc = ListingDoc {
        path: WirePath::from_path(&path),
        entries,
    };
    Ok(Output::doc(to_json(&doc), lines.join("\n")))
}

/// `avfs tree [PATH]`
pub fn tree(ctx: &mut Ctx, args: TreeArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = match &args.path {
        Some(p) => existing_path(ctx, &vault, p)?,
        None => VaultPath::root(),
    };
    let all = ctx.store()?.read(&head(&vault), |t| t.walk(&path))?;
    let entries: Vec<_> = all.iter().map(|(p, a)| WireEntry::new(p, a)).collect();
    let text = render_tree(&path, &all);
    let doc = ListingDoc {
        path: WirePath::from_path(&path),
        entries,
    };
    Ok(Output::doc(to_json(&doc), text))
}

fn render_tree(root: &VaultPath, all: &[(VaultPath, crate::vault::Attr)]) -> String {
    let base = root.components().len();
    // Walk order is depth-first, so an entry is its parent's last child unless a
    // later entry has the same parent.
    let mut last = vec![true; all.len()];
    let mut latest_child: std::collections::HashMap<VaultPath, usize> =
        std::collections::HashMap::new();
    for (i, (p, _)) in all.iter().enumerate().skip(1) {
        if let Some(prev) = latest_child.insert(p.parent().unwrap_or_default(), i) {
            last[prev] = false;
        }
    }
    let (mut dirs, mut files) = (0, 0);
    let mut lines = vec![root.to_string()];
    let mut open: Vec<bool> = Vec::new(); // per depth: does that ancestor have later siblings?
    for (i, (p, a)) in all.iter().enumerate().skip(1) {
        let depth = p.components().len() - base;
        open.truncate(depth - 1);
        let prefix: String = open
            .iter()
            .map(|more| if *more { "│   " } else { "    " })
            .collect();
        let name = String::from_utf8_lossy(p.file_name().unwrap_or_default()).into_owned();
        let branch = if last[i] { "└── " } else { "├── " };
        lines.push(format!("{prefix}{branch}{}", human::entry_name(&name, a)));
        open.push(!last[i]);
        if a.kind == Kind::Dir {
            dirs += 1
        } else {
            files += 1
        }
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    lines.push(format!(
        "\n{}, {}",
        plural(dirs, "directory", "directories"),
        plural(files, "file", "files")
    ));
    lines.join("\n")
}

/// `avfs stat PATH`
pub fn stat(ctx: &mut Ctx, args: PathArg) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let path = existing_path(ctx, &vault, &args.path)?;
    let attr = ctx.store()?.read(&head(&vault), |t| t.stat(&path))?;
    let mut text = format!(
        "path:   {path}\nkind:   {}\nmode:   {:04o} ({})\nsize:   {} ({})\nmtime:  {}\ninode:  {}\nlinks:  {}\nowner:  {}:{}",
        attr.kind.as_str(),
        attr.mode,
        human::mode_string(&attr),
        attr.size,
        human::size(attr.size),
        super::wire::timestamp(attr.mtime_ns),
        attr.ino,
        attr.nlink,
        attr.uid,
        attr.gid
    );
    if let Some(hash) = attr.content {
        text.push_str(&format!("\nhash:   {}", hash.to_hex()));
    }
    if let Some(target) = &attr.target {
        text.push_str(&format!("\ntarget: {}", String::from_utf8_lossy(target)));
    }
    Ok(Output::doc(
        to_json(&EntryDoc {
            entry: WireEntry::new(&path, &attr),
        }),
        text,
    ))
}

/// `dst`, or `dst/<name of src>` when `dst` is an existing directory (as cp and mv do).
fn into_dir(t: &Tree<'_>, src: &VaultPath, dst: &VaultPath) -> Result<VaultPath, VaultError> {
    match (t.resolve(dst)?, src.file_name()) {
        (Some(a), Some(name)) if a.kind == Kind::Dir && dst != src => Ok(dst.join(name)),
        _ => Ok(dst.clone()),
    }
}

/// The trailing-slash rules of `cp` and `mv`: a slashed source must be a
/// directory; a slashed destination must be a directory, or be missing while
/// the source is one (it becomes that directory).
fn check_move(
    t: &Tree<'_>,
    raw_src: &std::ffi::OsStr,
    src: &VaultPath,
    raw_dst: &std::ffi::OsStr,
    dst: &VaultPath,
) -> Result<(), VaultError> {
    slash::check_existing(t, raw_src, src)?;
    let src_is_dir = t.resolve(src)?.is_some_and(|a| a.kind == Kind::Dir);
    slash::check_target(t, raw_dst, dst, src_is_dir)
}

/// `avfs cp [-r] SRC DST`
pub fn cp(ctx: &mut Ctx, args: CpArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let (src, dst) = (vault_path(&args.src)?, vault_path(&args.dst)?);
    let (target, attr) = ctx
        .store()?
        .write(&vault, Op::new("cp", format!("{src} {dst}")), |w| {
            check_move(w, &args.src, &src, &args.dst, &dst)?;
            let target = into_dir(w, &src, &dst)?;
            let attr = w.copy(&src, &target, args.recursive)?;
            Ok((target, attr))
        })
        .map_err(recursive_hint)?;
    Ok(Output::doc(
        to_json(&EntryDoc {
            entry: WireEntry::new(&target, &attr),
        }),
        format!("copied {src} to {target} in vault {vault}"),
    ))
}

/// `avfs mv SRC DST`
pub fn mv(ctx: &mut Ctx, args: MvArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let (src, dst) = (vault_path(&args.src)?, vault_path(&args.dst)?);
    let (target, attr) =
        ctx.store()?
            .write(&vault, Op::new("mv", format!("{src} {dst}")), |w| {
                check_move(w, &args.src, &src, &args.dst, &dst)?;
                let target = into_dir(w, &src, &dst)?;
                w.rename_path(&src, &target)?;
                Ok((target.clone(), w.stat(&target)?))
            })?;
    let doc = MoveDoc {
        from: FromPath::new(&src),
        entry: WireEntry::new(&target, &attr),
    };
    let text = format!("moved {src} to {target} in vault {vault}");
    Ok(Output::doc(to_json(&doc), text))
}

/// Points at -r when a directory was given to a command that needs it for directories.
fn recursive_hint(err: VaultError) -> CliError {
    let is_dir = matches!(err, VaultError::IsADirectory(_));
    let err = CliError::from(err);
    if is_dir {
        err.hint("use -r for directories")
    } else {
        err
    }
}

/// `avfs rm [-r] [-f] PATH...`
pub fn rm(ctx: &mut Ctx, args: RmArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let (paths, detail) = vault_paths(&args.paths)?;
    let reserve = ctx.reserve()?;
    let store = ctx.store()?;
    let removed = super::freeing(&reserve, || {
        store.write(&vault, Op::new("rm", detail.clone()), |w| {
            let mut removed = Vec::new();
            for (p, raw) in paths.iter().zip(&args.paths) {
                slash::check_existing(w, raw, p)?;
                match w.remove(p, args.recursive) {
                    Ok(()) => removed.push(p.clone()),
                    Err(VaultError::PathNotFound(_)) if args.force => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(removed)
        })
    })
    .map_err(recursive_hint)?;
    let wire: Vec<_> = removed.iter().map(WirePath::from_path).collect();
    let text = removed
        .iter()
        .map(|p| format!("removed {p} from vault {vault}"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::doc(to_json(&RemovedDoc { removed: wire }), text))
}
