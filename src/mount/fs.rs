//! Each kernel request's handling, whichever transport brought it (fuser's
//! /dev/fuse session, `device`, or the io_uring queues, `ring`): it becomes
//! one `VaultFs` operation (`ops`, `io`), served under `fault::contain`, and
//! every handler answers in exactly one place from its `Result<_, Errno>`,
//! through the `answer` traits.

use super::answer::{
    AnswerAttr, AnswerCreate, AnswerData, AnswerDir, AnswerDirPlus, AnswerEmpty, AnswerEntry,
    AnswerOpen, AnswerStatfs, AnswerWrite, AnswerXattr,
};
use super::attr::{file_type, fuse_attr, negative_entry};
use super::commit::Sharing;
use super::errno::errno;
use super::fault;
use super::notify::EXPIRE_ONLY_MINOR;
use super::owner::Caller;
use super::ring;
use super::spool;
use super::vaultfs::VaultFs;
use crate::policy::Op as PathOp;
use crate::vault::{Attr, Kind, NewNode, ROOT_INO, TreeWriter};
use fuser::{
    Errno, FileHandle, FopenFlags, INodeNo, InitFlags, KernelConfig, OpenFlags, RenameFlags,
    TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Largest write the kernel sends at once.
const MAX_WRITE: u32 = 1 << 20;

/// The most a request or answer carries besides its headers (a write, a
/// read, a listing): the room each io_uring entry needs.
pub(super) const RING_PAYLOAD: u32 = MAX_WRITE;

/// Replies with an xattr value or its size, as the `size` argument asks.
fn reply_xattr(reply: impl AnswerXattr, data: Result<Vec<u8>, Errno>, size: u32) {
    match data {
        Err(e) => reply.error(e),
        Ok(data) if size == 0 => reply.size(data.len() as u32),
        Ok(data) if data.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(data) => reply.data(&data),
    }
}

impl VaultFs {
    /// Open flags for `ino` (a file's data, a directory's listing): the
    /// kernel keeps its pages from the last open unless another process's
    /// commit may have changed them since.
    fn page_flags(&self, ino: u64) -> FopenFlags {
        if self.keep_pages(ino) {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        }
    }
}

/// Each request's handling, whichever transport brought it (`device`, `ring`).
/// The handlers take the kernel's arguments as fuser's trait hands them over.
#[allow(clippy::too_many_arguments)]
impl VaultFs {
    /// Answers the kernel's INIT; true when the session is to be served
    /// through io_uring queues (`ring`) as well.
    pub(super) fn init(&self, config: &mut KernelConfig) -> std::io::Result<bool> {
        let _ = config.set_max_write(MAX_WRITE);
        let _ = config.set_max_readahead(MAX_WRITE);
        // A shared mount caches names that exist for long only where the
        // kernel can expire them without unhashing them (see `kernel_cache`).
        super::vaultfs::lock(&self.cached)
            .set_expire_only(config.kernel_abi().1 >= EXPIRE_ONLY_MINOR);
        // HANDLE_KILLPRIV_V2: we drop setuid/setgid on write ourselves, so the
        // kernel stops asking for security.capability before every write(2).
        let wanted = InitFlags::FUSE_HANDLE_KILLPRIV_V2
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_CACHE_SYMLINKS;
        let _ = config.add_capabilities(wanted & config.capabilities());
        // Passthrough (Linux 6.9+): spooled files' data goes between the
        // program and a local file without this server (see `spool`). The
        // kernel grants it only without the writeback cache, registers files
        // only for root, and the store's file system must not be stacked
        // itself (depth 1). Without it, the writeback cache batches small writes.
        if self.target.is_readonly() {
            let _ = self.data_path.set("fuse");
            return Ok(self.ask_for_ring(config));
        }
        if spool::wanted()
            && config.set_max_stack_depth(1).is_ok()
            && config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
        {
            self.passthrough.store(true, Ordering::Relaxed);
        } else if config
            .add_capabilities(InitFlags::FUSE_WRITEBACK_CACHE)
            .is_ok()
        {
            self.writeback.store(true, Ordering::Relaxed);
        }
        let passthrough = self.passthrough.load(Ordering::Relaxed);
        let _ = self
            .data_path
            .set(if passthrough { "passthrough" } else { "fuse" });
        // The ring only without passthrough: its answers register no backing file.
        Ok(!passthrough && self.ask_for_ring(config))
    }

    /// Asks the kernel to send requests through io_uring queues, where it
    /// offers them and they are wanted (`ring::wanted`).
    fn ask_for_ring(&self, config: &mut KernelConfig) -> bool {
        ring::wanted(self.sharing == Sharing::Private)
            && config
                .add_capabilities(InitFlags::FUSE_OVER_IO_URING)
                .is_ok()
    }

    pub(super) fn destroy(&self) {
        let finisher = self.finisher();
        fault::contain(&self.faults, "destroy", ROOT_INO, || {
            finisher.finish();
        });
    }

    pub(super) fn lookup(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        reply: impl AnswerEntry,
    ) {
        let _answered = self.answering(call);
        let epoch = self.epoch();
        match self.serve("lookup", parent.0, || self.do_lookup(parent.0, name)) {
            Ok(attr) => {
                let ttl = self.entry_ttl(epoch, parent.0, name.as_bytes(), attr.ino);
                reply.entry(&ttl, &fuse_attr(&attr))
            }
            // Inode 0 tells the kernel to cache "no such name" for the TTL: tools
            // probe many missing paths. Creating the name through the mount
            // replaces the negative entry at once.
            Err(e) if e == Errno::ENOENT => {
                let ttl = self.entry_ttl(epoch, parent.0, name.as_bytes(), 0);
                reply.entry(&ttl, &negative_entry())
            }
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn getattr(&self, call: Caller, ino: INodeNo, reply: impl AnswerAttr) {
        let _answered = self.answering(call);
        let epoch = self.epoch();
        match self.serve("getattr", ino.0, || self.lock().attr(&self.state, ino.0)) {
            Ok(attr) => reply.attr(&self.attr_ttl(epoch, attr.ino), &fuse_attr(&attr)),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn setattr(
        &self,
        call: Caller,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        reply: impl AnswerAttr,
    ) {
        let _answered = self.answering(call);
        let epoch = self.epoch();
        match self.serve("setattr", ino.0, || {
            let caller = Some(call);
            self.do_setattr(caller, ino.0, mode, uid, gid, size, atime, mtime)
        }) {
            Ok(attr) => reply.attr(&self.attr_ttl(epoch, attr.ino), &fuse_attr(&attr)),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn readlink(&self, call: Caller, ino: INodeNo, reply: impl AnswerData) {
        let _answered = self.answering(call);
        let attr = self.serve("readlink", ino.0, || {
            let mut inner = self.lock();
            self.guard_ino(&mut inner, ino.0, PathOp::Read)?;
            inner.attr(&self.state, ino.0)
        });
        match attr {
            Ok(Attr {
                target: Some(target),
                ..
            }) => reply.data(&target),
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn mknod(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: impl AnswerEntry,
    ) {
        let _answered = self.answering(call);
        use nix::libc::{S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK};
        // The kernel checked CAP_MKNOD for devices before asking.
        let special = match mode & S_IFMT {
            S_IFREG | 0 => None,
            S_IFIFO => Some((Kind::Fifo, 0)),
            S_IFSOCK => Some((Kind::Socket, 0)),
            S_IFCHR => Some((Kind::CharDevice, u64::from(rdev))),
            S_IFBLK => Some((Kind::BlockDevice, u64::from(rdev))),
            _ => return reply.error(Errno::EINVAL),
        };
        let perm = mode & !umask & 0o7777;
        let epoch = self.epoch();
        let result = self.serve("mknod", parent.0, || {
            self.do_create_node(call, parent.0, name, |w| match special {
                Some((kind, rdev)) => Ok(NewNode::special(kind, perm, rdev)),
                None => {
                    let (content, size) = w.store_content(&[][..])?;
                    Ok(NewNode::file(content, size, perm))
                }
            })
        });
        match result {
            Ok(attr) => {
                let ttl = self.entry_ttl(epoch, parent.0, name.as_bytes(), attr.ino);
                reply.entry(&ttl, &fuse_attr(&attr))
            }
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn mkdir(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: impl AnswerEntry,
    ) {
        let _answered = self.answering(call);
        let epoch = self.epoch();
        match self.serve("mkdir", parent.0, || {
            let node = |_: &TreeWriter<'_>| Ok(NewNode::dir(mode & !umask));
            self.do_create_node(call, parent.0, name, node)
        }) {
            Ok(attr) => {
                let ttl = self.entry_ttl(epoch, parent.0, name.as_bytes(), attr.ino);
                reply.entry(&ttl, &fuse_attr(&attr))
            }
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn unlink(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        match self.serve("unlink", parent.0, || self.do_remove(parent.0, name, false)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn rmdir(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        match self.serve("rmdir", parent.0, || self.do_remove(parent.0, name, true)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn symlink(
        &self,
        call: Caller,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: impl AnswerEntry,
    ) {
        let _answered = self.answering(call);
        let target = target.as_os_str().as_bytes().to_vec();
        let epoch = self.epoch();
        let created = self.serve("symlink", parent.0, || {
            let node = |_: &TreeWriter<'_>| Ok(NewNode::symlink(target));
            self.do_create_node(call, parent.0, link_name, node)
        });
        match created {
            Ok(attr) => {
                let ttl = self.entry_ttl(epoch, parent.0, link_name.as_bytes(), attr.ino);
                reply.entry(&ttl, &fuse_attr(&attr))
            }
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn rename(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        match self.serve("rename", parent.0, || {
            self.do_rename(parent.0, name, newparent.0, newname, flags)
        }) {
            Ok(()) => {
                // The kernel moves its entry to the new name, which must no
                // longer be invalidated as a missing one.
                self.name_exists(newparent.0, newname.as_bytes());
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn link(
        &self,
        call: Caller,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: impl AnswerEntry,
    ) {
        let _answered = self.answering(call);
        let epoch = self.epoch();
        match self.serve("link", ino.0, || self.do_link(ino.0, newparent.0, newname)) {
            Ok(attr) => {
                let ttl = self.entry_ttl(epoch, newparent.0, newname.as_bytes(), attr.ino);
                reply.entry(&ttl, &fuse_attr(&attr))
            }
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn open(
        &self,
        call: Caller,
        ino: INodeNo,
        flags: OpenFlags,
        reply: impl AnswerOpen,
    ) {
        let _answered = self.answering(call);
        let opened = self.serve("open", ino.0, || {
            self.do_open(ino.0, flags, |file| reply.open_backing(file))
        });
        match opened {
            Ok((fh, Some(backing))) => {
                // No page-cache flags: the kernel refuses them with a backing file.
                reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &backing)
            }
            Ok((fh, None)) => reply.opened(FileHandle(fh), self.page_flags(ino.0)),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn read(
        &self,
        call: Caller,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        reply: impl AnswerData,
    ) {
        let _answered = self.answering_data(call);
        match self.serve("read", ino.0, || self.do_read(ino.0, fh.0, offset, size)) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn write(
        &self,
        call: Caller,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        reply: impl AnswerWrite,
    ) {
        let _answered = self.answering_data(call);
        let kill = write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID);
        match self.serve("write", ino.0, || {
            self.do_write(ino.0, fh.0, offset, data, kill)
        }) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn flush(&self, call: Caller, ino: INodeNo, reply: impl AnswerEmpty) {
        let _answered = self.answering(call);
        // A private mount owes no other process its files at close: the
        // release (which the program does not wait for) brings the file's
        // writes into the batch. ENOSYS makes the kernel stop sending
        // FLUSH, a round trip at every close; it still writes its cached
        // pages back at close, so a write's error reaches `close` as before.
        if self.sharing == Sharing::Private {
            return reply.error(Errno::ENOSYS);
        }
        match self.serve("flush", ino.0, || {
            self.lock().close_commit(&self.target.vault, ino.0)
        }) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn release(
        &self,
        call: Caller,
        ino: INodeNo,
        fh: FileHandle,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        let released = self.serve("release", ino.0, || {
            // The kernel drops a release's answer: a run's private mount
            // (no FLUSH) reports its commit's failure nowhere else.
            self.do_release(fh.0).inspect_err(|e| {
                fault::log(format_args!(
                    "committing inode {} at its last close failed ({}): its unsaved writes are lost",
                    ino.0,
                    fault::describe(*e)
                ))
            })
        });
        match released {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn fsync(&self, call: Caller, ino: INodeNo, reply: impl AnswerEmpty) {
        let _answered = self.answering_data(call);
        match self.serve("fsync", ino.0, || self.do_fsync(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn opendir(
        &self,
        call: Caller,
        ino: INodeNo,
        _flags: OpenFlags,
        reply: impl AnswerOpen,
    ) {
        let _answered = self.answering(call);
        match self.serve("opendir", ino.0, || self.do_opendir(ino.0)) {
            // The kernel caches the listing in the directory's pages, under
            // the same rule as a file's; its own changes through this mount
            // reset it.
            Ok(fh) => reply.opened(
                FileHandle(fh),
                FopenFlags::FOPEN_CACHE_DIR | self.page_flags(ino.0),
            ),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn readdir(
        &self,
        call: Caller,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: impl AnswerDir,
    ) {
        let _answered = self.answering(call);
        let result = self.serve("readdir", ino.0, || {
            self.each_dir_entry(fh.0, offset, |next, name, attr, _| {
                reply.add(
                    INodeNo(attr.ino),
                    next,
                    file_type(attr.kind),
                    OsStr::from_bytes(name),
                )
            })
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn readdirplus(
        &self,
        call: Caller,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: impl AnswerDirPlus,
    ) {
        let _answered = self.answering(call);
        let result = self.serve("readdirplus", ino.0, || {
            self.each_dir_entry(fh.0, offset, |next, name, attr, epoch| {
                reply.add(
                    next,
                    OsStr::from_bytes(name),
                    &self.entry_ttl(epoch, ino.0, name, attr.ino),
                    &fuse_attr(attr),
                )
            })
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn releasedir(&self, call: Caller, fh: FileHandle, reply: impl AnswerEmpty) {
        let _answered = self.answering(call);
        self.lock().open.handles.remove(&fh.0);
        reply.ok();
    }

    pub(super) fn fsyncdir(&self, call: Caller, ino: INodeNo, reply: impl AnswerEmpty) {
        let _answered = self.answering_data(call);
        // Directory changes are committed as they happen; make them durable.
        match self.serve("fsyncdir", ino.0, || {
            self.lock().store.sync().map_err(|e| errno(&e))
        }) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn statfs(&self, call: Caller, ino: INodeNo, reply: impl AnswerStatfs) {
        let _answered = self.answering(call);
        match self.serve("statfs", ino.0, || self.do_statfs()) {
            Ok((blocks, bfree, bavail, frsize)) => reply.statfs(
                blocks,
                bfree,
                bavail,
                u64::from(u32::MAX),
                u64::from(u32::MAX),
                frsize,
                255,
                frsize,
            ),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn setxattr(
        &self,
        call: Caller,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        match self.serve("setxattr", ino.0, || {
            self.do_setxattr(call, ino.0, name, value, flags)
        }) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn getxattr(
        &self,
        call: Caller,
        ino: INodeNo,
        name: &OsStr,
        size: u32,
        reply: impl AnswerXattr,
    ) {
        let _answered = self.answering(call);
        let value = self.serve("getxattr", ino.0, || {
            self.lock()
                .read(&self.state, |t| t.xattr(ino.0, name.as_bytes()))
                .and_then(|v| v.ok_or(Errno::ENODATA))
        });
        reply_xattr(reply, value, size);
    }

    pub(super) fn listxattr(&self, call: Caller, ino: INodeNo, size: u32, reply: impl AnswerXattr) {
        let _answered = self.answering(call);
        let names = self.serve("listxattr", ino.0, || {
            self.lock()
                .read(&self.state, |t| t.xattr_names(ino.0))
                .map(|names| {
                    names
                        .into_iter()
                        .flat_map(|mut n| {
                            n.push(0);
                            n
                        })
                        .collect::<Vec<u8>>()
                })
        });
        reply_xattr(reply, names, size);
    }

    pub(super) fn removexattr(
        &self,
        call: Caller,
        ino: INodeNo,
        name: &OsStr,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        match self.serve("removexattr", ino.0, || self.do_removexattr(ino.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn access(&self, call: Caller, ino: INodeNo, reply: impl AnswerEmpty) {
        let _answered = self.answering(call);
        // Permission bits are checked by the kernel (default_permissions); this
        // only has to say whether the inode exists.
        match self.serve("access", ino.0, || self.lock().attr(&self.state, ino.0)) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn create(
        &self,
        call: Caller,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: impl AnswerCreate,
    ) {
        let _answered = self.answering(call);
        let epoch = self.epoch();
        let result = self.serve("create", parent.0, || {
            // Its version is recorded when it is first committed (see `fresh`).
            let attr = self.do_create_node(call, parent.0, name, |w| {
                let (content, size) = w.store_content(&[][..])?;
                Ok(NewNode::file(content, size, mode & !umask).without_version())
            })?;
            let append = flags & nix::libc::O_APPEND != 0;
            let mut inner = self.lock();
            let backing = self.start_spool(&mut inner, &attr, |file| reply.open_backing(file));
            let fh = inner.open.open(&attr, append, None);
            if let Some(of) = inner.open.files.get_mut(&attr.ino) {
                of.fresh = true;
            }
            Ok((attr, fh, backing))
        });
        let flags = match &result {
            Ok((attr, ..)) => self.page_flags(attr.ino),
            Err(_) => FopenFlags::empty(),
        };
        let ttl = &match &result {
            Ok((attr, ..)) => self.entry_ttl(epoch, parent.0, name.as_bytes(), attr.ino),
            Err(_) => Duration::ZERO,
        };
        match result {
            Ok((attr, fh, Some(backing))) => reply.created_passthrough(
                ttl,
                &fuse_attr(&attr),
                FileHandle(fh),
                FopenFlags::empty(),
                &backing,
            ),
            Ok((attr, fh, None)) => reply.created(ttl, &fuse_attr(&attr), FileHandle(fh), flags),
            Err(e) => reply.error(e),
        }
    }

    pub(super) fn fallocate(
        &self,
        call: Caller,
        ino: INodeNo,
        offset: u64,
        length: u64,
        mode: i32,
        reply: impl AnswerEmpty,
    ) {
        let _answered = self.answering(call);
        match self.serve("fallocate", ino.0, || {
            self.do_fallocate(ino.0, offset, length, mode)
        }) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::answer::Answer;
    use super::*;
    use crate::vault::{Op, VaultPath};
    use std::cell::Cell;

    /// An empty answer, kept where the test can look at it.
    struct Kept<'a>(&'a Cell<Option<Result<(), Errno>>>);

    impl Answer for Kept<'_> {
        fn error(self, e: Errno) {
            self.0.set(Some(Err(e)));
        }
    }

    impl AnswerEmpty for Kept<'_> {
        fn ok(self) {
            self.0.set(Some(Ok(())));
        }
    }

    /// A mount (`sharing`) of a vault whose file `/f` ("old", mode 0644)
    /// is open for reading and writing with "new" written over it and not
    /// committed: the store's directory, another connection to it, the
    /// mount, the file's path, inode and handle.
    fn written_over(
        sharing: Sharing,
    ) -> (
        tempfile::TempDir,
        crate::vault::Store,
        VaultFs,
        VaultPath,
        u64,
        u64,
    ) {
        let (dir, mut other, fs) = VaultFs::on_a_new_store(sharing);
        let f = VaultPath::parse_str("/f").unwrap();
        other
            .write("v", Op::new("write", "f"), |w| {
                w.write_file(&f, &b"old"[..], false, 0o644)
            })
            .unwrap();
        let ino = fs.do_lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
        let (fh, _) = fs
            .do_open(ino, OpenFlags(nix::libc::O_RDWR), |_| unreachable!())
            .unwrap();
        fs.do_write(ino, fh, 0, b"new", false).unwrap();
        (dir, other, fs, f, ino, fh)
    }

    /// A shared mount looks at the store's `data_version` before it hands
    /// anything out, so its first tick forgets nothing unless another
    /// connection committed since. An invalidation of every inode on that
    /// tick once made the kernel drop a permission check's answer and check
    /// the mode it had before an ACL made the file private.
    #[test]
    fn a_shared_mount_s_first_look_at_the_store_counts_only_commits_since_it_mounted() {
        let (_dir, mut other, fs) = VaultFs::on_a_new_store(Sharing::Shared);
        let changed = |fs: &VaultFs| {
            let version = fs.lock().store.data_version().unwrap();
            super::super::vaultfs::lock(&fs.cached).store_changed(version)
        };
        assert!(!changed(&fs), "nothing committed since the mount");
        other
            .write("v", Op::new("write", "f"), |w| {
                w.write_file(
                    &VaultPath::parse_str("/f").unwrap(),
                    &b"x"[..],
                    false,
                    0o644,
                )
            })
            .unwrap();
        assert!(changed(&fs), "another connection committed");
        assert!(!changed(&fs));
    }

    /// A close in a private mount costs no FLUSH: the kernel is told it has
    /// none (and stops sending it), and the release still brings the file's
    /// writes into the session; a shared mount commits at the flush.
    #[test]
    fn only_a_shared_mount_takes_flush_and_a_private_one_commits_at_release() {
        for sharing in [Sharing::Shared, Sharing::Private] {
            let (_dir, mut other, fs, f, ino, fh) = written_over(sharing);
            let answer = Cell::new(None);
            fs.flush(Caller::new(0, 0, 1), INodeNo(ino), Kept(&answer));
            let expected = match sharing {
                Sharing::Shared => Ok(()),
                Sharing::Private => Err(Errno::ENOSYS),
            };
            assert_eq!(answer.get(), Some(expected), "{sharing:?}");
            fs.do_release(fh).unwrap();
            fs.finisher().finish();
            let head = crate::vault::StateRef::Head { vault: "v".into() };
            let now = other.read(&head, |t| t.stat(&f)).unwrap();
            assert_eq!(
                now.content,
                Some(crate::vault::ContentHash::of_bytes(b"new")),
                "{sharing:?}"
            );
        }
    }

    /// A private mount keeps an open file's chmod, chown and utimensat with
    /// its writes: every answer shows them (attributes, lookup, a listing),
    /// the store gets them when the file commits, and whatever changes the
    /// stored attributes before that (a truncate, the setuid bit a write by
    /// a user drops) saves them first. A shared mount stores them at once.
    #[test]
    fn a_private_mount_keeps_an_open_file_s_attribute_changes_until_it_commits() {
        use fuser::TimeOrNow::SpecificTime;
        use std::time::{Duration, UNIX_EPOCH};
        let at = |s| Some(SpecificTime(UNIX_EPOCH + Duration::from_secs(s)));
        let root = Some(Caller::new(0, 0, 1));
        for sharing in [Sharing::Shared, Sharing::Private] {
            let (_dir, _other, fs, f, ino, fh) = written_over(sharing);
            let stored = |fs: &VaultFs, ino| {
                let mut inner = fs.lock();
                inner.read(&fs.state, |t| t.attr(ino)).unwrap().unwrap()
            };
            // The mode and size a listing gives `f` (readdirplus hands them to the kernel).
            let listed = |fs: &VaultFs| {
                let dh = fs.do_opendir(ROOT_INO).unwrap();
                let mut found = None;
                fs.each_dir_entry(dh, 0, |_, name, attr, _| {
                    if name == b"f" {
                        found = Some((attr.mode, attr.size));
                    }
                    false
                })
                .unwrap();
                found
            };
            let answered = fs
                .do_setattr(
                    root,
                    ino,
                    Some(0o751),
                    Some(7),
                    Some(8),
                    None,
                    at(100),
                    at(200),
                )
                .unwrap();
            assert_eq!((answered.mode, answered.uid, answered.gid), (0o751, 7, 8));
            assert_eq!(
                (answered.atime_ns, answered.mtime_ns),
                (100 * 1_000_000_000, 200 * 1_000_000_000)
            );
            let shown = fs.lock().attr(&fs.state, ino).unwrap();
            assert_eq!(
                (shown.mode, shown.uid, shown.mtime_ns),
                (0o751, 7, 200 * 1_000_000_000)
            );
            assert_eq!(fs.do_lookup(ROOT_INO, OsStr::new("f")).unwrap().mode, 0o751);
            assert_eq!(listed(&fs), Some((0o751, 3)), "{sharing:?}");
            let expected = match sharing {
                Sharing::Shared => 0o751,
                Sharing::Private => 0o644,
            };
            assert_eq!(stored(&fs, ino).mode, expected, "{sharing:?}");
            // A truncate writes the stored attributes: the unsaved ones go first.
            fs.do_setattr(root, ino, None, None, None, Some(2), None, None)
                .unwrap();
            assert_eq!(stored(&fs, ino).mode, 0o751, "{sharing:?}");
            // The open file's unsaved size shows in a listing, not yet in the store.
            assert_eq!(listed(&fs), Some((0o751, 2)), "{sharing:?}");
            assert_eq!(stored(&fs, ino).size, 3, "{sharing:?}");
            // So does a user's write to a setuid file, which drops the bit.
            fs.do_setattr(root, ino, Some(0o4755), None, None, None, None, None)
                .unwrap();
            fs.do_write(ino, fh, 0, b"ne", true).unwrap();
            assert_eq!(fs.lock().attr(&fs.state, ino).unwrap().mode, 0o755);
            fs.do_setattr(root, ino, None, Some(9), None, None, at(300), None)
                .unwrap();
            fs.do_release(fh).unwrap();
            let now = stored(&fs, ino);
            assert_eq!((now.mode, now.uid, now.gid), (0o755, 9, 8), "{sharing:?}");
            assert_eq!(now.atime_ns, 300 * 1_000_000_000, "{sharing:?}");
            assert_eq!(
                now.content,
                Some(crate::vault::ContentHash::of_bytes(b"ne"))
            );
            // A file only read, its mode changed: the release stores the mode
            // and records no version (its content did not change).
            let versions = |fs: &VaultFs| {
                let mut inner = fs.lock();
                inner.read(&fs.state, |t| t.versions(&f)).unwrap().len()
            };
            let before = versions(&fs);
            let (fh, _) = fs
                .do_open(ino, OpenFlags(nix::libc::O_RDONLY), |_| unreachable!())
                .unwrap();
            fs.do_setattr(root, ino, Some(0o700), None, None, None, None, at(400))
                .unwrap();
            fs.do_release(fh).unwrap();
            let now = stored(&fs, ino);
            assert_eq!(
                (now.mode, now.mtime_ns),
                (0o700, 400 * 1_000_000_000),
                "{sharing:?}"
            );
            assert_eq!(versions(&fs), before, "{sharing:?}");
            fs.finisher().finish();
        }
    }

    /// An access ACL is the file's mode: a mode-only one is not stored, one
    /// with named entries is (its mask standing for the group bits). Only
    /// the owner or root may set one, a user outside the file's group loses
    /// setgid by it, and a malformed one is EINVAL. Set on an open file of a
    /// private mount, the mode commits with the file.
    #[test]
    fn an_access_acl_is_the_mode_and_only_the_owner_or_root_sets_one() {
        use super::super::acl::encoded as acl;
        const ANY: u32 = u32::MAX;
        let mode_only = acl(&[(0x01, 7, ANY), (0x04, 5, ANY), (0x20, 5, ANY)]);
        let named = acl(&[
            (0x01, 6, ANY),
            (0x02, 7, 1000),
            (0x04, 4, ANY),
            (0x10, 5, ANY),
            (0x20, 0, ANY),
        ]);
        let name = OsStr::new("system.posix_acl_access");
        let root = Caller::new(0, 0, 1);
        for sharing in [Sharing::Shared, Sharing::Private] {
            let (_dir, _other, fs, _f, ino, fh) = written_over(sharing);
            let mode = |fs: &VaultFs| fs.lock().attr(&fs.state, ino).unwrap().mode;
            let stored = |fs: &VaultFs| {
                let mut inner = fs.lock();
                inner
                    .read(&fs.state, |t| t.xattr(ino, name.as_bytes()))
                    .unwrap()
            };
            fs.do_setxattr(root, ino, name, &named, 0).unwrap();
            assert_eq!((mode(&fs), stored(&fs)), (0o650, Some(named.clone())));
            fs.do_setxattr(root, ino, name, &mode_only, 0).unwrap();
            assert_eq!((mode(&fs), stored(&fs)), (0o755, None), "{sharing:?}");
            let bad = &mode_only[..mode_only.len() - 2];
            assert_eq!(fs.do_setxattr(root, ino, name, bad, 0), Err(Errno::EINVAL));
            // Owned by uid 1000, group 2000, setgid.
            fs.do_setattr(
                Some(root),
                ino,
                Some(0o2700),
                Some(1000),
                Some(2000),
                None,
                None,
                None,
            )
            .unwrap();
            let stranger = Caller::new(1001, 2000, 1);
            assert_eq!(
                fs.do_setxattr(stranger, ino, name, &mode_only, 0),
                Err(Errno::EPERM)
            );
            assert_eq!(mode(&fs), 0o2700);
            fs.do_setxattr(Caller::new(1000, 2000, 1), ino, name, &mode_only, 0)
                .unwrap();
            assert_eq!(mode(&fs), 0o2755, "in the group: setgid stays");
            fs.do_setxattr(Caller::new(1000, 1000, 1), ino, name, &mode_only, 0)
                .unwrap();
            assert_eq!(mode(&fs), 0o755, "outside it: setgid goes");
            fs.do_release(fh).unwrap();
            let mut inner = fs.lock();
            let row = inner.read(&fs.state, |t| t.attr(ino)).unwrap().unwrap();
            assert_eq!(
                (row.mode, row.uid, row.gid),
                (0o755, 1000, 2000),
                "{sharing:?}"
            );
            drop(inner);
            fs.finisher().finish();
        }
    }

    /// A file whose commit failed commits nothing of it later: its editor
    /// may have moved onto rows the failed write rolled back.
    #[test]
    fn a_file_whose_commit_failed_fails_until_closed_and_stores_nothing_of_it() {
        let (_dir, mut other, fs, _f, ino, fh) = written_over(Sharing::Private);
        let limits = crate::vault::quota::Limits {
            max_file_size: Some(2),
            ..Default::default()
        };
        other.set_quota("v", limits).unwrap();
        let failed = fs.do_fsync(ino);
        assert!(failed.is_err(), "{failed:?}");
        assert_eq!(
            fs.do_write(ino, fh, 0, b"n", false),
            Err(failed.unwrap_err())
        );
        assert_eq!(fs.do_release(fh), Err(failed.unwrap_err()));
        fs.finisher().finish();
        let mut inner = fs.lock();
        let row = inner.read(&fs.state, |t| t.attr(ino)).unwrap().unwrap();
        assert_eq!(
            row.content,
            Some(crate::vault::ContentHash::of_bytes(b"old"))
        );
    }

    /// A file whose last commit, at the end of the session, fails says so
    /// in the mount's log: no program is left to tell.
    #[test]
    fn a_last_commit_that_fails_is_in_a_private_mount_s_log() {
        let (_dir, mut other, fs, _f, ino, _fh) = written_over(Sharing::Private);
        let limits = crate::vault::quota::Limits {
            max_file_size: Some(2),
            ..Default::default()
        };
        other.set_quota("v", limits).unwrap();
        fs.finisher().finish();
        let lines = fs.finisher().take_faults();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("the last commit of inode {ino} failed")),
            "{lines:?}"
        );
        // A second finish (the session's DESTROY, then its end) says it once.
        fs.finisher().finish();
        assert!(fs.finisher().take_faults().is_empty());
    }

    /// A batch the store rolled back (its COMMIT failed) takes with it what
    /// open files held in memory about it: a file with unsaved writes fails
    /// with EIO until closed, and one without reads the store again.
    #[test]
    fn after_a_rolled_back_batch_unsaved_files_fail_and_the_others_read_the_store() {
        let (_dir, mut other, fs, _f, ino, fh) = written_over(Sharing::Private);
        let g = VaultPath::parse_str("/g").unwrap();
        other
            .write("v", Op::new("write", "g"), |w| {
                w.write_file(&g, &b"kept"[..], false, 0o644)
            })
            .unwrap();
        // A private mount's reads share a snapshot until its next tick.
        fs.lock().store.release_reads().unwrap();
        let g_ino = fs.do_lookup(ROOT_INO, OsStr::new("g")).unwrap().ino;
        let (g_fh, _) = fs
            .do_open(g_ino, OpenFlags(nix::libc::O_RDONLY), |_| unreachable!())
            .unwrap();
        assert_eq!(fs.do_read(g_ino, g_fh, 0, 16).unwrap(), b"kept");
        assert!(fs.lock().open.files[&g_ino].editor.is_some());
        fs.lock().store.pretend_a_batch_rolled_back(true);
        assert_eq!(fs.do_write(ino, fh, 0, b"more", false), Err(Errno::ENOSPC));
        assert!(
            fs.lock().open.files[&g_ino].editor.is_none(),
            "loaded again when read"
        );
        assert_eq!(fs.do_read(g_ino, g_fh, 0, 16).unwrap(), b"kept");
        let lines = fs.finisher().take_faults();
        assert_eq!(
            lines,
            ["a batch commit failed and was rolled back: 1 open files lost their unsaved writes"]
        );
    }

    /// A release whose commit fails says so in the mount's log (a run's
    /// document), as the kernel drops the release's answer.
    #[test]
    fn a_release_whose_commit_fails_is_in_a_private_mount_s_log() {
        let (_dir, _other, fs, _f, ino, fh) = written_over(Sharing::Private);
        fs.lock().open.quarantine(ino);
        let answer = Cell::new(None);
        fs.release(
            Caller::new(0, 0, 1),
            INodeNo(ino),
            FileHandle(fh),
            Kept(&answer),
        );
        assert_eq!(answer.get(), Some(Err(Errno::EIO)));
        fs.finisher().finish();
        let lines = fs.finisher().take_faults();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("committing inode {ino} at its last close failed")),
            "{lines:?}"
        );
    }

    /// A file that fails for good (here: a request on it panicked) drops
    /// its unsaved attribute changes with its unsaved writes: nothing
    /// partial of it is committed.
    #[test]
    fn a_quarantined_file_commits_none_of_its_unsaved_attributes() {
        let (_dir, _other, fs, _f, ino, fh) = written_over(Sharing::Private);
        let root = Some(Caller::new(0, 0, 1));
        fs.do_setattr(root, ino, Some(0o700), None, None, None, None, None)
            .unwrap();
        assert_eq!(fs.lock().attr(&fs.state, ino).unwrap().mode, 0o700);
        fs.lock().open.quarantine(ino);
        // A truncate, which would save unsaved attributes first, saves none.
        assert_eq!(
            fs.do_setattr(root, ino, None, None, None, Some(1), None, None),
            Err(Errno::EIO)
        );
        assert_eq!(fs.do_release(fh), Err(Errno::EIO));
        fs.finisher().finish();
        let mut inner = fs.lock();
        let row = inner.read(&fs.state, |t| t.attr(ino)).unwrap().unwrap();
        assert_eq!(row.mode, 0o644);
        assert_eq!(
            row.content,
            Some(crate::vault::ContentHash::of_bytes(b"old"))
        );
    }
}
