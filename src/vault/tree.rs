//! One state of a vault's file tree: inodes and directory entries looked up
//! along a chain of layers.
//!
//! [`Tree`] reads the top-most row for a key along the chain; [`TreeWriter`]
//! writes only into the chain's top (mutable) layer, copying an inode's row
//! up before changing it. Path operations are built on the inode operations,
//! which the FUSE mount uses directly.
//!
//! Paths never follow symlinks: a symlink in the middle of a path is "not a
//! directory", so no CLI path can leave the vault through a link.

use super::content::{ContentHash, ContentReader, ContentWriter};
use super::editor::{ContentEditor, HashedWrite};
use super::error::{Result, VaultError};
use super::inodes::InoBlock;
use super::layer;
use super::path::{VaultPath, validate_name};
use rusqlite::{Connection, OptionalExtension, params};
use std::io::Read;

/// `inodes.kind` of a row that deletes the inode in its layer.
const WHITEOUT_KIND: i64 = 0;

/// The root directory's inode in every vault.
pub const ROOT_INO: u64 = 1;

/// What an inode is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Kind {
    /// A regular file with content.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with a target.
    Symlink,
    /// A named pipe (`mkfifo`).
    Fifo,
    /// A unix-domain socket's name (`bind`).
    Socket,
    /// A character device node, with its `rdev`.
    CharDevice,
    /// A block device node, with its `rdev`.
    BlockDevice,
}

impl Kind {
    fn code(self) -> i64 {
        match self {
            Kind::File => 1,
            Kind::Dir => 2,
            Kind::Symlink => 3,
            Kind::Fifo => 4,
            Kind::Socket => 5,
            Kind::CharDevice => 6,
            Kind::BlockDevice => 7,
        }
    }

    fn from_code(code: i64) -> Result<Self> {
        match code {
            1 => Ok(Kind::File),
            2 => Ok(Kind::Dir),
            3 => Ok(Kind::Symlink),
            4 => Ok(Kind::Fifo),
            5 => Ok(Kind::Socket),
            6 => Ok(Kind::CharDevice),
            7 => Ok(Kind::BlockDevice),
            other => Err(VaultError::Corrupt(format!("unknown inode kind {other}"))),
        }
    }

    /// The lower-case name used in output: `file`, `dir`, `symlink`, `fifo`,
    /// `socket`, `char_device`, `block_device`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::CharDevice => "char_device",
            Kind::BlockDevice => "block_device",
        }
    }

    /// True for fifos, sockets and device nodes: inodes with neither content nor target.
    pub fn is_special(self) -> bool {
        matches!(
            self,
            Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice
        )
    }
}

/// An inode's attributes as seen in one state of the tree.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attr {
    /// Inode number, stable across checkpoints and forks.
    pub ino: u64,
    /// File, directory, symlink, fifo, socket or device node.
    pub kind: Kind,
    /// Permission bits (`0o7777`), without the file-type bits.
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Content length for files, target length for symlinks, 0 for directories.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Access time as last set (avfs does not move it on reads), nanoseconds since the epoch.
    pub atime_ns: i64,
    /// Status-change time, nanoseconds since the Unix epoch.
    pub ctime_ns: i64,
    /// Files and symlinks: the directory entries naming this inode. Directories:
    /// 2 plus their subdirectories, as POSIX file systems count.
    pub nlink: u32,
    /// The device number of a device node (0 for everything else).
    pub rdev: u64,
    /// The content of a file.
    pub content: Option<ContentHash>,
    /// The target of a symlink.
    pub target: Option<Vec<u8>>,
}

/// One name in a directory listing.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// The entry's name.
    pub name: Vec<u8>,
    /// The attributes of the inode it names.
    pub attr: Attr,
}

/// How a rename treats an existing destination (`renameat2` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RenameMode {
    /// Replace the destination if it exists (plain `rename`).
    Replace,
    /// Fail if the destination exists (`RENAME_NOREPLACE`).
    NoReplace,
    /// Swap source and destination, which must both exist (`RENAME_EXCHANGE`).
    Exchange,
}

/// Who and when a write is attributed to.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    /// Owner for new inodes.
    pub uid: u32,
    /// Group for new inodes.
    pub gid: u32,
    /// Time written into mtime/ctime, nanoseconds since the epoch.
    pub now_ns: i64,
}

fn display_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Read access to one state of a vault: the chain of layers under `top`.
pub struct Tree<'c> {
    pub(crate) conn: &'c Connection,
    pub(crate) top: i64,
}

impl<'c> Tree<'c> {
    /// Views the state whose top-most layer is `top`.
    pub fn new(conn: &'c Connection, top: i64) -> Result<Self> {
        layer::ensure_chain(conn, top)?;
        Ok(Self { conn, top })
    }

    /// Views the state whose top-most layer is `top`, whose chain this
    /// connection has already listed (see `layer::ensure_chain`).
    pub(crate) fn over_known_chain(conn: &'c Connection, top: i64) -> Self {
        Self { conn, top }
    }

    /// The top layer of the chain this tree reads.
    pub fn top_layer(&self) -> i64 {
        self.top
    }

