//! File history: every committed change of a file's content at a path is a
//! version, numbered from 1 per path along a state's chain of layers.
//!
//! Versions are kept per directory entry (parent directory inode, name), so
//! recording one never has to work out a full path (a write through the mount
//! stays cheap) and a directory that moves takes its files' histories along.
//! [`TreeWriter`] records versions itself (on create, content change, rename
//! and unlink), in the layer and transaction of the change, so the CLI, the
//! mount and the proxy all produce them. A version row lives in the layer it
//! was written in: a fork shares its source's history up to the fork, and a
//! restored checkpoint brings back the history it had.

use super::content::{ContentHash, ContentReader};
use super::error::{Result, VaultError};
use super::path::VaultPath;
use super::store::{StateRef, Store};
use super::tree::{Attr, Kind, NewNode, Tree, TreeWriter};
use rusqlite::{OptionalExtension, params};

/// One version of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// 1 for the path's first version, then one more per change.
    pub version: u64,
    /// The path it was written at.
    pub path: VaultPath,
    /// The inode that held it.
    pub ino: u64,
    /// The content, or `None` when this change deleted the path.
    pub content: Option<ContentHash>,
    /// Bytes (0 for a deletion).
    pub size: u64,
    /// When it was committed, ns since the epoch.
    pub time_ns: i64,
    /// What wrote it: the CLI command (`write`, `append`, `checkout`…) or `mount`.
    pub source: String,
    /// The layer it was written in.
    pub layer: i64,
}

impl Version {
    /// A version from a row of [`ENTRY_VERSIONS`], at `path`.
    fn from_row(path: &VaultPath, r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let content: Option<Vec<u8>> = r.get(2)?;
        Ok(Self {
            version: r.get::<_, i64>(0)? as u64,
            path: path.clone(),
            ino: r.get::<_, i64>(1)? as u64,
            content: content.and_then(|c| ContentHash::from_blob(&c).ok()),
            size: r.get::<_, i64>(3)? as u64,
            time_ns: r.get(4)?,
            source: r.get(5)?,
            layer: r.get(6)?,
        })
    }
}

/// Every version of one entry in a state, newest first (a literal, so
/// that [`LATEST_VERSION`] is one too: the newest version is asked for on
/// every file a mount commits, and formatting its query each time showed).
macro_rules! entry_versions {
    () => {
        "SELECT version, ino, content, size, time_ns, source, layer
         FROM versions v WHERE parent = ?1 AND name = ?2
           AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?3 AND c.layer = v.layer)
         ORDER BY version DESC"
    };
}

/// Every version of one entry in a state, newest first.
const ENTRY_VERSIONS: &str = entry_versions!();

/// The newest version of one entry in a state.
const LATEST_VERSION: &str = concat!(entry_versions!(), " LIMIT 1");

impl Tree<'_> {
    /// The directory entry (parent inode, name) a path names, if its parent
    /// directory exists in this state.
    fn entry_of(&self, path: &VaultPath) -> Result<Option<(u64, Vec<u8>)>> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        Ok(match self.resolve(&parent) {
            Ok(Some(dir)) if dir.kind == Kind::Dir => Some((dir.ino, name.to_vec())),
            Ok(_) | Err(VaultError::NotADirectory(_)) => None,
            Err(e) => return Err(e),
        })
    }

    /// The newest version recorded for entry `name` of directory `parent`.
    fn latest_at(&self, parent: u64, name: &[u8], path: &VaultPath) -> Result<Option<Version>> {
        Ok(self
            .conn
            .prepare_cached(LATEST_VERSION)?
            .query_row(params![parent as i64, name, self.top], |r| {
                Version::from_row(path, r)
            })
            .optional()?)
    }

    /// The newest version of `path` in this state.
    pub fn latest_version(&self, path: &VaultPath) -> Result<Option<Version>> {
        match self.entry_of(path)? {
            Some((parent, name)) => self.latest_at(parent, &name, path),
            None => Ok(None),
        }
    }

    /// Every version of `path` in this state, oldest first.
    pub fn versions(&self, path: &VaultPath) -> Result<Vec<Version>> {
        let Some((parent, name)) = self.entry_of(path)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(ENTRY_VERSIONS)?;
        let rows = stmt.query_map(params![parent as i64, name, self.top], |r| {
            Version::from_row(path, r)
        })?;
        let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Version `n` of `path`, or `VersionNotFound`.
    pub fn version(&self, path: &VaultPath, n: u64) -> Result<Version> {
        self.versions(path)?
            .into_iter()
            .find(|v| v.version == n)
            .ok_or_else(|| VaultError::VersionNotFound {
                path: path.to_string(),
                version: n,
            })
    }

    /// Opens any stored content (contents are store-wide and immutable).
    pub fn open_content(&self, hash: &ContentHash) -> Result<ContentReader<'_>> {
        ContentReader::open(self.conn, hash)
    }

    /// Opens a version's bytes; a deletion has none.
    pub fn open_version(&self, v: &Version) -> Result<ContentReader<'_>> {
        match &v.content {
            Some(hash) => ContentReader::open(self.conn, hash),
            None => Err(VaultError::VersionDeleted {
                path: v.path.to_string(),
                version: v.version,
            }),
        }
    }
}

