//! Automatic history retention: each file keeps its newest versions (20 by
//! default, a store setting), so a much-rewritten file does not grow the store
//! without bound. When a change records a version, the entry's versions in the
//! vault's mutable top layer beyond that count are dropped in the same
//! transaction, and the contents (and chunks) nothing else names any more are
//! freed at once, without waiting for `gc`, when the version's inode still
//! exists (its content was replaced in place, as writes through a mount do).
//! The last content of an inode that was deleted or renamed over may still be
//! read through a mount's open file, so it waits for `gc`.
//!
//! Only the top layer is trimmed: frozen layers belong to checkpoints and forks
//! too, and their history stays as it was frozen (`prune` trims it on request).

use super::content::ContentHash;
use super::error::Result;
use super::journal::{self, Op};
use super::store::{Store, now_ns};
use rusqlite::{Connection, OptionalExtension, params};

/// Versions each file keeps in a vault's top layer unless the store says otherwise.
pub const DEFAULT_KEEP_VERSIONS: u64 = 20;
/// The `meta` key of the setting: a count, or 0 for "keep every version".
const KEEP_VERSIONS_KEY: &str = "setting.retention.keep_versions";

/// How many versions each file keeps; `None` keeps them all.
pub(crate) fn keep_versions(conn: &Connection) -> Result<Option<u64>> {
    let stored: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([KEEP_VERSIONS_KEY], |r| r.get(0))
        .optional()?;
    Ok(match stored {
        None => Some(DEFAULT_KEEP_VERSIONS),
        Some(n) if n <= 0 => None,
        Some(n) => Some(n as u64),
    })
}

/// Drops the versions of entry (`parent`, `name`) in layer `top` beyond the
/// newest `keep`, and frees what they alone held.
pub(crate) fn trim_entry(
    conn: &Connection,
    top: i64,
    parent: u64,
    name: &[u8],
    keep: u64,
) -> Result<()> {
    let dropped: Vec<(i64, i64, Option<Vec<u8>>)> = conn
        .prepare_cached(
            "SELECT id, ino, content FROM versions WHERE layer = ?1 AND parent = ?2 AND name = ?3
             ORDER BY version DESC LIMIT -1 OFFSET ?4",
        )?
        .query_map(params![top, parent as i64, name, keep as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut delete = conn.prepare_cached("DELETE FROM versions WHERE id = ?1")?;
    for (id, _, _) in &dropped {
        delete.execute([id])?;
    }
    // A content its inode replaced in place is gone for good. An inode that is
    // no longer in the state (deleted, or replaced by a rename over it) may
    // still be open in a mount, which reads its last content: that waits for gc.
    let tree = super::tree::Tree::new(conn, top)?;
    let mut contents = Vec::new();
    for (_, ino, content) in dropped {
        if let Some(content) = content
            && tree.attr(ino as u64)?.is_some()
        {
            contents.push(content);
        }
    }
    contents.sort();
    contents.dedup();
    for content in contents {
        free_content(conn, &ContentHash::from_blob(&content)?)?;
    }
    Ok(())
}

/// Deletes a content that no inode or version names any more, with its index
/// document and the chunks no other content uses.
fn free_content(conn: &Connection, hash: &ContentHash) -> Result<()> {
    let named: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM inodes WHERE content = ?1)
                 OR EXISTS (SELECT 1 FROM versions WHERE content = ?1)",
        )?
        .query_row([&hash.0[..]], |r| r.get(0))?;
    if named {
        return Ok(());
    }
    let chunks: Vec<i64> = conn
        .prepare_cached("SELECT chunk FROM content_chunks WHERE content = ?1")?
        .query_map([&hash.0[..]], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.prepare_cached("DELETE FROM content_chunks WHERE content = ?1")?
        .execute([&hash.0[..]])?;
    conn.prepare_cached("DELETE FROM contents WHERE hash = ?1")?
        .execute([&hash.0[..]])?;
    let mut unused = conn.prepare_cached(
        "DELETE FROM chunks WHERE id = ?1
           AND NOT EXISTS (SELECT 1 FROM content_chunks WHERE chunk = ?1)",
    )?;
    for chunk in chunks {
        unused.execute([chunk])?;
    }
    super::search::forget(conn, hash)
}

impl Store {
    /// How many versions each file keeps (`None`: all of them).
    pub fn retention(&self) -> Result<Option<u64>> {
        keep_versions(self.connection())
    }

    /// Sets how many versions each file keeps from now on (`None`: all);
    /// files trim to it at their next change. Journaled as `retention.set`.
    pub fn set_retention(&mut self, keep: Option<u64>) -> Result<()> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let stored = keep.map_or(0, |n| n.clamp(1, i64::MAX as u64) as i64);
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
            params![KEEP_VERSIONS_KEY, stored],
        )?;
        let detail = match keep {
            Some(n) => format!("keep {n} versions per file"),
            None => "keep every version".to_string(),
        };
        journal::append(&tx, now, None, &Op::new("retention.set", detail))?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{CHUNK_SIZE, Owner, StateRef, VaultPath};

    fn rewrite(store: &mut Store, i: u8) {
        let f = VaultPath::parse_str("/f").unwrap();
        let bytes = vec![i; CHUNK_SIZE + 1];
        store
            .write("v", Op::new("write", "/f"), |w| {
                w.write_file(&f, &bytes[..], false, 0o644)
            })
            .unwrap();
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .connection()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_rewritten_file_keeps_its_newest_versions_and_frees_the_rest() {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        store.set_retention(Some(3)).unwrap();
        for i in 0..10 {
            rewrite(&mut store, i);
        }
        let head = StateRef::Head { vault: "v".into() };
        let f = VaultPath::parse_str("/f").unwrap();
        let kept: Vec<u64> = store
            .log(&head, &f)
            .unwrap()
            .iter()
            .map(|(v, _)| v.version)
            .collect();
        assert_eq!(kept, [8, 9, 10]);
        assert_eq!(count(&store, "contents"), 3);
        // Two chunks per content, one for each distinct byte value.
        assert_eq!(count(&store, "chunks"), 6);
        assert!(store.verify().unwrap().intact());

        store.set_retention(None).unwrap();
        for i in 10..15 {
            rewrite(&mut store, i);
        }
        assert_eq!(store.log(&head, &f).unwrap().len(), 8);
        assert_eq!(store.retention().unwrap(), None);
    }
}