    /// The inode a directory entry names, if the name exists.
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Option<u64>> {
        let row: Option<Option<i64>> = self
            .conn
            .prepare_cached(
                "SELECT child FROM dirents d WHERE parent = ?1 AND name = ?2
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = d.layer)
                 ORDER BY layer DESC LIMIT 1",
            )?
            .query_row(params![parent as i64, name, self.top], |r| r.get(0))
            .optional()?;
        Ok(row.flatten().map(|c| c as u64))
    }

    /// An inode's attributes, if it exists in this state.
    pub fn attr(&self, ino: u64) -> Result<Option<Attr>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target,
                        COALESCE(atime_ns, mtime_ns), rdev
                 FROM inodes i WHERE ino = ?1
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = i.layer)
                 ORDER BY layer DESC LIMIT 1",
            )?
            .query_row(params![ino as i64, self.top], |r| AttrRow::read(r, 0))
            .optional()?;
        match row {
            Some(row) => self.attr_of_row(ino, row),
            None => Ok(None),
        }
    }

    /// What `name` in `parent` names, with its attributes: [`Tree::lookup`]
    /// and [`Tree::attr`] in one statement (a path walk's every step, and
    /// every name the mount is asked for).
    pub fn lookup_attr(&self, parent: u64, name: &[u8]) -> Result<Option<(u64, Option<Attr>)>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT d.child, i.kind, i.mode, i.uid, i.gid, i.size, i.mtime_ns, i.ctime_ns,
                        i.nlink, i.content, i.target, COALESCE(i.atime_ns, i.mtime_ns), i.rdev
                 FROM (SELECT child FROM dirents d WHERE parent = ?1 AND name = ?2
                         AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = d.layer)
                       ORDER BY layer DESC LIMIT 1) d
                 LEFT JOIN inodes i ON i.ino = d.child AND i.layer =
                   (SELECT max(j.layer) FROM inodes j WHERE j.ino = d.child
                      AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = j.layer))",
            )?
            .query_row(params![parent as i64, name, self.top], |r| {
                let child: Option<i64> = r.get(0)?;
                let found: Option<i64> = r.get(1)?;
                Ok(match (child, found) {
                    (Some(child), Some(_)) => Some((child as u64, Some(AttrRow::read(r, 1)?))),
                    (Some(child), None) => Some((child as u64, None)),
                    // A whiteout: the name was removed in a layer above.
                    (None, _) => None,
                })
            })
            .optional()?;
        match row.flatten() {
            Some((ino, Some(row))) => Ok(Some((ino, self.attr_of_row(ino, row)?))),
            Some((ino, None)) => Ok(Some((ino, None))),
            None => Ok(None),
        }
    }

    /// The attributes an inode's top row says; None for a whiteout.
    fn attr_of_row(&self, ino: u64, row: AttrRow) -> Result<Option<Attr>> {
        if row.kind == WHITEOUT_KIND {
            return Ok(None);
        }
        let kind = Kind::from_code(row.kind)?;
        let nlink = match kind {
            // Directories written before version 3 say 1: count their subdirectories.
            Kind::Dir if row.nlink < 2 => 2 + self.subdirectories(ino)?,
            _ => row.nlink as u32,
        };
        Ok(Some(Attr {
            ino,
            kind,
            mode: row.mode as u32,
            uid: row.uid as u32,
            gid: row.gid as u32,
            size: row.size as u64,
            mtime_ns: row.mtime_ns,
            atime_ns: row.atime_ns,
            ctime_ns: row.ctime_ns,
            nlink,
            rdev: row.rdev as u64,
            content: row
                .content
                .map(|c| ContentHash::from_blob(&c))
                .transpose()?,
            target: row.target,
        }))
    }

    /// How many of a directory's entries are directories.
    fn subdirectories(&self, dir: u64) -> Result<u32> {
        let mut count = 0;
        for (_, child) in self.entries(dir)? {
            if self.attr(child)?.is_some_and(|a| a.kind == Kind::Dir) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Like [`Tree::attr`], for an inode that a directory entry names.
    pub(crate) fn attr_of_child(&self, ino: u64) -> Result<Attr> {
        self.attr(ino)?
            .ok_or_else(|| VaultError::Corrupt(format!("entry names missing inode {ino}")))
    }

    /// A directory's entries as (name, inode), sorted by name bytes.
    pub fn entries(&self, dir: u64) -> Result<Vec<(Vec<u8>, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, child FROM dirents d WHERE parent = ?1
               AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = d.layer)
             ORDER BY name, layer",
        )?;
        let mut out: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
        let rows = stmt.query_map(params![dir as i64, self.top], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<i64>>(1)?))
        })?;
        for row in rows {
            let (name, child) = row?;
            // Rows come lowest layer first, so a later row for the same name wins.
            match out.last_mut() {
                Some(last) if last.0 == name => last.1 = child.map(|c| c as u64),
                _ => out.push((name, child.map(|c| c as u64))),
            }
        }
        Ok(out
            .into_iter()
            .filter_map(|(n, c)| c.map(|c| (n, c)))
            .collect())
    }

    /// A directory's entries with their attributes, sorted by name.
    pub fn read_dir(&self, dir: u64) -> Result<Vec<DirEntry>> {
        self.entries(dir)?
            .into_iter()
            .map(|(name, ino)| {
                Ok(DirEntry {
                    name,
                    attr: self.attr_of_child(ino)?,
                })
            })
            .collect()
    }

    /// The directory that holds directory `ino` (the root is its own parent).
    pub fn parent_dir(&self, ino: u64) -> Result<Option<u64>> {
        if ino == ROOT_INO {
            return Ok(Some(ROOT_INO));
        }
        Ok(self.links_to(ino)?.first().map(|(parent, _)| *parent))
    }

    /// Every (parent, name) entry that names `ino` in this state, in the
    /// order of the layers they first appear in (path rules check a file at
    /// the first: its oldest path).
    pub fn links_to(&self, ino: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT parent, name, max(layer) FROM dirents d WHERE child = ?1
               AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = d.layer)
             GROUP BY parent, name ORDER BY min(layer), parent, name",
        )?;
        let candidates = stmt
            .query_map(params![ino as i64, self.top], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::new();
        // A row may be shadowed by a newer one for the same name: keep only
        // live links. Nothing is newer than the top layer, so its rows are.
        for (parent, name, layer) in candidates {
            if layer == self.top || self.lookup(parent, &name)? == Some(ino) {
                out.push((parent, name));
            }
        }
        Ok(out)
    }

    /// The entry in the top layer that names `ino`, if there is one: for a
    /// file with one link, its only link (nothing is newer than the top
    /// layer), found by one indexed row instead of [`Tree::links_to`]'s search
    /// of every layer.
    pub(crate) fn top_link(&self, ino: u64) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT parent, name FROM dirents WHERE child = ?1 AND layer = ?2 LIMIT 1",
            )?
            .query_row(params![ino as i64, self.top], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?)
    }

    /// One path that names `ino` in this state (its first live link at each
    /// level), or `None` when nothing names it (an unlinked file still open).
    pub fn path_of(&self, ino: u64) -> Result<Option<VaultPath>> {
        let mut names = Vec::new();
        let mut at = ino;
        while at != ROOT_INO {
            let Some((parent, name)) = self.links_to(at)?.into_iter().next() else {
                return Ok(None);
            };
            names.push(name);
            // A cycle would mean a corrupt store; a path is never deeper than this.
            if names.len() > super::path::PATH_MAX {
                return Err(VaultError::Corrupt(format!(
                    "inode {ino} has no path to the root"
                )));
            }
            at = parent;
        }
        names.reverse();
        Ok(Some(names.iter().fold(VaultPath::root(), |p, n| p.join(n))))
    }

    /// Resolves a path without following symlinks.
    pub fn resolve(&self, path: &VaultPath) -> Result<Option<Attr>> {
        let mut ino = ROOT_INO;
        let components = path.components();
        for (i, name) in components.iter().enumerate() {
            let Some((child, attr)) = self.lookup_attr(ino, name)? else {
                return Ok(None);
            };
            if i + 1 == components.len() {
                return Ok(attr);
            }
            let attr = attr
                .ok_or_else(|| VaultError::Corrupt(format!("entry names missing inode {child}")))?;
            if attr.kind != Kind::Dir {
                return Err(VaultError::NotADirectory(
                    VaultPath::parse(&path.components()[..=i].join(&b'/'))?.to_string(),
                ));
            }
            ino = child;
        }
        // The root: no entry names it.
        self.attr(ino)
    }

    /// The attributes at `path`, or `PathNotFound`.
    pub fn stat(&self, path: &VaultPath) -> Result<Attr> {
        self.resolve(path)?
            .ok_or_else(|| VaultError::PathNotFound(path.to_string()))
    }

    /// The directory at `path`, or `NotADirectory`/`PathNotFound`.
    pub fn dir(&self, path: &VaultPath) -> Result<Attr> {
        let attr = self.stat(path)?;
        if attr.kind != Kind::Dir {
            return Err(VaultError::NotADirectory(path.to_string()));
        }
        Ok(attr)
    }

    /// Opens a file's content for reading.
    pub fn open(&self, attr: &Attr) -> Result<ContentReader<'c>> {
        match (&attr.kind, &attr.content) {
            (Kind::File, Some(hash)) => ContentReader::open(self.conn, hash),
            (Kind::Dir, _) => Err(VaultError::IsADirectory(format!("inode {}", attr.ino))),
            _ => Err(VaultError::Corrupt(format!(
                "inode {} has no content",
                attr.ino
            ))),
        }
    }

    /// An extended attribute's value, if set.
    pub fn xattr(&self, ino: u64, name: &[u8]) -> Result<Option<Vec<u8>>> {
        let row: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached(
                "SELECT value FROM xattrs x WHERE ino = ?1 AND name = ?2
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = x.layer)
                 ORDER BY layer DESC LIMIT 1",
            )?
            .query_row(params![ino as i64, name, self.top], |r| r.get(0))
            .optional()?;
        Ok(row.flatten())
    }

    /// The names of an inode's extended attributes, sorted.
    pub fn xattr_names(&self, ino: u64) -> Result<Vec<Vec<u8>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, value IS NOT NULL FROM xattrs x WHERE ino = ?1
               AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = x.layer)
             ORDER BY name, layer",
        )?;
        let mut out: Vec<(Vec<u8>, bool)> = Vec::new();
        for row in stmt.query_map(params![ino as i64, self.top], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?))
        })? {
            let (name, live) = row?;
            match out.last_mut() {
                Some(last) if last.0 == name => last.1 = live,
                _ => out.push((name, live)),
            }
        }
        Ok(out
            .into_iter()
            .filter(|(_, live)| *live)
            .map(|(n, _)| n)
            .collect())
    }

    /// Opens a file's content for random-access editing.
    pub fn edit(&self, attr: &Attr) -> Result<ContentEditor> {
        // An empty file's content has nothing to load (most created files).
        let base = attr.content.as_ref().filter(|_| attr.size > 0);
        ContentEditor::open(self.conn, base)
    }

    /// Reads through an editor: its unsaved writes over the stored content.
    pub fn read_edited(
        &self,
        editor: &ContentEditor,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        editor.read_at(self.conn, offset, buf)
    }

    /// Writes into an editor (only reads the store, to fill partial chunks).
    pub fn write_edited(&self, editor: &mut ContentEditor, offset: u64, data: &[u8]) -> Result<()> {
        editor.write_at(self.conn, offset, data)
    }

    /// [`Self::write_edited`] of a write whose full chunks were hashed beforehand.
    pub fn write_edited_hashed(
        &self,
        editor: &mut ContentEditor,
        offset: u64,
        write: HashedWrite<'_>,
    ) -> Result<()> {
        editor.write_hashed(self.conn, offset, write)
    }

    /// Truncates or extends an editor's content.
    pub fn truncate_edited(&self, editor: &mut ContentEditor, size: u64) -> Result<()> {
        editor.truncate(self.conn, size)
    }

    /// Zeros a range of an editor's content, keeping its size (a punched hole).
    pub fn zero_edited(&self, editor: &mut ContentEditor, offset: u64, len: u64) -> Result<()> {
        editor.zero_range(self.conn, offset, len)
    }

    /// Every path at or below `path`, parents before children, names sorted.
    pub fn walk(&self, path: &VaultPath) -> Result<Vec<(VaultPath, Attr)>> {
        let root = self.stat(path)?;
        let mut out = Vec::new();
        let mut stack = vec![(path.clone(), root)];
        while let Some((p, attr)) = stack.pop() {
            if attr.kind == Kind::Dir {
                let children = self.read_dir(attr.ino)?;
                for entry in children.into_iter().rev() {
                    stack.push((p.join(&entry.name), entry.attr));
                }
            }
            out.push((p, attr));
        }
        Ok(out)
    }
}

