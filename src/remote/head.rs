//! The one mutable object per remote vault: its layer chain, its checkpoints
//! and a generation number, as JSON at `vaults/<name>/head`.
//!
//! Everything a head names (layers, and the chunks they use) is uploaded
//! before the head moves, so a head on the remote is always complete.

use super::error::{RemoteError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The head's format version.
pub const HEAD_FORMAT: u32 = 1;

/// A checkpoint as the head records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeadCheckpoint {
    /// The pack hash (hex) of its frozen layer.
    pub layer: String,
    /// Its message.
    pub message: Option<String>,
    /// Taken by avfs itself.
    pub auto: bool,
    /// When it was first taken, ns since the epoch.
    pub created_ns: i64,
}

/// A remote vault's head.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// [`HEAD_FORMAT`].
    pub format: u32,
    /// The vault's name on the remote.
    pub vault: String,
    /// 1 for the first push, +1 for each push after.
    pub generation: u64,
    /// The layer chain of the vault's state, top first (pack hashes, hex).
    pub chain: Vec<String>,
    /// Checkpoints by name.
    pub checkpoints: BTreeMap<String, HeadCheckpoint>,
    /// When the push that wrote this head ended, ns since the epoch.
    pub pushed_ns: i64,
}

/// The object key of a vault's head.
pub fn head_key(vault: &str) -> String {
    format!("vaults/{vault}/head")
}

/// The object key of a packed layer.
pub fn layer_key(hash: &[u8; 32]) -> String {
    format!("layers/{}", hex::encode(hash))
}

/// The object key of a chunk.
pub fn chunk_key(hash: &[u8; 32]) -> String {
    format!("chunks/{}", hex::encode(hash))
}

/// Parses a hex pack or chunk hash.
pub fn parse_hash(hex_str: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_str)
        .map_err(|_| RemoteError::Corrupt(format!("'{hex_str}' is not a hex hash")))?;
    bytes
        .try_into()
        .map_err(|_| RemoteError::Corrupt(format!("'{hex_str}' is not a 32-byte hash")))
}

impl Head {
    /// The top layer's pack hash.
    pub fn top(&self) -> Result<[u8; 32]> {
        parse_hash(self.chain.first().ok_or_else(|| {
            RemoteError::Corrupt(format!("head of '{}' has an empty chain", self.vault))
        })?)
    }

    /// The chain as hashes, top first.
    pub fn chain_hashes(&self) -> Result<Vec<[u8; 32]>> {
        self.chain.iter().map(|h| parse_hash(h)).collect()
    }

    /// The JSON bytes stored on the remote.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a head serializes");
        out.push(b'\n');
        out
    }

    /// Reads a head downloaded from the remote, checking it is well-formed.
    pub fn from_bytes(vault: &str, bytes: &[u8]) -> Result<Self> {
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| RemoteError::Corrupt(format!("head of '{vault}': {e}")))?;
        if head.format != HEAD_FORMAT {
            return Err(RemoteError::Corrupt(format!(
                "head of '{vault}' has format {}, this avfs reads {HEAD_FORMAT}",
                head.format
            )));
        }
        if head.vault != vault {
            return Err(RemoteError::Corrupt(format!(
                "head of '{vault}' names vault '{}'",
                head.vault
            )));
        }
        head.top()?;
        head.chain_hashes()?;
        for c in head.checkpoints.values() {
            parse_hash(&c.layer)?;
        }
        Ok(head)
    }
}
