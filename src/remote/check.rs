//! `remote check`: is the remote reachable, are the credentials accepted, and
//! are its conditional writes real (a second create-only write of the same
//! key must fail, and so must a write on a stale ETag)?

use super::client::{Client, Created, Swapped};
use super::error::Result;
use bytes::Bytes;

/// What a check found.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// Remote vaults found (heads under `vaults/`).
    pub vaults: Vec<String>,
    /// Create-only and If-Match writes are refused when they should be.
    pub conditional_writes: bool,
    /// Requests made.
    pub requests: u64,
}

/// Probes conditional writes with a scratch object, removed afterwards.
pub fn conditional_writes_work(client: &Client) -> Result<bool> {
    let key = format!(
        "avfs-check/{}-{}",
        std::process::id(),
        crate::vault::now_ns()
    );
    let probe = || Bytes::from_static(b"avfs conditional write probe\n");
    let outcome = (|| -> Result<bool> {
        client.block_on(client.put_new(&key, probe()))?;
        if client.block_on(client.put_new(&key, probe()))? != Created::AlreadyThere {
            return Ok(false);
        }
        let stale = "00000000000000000000000000000000";
        Ok(client.block_on(client.put_if_match(&key, probe(), stale))? == Swapped::Lost)
    })();
    client.block_on(client.delete(&key))?;
    outcome
}

/// Lists the remote's vaults, then probes its conditional writes.
pub fn check(client: &Client) -> Result<CheckReport> {
    let vaults = list_vaults(client)?;
    let conditional_writes = conditional_writes_work(client)?;
    Ok(CheckReport {
        vaults,
        conditional_writes,
        requests: client.requests(),
    })
}

/// The names of the vaults on a remote.
pub fn list_vaults(client: &Client) -> Result<Vec<String>> {
    let mut names: Vec<String> = client
        .block_on(client.list("vaults"))?
        .into_iter()
        .filter_map(|o| {
            o.key
                .strip_prefix("vaults/")
                .and_then(|rest| rest.strip_suffix("/head"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}