/// Write access to a vault's top layer; reads see the writes at once.
///
/// Every write path (CLI, mount, proxy) goes through here, so the writer also
/// records file versions, feeds the full-text index, counts usage and enforces
/// the per-file size limit (`history.rs`, `search.rs`, `quota.rs`).
pub struct TreeWriter<'c> {
    tree: Tree<'c>,
    stamp: Stamp,
    /// What versions written here are attributed to (`write`, `mount`...).
    source: String,
    /// The vault's quota, checked as files change.
    limits: super::quota::Limits,
    /// How many versions an entry keeps (`None`: all), once read.
    keep_versions: std::cell::Cell<Option<Option<u64>>>,
    /// Change in (inodes, file bytes) of the state so far, for the usage counters.
    usage: std::cell::Cell<(i64, i64)>,
    /// The open batch's reserved inode numbers, inside a batch.
    inos: Option<&'c InoBlock>,
}

impl<'c> std::ops::Deref for TreeWriter<'c> {
    type Target = Tree<'c>;
    fn deref(&self) -> &Tree<'c> {
        &self.tree
    }
}

impl<'c> TreeWriter<'c> {
    /// Writes into `top`, which the caller has checked is its vault's mutable top layer.
    pub(crate) fn new(conn: &'c Connection, top: i64, stamp: Stamp) -> Result<Self> {
        layer::ensure_chain(conn, top)?;
        Ok(Self::over_known_chain(conn, top, stamp))
    }

    /// A writer on `top`, whose chain this connection has already listed.
    pub(crate) fn over_known_chain(conn: &'c Connection, top: i64, stamp: Stamp) -> Self {
        Self {
            tree: Tree::over_known_chain(conn, top),
            stamp,
            source: "write".into(),
            limits: super::quota::Limits::default(),
            keep_versions: std::cell::Cell::new(None),
            usage: std::cell::Cell::new((0, 0)),
            inos: None,
        }
    }

    /// Takes inode numbers from an open batch's reserved block.
    pub(crate) fn with_inos(mut self, inos: &'c InoBlock) -> Self {
        self.inos = Some(inos);
        self
    }

    /// Attributes this writer's versions to `source` and enforces `limits`.
    pub(crate) fn configure(mut self, source: &str, limits: super::quota::Limits) -> Self {
        self.source = source.to_string();
        self.limits = limits;
        self
    }

    /// Takes the store's retention (versions kept per entry) as already read.
    pub(crate) fn with_keep_versions(self, keep: Option<u64>) -> Self {
        self.keep_versions.set(Some(keep));
        self
    }

    /// How many versions an entry keeps (`None`: all), read once per writer.
    pub(crate) fn keep_versions(&self) -> Result<Option<u64>> {
        if let Some(keep) = self.keep_versions.get() {
            return Ok(keep);
        }
        let keep = super::retention::keep_versions(self.conn)?;
        self.keep_versions.set(Some(keep));
        Ok(keep)
    }