impl TreeWriter<'_> {
    /// Records that entry `name` of directory `parent` now holds `content`
    /// (or, with `None`, was deleted), unless its newest version says so already.
    pub(crate) fn record_version(
        &self,
        parent: u64,
        name: &[u8],
        ino: u64,
        content: Option<(ContentHash, u64)>,
    ) -> Result<()> {
        let latest = self.latest_at(parent, name, &VaultPath::root())?;
        let next = match &latest {
            Some(v) if v.content == content.map(|c| c.0) => return Ok(()),
            Some(v) => v.version + 1,
            // Nothing to record for deleting a path that never had a version.
            None if content.is_none() => return Ok(()),
            None => 1,
        };
        self.conn
            .prepare_cached(
                "INSERT INTO versions(layer, parent, name, version, ino, content, size, time_ns, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                self.top,
                parent as i64,
                name,
                next as i64,
                ino as i64,
                content.map(|c| c.0.0.to_vec()),
                content.map_or(0, |c| c.1) as i64,
                self.stamp().now_ns,
                self.source(),
            ])?;
        // Versions are numbered from 1, so an entry at version `next` holds at
        // most `next` of them in this layer: nothing to trim until it passes `keep`.
        if let Some(keep) = self.keep_versions()?.filter(|&keep| next > keep) {
            super::retention::trim_entry(self.conn, self.top, parent, name, keep)?;
        }
        Ok(())
    }

    /// For a file created [`NewNode::without_version`]: records its first
    /// content now all the same when the entry has versions already (a path
    /// deleted before), so that its newest version never says "deleted" while
    /// the entry names a file; an entry without history waits for its creator.
    pub(crate) fn record_if_known(
        &self,
        parent: u64,
        name: &[u8],
        ino: u64,
        attr: &Attr,
    ) -> Result<()> {
        if self.latest_at(parent, name, &VaultPath::root())?.is_some() {
            self.record_entry(parent, name, ino, Some(attr))?;
        }
        Ok(())
    }

    /// Records the content file `ino` holds now as a version at every entry
    /// that names it, unless its newest version says so already (for a file
    /// created [`NewNode::without_version`] and committed unchanged).
    pub fn record_current(&self, ino: u64) -> Result<()> {
        match self.attr(ino)? {
            Some(attr) => self.record_content(&attr),
            None => Ok(()),
        }
    }

    /// Records a file's content at every entry that names it.
    pub(crate) fn record_content(&self, attr: &Attr) -> Result<()> {
        let Some(content) = attr.content.filter(|_| attr.kind == Kind::File) else {
            return Ok(());
        };
        // Every file a mount creates and then commits has its one link in
        // the top layer: found there without searching every layer.
        let only_link = match attr.nlink {
            1 => self.top_link(attr.ino)?,
            _ => None,
        };
        let links = match only_link {
            Some(link) => vec![link],
            None => self.links_to(attr.ino)?,
        };
        for (parent, name) in links {
            self.record_version(parent, &name, attr.ino, Some((content, attr.size)))?;
        }
        Ok(())
    }

    /// Records what entry `name` in `parent` holds now: a file's content, or
    /// its deletion when `attr` is `None` (directories and symlinks have no versions).
    pub(crate) fn record_entry(
        &self,
        parent: u64,
        name: &[u8],
        ino: u64,
        attr: Option<&Attr>,
    ) -> Result<()> {
        let content = match attr {
            Some(a) if a.kind == Kind::File => a.content.map(|c| (c, a.size)),
            Some(_) => return Ok(()),
            None => None,
        };
        self.record_version(parent, name, ino, content)
    }

    /// Gives `path` the content of version `n` again, as a new change.
    pub fn checkout_version(&self, path: &VaultPath, n: u64) -> Result<Attr> {
        let v = self.version(path, n)?;
        let Some(content) = v.content else {
            return Err(VaultError::VersionDeleted {
                path: path.to_string(),
                version: n,
            });
        };
        self.put_content_at(path, content, v.size)
    }

    /// Undoes the newest change of `path`: back to the version before it (the
    /// file is removed again if that change created it); returns the path's
    /// attributes afterwards, `None` when it no longer exists.
    pub fn revert_latest(&self, path: &VaultPath) -> Result<Option<Attr>> {
        let versions = self.versions(path)?;
        let Some(last) = versions.last() else {
            return Err(VaultError::VersionNotFound {
                path: path.to_string(),
                version: 1,
            });
        };
        match versions.len().checked_sub(2).map(|i| &versions[i]) {
            Some(prev) => match prev.content {
                Some(content) => self.put_content_at(path, content, prev.size).map(Some),
                None => {
                    self.remove(path, false)?;
                    Ok(None)
                }
            },
            // Version 1 created the file; a lone later one had its past pruned.
            None if last.content.is_some() && last.version == 1 => {
                self.remove(path, false)?;
                Ok(None)
            }
            None => Err(VaultError::NothingToRevert(path.to_string())),
        }
    }

    /// Sets the content of the file at `path`, creating it if missing.
    fn put_content_at(&self, path: &VaultPath, content: ContentHash, size: u64) -> Result<Attr> {
        match self.resolve(path)? {
            Some(attr) if attr.kind == Kind::File => self.set_content(attr.ino, content, size),
            Some(attr) if attr.kind == Kind::Dir => Err(VaultError::IsADirectory(path.to_string())),
            Some(_) => Err(VaultError::PathExists(format!(
                "{path} (a symlink; it is not followed)"
            ))),
            None => {
                let parent = path.parent().unwrap_or_default();
                let dir = self.dir(&parent)?;
                let name = path.file_name().unwrap_or_default().to_vec();
                self.create(dir.ino, &name, NewNode::file(content, size, 0o644))
            }
        }
    }
}

