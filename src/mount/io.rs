//! Operations on file data: open, read, write, fsync, release, fallocate.
//! Writes go into the open file's `ContentEditor` (see `open_files`); when
//! they reach the store is `commit`'s policy.

use super::commit::{SPILL_AT, Sharing};
use super::errno::errno;
use super::fault;
use super::open_files::Handle;
use super::owner::killed_suid;
use super::spool::{self, Spool};
use super::vaultfs::Inner;
use super::vaultfs::VaultFs;
use crate::policy::Op as PathOp;
use crate::vault::{Attr, HashedWrite, Kind, VaultError};
use fuser::{BackingId, Errno, OpenFlags};
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl VaultFs {
    /// Opens `ino`; returns the handle and, when the kernel is to read and
    /// write a spool file directly, its registration (`register` makes one).
    pub(super) fn do_open(
        &self,
        ino: u64,
        flags: OpenFlags,
        register: impl FnOnce(&File) -> std::io::Result<BackingId>,
    ) -> Result<(u64, Option<Arc<BackingId>>), Errno> {
        let wants_write = flags.0 & nix::libc::O_ACCMODE != nix::libc::O_RDONLY;
        if wants_write {
            self.writable()?;
        }
        let mut inner = self.lock();
        // The file's bytes as another mount closed them.
        self.see_closed_elsewhere(&mut inner);
        let attr = inner.attr(&self.state, ino)?;
        if attr.kind == Kind::Dir && wants_write {
            return Err(Errno::EISDIR);
        }
        let mut unreadable = None;
        if let (Some(guard), Some(path)) = (&self.guard, self.guarded_path(&mut inner, ino)?) {
            if wants_write {
                guard.check(&path, PathOp::Write)?;
                // The writeback cache turns O_WRONLY into O_RDWR, so a read-write
                // open cannot be refused for reading: its reads are, if they come.
                if !guard.allows(&path, PathOp::Read) {
                    unreadable = Some(path);
                }
            } else {
                guard.check(&path, PathOp::Read)?;
            }
        }
        // Close-to-open consistency: an editor with nothing unsaved is only a read
        // cache, and another process may have committed new content since.
        if self.sharing == Sharing::Shared
            && let Some(of) = inner.open.files.get_mut(&ino)
            && of.editor.as_ref().is_some_and(|e| !e.is_changed())
        {
            of.editor = None;
        }
        let backing = match inner.open.backing(ino) {
            Some(backing) => {
                // A spool cannot refuse reads: a handle that must not read gets none.
                if let (Some(guard), Some(path)) = (&self.guard, &unreadable) {
                    guard.check(path, PathOp::Read)?;
                }
                Some(backing)
            }
            // Only an empty file: one with content stays on the editor path,
            // which stores only the chunks a write touches.
            None if wants_write
                && attr.kind == Kind::File
                && attr.size == 0
                && unreadable.is_none()
                && inner.open.may_spool(ino) =>
            {
                self.start_spool(&mut inner, &attr, register)
            }
            None => None,
        };
        let append = flags.0 & nix::libc::O_APPEND != 0;
        Ok((inner.open.open(&attr, append, unreadable), backing))
    }

    /// Gives `attr`'s file a spool the kernel reads and writes directly, if
    /// this mount can: passthrough granted, no quota to check each write
    /// against, no setuid/setgid bits a write must drop. `None` otherwise
    /// (the file then takes the editor path).
    pub(super) fn start_spool(
        &self,
        inner: &mut Inner,
        attr: &Attr,
        register: impl FnOnce(&File) -> std::io::Result<BackingId>,
    ) -> Option<Arc<BackingId>> {
        if !self.passthrough.load(Ordering::Relaxed)
            || attr.mode & 0o6000 != 0
            || !inner.store.is_unlimited(&self.target.vault).ok()?
        {
            return None;
        }
        let file = spool::create_file(&self.store_dir).ok()?;
        let backing = match register(&file) {
            Ok(backing) => backing,
            Err(e) => {
                // Not root, or a store on a file system the kernel will not
                // stack on: the editor path serves every file from now on.
                if self.passthrough.swap(false, Ordering::Relaxed) {
                    fault::log(format_args!(
                        "passthrough unavailable ({e}); file data goes through the server"
                    ));
                }
                return None;
            }
        };
        let spool = Spool::new(file, backing, attr).ok()?;
        let backing = Arc::clone(&spool.backing);
        inner.open.entry(attr).spool = Some(spool);
        Some(backing)
    }

    pub(super) fn do_read(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<Vec<u8>, Errno> {
        let mut inner = self.lock();
        if let (
            Some(guard),
            Some(Handle::File {
                unreadable: Some(path),
                ..
            }),
        ) = (&self.guard, inner.open.handles.get(&fh))
        {
            guard.check(path, PathOp::Read)?;
        }
        // An open file whose editor is loaded knows its size and chunk list:
        // later reads need no attribute lookup, state or transaction (a random
        // read of a large file spent a fifth of its time on those).
        let Inner { store, open, .. } = &mut *inner;
        if let Some(of) = open.files.get_mut(&ino)
            && of.spool.is_none()
            && let Some(editor) = of.editor.as_mut()
        {
            let len = (size as u64).min(editor.size().saturating_sub(offset)) as usize;
            let mut buf = vec![0u8; len];
            let n = store
                .read_edited(editor, offset, &mut buf)
                .map_err(|e| errno(&e))?;
            buf.truncate(n);
            return Ok(buf);
        }
        let attr = inner.attr(&self.state, ino)?;
        if attr.kind != Kind::File {
            return Err(Errno::EISDIR);
        }
        // The kernel reads a spooled file itself; a read that comes here anyway
        // must see the spool all the same.
        if let Some(spool) = inner.open.files.get(&ino).and_then(|of| of.spool.as_ref()) {
            return spool.read_at(offset, size as usize).map_err(Errno::from);
        }
        let len = (size as u64).min(attr.size.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; len];
        // Read through the open file's editor: it loads the chunk list once, not per read.
        let n = inner.with_open_file(&attr, |store, of, _| {
            store
                .read(&self.state, |t| {
                    let editor = of.editor(t, &attr)?;
                    t.read_edited(editor, offset, &mut buf)
                })
                .map_err(|e| errno(&e))
        })?;
        buf.truncate(n);
        Ok(buf)
    }

    pub(super) fn do_write(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        kill_suidgid: bool,
    ) -> Result<u32, Errno> {
        self.writable()?;
        // The chunks a large write fills are hashed and appended to a
        // segment before the lock, so the mount's threads do it at once (a
        // spooled file's writes go to its spool: nothing to append then).
        let sink = self
            .sink
            .as_ref()
            .filter(|_| !self.passthrough.load(Ordering::Relaxed));
        let hashed = HashedWrite::of(offset, data, sink);
        let mut inner = self.lock();
        let attr = inner.attr(&self.state, ino)?;
        let append = matches!(
            inner.open.handles.get(&fh),
            Some(Handle::File { append: true, .. })
        );
        // The kernel asks (FUSE_WRITE_KILL_SUIDGID) when the writer lacks
        // CAP_FSETID: the bits go now, so the writer's own fstat sees it.
        if kill_suidgid && killed_suid(attr.mode) != attr.mode {
            let mode = killed_suid(attr.mode);
            if inner.read(&self.state, |t| t.attr(ino))?.is_some() {
                inner.save_attrs(&self.target.vault, ino)?;
                self.change(&mut inner, |w| w.set_meta(ino, Some(mode), None))?;
            } else if let Some(of) = inner.open.files.get_mut(&ino) {
                of.last.mode = mode;
            }
        }
        if let Some(of) = inner.open.files.get_mut(&ino)
            && let Some(spool) = of.spool.as_ref()
        {
            of.writable()?;
            of.mtime_override = None;
            let at = if append && !self.writeback.load(Ordering::Relaxed) {
                attr.size
            } else {
                offset
            };
            spool.write_at(at, data).map_err(Errno::from)?;
            return Ok(data.len() as u32);
        }
        let unlimited = inner
            .store
            .known_unlimited(&self.target.vault)
            .map_err(|e| errno(&e))?;
        inner.with_open_file(&attr, |store, of, batch| {
            of.writable()?;
            // A write after an explicit mtime moves the time on again.
            of.mtime_override = None;
            let spill = store
                .read(&self.state, |t| {
                    let editor = of.editor(t, &attr)?;
                    // With the writeback cache the kernel resolves O_APPEND itself.
                    let at = if append && !self.writeback.load(Ordering::Relaxed) {
                        editor.size()
                    } else {
                        offset
                    };
                    let end = at + data.len() as u64;
                    if !unlimited && end > editor.size() {
                        t.check_growth(&self.target.vault, ino, end)?;
                    }
                    t.write_edited_hashed(editor, at, hashed)?;
                    fault::trigger(data);
                    Ok(editor.dirty_bytes() > SPILL_AT)
                })
                .map_err(|e| {
                    let code = errno(&e);
                    // Over the quota: drop the file's unsaved changes too, so
                    // that nothing partial of it is ever committed.
                    if matches!(
                        e,
                        VaultError::QuotaExceeded { .. } | VaultError::FileTooLarge { .. }
                    ) {
                        of.fail(code);
                    }
                    code
                })?;
            if spill {
                let editor = of.editor.as_mut().expect("written above");
                batch.begin(store)?;
                store
                    .write_unjournaled(&self.target.vault, |w| w.spill_edited(editor))
                    .map_err(|e| of.fail_with(&e))?;
            }
            Ok(data.len() as u32)
        })
    }

    pub(super) fn do_release(&self, fh: u64) -> Result<(), Errno> {
        let mut inner = self.lock();
        let Some(Handle::File { ino, .. }) = inner.open.handles.remove(&fh) else {
            return Ok(());
        };
        let result = inner.close_commit(&self.target.vault, ino);
        inner.open.closed(ino);
        result
    }

    pub(super) fn do_fsync(&self, ino: u64) -> Result<(), Errno> {
        let mut inner = self.lock();
        inner.commit(&self.target.vault, ino)?;
        inner.store.sync().map_err(|e| errno(&e))
    }

    pub(super) fn do_fallocate(
        &self,
        ino: u64,
        offset: u64,
        length: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        use nix::libc::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE};
        let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
        let keep_size = mode & FALLOC_FL_KEEP_SIZE != 0;
        let zero = match mode & !FALLOC_FL_KEEP_SIZE {
            0 => false,
            // Punching needs KEEP_SIZE, as on every Linux file system.
            FALLOC_FL_PUNCH_HOLE if keep_size => true,
            FALLOC_FL_ZERO_RANGE => true,
            FALLOC_FL_PUNCH_HOLE => return Err(Errno::EINVAL),
            _ => return Err(Errno::EOPNOTSUPP),
        };
        self.writable()?;
        let size = {
            let mut inner = self.lock();
            if let Some(spool) = inner.open.files.get(&ino).and_then(|of| of.spool.as_ref()) {
                return spool.fallocate(mode, offset, length).map_err(Errno::from);
            }
            inner.attr(&self.state, ino)?.size
        };
        // Holes cost nothing, so there is nothing to reserve: only the size moves.
        if end > size && !keep_size {
            self.do_setattr(None, ino, None, None, None, Some(end), None, None)?;
        }
        if !zero {
            return Ok(());
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        let attr = inner.attr(&self.state, ino)?;
        if attr.kind != Kind::File {
            return Err(Errno::ENODEV);
        }
        self.guard_ino(inner, ino, PathOp::Write)?;
        let in_tree = inner.read(&self.state, |t| t.attr(ino))?.is_some();
        self.edit_content(inner, &attr, in_tree, None, |t, editor| {
            t.zero_edited(editor, offset, length)
        })
    }
}
