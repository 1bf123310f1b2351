//! File history: every committed change of a file's content at a path is a
//! version, numbered from 1 per path along a state's chain of layers.
//!
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
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<u8>, Self)> {
        let content: Option<Vec<u8>> = r.get(3)?;
        Ok((
            r.get(0)?,
            Self {
                version: r.get::<_, i64>(1)? as u64,
                path: VaultPath::root(),
                ino: r.get::<_, i64>(2)? as u64,
                content: content.and_then(|c| ContentHash::from_blob(&c).ok()),
                size: r.get::<_, i64>(4)? as u64,
                time_ns: r.get(5)?,
                source: r.get(6)?,
                layer: r.get(7)?,
            },
        ))
    }
}

const VERSION_COLUMNS: &str = "path, version, ino, content, size, time_ns, source, layer";

impl Tree<'_> {
    /// The newest version of `path` in this state.
    pub fn latest_version(&self, path: &VaultPath) -> Result<Option<Version>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM versions v WHERE path = ?1
               AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = v.layer)
             ORDER BY version DESC LIMIT 1"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![path.to_bytes(), self.top], Version::from_row)
            .optional()?
            .map(|(_, mut v)| {
                v.path = path.clone();
                v
            }))
    }

    /// Every version of `path` in this state, oldest first.
    pub fn versions(&self, path: &VaultPath) -> Result<Vec<Version>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM versions v WHERE path = ?1
               AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = v.layer)
             ORDER BY version"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![path.to_bytes(), self.top], Version::from_row)?;
        rows.map(|r| {
            let (_, mut v) = r?;
            v.path = path.clone();
            Ok(v)
        })
        .collect()
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
    /// [`Tree::path_of`] for a directory, remembered for this writer.
    fn dir_path(&self, dir: u64) -> Result<Option<VaultPath>> {
        if let Some(p) = self.dir_paths.borrow().get(&dir) {
            return Ok(Some(p.clone()));
        }
        let found = self.path_of(dir)?;
        if let Some(p) = &found {
            self.dir_paths.borrow_mut().insert(dir, p.clone());
        }
        Ok(found)
    }

    /// Records that `path` now holds `content` (or, with `None`, was deleted),
    /// unless that is what its newest version already says.
    pub(crate) fn record_version(
        &self,
        path: &VaultPath,
        ino: u64,
        content: Option<(ContentHash, u64)>,
    ) -> Result<()> {
        let latest = self.latest_version(path)?;
        let next = match &latest {
            Some(v) if v.content == content.map(|c| c.0) => return Ok(()),
            Some(v) => v.version + 1,
            // Nothing to record for deleting a path that never had a version.
            None if content.is_none() => return Ok(()),
            None => 1,
        };
        self.conn
            .prepare_cached(
                "INSERT INTO versions(layer, path, version, ino, content, size, time_ns, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                self.top,
                path.to_bytes(),
                next as i64,
                ino as i64,
                content.map(|c| c.0.0.to_vec()),
                content.map_or(0, |c| c.1) as i64,
                self.stamp().now_ns,
                self.source(),
            ])?;
        Ok(())
    }

    /// Records a file's content at every path that names it.
    pub(crate) fn record_content(&self, attr: &Attr) -> Result<()> {
        let Some(content) = attr.content.filter(|_| attr.kind == Kind::File) else {
            return Ok(());
        };
        for (parent, name) in self.links_to(attr.ino)? {
            if let Some(dir) = self.dir_path(parent)? {
                self.record_version(&dir.join(&name), attr.ino, Some((content, attr.size)))?;
            }
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
        let Some(dir) = self.dir_path(parent)? else {
            return Ok(());
        };
        let content = match attr {
            Some(a) if a.kind == Kind::File => a.content.map(|c| (c, a.size)),
            Some(_) => return Ok(()),
            None => None,
        };
        self.record_version(&dir.join(name), ino, content)
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
    /// when the version came through a mount (as a proxy run's writes do).
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
                   AND c.created_ns <= ?3
                   -- The run ends with its proxy.exec entry; later mounts are not it.
                   AND ?3 <= COALESCE((SELECT min(j.time_ns) FROM journal j WHERE j.vault = ?1
                                        AND j.op = 'proxy.exec' AND j.time_ns >= c.created_ns), ?3)
                 ORDER BY c.id DESC LIMIT 1",
            )?;
            let mut out = Vec::with_capacity(versions.len());
            for v in versions {
                let checkpoint = checkpoint_of
                    .query_row(params![vault, v.layer], |r| r.get(0))
                    .optional()?;
                let run = if v.source == "mount" {
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
