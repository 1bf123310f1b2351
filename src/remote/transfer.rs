//! Moving packs and chunks between the store and a remote, in parallel
//! batches, verifying everything that comes down before it enters the store.

use super::client::{Client, Created, PARALLEL};
use super::error::{RemoteError, Result};
use super::head::{Head, chunk_key, head_key, layer_key};
use crate::vault::Store;
use crate::vault::exchange::{ChunkRef, Pack, PackHash};
use crate::vault::pack::LayerRows;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};

/// Chunks read from the store per upload batch (bounds memory to ~8 MiB).
const CHUNK_BATCH: usize = 32;

/// An object a push needs that exists but was written longer ago than this
/// is written again (same bytes, same name), which makes it young: `remote gc`
/// deletes only unreachable objects older than its grace period, so a push
/// shorter than grace minus this age never loses an object it relies on.
pub const REFRESH_AFTER_S: i64 = 3600;

/// What to do with an object a push needs.
enum Need {
    /// It is there and young: nothing.
    Nothing,
    /// It is missing: create it.
    Create,
    /// It is there but old: write it again to make it young.
    Refresh,
}

fn need(age: Option<i64>) -> Need {
    match age {
        None => Need::Create,
        Some(a) if a >= REFRESH_AFTER_S => Need::Refresh,
        Some(_) => Need::Nothing,
    }
}

/// Writes an object the way `need` says; returns whether bytes went up.
async fn put(client: &Client, key: &str, bytes: Bytes, need: Need) -> Result<bool> {
    match need {
        Need::Nothing => Ok(false),
        Need::Create => Ok(client.put_new(key, bytes).await? == Created::Yes),
        Need::Refresh => client.put_overwrite(key, bytes).await.map(|_| true),
    }
}

/// What moved, for reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct Moved {
    /// Packed layers transferred.
    pub layers: u64,
    /// Chunks transferred.
    pub chunks: u64,
    /// Bytes of layers and chunks transferred.
    pub bytes: u64,
}

/// A remote vault's head and the ETag it was read with.
pub fn read_head(client: &Client, vault: &str) -> Result<Option<(Head, Option<String>)>> {
    let got = client.block_on(client.get(&head_key(vault)))?;
    got.map(|(bytes, etag)| Ok((Head::from_bytes(vault, &bytes)?, etag)))
        .transpose()
}

/// Packs (bottom-up) every layer of `top`'s chain that has no pack hash yet;
/// returns the chain's pack hashes, top first, with their layers.
pub fn pack_chain(store: &mut Store, top: i64) -> Result<Vec<(i64, PackHash)>> {
    let chain = store.layer_chain(top)?;
    let mut out = Vec::with_capacity(chain.len());
    for &layer in chain.iter().rev() {
        let hash = match store.pack_hash(layer)? {
            Some(h) => h,
            None => store.pack_layer(layer)?.hash,
        };
        out.push((layer, hash));
    }
    out.reverse();
    Ok(out)
}

/// Uploads one layer unless the remote has it: its chunks first (each only
/// if missing), then the pack, create-only.
pub fn upload_layer(
    store: &mut Store,
    client: &Client,
    layer: i64,
    moved: &mut Moved,
) -> Result<()> {
    let pack = store.pack_layer(layer)?;
    let key = layer_key(&pack.hash);
    let layer_need = need(client.block_on(client.age(&key))?);
    if matches!(layer_need, Need::Nothing) {
        return Ok(());
    }
    let chunks = store.layer_chunks(layer)?;
    for batch in chunks.chunks(CHUNK_BATCH) {
        upload_chunks(store, client, batch, moved)?;
    }
    let size = pack.bytes.len() as u64;
    if client.block_on(put(client, &key, Bytes::from(pack.bytes), layer_need))? {
        moved.layers += 1;
        moved.bytes += size;
    }
    Ok(())
}

