//! `remote gc`: delete the objects no head or checkpoint on the remote
//! reaches, once they are older than a grace period.
//!
//! Marking reads every head and every pack it reaches (checked against its
//! name; any problem stops gc before it deletes anything). An unreachable
//! object younger than the grace period is kept: it may belong to a push in
//! progress, which uploads before it moves a head and writes again any old
//! object it relies on (`transfer::REFRESH_AFTER_S`).

use super::check::list_vaults;
use super::client::{Client, PARALLEL};
use super::error::{RemoteError, Result};
use super::head::{layer_key, parse_hash};
use super::transfer::read_head;
use crate::vault::pack::{ContentBody, LayerRows};
use futures::StreamExt;
use std::collections::HashSet;

/// What a gc run found and did.
#[derive(Clone, Debug, Default)]
pub struct GcReport {
    /// Remote vaults (heads) marked from.
    pub vaults: u64,
    /// Layers some head or checkpoint reaches.
    pub reachable_layers: u64,
    /// Chunks those layers use.
    pub reachable_chunks: u64,
    /// Unreachable layers deleted (dry run: that would be).
    pub deleted_layers: u64,
    /// Unreachable chunks deleted (dry run: that would be).
    pub deleted_chunks: u64,
    /// Bytes of the deleted objects.
    pub deleted_bytes: u64,
    /// Unreachable objects kept because they are younger than the grace period.
    pub kept_young: u64,
    /// Requests made.
    pub requests: u64,
}

/// Marks from every head, then deletes what is unreachable and old enough.
pub fn gc(client: &Client, grace_s: i64, dry_run: bool) -> Result<GcReport> {
    let mut report = GcReport::default();
    let mut queue: Vec<[u8; 32]> = Vec::new();
    for name in list_vaults(client)? {
        let Some((head, _)) = read_head(client, &name)? else {
            continue;
        };
        report.vaults += 1;
        queue.extend(head.chain_hashes()?);
        for c in head.checkpoints.values() {
            queue.push(parse_hash(&c.layer)?);
        }
    }
    let mut layers: HashSet<[u8; 32]> = HashSet::new();
    let mut chunks: HashSet<[u8; 32]> = HashSet::new();
    while !queue.is_empty() {
        let batch: Vec<[u8; 32]> = std::mem::take(&mut queue)
            .into_iter()
            .filter(|h| layers.insert(*h))
            .collect();
        let got = client.block_on(
            futures::stream::iter(batch.iter().map(|h| {
                let key = layer_key(h);
                async move { client.get(&key).await }
            }))
            .buffered(PARALLEL)
            .collect::<Vec<_>>(),
        );
        for (h, r) in batch.iter().zip(got) {
            let (bytes, _) = r?.ok_or_else(|| {
                RemoteError::Corrupt(format!(
                    "layer {} is reachable but missing; gc deletes nothing",
                    hex::encode(h)
                ))
            })?;
            if blake3::hash(&bytes).as_bytes() != h {
                return Err(RemoteError::Corrupt(format!(
                    "layer {} does not match its hash; gc deletes nothing",
                    hex::encode(h)
                )));
            }
            let rows = LayerRows::decode(&bytes)?;
            if let Some(p) = rows.parent {
                queue.push(p);
            }
            for c in rows.contents {
                if let ContentBody::Chunks(hashes) = c.body {
                    chunks.extend(hashes.iter().map(|(_, h)| *h));
                }
            }
        }
    }
    report.reachable_layers = layers.len() as u64;
    report.reachable_chunks = chunks.len() as u64;

    let now_s = crate::vault::now_ns() / 1_000_000_000;
    let mut doomed = Vec::new();
    for (dir, reachable, is_layer) in [("layers", &layers, true), ("chunks", &chunks, false)] {
        for object in client.block_on(client.list(dir))? {
            let Some(name) = object.key.strip_prefix(&format!("{dir}/")) else {
                continue;
            };
            let marked = parse_hash(name).is_ok_and(|h| reachable.contains(&h));
            if marked {
                continue;
            }
            if now_s - object.modified_s < grace_s {
                report.kept_young += 1;
                continue;
            }
            if is_layer {
                report.deleted_layers += 1;
            } else {
                report.deleted_chunks += 1;
            }
            report.deleted_bytes += object.size;
            doomed.push(object.key);
        }
    }
    if !dry_run {
        let deleted = client.block_on(
            futures::stream::iter(doomed.iter().map(|key| client.delete(key)))
                .buffer_unordered(PARALLEL)
                .collect::<Vec<_>>(),
        );
        for d in deleted {
            d?;
        }
    }
    report.requests = client.requests();
    Ok(report)
}