    /// The owner and clock this writer stamps on what it creates.
    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// What versions written here are attributed to.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Change in (inodes, file bytes) this writer has made so far.
    pub(crate) fn usage_delta(&self) -> (i64, i64) {
        self.usage.get()
    }

    fn count_usage(&self, inodes: i64, bytes: i64) {
        let (i, b) = self.usage.get();
        self.usage.set((i + inodes, b.saturating_add(bytes)));
    }

    /// A new file content: within the size limit, and queued for the search index.
    fn accept_content(&self, content: &ContentHash, size: u64) -> Result<()> {
        self.limits.check_file_size(size)?;
        super::search::enqueue(self.conn, content)
    }

    fn alloc_ino(&self) -> Result<u64> {
        match self.inos {
            Some(block) => block.take(self.conn),
            None => super::inodes::take_one(self.conn),
        }
    }

    /// Writes an inode's attributes into the top layer.
    pub fn put_attr(&self, attr: &Attr) -> Result<()> {
        // Most writes change an inode the top layer has already (a file
        // written again, a directory gaining entries): an UPDATE in place
        // leaves the row's index alone, where a REPLACE deletes and inserts.
        let updated = self
            .conn
            .prepare_cached(
                "UPDATE inodes SET kind = ?3, mode = ?4, uid = ?5, gid = ?6, size = ?7,
                   mtime_ns = ?8, ctime_ns = ?9, nlink = ?10, content = ?11, target = ?12,
                   atime_ns = ?13, rdev = ?14
                 WHERE ino = ?1 AND layer = ?2",
            )?
            .execute(attr_params(attr, self.top))?;
        if updated == 0 {
            self.insert_attr(attr)?;
        }
        Ok(())
    }

