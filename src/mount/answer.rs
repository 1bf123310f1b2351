//! How a handler answers the kernel, whichever way the request came: one
//! trait per kind of answer, implemented by fuser's replies (requests read
//! from /dev/fuse) and by a ring entry's (FUSE over io_uring, `ring`), so that
//! each request's handling is written once in `fs`.

use fuser::{
    BackingId, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr,
};
use std::ffi::OsStr;
use std::fs::File;
use std::time::Duration;

/// Every answer can be an error.
pub(super) trait Answer {
    /// Answers with `e`.
    fn error(self, e: Errno);
}

/// The answer to a request that names an inode (lookup, mknod, mkdir, ...).
pub(super) trait AnswerEntry: Answer {
    /// The inode and how long the kernel may keep its name and attributes.
    fn entry(self, ttl: &Duration, attr: &FileAttr);
}

/// The answer to `getattr` and `setattr`.
pub(super) trait AnswerAttr: Answer {
    /// The attributes and how long the kernel may keep them.
    fn attr(self, ttl: &Duration, attr: &FileAttr);
}

/// The answer to `read` and `readlink`.
pub(super) trait AnswerData: Answer {
    /// The bytes read.
    fn data(self, data: &[u8]);
}

/// An answer with nothing in it but success.
pub(super) trait AnswerEmpty: Answer {
    /// Success.
    fn ok(self);
}

/// The answer to `write`.
pub(super) trait AnswerWrite: Answer {
    /// How many bytes were written.
    fn written(self, size: u32);
}

/// The answer to `statfs`.
pub(super) trait AnswerStatfs: Answer {
    /// The file system's counts, as `statfs(2)` reports them.
    #[allow(clippy::too_many_arguments)]
    fn statfs(
        self,
        blocks: u64,
        bfree: u64,
        bavail: u64,
        files: u64,
        ffree: u64,
        bsize: u32,
        namelen: u32,
        frsize: u32,
    );
}

/// The answer to `getxattr` and `listxattr`.
pub(super) trait AnswerXattr: Answer {
    /// The size the value would take (the caller asked with size 0).
    fn size(self, size: u32);
    /// The value.
    fn data(self, data: &[u8]);
}

/// A backing file for passthrough, registered with the kernel.
pub(super) trait RegisterBacking {
    /// Registers `file` as a backing file.
    fn open_backing(&self, file: &File) -> std::io::Result<BackingId>;
}

/// The answer to `open` and `opendir`.
pub(super) trait AnswerOpen: Answer + RegisterBacking {
    /// The handle, and what the kernel may cache.
    fn opened(self, fh: FileHandle, flags: FopenFlags);
    /// The handle of a file whose data goes to `backing` without the server.
    fn opened_passthrough(self, fh: FileHandle, flags: FopenFlags, backing: &BackingId);
}

/// The answer to `create`.
pub(super) trait AnswerCreate: Answer + RegisterBacking {
    /// The new inode, as `entry` says it, and its open handle.
    fn created(self, ttl: &Duration, attr: &FileAttr, fh: FileHandle, flags: FopenFlags);
    /// As `created`, for a file whose data goes to `backing` without the server.
    fn created_passthrough(
        self,
        ttl: &Duration,
        attr: &FileAttr,
        fh: FileHandle,
        flags: FopenFlags,
        backing: &BackingId,
    );
}

/// The answer to `readdir`: entries until the kernel's buffer is full.
pub(super) trait AnswerDir: Answer {
    /// Adds an entry; true when it did not fit (and was not added).
    fn add(&mut self, ino: INodeNo, offset: u64, kind: FileType, name: &OsStr) -> bool;
    /// The entries added.
    fn ok(self);
}

/// The answer to `readdirplus`: entries with attributes until the buffer is full.
pub(super) trait AnswerDirPlus: Answer {
    /// Adds an entry; true when it did not fit (and was not added).
    fn add(&mut self, offset: u64, name: &OsStr, ttl: &Duration, attr: &FileAttr) -> bool;
    /// The entries added.
    fn ok(self);
}

