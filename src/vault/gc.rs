//! Garbage collection: mark every layer a vault or checkpoint still reaches,
//! sweep the rest (their rows and versions), then the contents no remaining
//! row names, the chunks no remaining content uses, and their index entries.
//!
//! Invariant: content is never dropped while any vault, checkpoint or fork
//! reaches it. A fork's base is an ancestor of its top, so marking from every
//! vault's top and base and every checkpoint marks everything reachable.
//!
//! gc runs as one `BEGIN IMMEDIATE` transaction, so other writers simply wait
//! for it. The one thing outside any transaction is a mount's open file that
//! has stored (spilled) chunks it has not yet attached to a content. With
//! [`GcOptions::spare_recent_chunks`] (the caller knows a writable mount may be
//! live), gc spares orphan chunks newer than the previous gc run, so such a
//! chunk survives at least one full gc cycle.

use super::error::Result;
use super::journal::{self, Op};
use super::store::{Store, now_ns};
use rusqlite::{Connection, OptionalExtension};

/// What a gc run freed (or, dry, would free).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Layers no vault or checkpoint reaches.
    pub layers: u64,
    /// Entry, inode, xattr and version rows in those layers.
    pub rows: u64,
    /// Contents no remaining row names.
    pub contents: u64,
    /// Chunks no remaining content uses.
    pub chunks: u64,
    /// Content bytes freed: those chunks plus inline contents.
    pub bytes: u64,
    /// Nothing was changed.
    pub dry_run: bool,
}

fn count(conn: &Connection, sql: &str) -> Result<u64> {
    Ok(conn
        .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))?
        .unwrap_or(0) as u64)
}

/// How a gc run behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct GcOptions {
    /// Report only; change nothing.
    pub dry_run: bool,
    /// Keep orphan chunks stored since the previous gc run (a live mount may
    /// still attach them to a file it has open).
    pub spare_recent_chunks: bool,
}

/// Mark and sweep inside the caller's write transaction.
fn collect(conn: &Connection, spare_recent_chunks: bool) -> Result<GcReport> {
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.gc_live;
         DROP TABLE IF EXISTS temp.gc_dead;
         CREATE TEMP TABLE gc_live (id INTEGER PRIMARY KEY);
         INSERT INTO temp.gc_live(id)
         WITH RECURSIVE up(id) AS (
             SELECT top_layer FROM vaults
             UNION SELECT base_layer FROM vaults WHERE base_layer IS NOT NULL
             UNION SELECT layer FROM checkpoints
             UNION SELECT l.parent FROM layers l JOIN up ON l.id = up.id WHERE l.parent IS NOT NULL
         )
         SELECT id FROM up;
         CREATE TEMP TABLE gc_dead (id INTEGER PRIMARY KEY);
         INSERT INTO temp.gc_dead(id) SELECT id FROM layers WHERE id NOT IN (SELECT id FROM temp.gc_live);",
    )?;
    let mut report = GcReport {
        layers: count(conn, "SELECT count(*) FROM temp.gc_dead")?,
        ..GcReport::default()
    };
    // The layer rows go first: the frozen-layer triggers look their layer up,
    // and rows of a layer that no longer exists are nobody's frozen state.
    conn.execute(
        "DELETE FROM layers WHERE id IN (SELECT id FROM temp.gc_dead)",
        [],
    )?;
    for table in ["dirents", "inodes", "xattrs", "versions"] {
        report.rows += conn.execute(
            &format!("DELETE FROM {table} WHERE layer IN (SELECT id FROM temp.gc_dead)"),
            [],
        )? as u64;
    }
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.gc_contents;
         CREATE TEMP TABLE gc_contents (hash BLOB PRIMARY KEY, size INTEGER, inline INTEGER) WITHOUT ROWID;
         INSERT INTO temp.gc_contents
         SELECT hash, size, data IS NOT NULL FROM contents c
         WHERE NOT EXISTS (SELECT 1 FROM inodes i WHERE i.content = c.hash)
           AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.content = c.hash);",
    )?;
    report.contents = count(conn, "SELECT count(*) FROM temp.gc_contents")?;
    report.bytes += count(conn, "SELECT sum(size) FROM temp.gc_contents WHERE inline")?;
    conn.execute_batch(
        "DELETE FROM content_chunks WHERE content IN (SELECT hash FROM temp.gc_contents);
         DELETE FROM contents WHERE hash IN (SELECT hash FROM temp.gc_contents);",
    )?;
    let horizon: i64 = if spare_recent_chunks {
        conn.query_row(
            "SELECT value FROM meta WHERE key = 'gc_chunk_horizon'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0)
    } else {
        i64::MAX
    };
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.gc_chunks;
         CREATE TEMP TABLE gc_chunks (id INTEGER PRIMARY KEY, size INTEGER);",
    )?;
    conn.execute(
        "INSERT INTO temp.gc_chunks SELECT id, size FROM chunks c
         WHERE id <= ?1 AND NOT EXISTS (SELECT 1 FROM content_chunks cc WHERE cc.chunk = c.id)",
        [horizon],
    )?;
    report.chunks = count(conn, "SELECT count(*) FROM temp.gc_chunks")?;
    report.bytes += count(conn, "SELECT sum(size) FROM temp.gc_chunks")?;
    conn.execute(
        "DELETE FROM chunks WHERE id IN (SELECT id FROM temp.gc_chunks)",
        [],
    )?;
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) SELECT 'gc_chunk_horizon', COALESCE(max(id), 0) FROM chunks",
        [],
    )?;
    super::search::forget_missing(conn)?;
    conn.execute_batch(
        "DROP TABLE temp.gc_live; DROP TABLE temp.gc_dead;
         DROP TABLE temp.gc_contents; DROP TABLE temp.gc_chunks;",
    )?;
    Ok(report)
}