    /// Writes the attributes of an inode the top layer does not have yet.
    fn insert_attr(&self, attr: &Attr) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO inodes
                   (ino, layer, kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target,
                    atime_ns, rdev)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(attr_params(attr, self.top))?;
        Ok(())
    }

    /// Deletes an inode: a whiteout row if a lower layer has it, else just the top row.
    fn drop_attr(&self, ino: u64) -> Result<()> {
        let below: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM inodes i WHERE ino = ?1 AND layer < ?2
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = i.layer))",
            )?
            .query_row(params![ino as i64, self.top], |r| r.get(0))?;
        if below {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO inodes
                       (ino, layer, kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target)
                     VALUES (?1, ?2, ?3, 0, 0, 0, 0, 0, 0, 0, NULL, NULL)",
                )?
                .execute(params![ino as i64, self.top, WHITEOUT_KIND])?;
        } else {
            self.conn
                .prepare_cached("DELETE FROM inodes WHERE ino = ?1 AND layer = ?2")?
                .execute(params![ino as i64, self.top])?;
        }
        Ok(())
    }

    fn put_dirent(&self, parent: u64, name: &[u8], child: u64) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO dirents(parent, name, layer, child) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![parent as i64, name, self.top, child as i64])?;
        Ok(())
    }

    /// Removes a name: a whiteout if a lower layer has it, else just the top row.
    fn drop_dirent(&self, parent: u64, name: &[u8]) -> Result<()> {
        let below: Option<Option<i64>> = self
            .conn
            .prepare_cached(
                "SELECT child FROM dirents d WHERE parent = ?1 AND name = ?2 AND layer < ?3
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = d.layer)
                 ORDER BY layer DESC LIMIT 1",
            )?
            .query_row(params![parent as i64, name, self.top], |r| r.get(0))
            .optional()?;
        if matches!(below, Some(Some(_))) {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO dirents(parent, name, layer, child) VALUES (?1, ?2, ?3, NULL)",
                )?
                .execute(params![parent as i64, name, self.top])?;
        } else {
            self.conn
                .prepare_cached(
                    "DELETE FROM dirents WHERE parent = ?1 AND name = ?2 AND layer = ?3",
                )?
                .execute(params![parent as i64, name, self.top])?;
        }
        Ok(())
    }

    fn touch_dir(&self, dir: u64) -> Result<()> {
        self.touch_dir_links(dir, 0)
    }

    /// Marks a directory changed now and moves its link count by `subdirs`
    /// (a subdirectory's `..` links it).
    fn touch_dir_links(&self, dir: u64, subdirs: i64) -> Result<()> {
        self.touch_dir_attr(self.attr_of_child(dir)?, subdirs)
    }

    /// As `touch_dir_links`, on a directory's attributes already read.
    fn touch_dir_attr(&self, mut attr: Attr, subdirs: i64) -> Result<()> {
        attr.mtime_ns = self.stamp.now_ns;
        attr.ctime_ns = self.stamp.now_ns;
        attr.nlink = (attr.nlink as i64 + subdirs).max(2) as u32;
        self.put_attr(&attr)
    }

    /// The attributes of directory `ino`; `NotADirectory` for anything else.
    pub fn require_dir(&self, ino: u64) -> Result<Attr> {
        let attr = self.attr_of_child(ino)?;
        if attr.kind != Kind::Dir {
            return Err(VaultError::NotADirectory(format!("inode {ino}")));
        }
        Ok(attr)
    }

    /// Creates a new inode named `name` in directory `parent`.
    pub fn create(&self, parent: u64, name: &[u8], node: NewNode) -> Result<Attr> {
        self.create_in(self.require_dir(parent)?, name, node)
    }

    /// [`TreeWriter::create`] in the directory whose attributes `dir` are, as
    /// [`TreeWriter::require_dir`] just read them (the mount reads them first,
    /// for the new node's owner).
    pub fn create_in(&self, dir: Attr, name: &[u8], node: NewNode) -> Result<Attr> {
        validate_name(name)?;
        let parent = dir.ino;
        if self.lookup(parent, name)?.is_some() {
            return Err(VaultError::PathExists(display_name(name)));
        }
        let now = self.stamp.now_ns;
        let (kind, size, content, target, rdev) = match node.body {
            NodeBody::Dir => (Kind::Dir, 0, None, None, 0),
            NodeBody::File { content, size } => {
                self.accept_content(&content, size)?;
                (Kind::File, size, Some(content), None, 0)
            }
            NodeBody::Symlink(target) => {
                (Kind::Symlink, target.len() as u64, None, Some(target), 0)
            }
            NodeBody::Special { kind, rdev } => (kind, 0, None, None, rdev),
        };
        let (uid, gid) = node.owner.unwrap_or((self.stamp.uid, self.stamp.gid));
        let mtime_ns = node.mtime_ns.unwrap_or(now);
        let attr = Attr {
            ino: self.alloc_ino()?,
            kind,
            mode: node.mode & 0o7777,
            uid,
            gid,
            size,
            mtime_ns,
            atime_ns: node.atime_ns.unwrap_or(mtime_ns),
            ctime_ns: now,
            nlink: if kind == Kind::Dir { 2 } else { 1 },
            rdev,
            content,
            target,
        };
        self.insert_attr(&attr)?;
        self.put_dirent(parent, name, attr.ino)?;
        self.touch_dir_attr(dir, i64::from(kind == Kind::Dir))?;
        let bytes = if kind == Kind::File { size as i64 } else { 0 };
        self.count_usage(1, bytes);
        if node.versioned {
            self.record_entry(parent, name, attr.ino, Some(&attr))?;
        } else {
            self.record_if_known(parent, name, attr.ino, &attr)?;
        }
        Ok(attr)
    }

    /// Streams bytes into the store as a content not yet attached to any file.
    pub fn store_content(&self, source: impl Read) -> Result<(ContentHash, u64)> {
        let mut writer = ContentWriter::new(self.conn);
        writer.copy_from(source)?;
        writer.finish()
    }

    /// Gives a file new content.
    pub fn set_content(&self, ino: u64, content: ContentHash, size: u64) -> Result<Attr> {
        let attr = self.attr_of_child(ino)?;
        self.replace_content(attr, content, size, self.stamp.now_ns)
    }

    /// Gives the file whose attributes are `attr` new content, modified at `mtime_ns`.
    fn replace_content(
        &self,
        mut attr: Attr,
        content: ContentHash,
        size: u64,
        mtime_ns: i64,
    ) -> Result<Attr> {
        let ino = attr.ino;
        if attr.kind != Kind::File {
            return Err(VaultError::IsADirectory(format!("inode {ino}")));
        }
        let unchanged = attr.content == Some(content);
        if !unchanged {
            self.accept_content(&content, size)?;
            self.count_usage(0, size as i64 - attr.size as i64);
        }
        attr.content = Some(content);
        attr.size = size;
        attr.mtime_ns = mtime_ns;
        attr.ctime_ns = self.stamp.now_ns;
        self.put_attr(&attr)?;
        if !unchanged {
            self.record_content(&attr)?;
        }
        Ok(attr)
    }

    /// Stores an editor's complete dirty chunks to free its memory.
    pub fn spill_edited(&self, editor: &mut ContentEditor) -> Result<()> {
        editor.spill(self.conn)
    }

    /// Makes an editor's content the file's content, stamped with `mtime_ns`
    /// (default: now); `None` if the inode is gone (an unlinked file whose last
    /// handle closes).
    pub fn commit_edited(
        &self,
        ino: u64,
        editor: &mut ContentEditor,
        mtime_ns: Option<i64>,
    ) -> Result<Option<Attr>> {
        self.commit_edited_as(ino, editor, mtime_ns, |_| {})
    }

    /// [`TreeWriter::commit_edited`], with the inode's other attributes
    /// changed by `adjust` in the same row write (the mount's unsaved
    /// `chmod`, say).
    pub fn commit_edited_as(
        &self,
        ino: u64,
        editor: &mut ContentEditor,
        mtime_ns: Option<i64>,
        adjust: impl FnOnce(&mut Attr),
    ) -> Result<Option<Attr>> {
        let Some(mut attr) = self.attr(ino)? else {
            return Ok(None);
        };
        adjust(&mut attr);
        let (content, size) = editor.commit(self.conn)?;
        let mtime_ns = mtime_ns.unwrap_or(self.stamp.now_ns);
        self.replace_content(attr, content, size, mtime_ns)
            .map(Some)
    }

    /// Sets or (with `None`) removes an extended attribute.
    pub fn set_xattr(&self, ino: u64, name: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.attr_of_child(ino)?;
        let below: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM xattrs x WHERE ino = ?1 AND name = ?2 AND layer < ?3
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = x.layer))",
            )?
            .query_row(params![ino as i64, name, self.top], |r| r.get(0))?;
        if value.is_none() && !below {
            self.conn
                .prepare_cached("DELETE FROM xattrs WHERE ino = ?1 AND name = ?2 AND layer = ?3")?
                .execute(params![ino as i64, name, self.top])?;
        } else {
            self.conn
                .prepare_cached("INSERT OR REPLACE INTO xattrs(ino, name, layer, value) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![ino as i64, name, self.top, value])?;
        }
        let mut attr = self.attr_of_child(ino)?;
        attr.ctime_ns = self.stamp.now_ns;
        self.put_attr(&attr)
    }

    /// Changes owner and/or group.
    pub fn set_owner(&self, ino: u64, uid: Option<u32>, gid: Option<u32>) -> Result<Attr> {
        let mut attr = self.attr_of_child(ino)?;
        attr.uid = uid.unwrap_or(attr.uid);
        attr.gid = gid.unwrap_or(attr.gid);
        attr.ctime_ns = self.stamp.now_ns;
        self.put_attr(&attr)?;
        Ok(attr)
    }

    /// Changes permission bits and/or modification time.
    pub fn set_meta(&self, ino: u64, mode: Option<u32>, mtime_ns: Option<i64>) -> Result<Attr> {
        let mut attr = self.attr_of_child(ino)?;
        if let Some(mode) = mode {
            attr.mode = mode & 0o7777;
        }
        if let Some(mtime) = mtime_ns {
            attr.mtime_ns = mtime;
        }
        attr.ctime_ns = self.stamp.now_ns;
        self.put_attr(&attr)?;
        Ok(attr)
    }

    /// Sets access and/or modification time (`utimensat`).
    pub fn set_times(
        &self,
        ino: u64,
        atime_ns: Option<i64>,
        mtime_ns: Option<i64>,
    ) -> Result<Attr> {
        let mut attr = self.attr_of_child(ino)?;
        attr.atime_ns = atime_ns.unwrap_or(attr.atime_ns);
        attr.mtime_ns = mtime_ns.unwrap_or(attr.mtime_ns);
        attr.ctime_ns = self.stamp.now_ns;
        self.put_attr(&attr)?;
        Ok(attr)
    }

    /// Adds a hard link to a non-directory inode.
    pub fn link(&self, ino: u64, parent: u64, name: &[u8]) -> Result<Attr> {
        validate_name(name)?;
        self.require_dir(parent)?;
        let mut attr = self.attr_of_child(ino)?;
        if attr.kind == Kind::Dir {
            return Err(VaultError::IsADirectory(format!("inode {ino}")));
        }
        if self.lookup(parent, name)?.is_some() {
            return Err(VaultError::PathExists(display_name(name)));
        }
        attr.nlink += 1;
        attr.ctime_ns = self.stamp.now_ns;
        self.put_attr(&attr)?;
        self.put_dirent(parent, name, ino)?;
        self.touch_dir(parent)?;
        Ok(attr)
    }

    /// Removes the name `name` from `parent` (a directory must be empty).
    pub fn unlink(&self, parent: u64, name: &[u8]) -> Result<()> {
        let ino = self
            .lookup(parent, name)?
            .ok_or_else(|| VaultError::PathNotFound(display_name(name)))?;
        let mut attr = self.attr_of_child(ino)?;
        if attr.kind == Kind::Dir && !self.entries(ino)?.is_empty() {
            return Err(VaultError::DirectoryNotEmpty(display_name(name)));
        }
        self.drop_dirent(parent, name)?;
        self.touch_dir_links(parent, -i64::from(attr.kind == Kind::Dir))?;
        self.record_entry(parent, name, ino, None)?;
        self.release_link(&mut attr)
    }

    /// Drops one link of an inode whose directory entry is already gone.
    fn release_link(&self, attr: &mut Attr) -> Result<()> {
        if attr.kind != Kind::Dir && attr.nlink > 1 {
            attr.nlink -= 1;
            attr.ctime_ns = self.stamp.now_ns;
            return self.put_attr(attr);
        }
        // Unreachable now; lower layers keep their (frozen) rows.
        let bytes = if attr.kind == Kind::File {
            attr.size as i64
        } else {
            0
        };
        self.count_usage(-1, -bytes);
        self.drop_attr(attr.ino)
    }

    /// True if directory `ino` is `ancestor` or lies below it.
    fn is_within(&self, mut ino: u64, ancestor: u64) -> Result<bool> {
        loop {
            if ino == ancestor {
                return Ok(true);
            }
            if ino == ROOT_INO {
                return Ok(false);
            }
            ino = self
                .parent_dir(ino)?
                .ok_or_else(|| VaultError::Corrupt(format!("directory {ino} has no parent")))?;
        }
    }

    /// Moves an entry, as `renameat2` does with `mode`.
    pub fn rename(
        &self,
        src_parent: u64,
        src_name: &[u8],
        dst_parent: u64,
        dst_name: &[u8],
        mode: RenameMode,
    ) -> Result<()> {
        validate_name(dst_name)?;
        self.require_dir(dst_parent)?;
        let src = self
            .lookup(src_parent, src_name)?
            .ok_or_else(|| VaultError::PathNotFound(display_name(src_name)))?;
        let src_attr = self.attr_of_child(src)?;
        let dst = self.lookup(dst_parent, dst_name)?;
        if src_attr.kind == Kind::Dir && self.is_within(dst_parent, src)? {
            return Err(VaultError::InvalidMove(format!(
                "cannot move directory '{}' inside itself",
                display_name(src_name)
            )));
        }
        let mut replaced_dir = 0;
        match (mode, dst) {
            (RenameMode::NoReplace, Some(_)) => {
                return Err(VaultError::PathExists(display_name(dst_name)));
            }
            (RenameMode::Exchange, None) => {
                return Err(VaultError::PathNotFound(display_name(dst_name)));
            }
            (RenameMode::Exchange, Some(dst)) => {
                let dst_attr = self.attr_of_child(dst)?;
                if dst_attr.kind == Kind::Dir && self.is_within(src_parent, dst)? {
                    return Err(VaultError::InvalidMove(format!(
                        "cannot move directory '{}' inside itself",
                        display_name(dst_name)
                    )));
                }
                self.put_dirent(src_parent, src_name, dst)?;
                self.put_dirent(dst_parent, dst_name, src)?;
                // Across directories, each side gains the other's subdirectory.
                let (src_dir, dst_dir) = (
                    i64::from(src_attr.kind == Kind::Dir),
                    i64::from(dst_attr.kind == Kind::Dir),
                );
                if src_parent == dst_parent {
                    self.touch_dir(src_parent)?;
                } else {
                    self.touch_dir_links(src_parent, dst_dir - src_dir)?;
                    self.touch_dir_links(dst_parent, src_dir - dst_dir)?;
                }
                self.record_entry(src_parent, src_name, dst, Some(&dst_attr))?;
                return self.record_entry(dst_parent, dst_name, src, Some(&src_attr));
            }
            (_, Some(dst)) if dst == src => return Ok(()),
            (_, Some(dst)) => {
                let mut dst_attr = self.attr_of_child(dst)?;
                match (src_attr.kind == Kind::Dir, dst_attr.kind == Kind::Dir) {
                    (true, false) => return Err(VaultError::NotADirectory(display_name(dst_name))),
                    (false, true) => return Err(VaultError::IsADirectory(display_name(dst_name))),
                    (true, true) if !self.entries(dst)?.is_empty() => {
                        return Err(VaultError::DirectoryNotEmpty(display_name(dst_name)));
                    }
                    _ => {}
                }
                self.release_link(&mut dst_attr)?;
                if dst_attr.kind == Kind::Dir {
                    replaced_dir = 1;
                }
            }
            (_, None) => {}
        }
        self.put_dirent(dst_parent, dst_name, src)?;
        self.drop_dirent(src_parent, src_name)?;
        // A rename changes the moved inode's status, as POSIX file systems record.
        let mut moved = src_attr.clone();
        moved.ctime_ns = self.stamp.now_ns;
        self.put_attr(&moved)?;
        let moved_dir = i64::from(src_attr.kind == Kind::Dir);
        if dst_parent != src_parent {
            self.touch_dir_links(src_parent, -moved_dir)?;
            self.touch_dir_links(dst_parent, moved_dir - replaced_dir)?;
        } else {
            self.touch_dir_links(src_parent, -replaced_dir)?;
        }
        // A file moved is a deletion at its old entry and a change at its new
        // one: that is how an editor's atomic save (write temp, rename over)
        // becomes a version of the file it replaces. (A directory moved keeps
        // its entries, and so its files' histories.)
        self.record_entry(src_parent, src_name, src, None)?;
        self.record_entry(dst_parent, dst_name, src, Some(&src_attr))
    }

    // ----- path operations (the CLI's), built on the inode operations -----

    /// Resolves `path`'s parent directory and returns it with the final name.
    fn parent_of(&self, path: &VaultPath) -> Result<(u64, Vec<u8>)> {
        let name = path
            .file_name()
            .ok_or_else(|| VaultError::InvalidPath {
                path: "/".into(),
                reason: "the root cannot be the target of this operation",
            })?
            .to_vec();
        let parent = path.parent().unwrap_or_default();
        let dir = self.dir(&parent)?;
        Ok((dir.ino, name))
    }

    /// Creates a directory; with `parents`, also missing ancestors and no error if it exists.
    pub fn mkdir(&self, path: &VaultPath, parents: bool, mode: u32) -> Result<Attr> {
        if !parents {
            let (parent, name) = self.parent_of(path)?;
            if self.lookup(parent, &name)?.is_some() {
                return Err(VaultError::PathExists(path.to_string()));
            }
            return self.create(parent, &name, NewNode::dir(mode));
        }
        let mut dir = self.attr_of_child(ROOT_INO)?;
        let mut here = VaultPath::root();
        for name in path.components() {
            here = here.join(name);
            dir = match self.lookup(dir.ino, name)? {
                Some(child) => {
                    let attr = self.attr_of_child(child)?;
                    if attr.kind != Kind::Dir {
                        return Err(VaultError::NotADirectory(here.to_string()));
                    }
                    attr
                }
                None => self.create(dir.ino, name, NewNode::dir(mode))?,
            };
        }
        Ok(dir)
    }

    /// Writes a file from a byte stream: replaces its content, or appends with `append`.
    pub fn write_file(
        &self,
        path: &VaultPath,
        source: impl Read,
        append: bool,
        mode: u32,
    ) -> Result<Attr> {
        let (parent, name) = self.parent_of(path)?;
        let existing = match self.lookup(parent, &name)? {
            Some(ino) => Some(self.attr_of_child(ino)?),
            None => None,
        };
        let mut writer = match &existing {
            Some(attr) if attr.kind == Kind::Dir => {
                return Err(VaultError::IsADirectory(path.to_string()));
            }
            Some(attr) if attr.kind == Kind::Symlink => {
                return Err(VaultError::PathExists(format!(
                    "{path} (a symlink; it is not followed)"
                )));
            }
            Some(attr) if append => {
                ContentWriter::append_to(self.conn, attr.content.as_ref().expect("file"))?
            }
            _ => ContentWriter::new(self.conn),
        };
        writer.copy_from(source)?;
        let (content, size) = writer.finish()?;
        match existing {
            Some(attr) => self.set_content(attr.ino, content, size),
            None => self.create(parent, &name, NewNode::file(content, size, mode)),
        }
    }

    /// Creates a symlink at `path` pointing at `target` (stored as given, never followed).
    pub fn symlink(&self, path: &VaultPath, target: &[u8]) -> Result<Attr> {
        if target.is_empty() || target.contains(&0) {
            return Err(VaultError::InvalidPath {
                path: display_name(target),
                reason: "a symlink target must be non-empty and without NUL bytes",
            });
        }
        let (parent, name) = self.parent_of(path)?;
        self.create(parent, &name, NewNode::symlink(target.to_vec()))
    }

    /// Removes a path; directories need `recursive` (then everything below goes too).
    pub fn remove(&self, path: &VaultPath, recursive: bool) -> Result<()> {
        let (parent, name) = self.parent_of(path)?;
        let attr = self.stat(path)?;
        if attr.kind == Kind::Dir && !recursive {
            return Err(VaultError::IsADirectory(path.to_string()));
        }
        // Children first, so every hard link count stays right.
        let mut stack = vec![(parent, name, attr, false)];
        while let Some((parent, name, attr, expanded)) = stack.pop() {
            if attr.kind == Kind::Dir && !expanded {
                let children = self.read_dir(attr.ino)?;
                let dir = attr.ino;
                stack.push((parent, name, attr, true));
                for child in children {
                    stack.push((dir, child.name, child.attr, false));
                }
                continue;
            }
            self.unlink(parent, &name)?;
        }
        Ok(())
    }

    /// Moves `src` to exactly `dst`, replacing a file or empty directory there.
    pub fn rename_path(&self, src: &VaultPath, dst: &VaultPath) -> Result<()> {
        let (src_parent, src_name) = self.parent_of(src)?;
        let (dst_parent, dst_name) = self.parent_of(dst)?;
        if self.lookup(src_parent, &src_name)?.is_none() {
            return Err(VaultError::PathNotFound(src.to_string()));
        }
        self.rename(
            src_parent,
            &src_name,
            dst_parent,
            &dst_name,
            RenameMode::Replace,
        )
        .map_err(|e| with_path(e, dst))
    }

    /// Copies `src` to exactly `dst`; directories need `recursive`. Content is
    /// shared, not copied: a file copy costs one row however large it is.
    pub fn copy(&self, src: &VaultPath, dst: &VaultPath, recursive: bool) -> Result<Attr> {
        let src_attr = self.stat(src)?;
        if src_attr.kind == Kind::Dir {
            if !recursive {
                return Err(VaultError::IsADirectory(src.to_string()));
            }
            if dst.starts_with(src) {
                return Err(VaultError::InvalidMove(format!(
                    "cannot copy '{src}' into itself"
                )));
            }
        }
        let (dst_parent, dst_name) = self.parent_of(dst)?;
        if let Some(existing) = self.lookup(dst_parent, &dst_name)? {
            let existing = self.attr_of_child(existing)?;
            if src_attr.kind == Kind::File && existing.kind == Kind::File {
                let content = src_attr.content.expect("file has content");
                let attr = self.set_content(existing.ino, content, src_attr.size)?;
                return self.set_meta(attr.ino, Some(src_attr.mode), None);
            }
            return Err(VaultError::PathExists(dst.to_string()));
        }
        // Snapshot the source subtree first so a copy never sees its own output.
        let items = self.walk(src)?;
        let mut made: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
        let mut first = None;
        for (path, attr) in items {
            let (parent, name) = if path == *src {
                (dst_parent, dst_name.clone())
            } else {
                let src_parent_ino = self.ino_of_parent(&path, &made)?;
                (
                    src_parent_ino,
                    path.file_name().expect("below src").to_vec(),
                )
            };
            let node = NewNode::like(&attr);
            let created = self.create(parent, &name, node)?;
            made.insert(attr.ino, created.ino);
            first.get_or_insert(created);
        }
        Ok(first.expect("walk yields the source"))
    }

    fn ino_of_parent(
        &self,
        path: &VaultPath,
        made: &std::collections::HashMap<u64, u64>,
    ) -> Result<u64> {
        let parent = path.parent().expect("below src");
        let src_parent = self.stat(&parent)?;
        made.get(&src_parent.ino)
            .copied()
            .ok_or_else(|| VaultError::Corrupt(format!("copy lost track of {parent}")))
    }
}

