//! Counts for `avfs stats`: what a vault holds as seen (logical) and what the
//! store spends on it (stored, after deduplication).

use super::content::ContentHash;
use super::error::Result;
use super::path::VaultPath;
use super::store::{StateRef, Store};
use super::tree::Kind;
use std::collections::HashSet;

/// What one vault's head holds, and how deep its history is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultStats {
    /// Regular files (a hard-linked file counts once).
    pub files: u64,
    /// Directories, the root included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Sum of the files' sizes (hard links once).
    pub logical_bytes: u64,
    /// Layers in its chain, the top included.
    pub chain_depth: u64,
    /// Its checkpoints.
    pub checkpoints: u64,
    /// The distinct contents of its files.
    pub contents: HashSet<ContentHash>,
}

/// Store-wide counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Vaults.
    pub vaults: u64,
    /// Layers, frozen or not, reachable or not (gc drops unreachable ones).
    pub layers: u64,
    /// Checkpoints of every vault.
    pub checkpoints: u64,
    /// Distinct contents.
    pub contents: u64,
    /// Distinct chunks.
    pub chunks: u64,
    /// Bytes of content actually stored: chunk data plus inline contents.
    pub stored_bytes: u64,
    /// Sum of every vault head's logical bytes.
    pub logical_bytes: u64,
    /// Stored bytes (chunks once, inline contents) the vault heads' files
    /// need: what the store would keep with no checkpoint, version or garbage.
    pub head_bytes: u64,
    /// Size of the database file's pages (WAL not included).
    pub db_bytes: u64,
    /// Disk space the segment files of large chunks take (punched holes not counted).
    pub segment_bytes: u64,
}

impl StoreStats {
    /// Logical bytes per stored byte (1.0 when nothing is stored).
    pub fn dedup_ratio(&self) -> f64 {
        if self.stored_bytes == 0 {
            1.0
        } else {
            self.logical_bytes as f64 / self.stored_bytes as f64
        }
    }
}

impl Store {
    /// Bytes the store keeps for these contents: each chunk once, inline data.
    fn stored_bytes_of<'a>(&self, contents: impl Iterator<Item = &'a ContentHash>) -> Result<u64> {
        let c = self.connection();
        let mut inline =
            c.prepare_cached("SELECT size FROM contents WHERE hash = ?1 AND data IS NOT NULL")?;
        let mut chunked = c.prepare_cached(
            "SELECT c.id, c.size FROM content_chunks cc JOIN chunks c ON c.id = cc.chunk
             WHERE cc.content = ?1",
        )?;
        let (mut seen, mut chunks, mut bytes) = (HashSet::new(), HashSet::new(), 0u64);
        for hash in contents {
            if !seen.insert(*hash) {
                continue;
            }
            let key = &hash.0[..];
            let mut rows = inline.query([key])?;
            while let Some(row) = rows.next()? {
                bytes += row.get::<_, i64>(0)? as u64;
            }
            let mut rows = chunked.query([key])?;
            while let Some(row) = rows.next()? {
                if chunks.insert(row.get::<_, i64>(0)?) {
                    bytes += row.get::<_, i64>(1)? as u64;
                }
            }
        }
        Ok(bytes)
    }

    /// Counts one vault's head by walking it: O(files).
    pub fn vault_stats(&mut self, vault: &str) -> Result<VaultStats> {
        let info = self.vault_info(vault)?;
        let at = StateRef::Head {
            vault: vault.to_string(),
        };
        let mut stats = self.read(&at, |t| {
            let mut s = VaultStats::default();
            let mut seen = std::collections::HashSet::new();
            for (_, attr) in t.walk(&VaultPath::root())? {
                match attr.kind {
                    Kind::Dir => s.dirs += 1,
                    Kind::Symlink => s.symlinks += 1,
                    Kind::File if seen.insert(attr.ino) => {
                        s.files += 1;
                        s.logical_bytes += attr.size;
                        if let Some(hash) = attr.content {
                            s.contents.insert(hash);
                        }
                    }
                    Kind::File => {}
                    // Fifos, sockets and device nodes are files without bytes.
                    _ if seen.insert(attr.ino) => s.files += 1,
                    _ => {}
                }
            }
            Ok(s)
        })?;
        stats.chain_depth = info.depth as u64 + 1;
        stats.checkpoints = info.checkpoints as u64;
        Ok(stats)
    }

    /// Store-wide counts; `logical_bytes` sums the given vault stats.
    pub fn store_stats(&self, per_vault: &[VaultStats]) -> Result<StoreStats> {
        let c = self.connection();
        let count =
            |sql: &str| -> Result<u64> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
        Ok(StoreStats {
            vaults: count("SELECT count(*) FROM vaults")?,
            layers: count("SELECT count(*) FROM layers")?,
            checkpoints: count("SELECT count(*) FROM checkpoints")?,
            contents: count("SELECT count(*) FROM contents")?,
            chunks: count("SELECT count(*) FROM chunks")?,
            stored_bytes: count(
                "SELECT (SELECT COALESCE(sum(size), 0) FROM chunks)
                      + (SELECT COALESCE(sum(size), 0) FROM contents WHERE data IS NOT NULL)",
            )?,
            logical_bytes: per_vault.iter().map(|v| v.logical_bytes).sum(),
            head_bytes: self.stored_bytes_of(per_vault.iter().flat_map(|v| &v.contents))?,
            db_bytes: count(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            )?,
            segment_bytes: super::segment::disk_bytes(self.connection())?,
        })
    }
}
