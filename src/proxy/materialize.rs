//! Running without FUSE: the vault is copied into a private host directory,
//! the command runs there, and what it changed is written back in one
//! transaction.
//!
//! Change detection is inotify (through `notify`) plus verification: after
//! the run the whole copy is walked and compared with what was written out,
//! so that nothing a watcher can miss (events dropped on overflow, files made
//! in a new directory before its watch exists, equal-size rewrites in the same
//! nanosecond) is lost; files the watcher saw touched are compared by content
//! even when their size and time look unchanged.
//!
//! Path rules can only be applied around the run here: paths the rules do not
//! let the command read are left out of the copy, and changes the rules do not
//! grant are not written back (each is recorded as a violation).

use crate::mount::PathGuard;
use crate::policy::Op as PathOp;
use crate::vault::{
    Attr, ContentHash, Kind, NewNode, StateRef, Store, TreeWriter, VaultError, VaultPath,
};
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What was written out for one vault path.
#[derive(Debug, Clone)]
struct Written {
    kind: Kind,
    mode: u32,
    size: u64,
    mtime_ns: i64,
    content: Option<ContentHash>,
    target: Option<Vec<u8>>,
}

/// One entry of the copy as found after the run.
#[derive(Debug)]
struct Found {
    host: PathBuf,
    meta: fs::Metadata,
}

/// Paths the watcher saw touched, and whether it may have missed some.
#[derive(Default)]
struct Touched {
    paths: HashSet<PathBuf>,
    overflowed: bool,
}

/// A vault copied out to a host directory for one run.
pub struct Materialized {
    root: PathBuf,
    written: BTreeMap<VaultPath, Written>,
    touched: Arc<Mutex<Touched>>,
    watcher: Option<notify::RecommendedWatcher>,
}

/// What writing back did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteBack {
    /// Paths created, changed or removed in the vault.
    pub applied: u64,
    /// Changes left out because the path rules do not grant them.
    pub refused: u64,
}

/// A host I/O error that names the host path.
pub fn host_err(path: &Path, err: io::Error) -> VaultError {
    match VaultError::from(err) {
        VaultError::Io(err) => VaultError::Io(io::Error::new(
            err.kind(),
            format!("{}: {err}", path.display()),
        )),
        // A damaged chunk read while copying out stays a store error.
        other => other.at_path(&path.display()),
    }
}

/// Nanoseconds since the epoch of a host file's mtime.
pub fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// The vault kind and device number of a host fifo, socket or device node.
pub fn special_of(meta: &fs::Metadata) -> Option<(Kind, u64)> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_fifo() {
        Kind::Fifo
    } else if t.is_socket() {
        Kind::Socket
    } else if t.is_char_device() {
        Kind::CharDevice
    } else if t.is_block_device() {
        Kind::BlockDevice
    } else {
        return None;
    };
    Some((kind, meta.rdev()))
}

/// Makes a fifo or device node on the host (`mknod`, which needs root for
/// devices). A socket's name is not made: without its listener it means nothing.
pub fn make_special(path: &Path, attr: &Attr) -> io::Result<()> {
    use nix::sys::stat::{Mode, SFlag, mknod};
    let kind = match attr.kind {
        Kind::Fifo => SFlag::S_IFIFO,
        Kind::CharDevice => SFlag::S_IFCHR,
        Kind::BlockDevice => SFlag::S_IFBLK,
        _ => return Err(io::Error::from(io::ErrorKind::Unsupported)),
    };
    mknod(
        path,
        kind,
        Mode::from_bits_truncate(attr.mode & 0o7777),
        attr.rdev as _,
    )
    .map_err(io::Error::from)?;
    // mknod applies the umask: set the mode the vault holds.
    fs::set_permissions(path, fs::Permissions::from_mode(attr.mode & 0o7777))
}

