//! Compaction: squash layer chains, then `VACUUM`.
//!
//! A frozen layer that no checkpoint, vault or fork names and that has exactly
//! one child layer is nobody's state of its own: its rows merge into the child
//! (the child's rows win, they are newer) and the child takes its parent. The
//! states everyone can name stay byte-for-byte the same; lookups visit fewer
//! layers. Depths below a merged layer drop by one.
//!
//! Layer ids are never reused and merged rows only move down into a layer that
//! every chain through the old one also contains, so chains other processes
//! cached (`temp.chain`) still give the same answers: the old layer is simply
//! empty, then gone.

use super::error::Result;
use super::journal::{self, Op};
use super::store::{Store, now_ns};
use rusqlite::{Connection, OptionalExtension, params};

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Layers merged into their child.
    pub layers_merged: u64,
    /// Database size before and after `VACUUM`, in bytes.
    pub db_bytes_before: u64,
    /// See `db_bytes_before`.
    pub db_bytes_after: u64,
}

fn db_bytes(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// One frozen, unnamed layer with a single child, if any: (layer, child).
fn next_mergeable(conn: &Connection) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .query_row(
            "SELECT l.id, (SELECT c.id FROM layers c WHERE c.parent = l.id) FROM layers l
             WHERE l.frozen = 1
               AND (SELECT count(*) FROM layers c WHERE c.parent = l.id) = 1
               AND NOT EXISTS (SELECT 1 FROM checkpoints k WHERE k.layer = l.id)
               AND NOT EXISTS (SELECT 1 FROM vaults v WHERE v.top_layer = l.id OR v.base_layer = l.id)
               -- a layer known by its pack hash (remotes) keeps its rows, and so does its child
               AND NOT EXISTS (SELECT 1 FROM remote_layers r WHERE r.layer = l.id
                                  OR r.layer IN (SELECT c.id FROM layers c WHERE c.parent = l.id))
             ORDER BY l.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Merges `layer` into its only child inside the caller's transaction.
fn merge(conn: &Connection, layer: i64, child: i64) -> Result<()> {
    let child_frozen: bool =
        conn.query_row("SELECT frozen FROM layers WHERE id = ?1", [child], |r| {
            r.get(0)
        })?;
    // The frozen-layer triggers guard against accidents; this move is the one
    // sanctioned rewrite, in one transaction, of two layers' rows.
    conn.execute(
        "UPDATE layers SET frozen = 0 WHERE id IN (?1, ?2)",
        params![layer, child],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO dirents(parent, name, layer, child)
         SELECT parent, name, ?2, child FROM dirents WHERE layer = ?1",
        params![layer, child],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO inodes(ino, layer, kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target, atime_ns, rdev)
         SELECT ino, ?2, kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target, atime_ns, rdev FROM inodes WHERE layer = ?1",
        params![layer, child],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO xattrs(ino, name, layer, value)
         SELECT ino, name, ?2, value FROM xattrs WHERE layer = ?1",
        params![layer, child],
    )?;
    for table in ["dirents", "inodes", "xattrs"] {
        conn.execute(&format!("DELETE FROM {table} WHERE layer = ?1"), [layer])?;
    }
    conn.execute(
        "UPDATE versions SET layer = ?2 WHERE layer = ?1",
        params![layer, child],
    )?;
    let parent: Option<i64> =
        conn.query_row("SELECT parent FROM layers WHERE id = ?1", [layer], |r| {
            r.get(0)
        })?;
    conn.execute(
        "UPDATE layers SET parent = ?2 WHERE id = ?1",
        params![child, parent],
    )?;
    conn.execute(
        "WITH RECURSIVE down(id) AS (
             SELECT ?1 UNION ALL SELECT l.id FROM layers l JOIN down ON l.parent = down.id)
         UPDATE layers SET depth = depth - 1 WHERE id IN (SELECT id FROM down)",
        [child],
    )?;
    if parent.is_none() {
        // Whiteouts in a root layer hide nothing.
        conn.execute(
            "DELETE FROM dirents WHERE layer = ?1 AND child IS NULL",
            [child],
        )?;
        conn.execute("DELETE FROM inodes WHERE layer = ?1 AND kind = 0", [child])?;
        conn.execute(
            "DELETE FROM xattrs WHERE layer = ?1 AND value IS NULL",
            [child],
        )?;
    }
    conn.execute("DELETE FROM layers WHERE id = ?1", [layer])?;
    conn.execute(
        "UPDATE layers SET frozen = ?2 WHERE id = ?1",
        params![child, child_frozen],
    )?;
    Ok(())
}

impl Store {
    /// Squashes every layer chain as far as checkpoints and forks allow, then
    /// rewrites the database file without free pages (`VACUUM`).
    pub fn compact(&mut self) -> Result<CompactReport> {
        let mut report = CompactReport {
            db_bytes_before: db_bytes(self.connection())?,
            ..CompactReport::default()
        };
        let tx = self.begin_write()?;
        while let Some((layer, child)) = next_mergeable(&tx)? {
            merge(&tx, layer, child)?;
            report.layers_merged += 1;
        }
        // This connection's cached chains name merged layers: recompute them.
        tx.execute("DELETE FROM temp.chain", [])?;
        journal::append(
            &tx,
            now_ns(),
            None,
            &Op::new("compact", format!("{} layers merged", report.layers_merged)),
        )?;
        tx.commit()?;
        self.connection().execute_batch("VACUUM")?;
        report.db_bytes_after = db_bytes(self.connection())?;
        Ok(report)
    }
}
