//! Full-text search (SQLite FTS5), kept up to date by every write path.
//!
//! The index holds one document per distinct *content*, not per file, so
//! identical files, forks and checkpoints share it. Every write path queues a
//! content when a file first gets it ([`TreeWriter`] calls [`enqueue`], one
//! row insert inside the write's transaction); [`Store::search`] first indexes
//! whatever is queued, in one transaction, then searches. Indexing at the
//! write itself cost a mount 0.7 ms per small file: each close commits, and
//! FTS5 writes (and merges) a segment per commit. A search ranks contents and
//! then keeps those that files of the searched state hold. Binary, non-UTF-8
//! and large contents are recorded as skipped, deliberately: they are not
//! text worth ranking.
//!
//! [`TreeWriter`]: super::tree::TreeWriter

use super::content::{ContentHash, ContentReader};
use super::error::{Result, VaultError};
use super::path::VaultPath;
use super::store::{StateRef, Store};
use rusqlite::{Connection, OptionalExtension, params};
use std::io::Read;

/// Contents larger than this are not indexed.
pub const INDEX_MAX: u64 = 1024 * 1024;
/// A content with a NUL in its first this-many bytes is binary.
const BINARY_PROBE: usize = 8000;

/// Queues a content for the index unless it was indexed (or skipped) already.
pub(crate) fn enqueue(conn: &Connection, hash: &ContentHash) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO search_pending(hash)
         SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM search_docs WHERE hash = ?1)",
    )?
    .execute([&hash.0[..]])?;
    Ok(())
}

/// Indexes every queued content that a file still holds, inside the caller's
/// write transaction; returns how many it looked at. A content only old
/// versions hold is dropped from the queue unrecorded: search cannot find it,
/// and it is queued again if a file gets it back.
pub(crate) fn drain(conn: &Connection) -> Result<u64> {
    let pending: Vec<(Vec<u8>, Option<i64>, bool)> = conn
        .prepare(
            "SELECT p.hash, c.size, EXISTS (SELECT 1 FROM inodes i WHERE i.content = p.hash)
             FROM search_pending p LEFT JOIN contents c ON c.hash = p.hash",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (hash, size, held) in &pending {
        if let (Some(size), true) = (size, held) {
            index_content(conn, &ContentHash::from_blob(hash)?, *size as u64)?;
        }
    }
    conn.execute("DELETE FROM search_pending", [])?;
    Ok(pending.len() as u64)
}

/// Indexes a content's text, once per content; skips binary and huge ones.
fn index_content(conn: &Connection, hash: &ContentHash, size: u64) -> Result<()> {
    let known: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM search_docs WHERE hash = ?1)")?
        .query_row([&hash.0[..]], |r| r.get(0))?;
    if known {
        return Ok(());
    }
    let text = if size > INDEX_MAX || size == 0 {
        None
    } else {
        let mut bytes = Vec::with_capacity(size as usize);
        ContentReader::open(conn, hash)?.read_to_end(&mut bytes)?;
        let binary = bytes.iter().take(BINARY_PROBE).any(|b| *b == 0);
        if binary {
            None
        } else {
            String::from_utf8(bytes).ok()
        }
    };
    let docid = match text {
        Some(body) => {
            conn.prepare_cached("INSERT INTO search_text(body) VALUES (?1)")?
                .execute([body])?;
            Some(conn.last_insert_rowid())
        }
        None => None,
    };
    conn.prepare_cached("INSERT INTO search_docs(hash, docid) VALUES (?1, ?2)")?
        .execute(params![&hash.0[..], docid])?;
    Ok(())
}

/// Drops one freed content's index document and queue entry.
pub(crate) fn forget(conn: &Connection, hash: &ContentHash) -> Result<()> {
    conn.prepare_cached("DELETE FROM search_pending WHERE hash = ?1")?
        .execute([&hash.0[..]])?;
    conn.prepare_cached(
        "DELETE FROM search_text WHERE rowid IN (SELECT docid FROM search_docs WHERE hash = ?1)",
    )?
    .execute([&hash.0[..]])?;
    conn.prepare_cached("DELETE FROM search_docs WHERE hash = ?1")?
        .execute([&hash.0[..]])?;
    Ok(())
}

