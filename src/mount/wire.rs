//! The parts of the FUSE wire format (`include/uapi/linux/fuse.h`) that the
//! io_uring queues (`ring`) decode and encode themselves: request headers and
//! arguments in, answers out. Requests read from /dev/fuse are fuser's.

#![allow(non_camel_case_types)]

use std::mem::size_of;

/// The kernel's request codes this module knows.
pub(super) mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const FALLOCATE: u32 = 43;
    pub const READDIRPLUS: u32 = 44;
    pub const RENAME2: u32 = 45;
}

/// `setattr`'s `valid` bits.
pub(super) mod fattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const ATIME_NOW: u32 = 1 << 7;
    pub const MTIME_NOW: u32 = 1 << 8;
}

/// Marks the wire structs: plain integers, any bit pattern valid, no padding
/// the kernel does not also have.
///
/// # Safety
/// Only for `#[repr(C)]` structs made of integers and arrays of them.
pub(super) unsafe trait Wire: Copy + Default {}

/// Reads a `T` from the start of `bytes`; `None` when it is too short.
pub(super) fn read<T: Wire>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked; `T: Wire` takes any bit pattern, and
    // the read is unaligned.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of `value`, as the kernel reads them.
pub(super) fn bytes<T: Wire>(value: &T) -> &[u8] {
    // SAFETY: `T: Wire` has no padding the kernel lacks and no pointers.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

macro_rules! wire {
    ($($(#[$doc:meta])* struct $name:ident { $($field:ident: $ty:ty),* $(,)? })*) => {$(
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default)]
        pub(super) struct $name { $(pub $field: $ty),* }
        // SAFETY: integers only, laid out as the kernel's struct.
        unsafe impl Wire for $name {}
    )*};
}

wire! {
    /// Every request's header.
    struct in_header { len: u32, opcode: u32, unique: u64, nodeid: u64, uid: u32, gid: u32, pid: u32, total_extlen: u16, padding: u16 }
    /// Every answer's header.
    struct out_header { len: u32, error: i32, unique: u64 }
    /// An inode's attributes.
    struct attr {
        ino: u64, size: u64, blocks: u64, atime: u64, mtime: u64, ctime: u64,
        atimensec: u32, mtimensec: u32, ctimensec: u32, mode: u32, nlink: u32,
        uid: u32, gid: u32, rdev: u32, blksize: u32, flags: u32,
    }
    /// A name's inode and how long to keep both.
    struct entry_out { nodeid: u64, generation: u64, entry_valid: u64, attr_valid: u64, entry_valid_nsec: u32, attr_valid_nsec: u32, attr: attr }
    /// Attributes and how long to keep them.
    struct attr_out { attr_valid: u64, attr_valid_nsec: u32, dummy: u32, attr: attr }
    /// `setattr`'s arguments.
    struct setattr_in {
        valid: u32, padding: u32, fh: u64, size: u64, lock_owner: u64,
        atime: u64, mtime: u64, ctime: u64, atimensec: u32, mtimensec: u32, ctimensec: u32,
        mode: u32, unused4: u32, uid: u32, gid: u32, unused5: u32,
    }
    /// `mknod`'s arguments.
    struct mknod_in { mode: u32, rdev: u32, umask: u32, padding: u32 }
    /// `mkdir`'s arguments.
    struct mkdir_in { mode: u32, umask: u32 }
    /// `rename`'s arguments.
    struct rename_in { newdir: u64 }
    /// `rename2`'s arguments.
    struct rename2_in { newdir: u64, flags: u32, padding: u32 }
    /// `link`'s arguments.
    struct link_in { oldnodeid: u64 }
    /// `open`'s and `opendir`'s arguments.
    struct open_in { flags: u32, open_flags: u32 }
    /// `create`'s arguments.
    struct create_in { flags: u32, mode: u32, umask: u32, open_flags: u32 }
    /// An open handle.
    struct open_out { fh: u64, open_flags: u32, backing_id: i32 }
    /// `release`'s and `releasedir`'s arguments.
    struct release_in { fh: u64, flags: u32, release_flags: u32, lock_owner: u64 }
    /// `read`'s, `readdir`'s and `readdirplus`'s arguments.
    struct read_in { fh: u64, offset: u64, size: u32, read_flags: u32, lock_owner: u64, flags: u32, padding: u32 }
    /// `write`'s arguments (the data follows).
    struct write_in { fh: u64, offset: u64, size: u32, write_flags: u32, lock_owner: u64, flags: u32, padding: u32 }
    /// How much a `write` took.
    struct write_out { size: u32, padding: u32 }
    /// `statfs`'s answer.
    struct statfs_out {
        blocks: u64, bfree: u64, bavail: u64, files: u64, ffree: u64,
        bsize: u32, namelen: u32, frsize: u32, padding: u32, spare: [u32; 6],
    }
    /// `setxattr`'s arguments without `FUSE_SETXATTR_EXT` (name and value follow).
    struct setxattr_in { size: u32, flags: u32 }
    /// `getxattr`'s and `listxattr`'s arguments.
    struct getxattr_in { size: u32, padding: u32 }
    /// The size of a value asked for with size 0.
    struct getxattr_out { size: u32, padding: u32 }
    /// `fallocate`'s arguments.
    struct fallocate_in { fh: u64, offset: u64, length: u64, mode: u32, padding: u32 }
    /// A directory entry's fixed part (the name follows, padded to 8 bytes).
    struct dirent { ino: u64, off: u64, namelen: u32, kind: u32 }
}

/// The bytes a directory entry named `namelen` bytes takes, `fixed` before its name.
pub(super) fn dirent_len(fixed: usize, namelen: usize) -> usize {
    (fixed + namelen + 7) & !7
}

/// The NUL-terminated name at the start of `payload`, and what follows it.
pub(super) fn name(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = payload.iter().position(|&b| b == 0)?;
    Some((&payload[..end], &payload[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structs_have_the_kernel_s_sizes() {
        assert_eq!(size_of::<in_header>(), 40);
        assert_eq!(size_of::<out_header>(), 16);
        assert_eq!(size_of::<attr>(), 88);
        assert_eq!(size_of::<entry_out>(), 128);
        assert_eq!(size_of::<attr_out>(), 104);
        assert_eq!(size_of::<setattr_in>(), 88);
        assert_eq!(size_of::<open_out>(), 16);
        assert_eq!(size_of::<read_in>(), 40);
        assert_eq!(size_of::<write_in>(), 40);
        assert_eq!(size_of::<statfs_out>(), 80);
        assert_eq!(size_of::<release_in>(), 24);
        assert_eq!(size_of::<fallocate_in>(), 32);
        assert_eq!(size_of::<dirent>(), 24);
    }

    #[test]
    fn a_name_ends_at_its_nul_and_a_short_struct_is_refused() {
        assert_eq!(name(b"old\0new\0"), Some((&b"old"[..], &b"new\0"[..])));
        assert_eq!(name(b"unterminated"), None);
        assert!(read::<open_in>(&[0u8; 7]).is_none());
        let open = read::<open_in>(&[2, 0, 0, 0, 0, 0, 0, 0]).expect("8 bytes");
        assert_eq!(open.flags, 2);
        assert_eq!(dirent_len(24, 1), 32);
        assert_eq!(dirent_len(24, 8), 32);
        assert_eq!(dirent_len(24, 9), 40);
    }
}
