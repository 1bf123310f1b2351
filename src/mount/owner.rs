//! Who owns what the mount creates, and when setuid/setgid must go: the
//! POSIX rules the kernel leaves to a FUSE file system, each a small function
//! naming the kernel rule it follows.

use crate::vault::{Attr, NewNode};
use fuser::Request;

/// Who made a request: new inodes belong to them, as on any POSIX file system.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caller {
    uid: u32,
    gid: u32,
    pid: u32,
}

impl Caller {
    /// The caller of a kernel request.
    pub(super) fn of(req: &Request) -> Self {
        Self::new(req.uid(), req.gid(), req.pid())
    }

    /// The caller named by a request's header.
    pub(super) fn new(uid: u32, gid: u32, pid: u32) -> Self {
        Self { uid, gid, pid }
    }

    /// The process that made the request.
    pub(super) fn pid(self) -> u32 {
        self.pid
    }

    /// Root may do what the kernel grants CAP_FSETID and CAP_CHOWN for.
    pub(super) fn is_root(self) -> bool {
        self.uid == 0
    }

    /// Whether the caller may change `attr`'s mode or ACL: its owner, or
    /// root (Linux's `inode_owner_or_capable`).
    pub(super) fn may_chmod(self, attr: &Attr) -> bool {
        self.is_root() || self.uid == attr.uid
    }

    /// The mode an access ACL giving permission `bits` makes of `attr`'s:
    /// setuid, setgid and sticky stay, but setgid goes unless the caller is
    /// root or in the file's group (Linux's `posix_acl_update_mode`; the
    /// request names only the caller's own group).
    pub(super) fn mode_from_acl(self, attr: &Attr, bits: u32) -> u32 {
        let mode = attr.mode & !0o777 | bits & 0o777;
        if self.is_root() || self.gid == attr.gid {
            mode
        } else {
            mode & !0o2000
        }
    }

    /// Gives a new node its owner: the caller, with the group of a setgid
    /// parent directory, which also passes its setgid bit to subdirectories
    /// (Linux's `inode_init_owner`). A file's setgid bit is dropped when its
    /// group is not the caller's and the caller is not root.
    pub(super) fn owns(self, parent: &Attr, node: NewNode) -> NewNode {
        let setgid_dir = parent.mode & 0o2000 != 0;
        let gid = if setgid_dir { parent.gid } else { self.gid };
        let mut mode = node.mode();
        if setgid_dir && node.is_dir() {
            mode |= 0o2000;
        } else if !node.is_dir() && gid != self.gid && !self.is_root() {
            mode &= !0o2000;
        }
        node.with_mode(mode).with_owner(self.uid, gid)
    }
}

/// The mode left after a change that must drop setuid/setgid (a chown, or a
/// write or truncate by someone without CAP_FSETID; Linux's
/// `should_remove_suid`): setuid always goes, setgid only with group-execute
/// (without it, the bit marks mandatory locking).
pub(super) fn killed_suid(mode: u32) -> u32 {
    let mut mode = mode & !0o4000;
    if mode & 0o010 != 0 {
        mode &= !0o2000;
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setgid_stays_without_group_execute() {
        assert_eq!(killed_suid(0o6755), 0o0755);
        assert_eq!(killed_suid(0o6745), 0o2745);
        assert_eq!(killed_suid(0o0644), 0o0644);
    }
}
