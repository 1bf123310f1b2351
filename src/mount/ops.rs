//! Operations on names and attributes: lookup, create, remove, rename, link,
//! attributes, extended attributes, directory listings and statfs. Each returns
//! `Result<_, Errno>`; `fs` replies.

use super::acl;
use super::attr::from_time;
use super::commit::Sharing;
use super::errno::errno;
use super::fault;
use super::open_files::{Handle, Listing};
use super::owner::{Caller, killed_suid};
use super::vaultfs::{Inner, VaultFs, checked_name};
use crate::policy::Op as PathOp;
use crate::vault::{
    Attr, ContentEditor, Kind, NewNode, RenameMode, Tree, TreeWriter, VaultError, now_ns,
};
use fuser::{Errno, RenameFlags, TimeOrNow};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

impl VaultFs {
    pub(super) fn do_lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, Errno> {
        let name = checked_name(name)?;
        let mut inner = self.lock();
        // The name, and the attributes the kernel keeps (its size), as
        // another mount closed the file: also on a hit.
        self.see_closed_elsewhere(&mut inner);
        // One read for the name and its attributes: a read outside a batch
        // is a transaction of its own, which costs more than either query.
        let found = inner.read(&self.state, |t| t.lookup_attr(parent, name))?;
        let (ino, attr) = found.ok_or(Errno::ENOENT)?;
        inner.with_open_state(ino, attr)
    }

    /// One `setattr`: `caller` is who asked (None: avfs itself, e.g. the size
    /// change of an `fallocate`), which decides whether setuid/setgid go.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn do_setattr(
        &self,
        caller: Option<Caller>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Result<Attr, Errno> {
        self.writable()?;
        let mut guard = self.lock();
        let inner = &mut *guard;
        // An unlinked file that is still open has no row to change: its
        // attributes live (and die) with the open file.
        let found = inner.read(&self.state, |t| t.attr(ino))?;
        let in_tree = found.is_some();
        let attr = inner.with_open_state(ino, found.clone())?;
        self.guard_ino(inner, ino, PathOp::Write)?;
        let mtime_ns = mtime.map(from_time);
        // The writeback cache sends a written file's mtime as it closes: it
        // waits with the unsaved writes and commits with them, one row write.
        if let (Some(ns), None, None, None, None, None) = (mtime_ns, mode, uid, gid, size, atime)
            && let Some(of) = inner.open.files.get_mut(&ino)
            && of.failed.is_none()
            && of.editor.as_ref().is_some_and(|e| e.is_changed())
        {
            of.mtime_override = Some(ns);
            inner.stats.attrs_changed += 1;
            return Ok(Attr {
                mtime_ns: ns,
                ..attr
            });
        }
        let atime_ns = atime.map(from_time);
        // Under HANDLE_KILLPRIV_V2 dropping setuid/setgid is ours to do: on a
        // chown always, on a truncate by someone without CAP_FSETID.
        let chown = uid.is_some() || gid.is_some();
        let truncate_by_user = size.is_some() && caller.is_some_and(|c| !c.is_root());
        let mode = match mode {
            None if attr.kind != Kind::Dir
                && (chown || truncate_by_user)
                && killed_suid(attr.mode) != attr.mode =>
            {
                Some(killed_suid(attr.mode))
            }
            mode => mode,
        };
        let times = mtime_ns.is_some() || atime_ns.is_some();
        // A private mount's open file keeps these with its writes, unsaved.
        if size.is_none()
            && (mode.is_some() || chown || times)
            && in_tree
            && self.sharing == Sharing::Private
            && let Some(of) = inner.open.files.get_mut(&ino)
            && of.opens > 0
            && of.failed.is_none()
        {
            let unsaved = of.unsaved_attrs.get_or_insert_default();
            unsaved.mode = mode.or(unsaved.mode);
            unsaved.uid = uid.or(unsaved.uid);
            unsaved.gid = gid.or(unsaved.gid);
            unsaved.atime_ns = atime_ns.or(unsaved.atime_ns);
            unsaved.ctime_ns = now_ns();
            of.mtime_override = mtime_ns.or(of.mtime_override);
            inner.stats.attrs_changed += 1;
            return inner.with_open_state(ino, found);
        }
        // Anything else changes the stored attributes: the unsaved ones first.
        inner.save_attrs(&self.target.vault, ino)?;
        if let Some(size) = size {
            if attr.kind == Kind::Dir {
                return Err(Errno::EISDIR);
            }
            let spool = inner.open.files.get(&ino).and_then(|of| of.spool.as_ref());
            if let Some(spool) = spool {
                spool.set_len(size).map_err(Errno::from)?;
            } else {
                self.edit_content(inner, &attr, in_tree, mtime_ns, |t, editor| {
                    if size > editor.size() {
                        t.check_growth(&self.target.vault, ino, size)?;
                    }
                    t.truncate_edited(editor, size)
                })?;
            }
        }
        if let (Some(of), Some(ns)) = (inner.open.files.get_mut(&ino), mtime_ns) {
            // Content committed later (on close) must keep this time (cp -p, tar).
            of.mtime_override = Some(ns);
        }
        if mode.is_some() || chown || times {
            if in_tree {
                self.change(inner, |w| {
                    if chown {
                        w.set_owner(ino, uid, gid)?;
                    }
                    if mode.is_some() {
                        w.set_meta(ino, mode, None)?;
                    }
                    if times {
                        w.set_times(ino, atime_ns, mtime_ns)?;
                    }
                    Ok(())
                })?;
            } else if let Some(of) = inner.open.files.get_mut(&ino) {
                let last = &mut of.last;
                last.mode = mode.map_or(last.mode, |m| m & 0o7777);
                last.uid = uid.unwrap_or(last.uid);
                last.gid = gid.unwrap_or(last.gid);
                last.mtime_ns = mtime_ns.unwrap_or(last.mtime_ns);
                last.atime_ns = atime_ns.unwrap_or(last.atime_ns);
            }
            inner.stats.attrs_changed += 1;
        }
        inner.attr(&self.state, ino)
    }

