//! The mount's channel for telling the kernel what to forget, including the
//! one notice fuser cannot send: expiring a name without unhashing it.

use fuser::{Filesystem, INodeNo, Notifier, Session};
use std::ffi::OsStr;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// `FUSE_NOTIFY_INVAL_ENTRY`, the notice's code in the reply header.
const NOTIFY_INVAL_ENTRY: i32 = 3;
/// `FUSE_EXPIRE_ONLY` (protocol 7.38, Linux 6.2): the kernel marks the
/// entry stale instead of unhashing it.
const EXPIRE_ONLY: u32 = 1;
/// The first protocol minor whose kernel honours [`EXPIRE_ONLY`].
pub(super) const EXPIRE_ONLY_MINOR: u32 = 38;

/// fuser's notifier, and the session's `/dev/fuse` descriptor for the
/// notices fuser has no call for.
#[derive(Clone)]
pub struct KernelLink {
    notifier: Notifier,
    fuse: Arc<OwnedFd>,
}

impl KernelLink {
    /// The link to the kernel of `session`: its notifier, and a duplicate
    /// of its descriptor (close-on-exec, like the original).
    pub fn of<FS: Filesystem>(session: &Session<FS>) -> io::Result<Self> {
        Ok(Self {
            notifier: session.notifier(),
            fuse: Arc::new(session.as_fd().try_clone_to_owned()?),
        })
    }

    /// Drops `name` in `parent` from the kernel's cache (unhashing it).
    pub(super) fn inval_entry(&self, parent: u64, name: &[u8]) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        self.notifier
            .inval_entry(INodeNo(parent), OsStr::from_bytes(name))
    }

    /// Drops what the kernel caches of `ino`: attributes and pages.
    pub(super) fn inval_inode(&self, ino: u64) -> io::Result<()> {
        self.notifier.inval_inode(INodeNo(ino), 0, 0)
    }

    /// Marks `ino`'s attributes stale, keeping its pages. With a negative
    /// offset the kernel drops no page and takes no lock of the inode
    /// (`fuse_reverse_inval_inode`), so this may be sent while serving a
    /// request on it.
    pub(super) fn inval_attrs(&self, ino: u64) -> io::Result<()> {
        self.notifier.inval_inode(INodeNo(ino), -1, 0)
    }

    /// Marks `name` in `parent` stale: the kernel asks again at its next
    /// use, but keeps the entry hashed, so a process whose current directory
    /// (or running program) it is keeps it unless the answer changed.
    /// A name the kernel no longer caches is not an error.
    pub(super) fn expire_entry(&self, parent: u64, name: &[u8]) -> io::Result<()> {
        let namelen = u32::try_from(name.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        // fuse_out_header (len, error, unique), then fuse_notify_inval_entry_out
        // (parent, namelen, flags), then the name and its NUL.
        let len = 16 + 16 + name.len() + 1;
        let mut head = [0u8; 32];
        head[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        head[4..8].copy_from_slice(&NOTIFY_INVAL_ENTRY.to_ne_bytes());
        head[16..24].copy_from_slice(&parent.to_ne_bytes());
        head[24..28].copy_from_slice(&namelen.to_ne_bytes());
        head[28..32].copy_from_slice(&EXPIRE_ONLY.to_ne_bytes());
        let parts = [IoSlice::new(&head), IoSlice::new(name), IoSlice::new(&[0])];
        match nix::sys::uio::writev(&*self.fuse, &parts) {
            Ok(_) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