impl Store {
    /// Frees everything no vault, checkpoint or fork reaches; when dry, only
    /// reports what that would be. Journaled as `gc` when not dry.
    pub fn gc(&mut self, options: GcOptions) -> Result<GcReport> {
        let tx = self.begin_write()?;
        let mut report = collect(&tx, options.spare_recent_chunks)?;
        report.dry_run = options.dry_run;
        if options.dry_run {
            tx.rollback()?;
            return Ok(report);
        }
        let detail = format!(
            "{} layers, {} rows, {} contents, {} chunks, {} bytes",
            report.layers, report.rows, report.contents, report.chunks, report.bytes
        );
        journal::append(&tx, now_ns(), None, &Op::new("gc", detail))?;
        tx.commit()?;
        // Disk space of segment chunks comes back once no older snapshot
        // can still read them (at once, unless another process is reading).
        if let (_, Some(last)) = super::segment::reclaim(self.connection())? {
            super::segment::forget_punched(self.connection(), last)?;
        }
        super::segment::sweep(self.connection())?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{Op, Owner, StateRef, VaultPath};
    use std::io::Read;

    /// Chunks a mount stored early for a file it has open are committed but
    /// named by no content yet. gc run while that mount is live must spare
    /// them, or the file's commit would name chunks that no longer exist.
    #[test]
    fn gc_spares_chunks_an_open_file_stored_early_while_asked_to() {
        for spare in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("store.db");
            let mut mount = Store::open(&db, Owner::default()).unwrap();
            mount.create_vault("v").unwrap();
            let path = VaultPath::parse_str("/big").unwrap();
            let attr = mount
                .write("v", Op::new("write", "/big"), |w| {
                    w.write_file(&path, &b""[..], false, 0o644)
                })
                .unwrap();
            let head = StateRef::Head { vault: "v".into() };
            let data: Vec<u8> = (0..3 * 256 * 1024u32).map(|i| (i / 7) as u8).collect();
            let mut editor = mount
                .read(&head, |t| {
                    let mut ed = t.edit(&attr)?;
                    t.write_edited(&mut ed, 0, &data)?;
                    Ok(ed)
                })
                .unwrap();
            mount
                .write_unjournaled("v", |w| w.spill_edited(&mut editor))
                .unwrap();

            // Another process collects while the file is still open.
            let mut other = Store::open(&db, Owner::default()).unwrap();
            let report = other
                .gc(GcOptions {
                    dry_run: false,
                    spare_recent_chunks: spare,
                })
                .unwrap();
            assert_eq!(report.chunks, if spare { 0 } else { 3 }, "spare={spare}");

            let committed =
                mount.write_unjournaled("v", |w| w.commit_edited(attr.ino, &mut editor, None));
            if !spare {
                assert!(committed.is_err(), "the chunks it stored early are gone");
                continue;
            }
            committed.unwrap();
            let mut back = Vec::new();
            other
                .read(&head, |t| {
                    Ok(t.open(&t.stat(&path)?)?.read_to_end(&mut back)?)
                })
                .unwrap();
            assert!(back == data);
            // The next run knows those chunks are in use now.
            assert_eq!(
                other
                    .gc(GcOptions {
                        dry_run: false,
                        spare_recent_chunks: true
                    })
                    .unwrap()
                    .chunks,
                0
            );
        }
    }
}
