//! `avfs import` and `avfs export`: host directory trees in and out of a vault,
//! keeping modes, symlinks (never followed), hard links and mtimes.
//!
//! Import is one transaction: if any host file cannot be read, nothing of the
//! import lands. Export refuses to write into a non-empty directory unless
//! `--force`, and never writes through a host symlink.

use super::args::{ExportArgs, ImportArgs};
use super::error::{CliError, CliResult, ExitStatus};
use super::human;
use super::wire::WirePath;
use super::{Ctx, Output, existing_path};
use crate::proxy::materialize::{host_err, make_special, mtime_ns, set_times, special_of};
use crate::vault::path::{PATH_MAX, too_long};
use crate::vault::{Kind, NewNode, Op, StateRef, VaultError, VaultPath};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::wire_docs::{
    DestPath, ExportDoc, ImportDoc, SrcPath, WireCounts as Counts, WireSkipped as Skipped, to_json,
};

impl Counts {
    fn summary(&self, verb: &str) -> String {
        let mut s = format!(
            "{verb} {} files ({}), {} directories, {} symlinks, {} hard links",
            self.files,
            human::size(self.bytes),
            self.dirs,
            self.symlinks,
            self.hard_links
        );
        if self.special > 0 {
            s.push_str(&format!(", {} fifos, sockets or devices", self.special));
        }
        for skip in &self.skipped {
            s.push_str(&format!("\nskipped {}: {}", skip.path.path, skip.reason));
        }
        s
    }
}

fn progress(show: bool, total: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// One host entry to import; `parent` indexes the item list (None: the import root).
struct HostItem {
    host: PathBuf,
    name: Vec<u8>,
    parent: Option<usize>,
    meta: fs::Metadata,
}

/// Refuses an import that would make a vault path longer than `PATH_MAX`
/// (nothing could address it afterwards), before anything is written.
fn check_lengths(dest: &VaultPath, items: &[HostItem]) -> Result<(), VaultError> {
    let base = if dest.is_root() {
        0
    } else {
        dest.to_bytes().len()
    };
    let mut lens: Vec<usize> = Vec::with_capacity(items.len());
    for item in items {
        let len = item.parent.map_or(base, |i| lens[i]) + 1 + item.name.len();
        if len > PATH_MAX {
            return Err(too_long(
                item.host.as_os_str().as_bytes(),
                "its vault path would be longer than 4096 bytes",
            ));
        }
        lens.push(len);
    }
    Ok(())
}

/// Lists a host tree depth-first, parents before children, without following symlinks.
fn scan(root: &Path) -> Result<(Vec<HostItem>, u64), VaultError> {
    let mut items = Vec::new();
    let mut total = 0;
    let mut stack: Vec<(PathBuf, Option<usize>)> = vec![(root.to_path_buf(), None)];
    while let Some((dir, parent)) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| host_err(&dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| host_err(&dir, e))?;
        names.sort();
        for name in names {
            let host = dir.join(&name);
            let meta = fs::symlink_metadata(&host).map_err(|e| host_err(&host, e))?;
            if meta.is_file() {
                total += meta.len();
            }
            let is_dir = meta.is_dir();
            items.push(HostItem {
                host: host.clone(),
                name: name.as_bytes().to_vec(),
                parent,
                meta,
            });
            if is_dir {
                stack.push((host, Some(items.len() - 1)));
            }
        }
    }
    Ok((items, total))
}

