//! The open-file table: one entry per inode some handle has open (its unsaved
//! writes, shared by all its handles, so two descriptors see each other's
//! writes), and the handles the kernel holds on files and directories.

use super::spool::Spool;
use crate::vault::{Attr, ContentEditor, Tree, VaultError, VaultPath};
use fuser::Errno;
use std::collections::HashMap;

/// An inode some handle has open.
pub(super) struct OpenFile {
    pub(super) opens: usize,
    /// Unsaved writes over the stored content; also caches the chunk list for reads.
    pub(super) editor: Option<ContentEditor>,
    /// The latest attributes seen, served after the inode is unlinked.
    pub(super) last: Attr,
    /// An mtime set explicitly since the last write, kept when the content commits.
    pub(super) mtime_override: Option<i64>,
    /// Mode, owner and atime changes of a private mount's open file, not in
    /// the store yet: they commit with the file (see [`UnsavedAttrs`]).
    pub(super) unsaved_attrs: Option<UnsavedAttrs>,
    /// A write to this file failed for good (over the quota, or a request
    /// panicked halfway): its unsaved writes are gone, and writes, truncates and
    /// commits fail with this errno until every handle has closed, so that
    /// nothing partial of it is ever committed (later writes of the same
    /// descriptor, which the kernel may send in any order, included).
    pub(super) failed: Option<Errno>,
    /// Created by this mount without a version: its first commit records one
    /// (with what it was given before closing, or empty), so creating and
    /// writing a file makes one version, not an empty one and then another.
    pub(super) fresh: bool,
    /// The local file the kernel reads and writes directly (passthrough),
    /// when the file has one; it then holds the file's bytes, not `editor`.
    pub(super) spool: Option<Spool>,
}

impl OpenFile {
    pub(super) fn new(last: Attr) -> Self {
        Self {
            opens: 0,
            editor: None,
            last,
            mtime_override: None,
            unsaved_attrs: None,
            failed: None,
            fresh: false,
            spool: None,
        }
    }

    /// Drops the unsaved writes (and attribute changes) and refuses new ones
    /// with `errno` until closed.
    pub(super) fn fail(&mut self, errno: Errno) {
        self.editor = None;
        self.unsaved_attrs = None;
        self.failed = Some(errno);
    }

    /// [`OpenFile::fail`] with the errno of a write of its that failed: the
    /// editor may have moved onto rows the failed write rolled back (its
    /// content, stored chunks), ids the next rows take over, so nothing of
    /// it may be committed later. Returns that errno.
    pub(super) fn fail_with(&mut self, e: &VaultError) -> Errno {
        let code = super::errno::errno(e);
        self.fail(code);
        code
    }

    /// `attr`, the inode's attributes as the store has them, with what this
    /// open file has not saved yet: its size, mtime, mode, owner and atime.
    pub(super) fn overlay(&self, attr: &mut Attr) {
        if let Some(ed) = &self.editor {
            attr.size = ed.size();
        }
        if let Some(spool) = &self.spool {
            spool.patch(attr, self.mtime_override);
        }
        if let Some(ns) = self.mtime_override {
            attr.mtime_ns = ns;
        }
        if let Some(unsaved) = &self.unsaved_attrs {
            unsaved.apply(attr);
        }
    }

    /// Whether writes may go on: not after a write failed for good.
    pub(super) fn writable(&self) -> Result<(), Errno> {
        self.failed.map_or(Ok(()), Err)
    }

    /// The file's editor, opened on `attr`'s content the first time it is needed.
    pub(super) fn editor(
        &mut self,
        tree: &Tree<'_>,
        attr: &Attr,
    ) -> Result<&mut ContentEditor, VaultError> {
        if self.editor.is_none() {
            self.editor = Some(tree.edit(attr)?);
        }
        Ok(self.editor.as_mut().expect("set above"))
    }
}

/// A private mount's `chmod`, `chown` and `utimensat` of an open file. Tar
/// sets all three on every file it extracts, while the file is open: kept
/// here, each answers without touching the store, and they commit with the
/// file's writes (at fsync, at its release, at the session's end), where a
/// shared mount owes them to other processes at once. Whatever changes the
/// inode's attributes in the store first saves these (`Inner::save_attrs`).
#[derive(Clone, Copy, Default)]
pub(super) struct UnsavedAttrs {
    pub(super) mode: Option<u32>,
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
    pub(super) atime_ns: Option<i64>,
    /// When the last of them was made: the inode's ctime.
    pub(super) ctime_ns: i64,
}