macro_rules! answer_with_error {
    ($($reply:ty),*) => {$(
        impl Answer for $reply {
            fn error(self, e: Errno) {
                <$reply>::error(self, e)
            }
        }
    )*};
}

answer_with_error!(
    ReplyEntry,
    ReplyAttr,
    ReplyData,
    ReplyEmpty,
    ReplyWrite,
    ReplyStatfs,
    ReplyXattr,
    ReplyOpen,
    ReplyCreate,
    ReplyDirectory,
    ReplyDirectoryPlus
);

impl AnswerEntry for ReplyEntry {
    fn entry(self, ttl: &Duration, attr: &FileAttr) {
        ReplyEntry::entry(self, ttl, attr, Generation(0))
    }
}

impl AnswerAttr for ReplyAttr {
    fn attr(self, ttl: &Duration, attr: &FileAttr) {
        ReplyAttr::attr(self, ttl, attr)
    }
}

impl AnswerData for ReplyData {
    fn data(self, data: &[u8]) {
        ReplyData::data(self, data)
    }
}

impl AnswerEmpty for ReplyEmpty {
    fn ok(self) {
        ReplyEmpty::ok(self)
    }
}

impl AnswerWrite for ReplyWrite {
    fn written(self, size: u32) {
        ReplyWrite::written(self, size)
    }
}

impl AnswerStatfs for ReplyStatfs {
    fn statfs(
        self,
        blocks: u64,
        bfree: u64,
        bavail: u64,
        files: u64,
        ffree: u64,
        bsize: u32,
        namelen: u32,
        frsize: u32,
    ) {
        ReplyStatfs::statfs(
            self, blocks, bfree, bavail, files, ffree, bsize, namelen, frsize,
        )
    }
}

impl AnswerXattr for ReplyXattr {
    fn size(self, size: u32) {
        ReplyXattr::size(self, size)
    }

    fn data(self, data: &[u8]) {
        ReplyXattr::data(self, data)
    }
}

impl RegisterBacking for ReplyOpen {
    fn open_backing(&self, file: &File) -> std::io::Result<BackingId> {
        ReplyOpen::open_backing(self, file)
    }
}

impl AnswerOpen for ReplyOpen {
    fn opened(self, fh: FileHandle, flags: FopenFlags) {
        ReplyOpen::opened(self, fh, flags)
    }

    fn opened_passthrough(self, fh: FileHandle, flags: FopenFlags, backing: &BackingId) {
        ReplyOpen::opened_passthrough(self, fh, flags, backing)
    }
}

impl RegisterBacking for ReplyCreate {
    fn open_backing(&self, file: &File) -> std::io::Result<BackingId> {
        ReplyCreate::open_backing(self, file)
    }
}

impl AnswerCreate for ReplyCreate {
    fn created(self, ttl: &Duration, attr: &FileAttr, fh: FileHandle, flags: FopenFlags) {
        ReplyCreate::created(self, ttl, attr, Generation(0), fh, flags)
    }

    fn created_passthrough(
        self,
        ttl: &Duration,
        attr: &FileAttr,
        fh: FileHandle,
        flags: FopenFlags,
        backing: &BackingId,
    ) {
        ReplyCreate::created_passthrough(self, ttl, attr, Generation(0), fh, flags, backing)
    }
}

impl AnswerDir for ReplyDirectory {
    fn add(&mut self, ino: INodeNo, offset: u64, kind: FileType, name: &OsStr) -> bool {
        ReplyDirectory::add(self, ino, offset, kind, name)
    }

    fn ok(self) {
        ReplyDirectory::ok(self)
    }
}

impl AnswerDirPlus for ReplyDirectoryPlus {
    fn add(&mut self, offset: u64, name: &OsStr, ttl: &Duration, attr: &FileAttr) -> bool {
        ReplyDirectoryPlus::add(self, attr.ino, offset, name, ttl, attr, Generation(0))
    }

    fn ok(self) {
        ReplyDirectoryPlus::ok(self)
    }
}