/// `avfs import HOST_DIR [DEST]`
pub fn import(ctx: &mut Ctx, args: ImportArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let dest = match &args.dest {
        Some(d) => existing_path(ctx, &vault, d)?,
        None => VaultPath::root(),
    };
    let root_meta =
        fs::metadata(&args.host_dir).map_err(|e| CliError::host_io(&args.host_dir, e))?;
    if !root_meta.is_dir() {
        return Err(CliError::invalid_argument(format!(
            "{} is not a directory",
            args.host_dir.display()
        )));
    }
    let (items, total) = scan(&args.host_dir)?;
    check_lengths(&dest, &items)?;
    let bar = progress(ctx.progress(), total);
    let detail = format!("{} -> {dest}", args.host_dir.display());
    let counts = ctx.store()?.write(&vault, Op::new("import", detail), |w| {
        let base = w.mkdir(&dest, true, 0o755)?;
        let mut counts = Counts::default();
        let mut inos: Vec<u64> = Vec::with_capacity(items.len());
        let mut linked: HashMap<(u64, u64), u64> = HashMap::new();
        let mut dir_meta: Vec<(u64, u32, i64)> = Vec::new();
        for item in &items {
            let parent = item.parent.map_or(base.ino, |i| inos[i]);
            let existing = match w.lookup(parent, &item.name)? {
                Some(ino) => Some(w.attr_of_child(ino)?),
                None => None,
            };
            let ft = item.meta.file_type();
            let mode = item.meta.mode() & 0o7777;
            let mtime = mtime_ns(&item.meta);
            let conflict = || {
                VaultError::PathExists(format!(
                    "{} (a different kind in the vault)",
                    item.host.display()
                ))
            };
            let ino = if ft.is_dir() {
                counts.dirs += 1;
                let ino = match existing {
                    Some(e) if e.kind == Kind::Dir => e.ino,
                    Some(_) => return Err(conflict()),
                    None => w.create(parent, &item.name, NewNode::dir(0o755))?.ino,
                };
                dir_meta.push((ino, mode, mtime));
                ino
            } else if ft.is_symlink() {
                counts.symlinks += 1;
                let target = fs::read_link(&item.host).map_err(|e| host_err(&item.host, e))?;
                match existing {
                    Some(e) if e.kind == Kind::Symlink => w.unlink(parent, &item.name)?,
                    Some(_) => return Err(conflict()),
                    None => {}
                }
                let node =
                    NewNode::symlink(target.as_os_str().as_bytes().to_vec()).with_mtime(mtime);
                w.create(parent, &item.name, node)?.ino
            } else if ft.is_file() {
                let key = (item.meta.dev(), item.meta.ino());
                if let Some(&first) = linked.get(&key) {
                    counts.hard_links += 1;
                    match existing {
                        Some(e) if e.kind == Kind::File => w.unlink(parent, &item.name)?,
                        Some(_) => return Err(conflict()),
                        None => {}
                    }
                    inos.push(w.link(first, parent, &item.name)?.ino);
                    continue;
                }
                counts.files += 1;
                let file = fs::File::open(&item.host).map_err(|e| host_err(&item.host, e))?;
                let (content, size) =
                    w.store_content(bar.wrap_read(file)).map_err(|e| match e {
                        VaultError::Io(io) => host_err(&item.host, io),
                        other => other,
                    })?;
                counts.bytes += size;
                let ino = match existing {
                    Some(e) if e.kind == Kind::File => {
                        w.set_content(e.ino, content, size)?;
                        w.set_meta(e.ino, Some(mode), Some(mtime))?.ino
                    }
                    Some(_) => return Err(conflict()),
                    None => {
                        w.create(
                            parent,
                            &item.name,
                            NewNode::file(content, size, mode).with_mtime(mtime),
                        )?
                        .ino
                    }
                };
                if item.meta.nlink() > 1 {
                    linked.insert(key, ino);
                }
                ino
            } else if let Some((kind, rdev)) = special_of(&item.meta) {
                counts.special += 1;
                match existing {
                    Some(e) if e.kind == kind => w.unlink(parent, &item.name)?,
                    Some(_) => return Err(conflict()),
                    None => {}
                }
                let node = NewNode::special(kind, mode, rdev).with_mtime(mtime);
                w.create(parent, &item.name, node)?.ino
            } else {
                counts.skipped.push(Skipped {
                    path: WirePath::from_bytes(item.host.as_os_str().as_bytes()),
                    reason: "not a file, directory, symlink, fifo, socket or device",
                });
                inos.push(0);
                continue;
            };
            inos.push(ino);
        }
        // Creating children touched the directories: set their modes and times last.
        for (ino, mode, mtime) in dir_meta.into_iter().rev() {
            w.set_meta(ino, Some(mode), Some(mtime))?;
        }
        Ok(counts)
    })?;
    bar.finish_and_clear();
    let text = counts.summary(&format!("imported into {dest} of vault {vault}:"));
    let doc = ImportDoc {
        vault,
        dest: DestPath::new(&dest),
        imported: counts,
    };
    Ok(Output::doc(to_json(&doc), text))
}

/// True if `path` is a directory with at least one entry.
fn non_empty_dir(path: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(path)?.next().is_some())
}

