//! The journal: one append-only entry per mutation, written in the mutation's
//! own transaction and chained to the previous entry by BLAKE3 hash, so that an
//! edited or deleted entry breaks the chain.

use super::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// What a mutation records about itself.
#[derive(Clone, Debug)]
pub struct Op {
    /// Short operation name, e.g. `write` or `checkpoint.save`.
    pub name: String,
    /// Human-readable detail, e.g. the paths involved.
    pub detail: String,
}

impl Op {
    /// An operation with its detail.
    pub fn new(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            detail: detail.into(),
        }
    }
}

/// The hash that chains an entry to its predecessor.
pub fn entry_hash(
    prev: &[u8],
    time_ns: i64,
    vault: Option<&str>,
    op: &str,
    detail: &str,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&time_ns.to_le_bytes());
    for field in [vault.unwrap_or(""), op, detail] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Appends an entry; call inside the mutation's transaction.
pub fn append(conn: &Connection, time_ns: i64, vault: Option<&str>, op: &Op) -> Result<()> {
    let prev: Vec<u8> = conn
        .prepare_cached("SELECT hash FROM journal ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| vec![0u8; 32]);
    let hash = entry_hash(&prev, time_ns, vault, &op.name, &op.detail);
    conn.prepare_cached(
        "INSERT INTO journal(time_ns, vault, op, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![time_ns, vault, op.name, op.detail, prev, &hash[..]])?;
    Ok(())
}