impl UnsavedAttrs {
    /// Writes these changes over `attr`.
    pub(super) fn apply(&self, attr: &mut Attr) {
        if let Some(mode) = self.mode {
            attr.mode = mode & 0o7777;
        }
        attr.uid = self.uid.unwrap_or(attr.uid);
        attr.gid = self.gid.unwrap_or(attr.gid);
        attr.atime_ns = self.atime_ns.unwrap_or(attr.atime_ns);
        attr.ctime_ns = attr.ctime_ns.max(self.ctime_ns);
    }
}

/// A directory's entries, each name with its attributes.
pub(super) type Listing = Vec<(Vec<u8>, Attr)>;

/// What a file handle the kernel holds refers to.
pub(super) enum Handle {
    File {
        ino: u64,
        append: bool,
        /// Opened for writing on a path the rules do not let the caller read:
        /// reads through this handle are refused (and recorded) as they come.
        unreadable: Option<VaultPath>,
    },
    Dir {
        /// The directory.
        ino: u64,
        /// Its listing, read at the first `readdir` (the kernel may have it
        /// cached, and then asks for none), and the kernel cache's epoch
        /// when it was read (see `kernel_cache`).
        listing: Option<(Listing, u64)>,
    },
}

/// Every open inode and every handle of one mount.
#[derive(Default)]
pub(super) struct OpenFiles {
    /// Open inodes.
    pub(super) files: HashMap<u64, OpenFile>,
    /// Handles by number.
    pub(super) handles: HashMap<u64, Handle>,
    next_fh: u64,
}

impl OpenFiles {
    pub(super) fn new_handle(&mut self, handle: Handle) -> u64 {
        self.next_fh += 1;
        self.handles.insert(self.next_fh, handle);
        self.next_fh
    }

    /// After a request on `ino` panicked: its open file's unsaved writes may be
    /// half-applied, so they are dropped and the file fails with EIO until closed.
    pub(super) fn quarantine(&mut self, ino: u64) {
        if let Some(of) = self.files.get_mut(&ino) {
            of.fail(Errno::EIO);
        }
    }

    pub(super) fn open(&mut self, attr: &Attr, append: bool, unreadable: Option<VaultPath>) -> u64 {
        self.entry(attr).opens += 1;
        self.new_handle(Handle::File {
            ino: attr.ino,
            append,
            unreadable,
        })
    }

    /// The entry of `attr.ino`, created (with no handle) if the file is not open.
    pub(super) fn entry(&mut self, attr: &Attr) -> &mut OpenFile {
        self.files
            .entry(attr.ino)
            .or_insert_with(|| OpenFile::new(attr.clone()))
    }

    /// The registration of `ino`'s spool, when it has one: every open of it
    /// must pass through to the same file.
    pub(super) fn backing(&self, ino: u64) -> Option<std::sync::Arc<fuser::BackingId>> {
        let spool = self.files.get(&ino)?.spool.as_ref()?;
        Some(std::sync::Arc::clone(&spool.backing))
    }

    /// Whether `ino` may get a spool: nobody holds it open another way (the
    /// kernel serves every open of an inode through its backing file or none)
    /// and it has no unsaved writes.
    pub(super) fn may_spool(&self, ino: u64) -> bool {
        self.files
            .get(&ino)
            .is_none_or(|of| of.opens == 0 && of.editor.is_none() && of.failed.is_none())
    }

    /// Drops the entry of `ino` if no handle has it open and it holds no unsaved writes.
    pub(super) fn drop_if_idle(&mut self, ino: u64) {
        if let Some(of) = self.files.get(&ino) {
            let unsaved =
                of.editor.as_ref().is_some_and(|e| e.is_changed()) || of.unsaved_attrs.is_some();
            if of.opens == 0 && !unsaved {
                self.files.remove(&ino);
            }
        }
    }

    /// One handle of `ino` closed; the entry goes with the last one.
    pub(super) fn closed(&mut self, ino: u64) {
        if let Some(of) = self.files.get_mut(&ino) {
            of.opens = of.opens.saturating_sub(1);
            if of.opens == 0 {
                self.files.remove(&ino);
            }
        }
    }
}