/// Removes whatever is at `path` (a file, a symlink, or with `dirs` a directory tree).
fn clear(path: &Path, dirs: bool) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && dirs => fs::remove_dir_all(path),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `avfs export SRC HOST_PATH [--force]`
pub fn export(ctx: &mut Ctx, args: ExportArgs) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let src = existing_path(ctx, &vault, &args.src)?;
    let host = args.host_path.clone();
    let refuse = || {
        CliError::new(
            "destination_exists",
            ExitStatus::Conflict,
            format!("{} exists and is not empty", host.display()),
        )
        .hint("pass --force to write into it, replacing files")
    };
    match fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => {
            if !args.force && non_empty_dir(&host).map_err(|e| CliError::host_io(&host, e))? {
                return Err(refuse());
            }
        }
        Ok(_) if !args.force => return Err(refuse()),
        Ok(_) => clear(&host, false).map_err(|e| CliError::host_io(&host, e))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::host_io(&host, e)),
    }
    if let Some(parent) = host.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| CliError::host_io(parent, e))?;
    }
    let show = ctx.progress();
    let base = src.components().len();
    let counts = ctx.store()?.read(
        &StateRef::Head {
            vault: vault.clone(),
        },
        |t| {
            let items = t.walk(&src)?;
            let bar = progress(
                show,
                items
                    .iter()
                    .filter(|(_, a)| a.kind == Kind::File)
                    .map(|(_, a)| a.size)
                    .sum(),
            );
            let mut counts = Counts::default();
            let mut written: HashMap<u64, PathBuf> = HashMap::new();
            let mut dirs: Vec<(PathBuf, u32, i64)> = Vec::new();
            for (path, attr) in &items {
                let mut out = host.clone();
                for name in &path.components()[base..] {
                    out.push(OsStr::from_bytes(name));
                }
                let io_err = |e| host_err(&out, e);
                match attr.kind {
                    Kind::Dir => {
                        counts.dirs += 1;
                        if !fs::symlink_metadata(&out).is_ok_and(|m| m.is_dir()) {
                            clear(&out, false).map_err(io_err)?;
                            fs::create_dir(&out).map_err(io_err)?;
                        }
                        dirs.push((out, attr.mode, attr.mtime_ns));
                    }
                    Kind::Symlink => {
                        counts.symlinks += 1;
                        clear(&out, true).map_err(io_err)?;
                        let target = OsStr::from_bytes(attr.target.as_deref().unwrap_or_default());
                        std::os::unix::fs::symlink(target, &out).map_err(io_err)?;
                        set_times(&out, attr.mtime_ns).map_err(io_err)?;
                    }
                    Kind::File => {
                        clear(&out, true).map_err(io_err)?;
                        if let Some(first) = written.get(&attr.ino).filter(|_| attr.nlink > 1) {
                            counts.hard_links += 1;
                            fs::hard_link(first, &out).map_err(io_err)?;
                            continue;
                        }
                        counts.files += 1;
                        counts.bytes += attr.size;
                        // O_NOFOLLOW|O_EXCL: never write through a link planted meanwhile.
                        let mut file = fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .custom_flags(nix::libc::O_NOFOLLOW)
                            .open(&out)
                            .map_err(io_err)?;
                        io::copy(&mut t.open(attr)?, &mut bar.wrap_write(&mut file))
                            .map_err(io_err)?;
                        file.set_permissions(fs::Permissions::from_mode(attr.mode))
                            .map_err(io_err)?;
                        let mtime = std::time::UNIX_EPOCH
                            + std::time::Duration::from_nanos(attr.mtime_ns.max(0) as u64);
                        file.set_modified(mtime).map_err(io_err)?;
                        written.insert(attr.ino, out);
                    }
                    special => {
                        clear(&out, true).map_err(io_err)?;
                        match make_special(&out, attr) {
                            Ok(()) => {
                                counts.special += 1;
                                set_times(&out, attr.mtime_ns).map_err(io_err)?;
                            }
                            Err(e) if special == Kind::Socket || e.kind() == io::ErrorKind::PermissionDenied => {
                                counts.skipped.push(Skipped {
                                    path: WirePath::from_bytes(out.as_os_str().as_bytes()),
                                    reason: if special == Kind::Socket {
                                        "a socket's name is not exported (it means nothing without its listener)"
                                    } else {
                                        "making a device node needs root"
                                    },
                                });
                            }
                            Err(e) => return Err(io_err(e)),
                        }
                    }
                }
            }
            for (dir, mode, mtime) in dirs.into_iter().rev() {
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                    .map_err(|e| host_err(&dir, e))?;
                set_times(&dir, mtime).map_err(|e| host_err(&dir, e))?;
            }
            bar.finish_and_clear();
            Ok(counts)
        },
    )?;
    let text = counts.summary(&format!(
        "exported {src} of vault {vault} to {}:",
        host.display()
    ));
    let doc = ExportDoc {
        vault,
        src: SrcPath::new(&src),
        host_path: host.to_string_lossy().into_owned(),
        exported: counts,
    };
    Ok(Output::doc(to_json(&doc), text))
}
