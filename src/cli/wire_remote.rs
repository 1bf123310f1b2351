//! The `--json` documents of the remote commands (`remote ...`, `push`,
//! `pull`, `clone`, `vault list --remote`, a run's `push` field), one
//! serialize-only type per shape, described by docs/schema/ like the rest
//! (`wire_docs`). Credentials are never part of any of them.

use super::wire_docs::ErrorDoc;
use crate::remote::transfer::Moved;
use crate::vault::remotes::RemoteRow;
use schemars::JsonSchema;
use serde::Serialize;

/// A configured remote.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireRemote {
    /// Its name (`origin`).
    pub name: String,
    /// `s3://BUCKET/PREFIX`.
    pub url: String,
    /// The S3 endpoint, or null for AWS.
    pub endpoint: Option<String>,
    /// The region, or null.
    pub region: Option<String>,
    /// Pushes do not use conditional writes (one writer only).
    pub unsafe_single_writer: bool,
    /// What the last `remote check` (or first push) found; null until then.
    pub conditional_writes: Option<bool>,
    /// When it was added (RFC 3339).
    pub created: String,
}

impl From<&RemoteRow> for WireRemote {
    fn from(r: &RemoteRow) -> Self {
        Self {
            name: r.name.clone(),
            url: r.url.clone(),
            endpoint: r.endpoint.clone(),
            region: r.region.clone(),
            unsafe_single_writer: r.unsafe_single_writer,
            conditional_writes: r.conditional_writes,
            created: super::wire::timestamp(r.created_ns),
        }
    }
}

/// `remote add`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteDoc {
    /// The remote added.
    pub remote: WireRemote,
}

/// `remote list`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteListDoc {
    /// Every remote, by name.
    pub remotes: Vec<WireRemote>,
}

/// `remote remove`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteRemoveDoc {
    /// The removed remote.
    pub removed: String,
}

/// `remote check`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteCheckDoc {
    /// The remote.
    pub remote: String,
    /// Its URL.
    pub url: String,
    /// The server answered (always true: an unreachable one is an error).
    pub reachable: bool,
    /// The credentials were accepted (always true: refused ones are an error).
    pub credentials: bool,
    /// Conditional writes work there.
    pub conditional_writes: bool,
    /// The remote was added with `--unsafe-single-writer`.
    pub unsafe_single_writer: bool,
    /// The vaults on it.
    pub vaults: Vec<String>,
    /// Requests made.
    pub requests: u64,
}

/// Objects a transfer moved.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireMoved {
    /// Layer packs.
    pub layers: u64,
    /// Chunks.
    pub chunks: u64,
    /// Bytes.
    pub bytes: u64,
}

impl From<&Moved> for WireMoved {
    fn from(m: &Moved) -> Self {
        Self {
            layers: m.layers,
            chunks: m.chunks,
            bytes: m.bytes,
        }
    }
}

/// Objects `remote gc` found reachable.
#[derive(Serialize, JsonSchema, Debug)]
pub struct GcReachable {
    /// Layer packs.
    pub layers: u64,
    /// Chunks.
    pub chunks: u64,
}

/// Objects `remote gc` deleted (or would).
#[derive(Serialize, JsonSchema, Debug)]
pub struct GcDeleted {
    /// Layer packs.
    pub layers: u64,
    /// Chunks.
    pub chunks: u64,
    /// Bytes.
    pub bytes: u64,
}

/// `remote gc`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteGcDoc {
    /// The remote.
    pub remote: String,
    /// Nothing was deleted.
    pub dry_run: bool,
    /// The grace period, in seconds.
    pub grace_s: u64,
    /// Vaults on the remote.
    pub vaults: u64,
    /// What some head or checkpoint reaches.
    pub reachable: GcReachable,
    /// What was deleted (with `--dry-run`: what would be).
    pub deleted: GcDeleted,
    /// Unreachable objects kept because they are younger than the grace period.
    pub kept_young: u64,
    /// Requests made.
    pub requests: u64,
}

/// What `push` did.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WirePush {
    /// The local vault.
    pub vault: String,
    /// The remote.
    pub remote: String,
    /// The vault's name on the remote.
    pub remote_vault: String,
    /// The remote head's generation now.
    pub generation: u64,
    /// The remote head already was this state; nothing was written.
    pub up_to_date: bool,
    /// `--force` replaced a diverged head.
    pub forced: bool,
    /// The remote checkpoint that keeps the replaced head, or null.
    pub kept_as: Option<String>,
    /// Objects this push created.
    pub uploaded: WireMoved,
    /// Checkpoints pushed.
    pub checkpoints_pushed: Vec<String>,
    /// Checkpoints not pushed: the remote has other states under these names.
    pub checkpoints_skipped: Vec<String>,
    /// Requests made.
    pub requests: u64,
}

/// `push`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct PushDoc {
    /// What was pushed.
    pub push: WirePush,
}

/// How a pull went.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum PullStatus {
    FastForward,
    UpToDate,
    Ahead,
}

/// What `pull` did.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WirePull {
    /// The local vault.
    pub vault: String,
    /// The remote.
    pub remote: String,
    /// The vault's name on the remote.
    pub remote_vault: String,
    /// The remote head's generation.
    pub generation: u64,
    /// `fast_forward`, `up_to_date` or `ahead` (the vault already contains the remote head).
    #[schemars(with = "PullStatus")]
    pub status: &'static str,
    /// Objects downloaded.
    pub downloaded: WireMoved,
    /// Checkpoints added to the vault.
    pub checkpoints_added: Vec<String>,
    /// Requests made.
    pub requests: u64,
}

/// `pull`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct PullDoc {
    /// What was pulled.
    pub pull: WirePull,
}

/// What `clone` did.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WireClone {
    /// The new local vault.
    pub vault: String,
    /// The remote.
    pub remote: String,
    /// The vault's name on the remote.
    pub remote_vault: String,
    /// The remote head's generation.
    pub generation: u64,
    /// Content is fetched on first read.
    pub lazy: bool,
    /// Objects downloaded.
    pub downloaded: WireMoved,
    /// Checkpoints the clone has.
    pub checkpoints: Vec<String>,
    /// Requests made.
    pub requests: u64,
}

/// `clone`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CloneDoc {
    /// What was cloned.
    pub clone: WireClone,
}

/// A vault on a remote, from its head.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteVault {
    /// Its name on the remote.
    pub name: String,
    /// Its head's generation.
    pub generation: u64,
    /// Its checkpoints.
    pub checkpoints: Vec<String>,
    /// When it was last pushed (RFC 3339).
    pub pushed: String,
}

/// `vault list --remote NAME`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RemoteVaultListDoc {
    /// The remote.
    pub remote: String,
    /// Its vaults.
    pub vaults: Vec<RemoteVault>,
}

/// A run's push that succeeded.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RunPushed {
    /// The remote.
    pub remote: String,
    /// The vault's name on the remote.
    pub remote_vault: String,
    /// The remote head's generation now.
    pub generation: u64,
    /// The remote head already was this state.
    pub up_to_date: bool,
    /// Objects this push created.
    pub uploaded: WireMoved,
    /// Checkpoints pushed.
    pub checkpoints_pushed: Vec<String>,
}

/// The `push` field of a run (`proxy exec --push`, or the policy's
/// `remote.push: after_run`): what was pushed, or why the push failed.
#[derive(Serialize, JsonSchema, Debug)]
#[serde(untagged)]
pub enum RunPush {
    /// The push happened.
    Pushed(RunPushed),
    /// The push failed; the run's exit status stays the command's own.
    Failed(ErrorDoc),
}