/// Puts the full path into a name-only error from an inode operation.
fn with_path(err: VaultError, path: &VaultPath) -> VaultError {
    let p = path.to_string();
    match err {
        VaultError::PathExists(_) => VaultError::PathExists(p),
        VaultError::NotADirectory(_) => VaultError::NotADirectory(p),
        VaultError::IsADirectory(_) => VaultError::IsADirectory(p),
        VaultError::DirectoryNotEmpty(_) => VaultError::DirectoryNotEmpty(p),
        other => other,
    }
}

/// What [`TreeWriter::create`] makes.
pub struct NewNode {
    mode: u32,
    mtime_ns: Option<i64>,
    atime_ns: Option<i64>,
    owner: Option<(u32, u32)>,
    body: NodeBody,
    versioned: bool,
}

enum NodeBody {
    Dir,
    File { content: ContentHash, size: u64 },
    Symlink(Vec<u8>),
    Special { kind: Kind, rdev: u64 },
}

impl NewNode {
    fn with_body(mode: u32, body: NodeBody) -> Self {
        Self {
            mode,
            mtime_ns: None,
            atime_ns: None,
            owner: None,
            body,
            versioned: true,
        }
    }

    /// A directory with permission bits `mode`.
    pub fn dir(mode: u32) -> Self {
        Self::with_body(mode, NodeBody::Dir)
    }

