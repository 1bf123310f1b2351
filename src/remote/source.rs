//! The chunk source behind lazy clones: a chunk the store lacks is fetched
//! from the configured remotes (the store checks it against its hash).

use super::client::Client;
use super::head::chunk_key;
use super::spec::{Credentials, RemoteSpec};
use crate::vault::lazy::ChunkSource;
use crate::vault::{Owner, Store};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Credentials, looked up only when a fetch needs them.
pub type CredentialLookup = Box<dyn Fn() -> Option<Credentials> + Send + Sync>;

/// Fetches absent chunks from this store's remotes, in name order.
pub struct RemoteChunks {
    store_path: PathBuf,
    credentials: CredentialLookup,
    clients: OnceLock<Result<Vec<Client>, String>>,
}

impl RemoteChunks {
    /// A source for the store at `store_path` (opened on the first fetch).
    pub fn new(store_path: PathBuf, credentials: CredentialLookup) -> Self {
        Self {
            store_path,
            credentials,
            clients: OnceLock::new(),
        }
    }

    fn connect(&self) -> Result<Vec<Client>, String> {
        let credentials = (self.credentials)()
            .ok_or("no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")?;
        let store = Store::open(&self.store_path, Owner::default()).map_err(|e| e.to_string())?;
        let rows = store.remotes().map_err(|e| e.to_string())?;
        let mut clients = Vec::new();
        for row in rows {
            let spec = RemoteSpec::from_row(&row).map_err(|e| e.to_string())?;
            clients.push(Client::new(&spec, &credentials).map_err(|e| e.to_string())?);
        }
        if clients.is_empty() {
            return Err("no remote is configured".into());
        }
        Ok(clients)
    }
}

impl ChunkSource for RemoteChunks {
    fn fetch(&self, hash: &[u8; 32], _size: u64) -> Result<Vec<u8>, String> {
        let clients = self.clients.get_or_init(|| self.connect()).as_ref()?;
        let key = chunk_key(hash);
        let mut last = String::from("no remote has it");
        // The first copy found is returned as it is: the store checks it
        // against the hash and reports a mismatch as corrupt.
        for client in clients {
            match client.block_on(client.get(&key)) {
                Ok(Some((bytes, _))) => return Ok(bytes.to_vec()),
                Ok(None) => {}
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}
