//! `push`: upload what the remote lacks, then move the head with one
//! conditional write.
//!
//! Invariant: the head moves last, and only from the head this push read
//! (If-Match on its ETag; If-None-Match for a first push). A push whose local
//! history does not contain the remote head is refused (`remote_diverged`)
//! unless forced, and a forced push keeps the head it replaces as a
//! checkpoint on the remote. A SIGKILL at any point leaves the remote at its
//! previous head; the next push skips the layers already uploaded.

use super::client::{Client, Created, Swapped};
use super::error::{RemoteError, Result};
use super::head::{HEAD_FORMAT, Head, HeadCheckpoint, head_key};
use super::spec::RemoteSpec;
use super::transfer::{Moved, pack_chain, read_head, upload_layer};
use crate::vault::exchange::PackHash;
use crate::vault::{Op, Store, now_ns};
use bytes::Bytes;
use std::collections::HashSet;

/// How to push.
#[derive(Clone, Copy, Debug, Default)]
pub struct PushOptions {
    /// Also push the vault's checkpoints.
    pub checkpoints: bool,
    /// Replace a remote head that is not in this vault's history (kept as a checkpoint there).
    pub force: bool,
}

/// What a push did.
#[derive(Clone, Debug, Default)]
pub struct PushReport {
    /// The remote head's generation after the push.
    pub generation: u64,
    /// The remote already had exactly this state; nothing was written.
    pub up_to_date: bool,
    /// A diverged remote head was replaced (`--force`).
    pub forced: bool,
    /// The checkpoint on the remote that keeps the replaced head, when forced.
    pub kept_as: Option<String>,
    /// What was uploaded.
    pub moved: Moved,
    /// Checkpoints added to the remote head.
    pub checkpoints_pushed: Vec<String>,
    /// Local checkpoints not pushed because the remote has another state under that name.
    pub checkpoints_skipped: Vec<String>,
    /// Requests made.
    pub requests: u64,
}

/// A name not yet taken in the head, from `base`.
fn free_name(head: &Head, base: &str) -> String {
    if !head.checkpoints.contains_key(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !head.checkpoints.contains_key(n))
        .expect("some suffix is free")
}

/// Pushes local vault `vault` to `remote_vault` on the remote.
pub fn push(
    store: &mut Store,
    client: &Client,
    spec: &RemoteSpec,
    vault: &str,
    remote_vault: &str,
    opts: PushOptions,
) -> Result<PushReport> {
    let top = store.freeze_head(vault)?;
    let chain = pack_chain(store, top)?;
    let mut to_send: Vec<(i64, PackHash)> = chain.iter().rev().copied().collect();
    let mut local_checkpoints = Vec::new();
    if opts.checkpoints {
        for c in store.checkpoints(vault)? {
            let c_chain = pack_chain(store, c.layer)?;
            to_send.extend(c_chain.iter().rev().copied());
            local_checkpoints.push((c, c_chain[0].1));
        }
    }
    let remote = read_head(client, remote_vault)?;
    let chain_hex: Vec<String> = chain.iter().map(|(_, h)| hex::encode(h)).collect();
    let local_set: HashSet<PackHash> = chain.iter().map(|(_, h)| *h).collect();

    let mut report = PushReport::default();
    let mut next = Head {
        format: HEAD_FORMAT,
        vault: remote_vault.to_string(),
        generation: 1,
        chain: chain_hex,
        checkpoints: Default::default(),
        pushed_ns: now_ns(),
    };
    let mut on_remote: HashSet<PackHash> = HashSet::new();
    if let Some((head, _)) = &remote {
        on_remote.extend(head.chain_hashes()?);
        next.generation = head.generation + 1;
        next.checkpoints = head.checkpoints.clone();
        if !local_set.contains(&head.top()?) {
            if !opts.force {
                return Err(RemoteError::Diverged(format!(
                    "the remote head of '{remote_vault}' (generation {}) is not in the history of '{vault}'",
                    head.generation
                )));
            }
            let name = free_name(head, &format!("overwritten-{}", head.generation));
            next.checkpoints.insert(
                name.clone(),
                HeadCheckpoint {
                    layer: head.chain[0].clone(),
                    message: Some(format!(
                        "remote head (generation {}) replaced by a forced push",
                        head.generation
                    )),
                    auto: true,
                    created_ns: now_ns(),
                },
            );
            report.forced = true;
            report.kept_as = Some(name);
        }
    }
    for (c, hash) in &local_checkpoints {
        let layer = hex::encode(hash);
        match next.checkpoints.get(&c.name) {
            Some(existing) if existing.layer == layer => {}
            Some(_) => report.checkpoints_skipped.push(c.name.clone()),
            None => {
                next.checkpoints.insert(
                    c.name.clone(),
                    HeadCheckpoint {
                        layer,
                        message: c.message.clone(),
                        auto: c.auto,
                        created_ns: c.created_ns,
                    },
                );
                report.checkpoints_pushed.push(c.name.clone());
            }
        }
    }
    if let Some((head, _)) = &remote
        && head.chain == next.chain
        && head.checkpoints == next.checkpoints
    {
        report.generation = head.generation;
        report.up_to_date = true;
        report.requests = client.requests();
        return Ok(report);
    }
    if !spec.unsafe_single_writer && store.remote(&spec.name)?.conditional_writes.is_none() {
        let works = super::check::conditional_writes_work(client)?;
        store.set_remote_conditional_writes(&spec.name, works)?;
    }
    if !spec.unsafe_single_writer && store.remote(&spec.name)?.conditional_writes == Some(false) {
        return Err(RemoteError::NoConditionalWrites(spec.name.clone()));
    }

    // Everything the new head names goes up first, parents before children.
    let mut seen = HashSet::new();
    for (layer, hash) in to_send {
        if on_remote.contains(&hash) || !seen.insert(hash) {
            continue;
        }
        upload_layer(store, client, layer, &mut report.moved)?;
    }

    // Then the head, from exactly the head we read.
    let bytes = Bytes::from(next.to_bytes());
    let key = head_key(remote_vault);
    let won = if spec.unsafe_single_writer {
        client.block_on(client.put_overwrite(&key, bytes))?;
        true
    } else {
        match &remote {
            None => client.block_on(client.put_new(&key, bytes))? == Created::Yes,
            Some((_, Some(etag))) => {
                client.block_on(client.put_if_match(&key, bytes, etag))? == Swapped::Won
            }
            Some((_, None)) => {
                return Err(RemoteError::Unreachable(
                    "the server gave the head no ETag; conditional writes are impossible".into(),
                ));
            }
        }
    };
    if !won {
        // A retried request may have been our own write landing: only the
        // exact head we wrote counts as ours.
        let now = read_head(client, remote_vault)?;
        if now.as_ref().map(|(h, _)| h) != Some(&next) {
            return Err(RemoteError::Diverged(format!(
                "another push moved the remote head of '{remote_vault}' first"
            )));
        }
    }
    if store.upstream(vault)?.is_none() {
        store.set_upstream(vault, &spec.name, remote_vault)?;
    }
    store.journal(
        Some(vault),
        Op::new(
            "remote.push",
            format!(
                "{} {remote_vault} generation {}{}",
                spec.name,
                next.generation,
                if report.forced { " (forced)" } else { "" }
            ),
        ),
    )?;
    report.generation = next.generation;
    report.requests = client.requests();
    Ok(report)
}
