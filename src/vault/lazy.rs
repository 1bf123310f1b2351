//! Chunks whose bytes are not in the store yet (lazy clone), fetched on first
//! read through a [`ChunkSource`].
//!
//! The store knows nothing of where bytes come from: the program installs one
//! source per process ([`set_chunk_source`]; `src/remote` implements it). A
//! read that meets an absent chunk (a `chunks` row with empty `data`) asks the
//! source, checks the bytes against the chunk's hash, keeps them, and serves
//! them. Nothing unverified is served or stored.

use super::error::{Result, VaultError};
use rusqlite::{Connection, OptionalExtension, TransactionState};
use std::sync::{Arc, OnceLock};

/// Where the bytes of absent chunks come from.
pub trait ChunkSource: Send + Sync {
    /// The bytes of the chunk with this BLAKE3 hash and size (unverified:
    /// the store checks them).
    fn fetch(&self, hash: &[u8; 32], size: u64) -> std::result::Result<Vec<u8>, String>;
}

static SOURCE: OnceLock<Arc<dyn ChunkSource>> = OnceLock::new();

/// Installs this process's chunk source; the first one installed stays.
pub fn set_chunk_source(source: Arc<dyn ChunkSource>) {
    let _ = SOURCE.set(source);
}

/// Fetches, verifies, keeps and returns the bytes of absent chunk `id`.
pub(crate) fn fetch_absent(conn: &Connection, id: i64) -> Result<Vec<u8>> {
    let (hash, size): (Vec<u8>, i64) = conn
        .prepare_cached("SELECT hash, size FROM chunks WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| VaultError::Corrupt(format!("chunk {id} does not exist")))?;
    let hash: [u8; 32] = hash
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::Corrupt(format!("chunk {id} has a bad hash")))?;
    let unavailable = |reason: String| VaultError::ChunkUnavailable {
        hash: hex::encode(hash),
        reason,
    };
    let source = SOURCE
        .get()
        .ok_or_else(|| unavailable("no remote to fetch it from in this process".into()))?;
    let bytes = source.fetch(&hash, size as u64).map_err(unavailable)?;
    if bytes.len() as i64 != size || blake3::hash(&bytes).as_bytes() != &hash {
        return Err(VaultError::InvalidPack(format!(
            "chunk {} fetched from the remote does not match its hash",
            hex::encode(hash)
        )));
    }
    keep(conn, &hash, &bytes)?;
    Ok(bytes)
}

/// Stores fetched bytes: inside the caller's write transaction when it has
/// one (a mount's batch), else in a transaction of a second connection, so
/// a reader never upgrades its own read transaction to a write.
fn keep(conn: &Connection, hash: &[u8; 32], bytes: &[u8]) -> Result<()> {
    if conn.transaction_state(None::<&str>)? == TransactionState::Write {
        super::content::keep_chunk(conn, hash, bytes)?;
        return Ok(());
    }
    let path = match conn.path() {
        Some(p) if !p.is_empty() => p.to_string(),
        // A private in-memory store: serve the bytes without keeping them.
        _ => return Ok(()),
    };
    let mut other = Connection::open(path)?;
    super::schema::configure(&mut other)?;
    let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    super::content::keep_chunk(&tx, hash, bytes)?;
    tx.commit()?;
    Ok(())
}