    /// Edits a file's content through its open-file editor (`edit`). A
    /// truncate or punched hole of an open file (the kernel does not say which
    /// handle) is one more unsaved write, committed with the others when the
    /// file is closed or synced: one version for truncate-then-write. A file
    /// nobody holds open commits now, stamped `mtime_ns` (default: now).
    pub(super) fn edit_content(
        &self,
        inner: &mut Inner,
        attr: &Attr,
        in_tree: bool,
        mtime_ns: Option<i64>,
        edit: impl FnOnce(&Tree<'_>, &mut ContentEditor) -> Result<(), VaultError>,
    ) -> Result<(), Errno> {
        let ino = attr.ino;
        inner.with_open_file(attr, |store, of, batch| {
            of.writable()?;
            let held = of.opens > 0;
            let editor = store
                .read(&self.state, |t| {
                    let editor = of.editor(t, attr)?;
                    edit(t, editor)?;
                    Ok(editor)
                })
                .map_err(|e| errno(&e))?;
            if in_tree && !held {
                batch.begin(store)?;
                store
                    .write_unjournaled(&self.target.vault, |w| {
                        w.commit_edited(ino, editor, mtime_ns)
                    })
                    .map_err(|e| errno(&e))?;
            }
            Ok(())
        })
    }

    pub(super) fn do_create_node(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        node: impl FnOnce(&TreeWriter<'_>) -> Result<NewNode, VaultError>,
    ) -> Result<Attr, Errno> {
        let name = checked_name(name)?;
        let mut inner = self.lock();
        if self.guard.is_some() {
            self.writable()?;
            // An existing name is EEXIST, as without rules: `mkdir -p` relies on it.
            if inner
                .read(&self.state, |t| t.lookup(parent, name))?
                .is_some()
            {
                return Err(Errno::EEXIST);
            }
            self.guard_entry(&mut inner, parent, name, PathOp::Create)?;
        }
        inner.check_path_len(&self.state, parent, name)?;
        let attr = self.change(&mut inner, |w| {
            // A directory has no open state to add: the store's attributes are its own.
            let dir = w.require_dir(parent)?;
            let node = caller.owns(&dir, node(w)?);
            let attr = w.create_in(dir, name, node)?;
            fault::trigger(name);
            Ok(attr)
        })?;
        inner.stats.created += 1;
        Ok(attr)
    }

    pub(super) fn do_remove(&self, parent: u64, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        let name = checked_name(name)?;
        let mut inner = self.lock();
        let ino = inner
            .read(&self.state, |t| t.lookup(parent, name))?
            .ok_or(Errno::ENOENT)?;
        let attr = inner.attr(&self.state, ino)?;
        match (want_dir, attr.kind == Kind::Dir) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            _ => {}
        }
        self.writable()?;
        self.guard_entry(&mut inner, parent, name, PathOp::Delete)?;
        self.change(&mut inner, |w| w.unlink(parent, name))?;
        if want_dir {
            inner.dir_path_len.remove(&ino);
        }
        if let Some(of) = inner.open.files.get_mut(&ino) {
            of.last.nlink = of.last.nlink.saturating_sub(1);
        }
        inner.stats.removed += 1;
        Ok(())
    }

    pub(super) fn do_rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        let (name, newname) = (checked_name(name)?, checked_name(newname)?);
        let mode = if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            RenameMode::Exchange
        } else if flags.contains(RenameFlags::RENAME_NOREPLACE) {
            RenameMode::NoReplace
        } else if flags.is_empty() {
            RenameMode::Replace
        } else {
            return Err(Errno::EINVAL);
        };
        let mut inner = self.lock();
        if self.guard.is_some() {
            self.writable()?;
            let replaced = inner.read(&self.state, |t| t.lookup(newparent, newname))?;
            if mode == RenameMode::Exchange {
                self.guard_entry(&mut inner, parent, name, PathOp::Write)?;
                self.guard_entry(&mut inner, newparent, newname, PathOp::Write)?;
            } else {
                self.guard_entry(&mut inner, parent, name, PathOp::Delete)?;
                // Renaming over a file rewrites it; onto a free name creates one.
                let op = if replaced.is_some() {
                    PathOp::Write
                } else {
                    PathOp::Create
                };
                self.guard_entry(&mut inner, newparent, newname, op)?;
            }
        }
        inner.check_path_len(&self.state, newparent, newname)?;
        self.change(&mut inner, |w| {
            w.rename(parent, name, newparent, newname, mode)
        })?;
        // A directory moved: the paths under it changed length.
        inner.dir_path_len.clear();
        inner.stats.renamed += 1;
        Ok(())
    }

    pub(super) fn do_link(&self, ino: u64, newparent: u64, newname: &OsStr) -> Result<Attr, Errno> {
        let newname = checked_name(newname)?;
        let mut inner = self.lock();
        if let Some(guard) = self.guard.clone() {
            self.writable()?;
            if let Some(source) = self.guarded_path(&mut inner, ino)? {
                guard.check_link(&source)?;
            }
            self.guard_entry(&mut inner, newparent, newname, PathOp::Create)?;
        }
        inner.check_path_len(&self.state, newparent, newname)?;
        let attr = self.change(&mut inner, |w| w.link(ino, newparent, newname))?;
        inner.stats.created += 1;
        inner.with_open_state(ino, Some(attr))
    }

    pub(super) fn do_opendir(&self, ino: u64) -> Result<u64, Errno> {
        let mut inner = self.lock();
        // Names another mount closed files under, before this open decides
        // whether the kernel may keep its listing.
        self.see_closed_elsewhere(&mut inner);
        self.guard_ino(&mut inner, ino, PathOp::Read)?;
        let dir = inner.attr(&self.state, ino)?;
        if dir.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(inner.open.new_handle(Handle::Dir { ino, listing: None }))
    }

    /// Directory `ino`'s entries, "." and ".." first; none once it is gone.
    fn listing(&self, inner: &mut Inner, ino: u64) -> Result<Listing, Errno> {
        let mut entries = inner.read(&self.state, |t| {
            let Some(dir) = t.attr(ino)? else {
                return Ok(Vec::new());
            };
            let parent = t.parent_dir(ino)?.unwrap_or(ino);
            let parent = t.attr(parent)?.unwrap_or_else(|| dir.clone());
            let mut entries = vec![(b".".to_vec(), dir), (b"..".to_vec(), parent)];
            entries.extend(t.read_dir(ino)?.into_iter().map(|e| (e.name, e.attr)));
            Ok(entries)
        })?;
        // The kernel takes these attributes as the inodes' own (readdirplus).
        for (_, attr) in &mut entries {
            if let Some(of) = inner.open.files.get(&attr.ino) {
                of.overlay(attr);
            }
        }
        Ok(entries)
    }

    /// Calls `add` for each directory entry from `offset` (with the kernel
    /// cache's epoch when the listing was read) until it reports a full
    /// buffer. The first call reads the listing, which later ones page
    /// through: a listing stays the one the directory had then.
    pub(super) fn each_dir_entry(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, &[u8], &Attr, u64) -> bool,
    ) -> Result<(), Errno> {
        let epoch = self.epoch();
        let mut inner = self.lock();
        let unread = match inner.open.handles.get(&fh) {
            Some(Handle::Dir { ino, listing }) => listing.is_none().then_some(*ino),
            _ => return Err(Errno::EBADF),
        };
        if let Some(ino) = unread {
            let entries = self.listing(&mut inner, ino)?;
            if let Some(Handle::Dir { listing, .. }) = inner.open.handles.get_mut(&fh) {
                *listing = Some((entries, epoch));
            }
        }
        let Some(Handle::Dir {
            listing: Some((entries, epoch)),
            ..
        }) = inner.open.handles.get(&fh)
        else {
            return Err(Errno::EBADF);
        };
        for (i, (name, attr)) in entries.iter().enumerate().skip(offset as usize) {
            if add(i as u64 + 1, name, attr, *epoch) {
                break;
            }
        }
        Ok(())
    }

    pub(super) fn do_statfs(&self) -> Result<(u64, u64, u64, u32), Errno> {
        let st =
            nix::sys::statvfs::statvfs(&self.store_dir).map_err(|e| Errno::from_i32(e as i32))?;
        Ok((
            st.blocks() as u64,
            st.blocks_free() as u64,
            st.blocks_available() as u64,
            st.fragment_size() as u32,
        ))
    }

    pub(super) fn do_setxattr(
        &self,
        caller: Caller,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
    ) -> Result<(), Errno> {
        let name = name.as_bytes();
        if name == acl::ACCESS {
            return self.set_access_acl(caller, ino, value);
        }
        let mut inner = self.lock();
        self.guard_ino(&mut inner, ino, PathOp::Write)?;
        let exists = inner.read(&self.state, |t| t.xattr(ino, name))?.is_some();
        if flags & nix::libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & nix::libc::XATTR_REPLACE != 0 && !exists {
            return Err(Errno::ENODATA);
        }
        self.change(&mut inner, |w| w.set_xattr(ino, name, Some(value)))?;
        inner.stats.attrs_changed += 1;
        Ok(())
    }

    /// Sets `ino`'s access ACL, which is also its mode (see `acl`): as for
    /// chmod, only its owner or root may. A mode-only ACL is not stored.
    fn set_access_acl(&self, caller: Caller, ino: u64, value: &[u8]) -> Result<(), Errno> {
        self.writable()?;
        let acl = acl::parse(value)?;
        let attr = {
            let mut inner = self.lock();
            self.guard_ino(&mut inner, ino, PathOp::Write)?;
            inner.attr(&self.state, ino)?
        };
        if !caller.may_chmod(&attr) {
            return Err(Errno::EPERM);
        }
        let mode = caller.mode_from_acl(&attr, acl.bits);
        self.do_setattr(Some(caller), ino, Some(mode), None, None, None, None, None)?;
        let mut inner = self.lock();
        if !acl.is_mode {
            self.change(&mut inner, |w| w.set_xattr(ino, acl::ACCESS, Some(value)))?;
        } else if inner
            .read(&self.state, |t| t.xattr(ino, acl::ACCESS))?
            .is_some()
        {
            self.change(&mut inner, |w| w.set_xattr(ino, acl::ACCESS, None))?;
        }
        drop(inner);
        // The kernel keeps the mode it had: make it ask for the new one.
        self.forget_attrs(ino);
        Ok(())
    }

    pub(super) fn do_removexattr(&self, ino: u64, name: &OsStr) -> Result<(), Errno> {
        let name = name.as_bytes();
        let mut inner = self.lock();
        self.guard_ino(&mut inner, ino, PathOp::Write)?;
        if inner.read(&self.state, |t| t.xattr(ino, name))?.is_none() {
            return Err(Errno::ENODATA);
        }
        self.change(&mut inner, |w| w.set_xattr(ino, name, None))?;
        inner.stats.attrs_changed += 1;
        Ok(())
    }
}