/// Sets a host path's atime and mtime without following a symlink.
pub fn set_times(path: &Path, mtime_ns: i64) -> io::Result<()> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let ts = TimeSpec::new(
        mtime_ns.div_euclid(1_000_000_000),
        mtime_ns.rem_euclid(1_000_000_000),
    );
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts,
        &ts,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

/// Where vault path `path` is under the host directory `root`.
pub fn host_path(root: &Path, path: &VaultPath) -> PathBuf {
    let mut out = root.to_path_buf();
    for name in path.components() {
        out.push(std::ffi::OsStr::from_bytes(name));
    }
    out
}

impl Materialized {
    /// Copies the vault's head into the empty directory `root` (leaving out
    /// what `guard` does not let the command read) and starts watching it.
    pub fn create(
        store: &mut Store,
        vault: &str,
        root: &Path,
        guard: &PathGuard,
    ) -> Result<Self, VaultError> {
        let head = StateRef::Head {
            vault: vault.to_string(),
        };
        let written = store.read(&head, |t| {
            let mut written = BTreeMap::new();
            let mut dirs = Vec::new();
            let mut hidden: Vec<VaultPath> = Vec::new();
            for (path, attr) in t.walk(&VaultPath::root())? {
                if path.is_root() {
                    continue;
                }
                if hidden.iter().any(|h| path.starts_with(h)) {
                    continue;
                }
                if !guard.allows(&path, PathOp::Read) && attr.kind != Kind::Dir {
                    hidden.push(path);
                    continue;
                }
                let out = host_path(root, &path);
                let io_err = |e| host_err(&out, e);
                match attr.kind {
                    Kind::Dir => {
                        fs::create_dir(&out).map_err(io_err)?;
                        dirs.push((out.clone(), attr.mode, attr.mtime_ns));
                    }
                    Kind::Symlink => {
                        let target = attr.target.as_deref().unwrap_or_default();
                        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &out)
                            .map_err(io_err)?;
                        set_times(&out, attr.mtime_ns).map_err(io_err)?;
                    }
                    Kind::File => {
                        let mut file = fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .custom_flags(nix::libc::O_NOFOLLOW)
                            .open(&out)
                            .map_err(io_err)?;
                        io::copy(&mut t.open(&attr)?, &mut file).map_err(io_err)?;
                        file.set_permissions(fs::Permissions::from_mode(attr.mode))
                            .map_err(io_err)?;
                        drop(file);
                        set_times(&out, attr.mtime_ns).map_err(io_err)?;
                    }
                    // Fifos, sockets and devices stay out of the copy, and so
                    // out of the write-back: a run without FUSE leaves them as they are.
                    _ => continue,
                }
                written.insert(path, written_of(&attr));
            }
            for (dir, mode, mtime) in dirs.into_iter().rev() {
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                    .map_err(|e| host_err(&dir, e))?;
                set_times(&dir, mtime).map_err(|e| host_err(&dir, e))?;
            }
            Ok(written)
        })?;
        let touched = Arc::new(Mutex::new(Touched::default()));
        let sink = Arc::clone(&touched);
        // Without a watcher the verification walk still finds every change;
        // the watcher only sharpens it, so failing to start one is not fatal.
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let mut t = sink.lock().unwrap_or_else(|p| p.into_inner());
            match event {
                Ok(e) => {
                    t.overflowed |= e.need_rescan();
                    t.paths.extend(e.paths);
                }
                Err(_) => t.overflowed = true,
            }
        })
        .and_then(|mut w| w.watch(root, RecursiveMode::Recursive).map(|()| w))
        .ok();
        if watcher.is_none() {
            touched.lock().unwrap_or_else(|p| p.into_inner()).overflowed = true;
        }
        Ok(Self {
            root: root.to_path_buf(),
            written,
            touched,
            watcher,
        })
    }

    /// The host directory holding the copy.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes what the run changed in the copy back to the vault's head, in
    /// one transaction; changes `guard` does not grant are left out and recorded.
    pub fn write_back(
        mut self,
        store: &mut Store,
        vault: &str,
        guard: &PathGuard,
    ) -> Result<WriteBack, VaultError> {
        // Stop watching first: the walk below must see a settled tree.
        drop(self.watcher.take());
        let touched = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|p| p.into_inner()));
        let found = scan(&self.root)?;
        let mut outcome = WriteBack::default();
        let written = &self.written;
        store.write_unjournaled(vault, |w| {
            // Removals deepest first, so a directory is empty when its turn comes.
            for (path, before) in written.iter().rev() {
                let now = found.get(path);
                let gone = match now {
                    None => true,
                    Some(f) => kind_of(&f.meta).is_none_or(|k| k != before.kind),
                };
                if !gone {
                    continue;
                }
                if guard.check(path, PathOp::Delete).is_err() {
                    outcome.refused += 1;
                    continue;
                }
                if remove(w, path)? {
                    outcome.applied += 1;
                } else {
                    // Still holds entries the command never saw (unreadable to it).
                    let _ = guard.check(path, PathOp::Delete);
                    outcome.refused += 1;
                }
            }
            // Additions and changes shallowest first, so parents exist.
            for (path, f) in &found {
                let Some(kind) = kind_of(&f.meta) else {
                    continue; // fifos, sockets, devices: no place in a vault
                };
                let before = written.get(path).filter(|b| b.kind == kind);
                match before {
                    None => {
                        if guard.check(path, PathOp::Create).is_err() {
                            outcome.refused += 1;
                            continue;
                        }
                        match create(w, path, f, kind) {
                            Ok(()) => outcome.applied += 1,
                            // Its parent was refused: so is it.
                            Err(VaultError::PathNotFound(_))
                            | Err(VaultError::NotADirectory(_)) => {
                                let _ = guard.check(path, PathOp::Create);
                                outcome.refused += 1;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Some(before) => {
                        let must_compare = touched.overflowed || touched.paths.contains(&f.host);
                        match update(w, path, f, before, must_compare, guard)? {
                            Update::Applied => outcome.applied += 1,
                            Update::Refused => outcome.refused += 1,
                            Update::Unchanged => {}
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(outcome)
    }
}

impl Drop for Materialized {
    fn drop(&mut self) {
        drop(self.watcher.take());
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn written_of(attr: &Attr) -> Written {
    Written {
        kind: attr.kind,
        mode: attr.mode & 0o7777,
        size: attr.size,
        mtime_ns: attr.mtime_ns,
        content: attr.content,
        target: attr.target.clone(),
    }
}

fn kind_of(meta: &fs::Metadata) -> Option<Kind> {
    let t = meta.file_type();
    if t.is_file() {
        Some(Kind::File)
    } else if t.is_dir() {
        Some(Kind::Dir)
    } else if t.is_symlink() {
        Some(Kind::Symlink)
    } else {
        None
    }
}

/// Every entry under `root`, by vault path, without following symlinks.
fn scan(root: &Path) -> Result<BTreeMap<VaultPath, Found>, VaultError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), VaultPath::root())];
    while let Some((dir, at)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| host_err(&dir, e))? {
            let entry = entry.map_err(|e| host_err(&dir, e))?;
            let host = entry.path();
            let meta = fs::symlink_metadata(&host).map_err(|e| host_err(&host, e))?;
            let path = at.join(entry.file_name().as_bytes());
            if meta.is_dir() {
                stack.push((host.clone(), path.clone()));
            }
            out.insert(path, Found { host, meta });
        }
    }
    Ok(out)
}

/// Removes a path the run removed; false when a directory still holds
/// entries the run could not see.
fn remove(w: &TreeWriter<'_>, path: &VaultPath) -> Result<bool, VaultError> {
    let Some(attr) = w.resolve(path)? else {
        return Ok(true); // someone else removed it meanwhile
    };
    if attr.kind == Kind::Dir && !w.read_dir(attr.ino)?.is_empty() {
        return Ok(false);
    }
    w.remove(path, true)?;
    Ok(true)
}

fn read_link(f: &Found) -> Result<Vec<u8>, VaultError> {
    fs::read_link(&f.host)
        .map(|t| t.as_os_str().as_bytes().to_vec())
        .map_err(|e| host_err(&f.host, e))
}

fn store_file(w: &TreeWriter<'_>, f: &Found) -> Result<(ContentHash, u64), VaultError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&f.host)
        .map_err(|e| host_err(&f.host, e))?;
    w.store_content(file)
}

fn create(w: &TreeWriter<'_>, path: &VaultPath, f: &Found, kind: Kind) -> Result<(), VaultError> {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (p, n.to_vec()),
        _ => return Ok(()),
    };
    let dir = w.dir(&parent)?;
    let mode = f.meta.mode() & 0o7777;
    let node = match kind {
        Kind::Dir => NewNode::dir(mode),
        Kind::Symlink => NewNode::symlink(read_link(f)?),
        Kind::File => {
            let (content, size) = store_file(w, f)?;
            NewNode::file(content, size, mode)
        }
        special => NewNode::special(special, mode, f.meta.rdev()),
    };
    // A path replaced by another kind was removed above (if allowed); if it
    // is still there, the removal was refused and so is this.
    if w.lookup(dir.ino, &name)?.is_some() {
        return Err(VaultError::PathExists(path.to_string()));
    }
    w.create(dir.ino, &name, node.with_mtime(mtime_ns(&f.meta)))?;
    Ok(())
}

/// What became of an entry that existed before the run.
enum Update {
    Unchanged,
    Applied,
    Refused,
}

/// Applies the run's change to an entry that existed before it.
fn update(
    w: &TreeWriter<'_>,
    path: &VaultPath,
    f: &Found,
    before: &Written,
    must_compare: bool,
    guard: &PathGuard,
) -> Result<Update, VaultError> {
    let Some(attr) = w.resolve(path)? else {
        return Ok(Update::Unchanged); // removed meanwhile by someone else
    };
    let mode = f.meta.mode() & 0o7777;
    let mtime = mtime_ns(&f.meta);
    let (content_changed, new_content) = match before.kind {
        Kind::File => {
            let looks_same = f.meta.len() == before.size && mtime == before.mtime_ns;
            if looks_same && !must_compare {
                (false, None)
            } else {
                let (hash, size) = store_file(w, f)?;
                (Some(hash) != before.content, Some((hash, size)))
            }
        }
        Kind::Symlink => {
            let target = read_link(f)?;
            (Some(&target) != before.target.as_ref(), None)
        }
        _ => (false, None),
    };
    let mode_changed = before.kind != Kind::Symlink && mode != before.mode;
    if !content_changed && !mode_changed {
        // A new time alone (touch, a rebuild writing the same bytes) is kept
        // when allowed; it is not a change worth refusing.
        if before.kind == Kind::File
            && mtime != before.mtime_ns
            && guard.allows(path, PathOp::Write)
        {
            w.set_meta(attr.ino, None, Some(mtime))?;
        }
        return Ok(Update::Unchanged);
    }
    if guard.check(path, PathOp::Write).is_err() {
        return Ok(Update::Refused);
    }
    if content_changed {
        match before.kind {
            Kind::File => {
                let (hash, size) = new_content.expect("compared above");
                w.set_content(attr.ino, hash, size)?;
            }
            Kind::Symlink => {
                let parent = path.parent().expect("never the root");
                let name = path.file_name().expect("never the root").to_vec();
                let dir = w.dir(&parent)?;
                w.unlink(dir.ino, &name)?;
                w.create(
                    dir.ino,
                    &name,
                    NewNode::symlink(read_link(f)?).with_mtime(mtime),
                )?;
                return Ok(Update::Applied);
            }
            _ => {}
        }
    }
    let mtime = (before.kind == Kind::File).then_some(mtime);
    w.set_meta(attr.ino, mode_changed.then_some(mode), mtime)?;
    Ok(Update::Applied)
}