    /// A file holding a stored content.
    pub fn file(content: ContentHash, size: u64, mode: u32) -> Self {
        Self::with_body(mode, NodeBody::File { content, size })
    }

    /// A symlink to `target`.
    pub fn symlink(target: Vec<u8>) -> Self {
        Self::with_body(0o777, NodeBody::Symlink(target))
    }

    /// A fifo, socket or device node (`kind` must be one of those).
    pub fn special(kind: Kind, mode: u32, rdev: u64) -> Self {
        debug_assert!(kind.is_special(), "{kind:?} is not a special file");
        Self::with_body(mode, NodeBody::Special { kind, rdev })
    }

    /// The same kind, mode and content as `attr` (a copy).
    pub fn like(attr: &Attr) -> Self {
        let body = match attr.kind {
            Kind::Dir => NodeBody::Dir,
            Kind::File => NodeBody::File {
                content: attr.content.expect("file has content"),
                size: attr.size,
            },
            Kind::Symlink => NodeBody::Symlink(attr.target.clone().unwrap_or_default()),
            kind => NodeBody::Special {
                kind,
                rdev: attr.rdev,
            },
        };
        Self::with_body(attr.mode, body)
    }

    /// Its permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// With other permission bits (e.g. a setgid bit inherited from the parent).
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.body, NodeBody::Dir)
    }

    /// Owned by `uid`:`gid` instead of the writer's owner (the mount's caller).
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        self.owner = Some((uid, gid));
        self
    }

    /// Keeps this access time instead of the modification time (import).
    pub fn with_atime(mut self, atime_ns: i64) -> Self {
        self.atime_ns = Some(atime_ns);
        self
    }

    /// Records no version for the new file now, unless its path has history:
    /// its creator records one when it commits the file's first content (the
    /// mount, for a file it creates open and writes before closing: one
    /// version, not an empty one first).
    pub fn without_version(mut self) -> Self {
        self.versioned = false;
        self
    }

    /// Keeps this modification time instead of "now" (import, restore).
    pub fn with_mtime(mut self, mtime_ns: i64) -> Self {
        self.mtime_ns = Some(mtime_ns);
        self
    }
}

