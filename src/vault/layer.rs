//! Layers: creating, freezing, and listing the chain under a top layer.
//!
//! Invariant: a layer's parent never changes and ids only grow along a chain,
//! so the chain under a given top is immutable and can be cached per
//! connection in `temp.chain` once computed.

use super::error::{Result, VaultError};
use rusqlite::{Connection, OptionalExtension, params};

/// Makes sure `temp.chain` lists every layer under (and including) `top`.
pub fn ensure_chain(conn: &Connection, top: i64) -> Result<()> {
    let known: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM temp.chain WHERE top = ?1)")?
        .query_row([top], |r| r.get(0))?;
    if known {
        return Ok(());
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO temp.chain(top, layer)
             WITH RECURSIVE up(id) AS (
                 SELECT ?1
                 UNION ALL
                 SELECT l.parent FROM layers l JOIN up ON l.id = up.id WHERE l.parent IS NOT NULL
             )
             SELECT ?1, id FROM up",
        )?
        .execute([top])?;
    let depth: Option<i64> = conn
        .prepare_cached("SELECT depth FROM layers WHERE id = ?1")?
        .query_row([top], |r| r.get(0))
        .optional()?;
    match depth {
        Some(depth) if depth + 1 == inserted as i64 => Ok(()),
        Some(depth) => Err(VaultError::Corrupt(format!(
            "layer {top} has depth {depth} but a chain of {inserted}"
        ))),
        None => Err(VaultError::Corrupt(format!("layer {top} does not exist"))),
    }
}

/// The layers under `top`, top first.
pub fn chain(conn: &Connection, top: i64) -> Result<Vec<i64>> {
    ensure_chain(conn, top)?;
    let mut stmt =
        conn.prepare_cached("SELECT layer FROM temp.chain WHERE top = ?1 ORDER BY layer DESC")?;
    let rows = stmt.query_map([top], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}

/// Creates a new mutable layer on `parent` (or a root layer).
pub fn create(conn: &Connection, parent: Option<i64>, now_ns: i64) -> Result<i64> {
    let depth: i64 = match parent {
        Some(p) => conn.query_row("SELECT depth + 1 FROM layers WHERE id = ?1", [p], |r| {
            r.get(0)
        })?,
        None => 0,
    };
    conn.prepare_cached(
        "INSERT INTO layers(parent, depth, frozen, created_ns) VALUES (?1, ?2, 0, ?3)",
    )?
    .execute(params![parent, depth, now_ns])?;
    Ok(conn.last_insert_rowid())
}

/// Makes a layer immutable, forever.
pub fn freeze(conn: &Connection, layer: i64) -> Result<()> {
    conn.prepare_cached("UPDATE layers SET frozen = 1 WHERE id = ?1")?
        .execute([layer])?;
    Ok(())
}

/// True if the layer holds no rows (its state equals its parent's).
pub fn is_empty(conn: &Connection, layer: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT NOT EXISTS (SELECT 1 FROM dirents WHERE layer = ?1)
                AND NOT EXISTS (SELECT 1 FROM inodes WHERE layer = ?1)
                AND NOT EXISTS (SELECT 1 FROM xattrs WHERE layer = ?1)",
        )?
        .query_row([layer], |r| r.get(0))?)
}

/// The layer's parent, if any.
pub fn parent(conn: &Connection, layer: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT parent FROM layers WHERE id = ?1")?
        .query_row([layer], |r| r.get(0))?)
}

/// The layer's depth (0 for a root layer).
pub fn depth(conn: &Connection, layer: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT depth FROM layers WHERE id = ?1")?
        .query_row([layer], |r| r.get(0))?)
}

/// Freezes `top` and returns the frozen layer that represents its state.
/// An empty top adds nothing to its parent, so the parent stands for it and
/// chains stay short when nothing changed between checkpoints.
pub fn seal(conn: &Connection, top: i64) -> Result<(i64, bool)> {
    if is_empty(conn, top)?
        && let Some(parent) = parent(conn, top)?
    {
        return Ok((parent, false));
    }
    freeze(conn, top)?;
    Ok((top, true))
}