/// Which checkpoint a version belongs to and which proxy run wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The checkpoint that froze the layer holding the version, if one did.
    pub checkpoint: Option<String>,
    /// The automatic `run-*` checkpoint the version's layer was written on,
    /// when the version came through a mount (as a proxy run's writes do) or
    /// a run's merge.
    pub run: Option<String>,
}

impl Store {
    /// Every version of `path` in a state, oldest first, with its provenance.
    pub fn log(&mut self, at: &StateRef, path: &VaultPath) -> Result<Vec<(Version, Provenance)>> {
        let vault = match at {
            StateRef::Head { vault } | StateRef::Checkpoint { vault, .. } => vault.clone(),
        };
        self.read(at, |t| {
            let versions = t.versions(path)?;
            let mut checkpoint_of = t.conn.prepare_cached(
                "SELECT c.name FROM checkpoints c JOIN vaults v ON v.id = c.vault_id
                 WHERE v.name = ?1 AND c.layer = ?2 ORDER BY c.id LIMIT 1",
            )?;
            let mut run_of = t.conn.prepare_cached(
                "SELECT c.name FROM checkpoints c JOIN vaults v ON v.id = c.vault_id
                   JOIN layers l ON l.parent = c.layer
                 WHERE v.name = ?1 AND l.id = ?2 AND c.auto AND c.name LIKE 'run-%'
                   -- A layer older than the checkpoint on its parent is a run's
                   -- attempt, fast-forwarded: all of it is the run's.
                   AND (l.created_ns < c.created_ns OR (c.created_ns <= ?3
                   -- The run ends with its proxy.exec entry; later mounts are not it.
                   AND ?3 <= COALESCE((SELECT min(j.time_ns) FROM journal j WHERE j.vault = ?1
                                        AND j.op = 'proxy.exec' AND j.time_ns >= c.created_ns), ?3)))
                 ORDER BY c.id DESC LIMIT 1",
            )?;
            let mut out = Vec::with_capacity(versions.len());
            for v in versions {
                let checkpoint = checkpoint_of
                    .query_row(params![vault, v.layer], |r| r.get(0))
                    .optional()?;
                // A run writes through its mount; a merged run's changes are applied by the merge.
                let run = if v.source == "mount" || v.source == "merge" {
                    run_of
                        .query_row(params![vault, v.layer, v.time_ns], |r| r.get(0))
                        .optional()?
                } else {
                    None
                };
                out.push((v, Provenance { checkpoint, run }));
            }
            Ok(out)
        })
    }
}