/// The bound values of an inode row: `?1` inode, `?2` layer, then the
/// columns in schema order.
fn attr_params(attr: &Attr, layer: i64) -> impl rusqlite::Params + '_ {
    (
        attr.ino as i64,
        layer,
        attr.kind.code(),
        attr.mode as i64,
        attr.uid as i64,
        attr.gid as i64,
        attr.size as i64,
        attr.mtime_ns,
        attr.ctime_ns,
        attr.nlink as i64,
        attr.content.as_ref().map(|h| &h.0[..]),
        attr.target.as_deref(),
        attr.atime_ns,
        attr.rdev as i64,
    )
}

/// An `inodes` row's columns as one statement reads them, before they are
/// checked ([`Tree::attr`], [`Tree::lookup_attr`]).
struct AttrRow {
    kind: i64,
    mode: i64,
    uid: i64,
    gid: i64,
    size: i64,
    mtime_ns: i64,
    ctime_ns: i64,
    nlink: i64,
    content: Option<Vec<u8>>,
    target: Option<Vec<u8>>,
    atime_ns: i64,
    rdev: i64,
}

impl AttrRow {
    /// The row's twelve columns, from column `at` on.
    fn read(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            kind: r.get(at)?,
            mode: r.get(at + 1)?,
            uid: r.get(at + 2)?,
            gid: r.get(at + 3)?,
            size: r.get(at + 4)?,
            mtime_ns: r.get(at + 5)?,
            ctime_ns: r.get(at + 6)?,
            nlink: r.get(at + 7)?,
            content: r.get(at + 8)?,
            target: r.get(at + 9)?,
            atime_ns: r.get(at + 10)?,
            rdev: r.get(at + 11)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::vault::{Op, Owner, StateRef, Store, VaultPath};

    /// One statement for a name and its attributes finds what the two
    /// lookups find, over layers: a name below with its inode changed above,
    /// one removed above, one unchanged, one new, one never there.
    #[test]
    fn lookup_attr_agrees_with_lookup_then_attr_across_layers() {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        let path = |p: &str| VaultPath::parse_str(p).unwrap();
        store
            .write("v", Op::new("test", ""), |w| {
                for name in ["/changed", "/removed", "/kept"] {
                    w.write_file(&path(name), &b"x"[..], false, 0o644)?;
                }
                w.mkdir(&path("/dir"), false, 0o755).map(|_| ())
            })
            .unwrap();
        store.checkpoint_save("v", "one", None).unwrap();
        store
            .write("v", Op::new("test", ""), |w| {
                let changed = w.stat(&path("/changed"))?.ino;
                w.set_meta(changed, Some(0o600), None)?;
                w.remove(&path("/removed"), false)?;
                w.write_file(&path("/new"), &b"y"[..], false, 0o644)
                    .map(|_| ())
            })
            .unwrap();
        let names: [&[u8]; 6] = [b"changed", b"removed", b"kept", b"dir", b"new", b"never"];
        for state in [
            StateRef::Head { vault: "v".into() },
            StateRef::Checkpoint {
                vault: "v".into(),
                name: "one".into(),
            },
        ] {
            let (joined, apart) = store
                .read(&state, |t| {
                    let mut joined = Vec::new();
                    let mut apart = Vec::new();
                    for name in names {
                        joined.push(t.lookup_attr(super::super::ROOT_INO, name)?);
                        apart.push(match t.lookup(super::super::ROOT_INO, name)? {
                            Some(ino) => Some((ino, t.attr(ino)?)),
                            None => None,
                        });
                    }
                    Ok((joined, apart))
                })
                .unwrap();
            assert_eq!(joined, apart, "{state:?}");
            let head = matches!(state, StateRef::Head { .. });
            let mode = |i: usize| {
                joined[i]
                    .as_ref()
                    .and_then(|(_, a)| a.as_ref())
                    .map(|a| a.mode)
            };
            assert_eq!(
                mode(0),
                Some(if head { 0o600 } else { 0o644 }),
                "the top row"
            );
            assert_eq!(joined[1].is_some(), !head, "removed above the checkpoint");
            assert_eq!(joined[4].is_some(), head, "new above the checkpoint");
            assert!(joined[2].is_some() && joined[3].is_some() && joined[5].is_none());
        }
    }

    /// Path rules check a file at the path `path_of` gives: with a hard link
    /// made later in a directory whose inode is lower, it is still the file's
    /// first path, however the links are stored.
    #[test]
    fn a_file_is_found_at_its_oldest_link_first() {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        let path = |p: &str| VaultPath::parse_str(p).unwrap();
        let ino = store
            .write("v", Op::new("test", ""), |w| {
                w.mkdir(&path("/z"), false, 0o755)?;
                w.mkdir(&path("/a"), false, 0o755)?;
                Ok(w.write_file(&path("/a/f"), &b"x"[..], false, 0o644)?.ino)
            })
            .unwrap();
        store.checkpoint_save("v", "one", None).unwrap();
        store
            .write("v", Op::new("test", ""), |w| {
                let z = w.stat(&path("/z"))?.ino;
                w.link(ino, z, b"g").map(|_| ())
            })
            .unwrap();
        let head = StateRef::Head { vault: "v".into() };
        let (first, links) = store
            .read(&head, |t| Ok((t.path_of(ino)?, t.links_to(ino)?)))
            .unwrap();
        assert_eq!(first, Some(path("/a/f")));
        assert_eq!(links.len(), 2);
        assert!(
            links[1].0 < links[0].0,
            "the later link's directory is lower"
        );
    }
}