fn upload_chunks(
    store: &Store,
    client: &Client,
    batch: &[ChunkRef],
    moved: &mut Moved,
) -> Result<()> {
    let ages: Vec<Option<i64>> = client
        .block_on(
            futures::stream::iter(batch.iter().map(|c| {
                let key = chunk_key(&c.hash);
                async move { client.age(&key).await }
            }))
            .buffered(PARALLEL)
            .collect::<Vec<_>>(),
        )
        .into_iter()
        .collect::<Result<_>>()?;
    let mut missing = Vec::new();
    for (c, age) in batch.iter().zip(ages) {
        let chunk_need = need(age);
        if matches!(chunk_need, Need::Nothing) {
            continue;
        }
        let bytes = match (store.chunk_bytes(&c.hash)?, &chunk_need) {
            (Some(bytes), _) => bytes,
            // A lazy clone's chunk the remote has (old): it cannot be written
            // again from here, and it is there.
            (None, Need::Refresh) => continue,
            (None, _) => {
                return Err(RemoteError::Vault(
                    crate::vault::VaultError::ChunkUnavailable {
                        hash: hex::encode(c.hash),
                        reason: "this store never fetched it (lazy clone) and the remote lacks it"
                            .into(),
                    },
                ));
            }
        };
        missing.push((chunk_key(&c.hash), Bytes::from(bytes), chunk_need));
    }
    let results = client.block_on(
        futures::stream::iter(missing.into_iter().map(|(key, bytes, chunk_need)| {
            let size = bytes.len() as u64;
            async move {
                put(client, &key, bytes, chunk_need)
                    .await
                    .map(|up| (up, size))
            }
        }))
        .buffer_unordered(PARALLEL)
        .collect::<Vec<_>>(),
    );
    for r in results {
        if let (true, size) = r? {
            moved.chunks += 1;
            moved.bytes += size;
        }
    }
    Ok(())
}

/// Downloads the packs `wanted` needs that the store lacks (following parents
/// down to what the store has), verified against their names; returns them
/// parents first.
pub fn download_packs(
    store: &Store,
    client: &Client,
    wanted: &[PackHash],
    moved: &mut Moved,
) -> Result<Vec<Pack>> {
    let mut got: HashMap<PackHash, (Option<PackHash>, Vec<u8>)> = HashMap::new();
    let mut queue: Vec<PackHash> = Vec::new();
    let mut queued = HashSet::new();
    for h in wanted {
        if store.layer_of_pack(h)?.is_none() && queued.insert(*h) {
            queue.push(*h);
        }
    }
    while !queue.is_empty() {
        let batch: Vec<PackHash> = std::mem::take(&mut queue);
        let fetched = client.block_on(
            futures::stream::iter(batch.iter().map(|h| {
                let key = layer_key(h);
                async move { client.get(&key).await }
            }))
            .buffered(PARALLEL)
            .collect::<Vec<_>>(),
        );
        for (h, r) in batch.iter().zip(fetched) {
            let (bytes, _) = r?.ok_or_else(|| {
                RemoteError::Corrupt(format!("layer {} is missing on the remote", hex::encode(h)))
            })?;
            if blake3::hash(&bytes).as_bytes() != h {
                return Err(RemoteError::Corrupt(format!(
                    "layer {} does not match its hash",
                    hex::encode(h)
                )));
            }
            let parent = LayerRows::decode(&bytes)?.parent;
            moved.layers += 1;
            moved.bytes += bytes.len() as u64;
            if let Some(p) = parent
                && store.layer_of_pack(&p)?.is_none()
                && queued.insert(p)
            {
                queue.push(p);
            }
            got.insert(*h, (parent, bytes.to_vec()));
        }
    }
    // Parents first: walk each pack's ancestry within what was downloaded.
    let mut order = Vec::with_capacity(got.len());
    let mut done = HashSet::new();
    let mut keys: Vec<PackHash> = got.keys().copied().collect();
    keys.sort();
    for start in keys {
        let mut stack = vec![start];
        let mut walk = Vec::new();
        while let Some(h) = stack.pop() {
            if done.contains(&h) || !got.contains_key(&h) {
                continue;
            }
            walk.push(h);
            if let Some(p) = got[&h].0 {
                stack.push(p);
            }
        }
        for h in walk.into_iter().rev() {
            if done.insert(h) {
                order.push(h);
            }
        }
    }
    Ok(order
        .into_iter()
        .map(|h| {
            let (_, bytes) = got.remove(&h).expect("downloaded");
            Pack { hash: h, bytes }
        })
        .collect())
}

/// Downloads chunk bytes into the store, batch by batch; the store checks
/// each against its hash and keeps nothing of a batch with a bad one.
pub fn download_chunks(
    store: &mut Store,
    client: &Client,
    chunks: &[ChunkRef],
    moved: &mut Moved,
) -> Result<()> {
    for batch in chunks.chunks(CHUNK_BATCH) {
        let fetched = client.block_on(
            futures::stream::iter(batch.iter().map(|c| {
                let key = chunk_key(&c.hash);
                async move { client.get(&key).await }
            }))
            .buffered(PARALLEL)
            .collect::<Vec<_>>(),
        );
        let mut filled = Vec::with_capacity(batch.len());
        for (c, r) in batch.iter().zip(fetched) {
            let (bytes, _) = r?.ok_or_else(|| {
                RemoteError::Corrupt(format!(
                    "chunk {} is missing on the remote",
                    hex::encode(c.hash)
                ))
            })?;
            moved.chunks += 1;
            moved.bytes += bytes.len() as u64;
            filled.push((c.hash, bytes.to_vec()));
        }
        store.fill_chunks(&filled)?;
    }
    Ok(())
}