/// Drops the index documents and queue entries of contents that no longer exist.
pub(crate) fn forget_missing(conn: &Connection) -> Result<u64> {
    conn.execute(
        "DELETE FROM search_pending WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.hash = search_pending.hash)",
        [],
    )?;
    conn.execute(
        "DELETE FROM search_text WHERE rowid IN (
           SELECT docid FROM search_docs d WHERE docid IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM contents c WHERE c.hash = d.hash))",
        [],
    )?;
    Ok(conn.execute(
        "DELETE FROM search_docs WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.hash = search_docs.hash)",
        [],
    )? as u64)
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// A path holding the matching content (each path of a shared content is a hit).
    pub path: VaultPath,
    /// The matching content.
    pub hash: ContentHash,
    /// FTS5's bm25 rank: lower is better.
    pub rank: f64,
    /// The best-matching fragment, matches in `[` `]`.
    pub snippet: String,
}

/// Turns SQLite's complaint about a query into an `InvalidQuery`.
fn query_error(query: &str, err: rusqlite::Error) -> VaultError {
    // The statement is fixed and valid, so a plain SQLITE_ERROR (not busy,
    // full, corrupt...) can only come from parsing the query.
    match &err {
        rusqlite::Error::SqliteFailure(e, msg)
            if e.extended_code == rusqlite::ffi::SQLITE_ERROR =>
        {
            VaultError::InvalidQuery {
                query: query.to_string(),
                reason: msg.clone().unwrap_or_else(|| "syntax error".into()),
            }
        }
        _ => err.into(),
    }
}

impl Store {
    /// Ranked full-text search of the files of a state, best first, at most `limit` hits.
    pub fn search(&mut self, at: &StateRef, query: &str, limit: usize) -> Result<Vec<Hit>> {
        if query.trim().is_empty() {
            return Err(VaultError::InvalidQuery {
                query: query.to_string(),
                reason: "the query is empty".into(),
            });
        }
        self.update_search_index()?;
        self.read(at, |t| {
            let mut stmt = t.conn.prepare_cached(
                "SELECT d.hash, bm25(search_text), snippet(search_text, 0, '[', ']', '…', 12)
                 FROM search_text JOIN search_docs d ON d.docid = search_text.rowid
                 WHERE search_text MATCH ?1 ORDER BY rank",
            )?;
            let mut rows = stmt.query([query]).map_err(|e| query_error(query, e))?;
            let mut holders = t.conn.prepare_cached(
                "SELECT DISTINCT ino FROM inodes i WHERE content = ?1
                   AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = i.layer)",
            )?;
            let mut hits = Vec::new();
            while hits.len() < limit {
                let Some(row) = rows.next().map_err(|e| query_error(query, e))? else {
                    break;
                };
                let hash = ContentHash::from_blob(&row.get::<_, Vec<u8>>(0)?)?;
                let rank: f64 = row.get(1)?;
                let snippet: String = row.get(2)?;
                let inos = holders
                    .query_map(params![&hash.0[..], t.top], |r| r.get::<_, i64>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut paths = Vec::new();
                for ino in inos {
                    // A row down the chain may be shadowed: only the live state counts.
                    let live = t.attr(ino as u64)?.is_some_and(|a| a.content == Some(hash));
                    if !live {
                        continue;
                    }
                    for (parent, name) in t.links_to(ino as u64)? {
                        if let Some(dir) = t.path_of(parent)? {
                            paths.push(dir.join(&name));
                        }
                    }
                }
                paths.sort();
                for path in paths {
                    hits.push(Hit {
                        path,
                        hash,
                        rank,
                        snippet: snippet.clone(),
                    });
                }
            }
            hits.truncate(limit);
            Ok(hits)
        })
    }

    /// Indexes what the write paths queued since the last search (one write
    /// transaction, only when something is queued); returns how many contents
    /// it looked at.
    pub fn update_search_index(&mut self) -> Result<u64> {
        let queued: bool = self
            .connection()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM search_pending)")?
            .query_row([], |r| r.get(0))?;
        if !queued {
            return Ok(0);
        }
        let tx = self.begin_write()?;
        let n = drain(&tx)?;
        tx.commit()?;
        Ok(n)
    }

    /// Whether a content was indexed (`Some(true)`), skipped (`Some(false)`) or never seen.
    pub fn indexed(&self, hash: &ContentHash) -> Result<Option<bool>> {
        Ok(self
            .connection()
            .prepare_cached("SELECT docid IS NOT NULL FROM search_docs WHERE hash = ?1")?
            .query_row([&hash.0[..]], |r| r.get(0))
            .optional()?)
    }
}
