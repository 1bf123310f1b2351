//! Requests read from /dev/fuse by fuser's session: each is handed to the
//! `VaultFs` handler of the same name (`fs`), which the io_uring queues
//! (`ring`) share.

use super::fs::RING_PAYLOAD;
use super::owner::Caller;
use super::ring::Rings;
use super::vaultfs::{VaultFs, lock};
use fuser::{
    AccessFlags, FileHandle, Filesystem, INodeNo, KernelConfig, LockOwner, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The mount's file system as fuser's session serves it.
pub struct SessionFs {
    fs: Arc<VaultFs>,
    rings: Arc<RingSlot>,
}

/// The io_uring queues of a session: whether its INIT asked for them, and
/// the queues once started.
#[derive(Default)]
pub(super) struct RingSlot {
    granted: AtomicBool,
    rings: Mutex<Option<Rings>>,
}

/// What starts a session's io_uring queues once its INIT is answered.
pub(super) struct RingStarter {
    fs: Arc<VaultFs>,
    slot: Arc<RingSlot>,
}

impl SessionFs {
    /// Serves `fs`.
    pub(super) fn new(fs: VaultFs) -> Self {
        Self {
            fs: Arc::new(fs),
            rings: Arc::default(),
        }
    }

    /// What starts the queues after the session's handshake (fuser answers
    /// INIT before it hands the session over).
    pub(super) fn ring_starter(&self) -> RingStarter {
        RingStarter {
            fs: Arc::clone(&self.fs),
            slot: Arc::clone(&self.rings),
        }
    }
}

impl RingStarter {
    /// Whether INIT asked for the queues.
    pub(super) fn granted(&self) -> bool {
        self.slot.granted.load(Ordering::Acquire)
    }

    /// Starts the queues on `fuse` if INIT asked for them. Once it has, the
    /// kernel holds every request until each CPU's queue is registered: a
    /// session whose queues cannot start is unusable, and this fails.
    /// Returns the session's transport: `io_uring` or `dev_fuse`.
    pub(super) fn start(self, fuse: BorrowedFd<'_>) -> std::io::Result<&'static str> {
        if !self.granted() {
            return Ok("dev_fuse");
        }
        let rings = Rings::start(self.fs, fuse.try_clone_to_owned()?, RING_PAYLOAD as usize)?;
        *lock(&self.slot.rings) = Some(rings);
        Ok("io_uring")
    }
}

impl Filesystem for SessionFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let granted = self.fs.init(config)?;
        self.rings.granted.store(granted, Ordering::Release);
        Ok(())
    }

    fn destroy(&mut self) {
        // The queues stop with the connection; what they answered is in the
        // mount's state before the session's end commits it.
        if let Some(rings) = lock(&self.rings.rings).take() {
            rings.join();
        }
        self.fs.destroy()
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.fs.lookup(Caller::of(req), parent, name, reply)
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.fs.getattr(Caller::of(req), ino, reply)
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.fs.setattr(
            Caller::of(req),
            ino,
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            reply,
        )
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        self.fs.readlink(Caller::of(req), ino, reply)
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        self.fs
            .mknod(Caller::of(req), parent, name, mode, umask, rdev, reply)
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.fs
            .mkdir(Caller::of(req), parent, name, mode, umask, reply)
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.fs.unlink(Caller::of(req), parent, name, reply)
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.fs.rmdir(Caller::of(req), parent, name, reply)
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.fs
            .symlink(Caller::of(req), parent, link_name, target, reply)
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.rename(
            Caller::of(req),
            parent,
            name,
            newparent,
            newname,
            flags,
            reply,
        )
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.fs
            .link(Caller::of(req), ino, newparent, newname, reply)
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.fs.open(Caller::of(req), ino, flags, reply)
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.fs.read(Caller::of(req), ino, fh, offset, size, reply)
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.fs
            .write(Caller::of(req), ino, fh, offset, data, write_flags, reply)
    }

    fn flush(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.fs.flush(Caller::of(req), ino, reply)
    }

    fn release(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.release(Caller::of(req), ino, fh, reply)
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.fsync(Caller::of(req), ino, reply)
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.fs.opendir(Caller::of(req), ino, _flags, reply)
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.fs.readdir(Caller::of(req), ino, fh, offset, reply)
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.fs.readdirplus(Caller::of(req), ino, fh, offset, reply)
    }

    fn releasedir(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(Caller::of(req), fh, reply)
    }

    fn fsyncdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.fsyncdir(Caller::of(req), ino, reply)
    }

    fn statfs(&self, req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        self.fs.statfs(Caller::of(req), ino, reply)
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        self.fs
            .setxattr(Caller::of(req), ino, name, value, flags, reply)
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        self.fs.getxattr(Caller::of(req), ino, name, size, reply)
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.fs.listxattr(Caller::of(req), ino, size, reply)
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.fs.removexattr(Caller::of(req), ino, name, reply)
    }

    fn access(&self, req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        self.fs.access(Caller::of(req), ino, reply)
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.fs
            .create(Caller::of(req), parent, name, mode, umask, flags, reply)
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.fs
            .fallocate(Caller::of(req), ino, offset, length, mode, reply)
    }
}
