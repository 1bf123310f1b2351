//! `clone` and `pull`: bring a remote vault's layers (and, unless lazy, its
//! chunks) into the store, verified, then create or fast-forward the vault.
//!
//! Invariant: a vault appears (clone) or moves (pull) only in the last
//! transaction, after every layer and chunk it needs was verified and stored;
//! a failure before leaves the vault as it was (and at most unreferenced
//! layers and chunks that `gc` frees).

use super::client::Client;
use super::error::{RemoteError, Result};
use super::head::{Head, parse_hash};
use super::spec::RemoteSpec;
use super::transfer::{Moved, download_chunks, download_packs, pack_chain, read_head};
use crate::vault::exchange::{ImportedCheckpoint, PackHash};
use crate::vault::{Op, Store, VaultError};

/// What a clone or pull did.
#[derive(Clone, Debug, Default)]
pub struct FetchReport {
    /// The remote head's generation.
    pub generation: u64,
    /// `cloned`, `fast_forward`, `up_to_date` or `ahead` (the local vault has
    /// pushed-nothing-new-to-pull: its history contains the remote head).
    pub status: &'static str,
    /// What was downloaded.
    pub moved: Moved,
    /// Checkpoints created locally.
    pub checkpoints_added: Vec<String>,
    /// Chunk bytes were left on the remote, to fetch on first read.
    pub lazy: bool,
    /// Requests made.
    pub requests: u64,
}

/// Downloads and imports what a head names; returns the local top layer and
/// the head's checkpoints as local layers.
fn import_head(
    store: &mut Store,
    client: &Client,
    head: &Head,
    lazy: bool,
    moved: &mut Moved,
) -> Result<(i64, Vec<ImportedCheckpoint>)> {
    let mut wanted: Vec<PackHash> = vec![head.top()?];
    for c in head.checkpoints.values() {
        wanted.push(parse_hash(&c.layer)?);
    }
    let packs = download_packs(store, client, &wanted, moved)?;
    let imported = store.import_packs(&packs)?;
    let local = |store: &Store, h: &PackHash| -> Result<i64> {
        store
            .layer_of_pack(h)?
            .ok_or_else(|| RemoteError::Corrupt(format!("layer {} did not arrive", hex::encode(h))))
    };
    let top = local(store, &head.top()?)?;
    // The chain the head lists must be the chain the packs themselves form.
    let listed = head.chain_hashes()?;
    let actual: Vec<PackHash> = pack_chain(store, top)?
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    if listed != actual {
        return Err(RemoteError::Corrupt(format!(
            "head of '{}' lists a chain its layers do not form",
            head.vault
        )));
    }
    let mut checkpoints = Vec::new();
    for (name, c) in &head.checkpoints {
        checkpoints.push(ImportedCheckpoint {
            name: name.clone(),
            layer: local(store, &parse_hash(&c.layer)?)?,
            message: c.message.clone(),
            auto: c.auto,
            created_ns: c.created_ns,
        });
    }
    if !lazy {
        let mut layers = imported;
        layers.extend(store.layer_chain(top)?);
        for c in &checkpoints {
            layers.extend(store.layer_chain(c.layer)?);
        }
        layers.sort_unstable();
        layers.dedup();
        let absent = store.absent_chunks(&layers)?;
        download_chunks(store, client, &absent, moved)?;
    }
    Ok((top, checkpoints))
}

/// Clones `remote_vault` into a new local vault `local`.
pub fn clone(
    store: &mut Store,
    client: &Client,
    spec: &RemoteSpec,
    remote_vault: &str,
    local: &str,
    lazy: bool,
) -> Result<FetchReport> {
    crate::vault::validate_label(local)?;
    if store.vault_info(local).is_ok() {
        return Err(VaultError::VaultExists(local.to_string()).into());
    }
    let (head, _) = read_head(client, remote_vault)?.ok_or_else(|| RemoteError::VaultNotFound {
        remote: spec.name.clone(),
        vault: remote_vault.to_string(),
    })?;
    let mut report = FetchReport {
        generation: head.generation,
        status: "cloned",
        lazy,
        ..FetchReport::default()
    };
    let (top, checkpoints) = import_head(store, client, &head, lazy, &mut report.moved)?;
    store.create_vault_on(
        local,
        top,
        &checkpoints,
        Op::new(
            "remote.clone",
            format!(
                "{} {remote_vault} generation {}{}",
                spec.name,
                head.generation,
                if lazy { " (lazy)" } else { "" }
            ),
        ),
    )?;
    store.set_upstream(local, &spec.name, remote_vault)?;
    report.checkpoints_added = checkpoints.into_iter().map(|c| c.name).collect();
    report.requests = client.requests();
    Ok(report)
}

/// Fast-forwards local vault `vault` to the head of `remote_vault`.
pub fn pull(
    store: &mut Store,
    client: &Client,
    spec: &RemoteSpec,
    vault: &str,
    remote_vault: &str,
) -> Result<FetchReport> {
    let (head, _) = read_head(client, remote_vault)?.ok_or_else(|| RemoteError::VaultNotFound {
        remote: spec.name.clone(),
        vault: remote_vault.to_string(),
    })?;
    let sealed = store.freeze_head(vault)?;
    let local_chain = pack_chain(store, sealed)?;
    let sealed_hash = local_chain[0].1;
    let remote_chain = head.chain_hashes()?;
    let remote_top = head.top()?;
    let status = if sealed_hash == remote_top {
        "up_to_date"
    } else if remote_chain.contains(&sealed_hash) {
        "fast_forward"
    } else if local_chain.iter().any(|(_, h)| *h == remote_top) {
        "ahead"
    } else {
        return Err(RemoteError::Diverged(format!(
            "'{vault}' has changes the remote head of '{remote_vault}' (generation {}) does not contain; push them, or clone the remote vault under another name",
            head.generation
        )));
    };
    let mut report = FetchReport {
        generation: head.generation,
        status,
        ..FetchReport::default()
    };
    let (top, checkpoints) = import_head(store, client, &head, false, &mut report.moved)?;
    let target = if status == "fast_forward" {
        top
    } else {
        sealed
    };
    report.checkpoints_added = store.fast_forward(
        vault,
        sealed,
        target,
        &checkpoints,
        Op::new(
            "remote.pull",
            format!(
                "{} {remote_vault} generation {} ({status})",
                spec.name, head.generation
            ),
        ),
    )?;
    if store.upstream(vault)?.is_none() {
        store.set_upstream(vault, &spec.name, remote_vault)?;
    }
    report.requests = client.requests();
    Ok(report)
}
