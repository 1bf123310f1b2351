//! The S3 client: `object_store`'s S3 backend on a small tokio runtime owned
//! here, behind blocking calls, so the rest of avfs stays synchronous.
//!
//! Only what remotes need: get, head, create-only put (If-None-Match), the
//! conditional head write (If-Match), plain put for the documented unsafe
//! single-writer mode, delete and list. Every request is counted.

use super::error::{RemoteError, Result};
use super::spec::{Credentials, RemoteSpec};
use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many requests run at once in bulk transfers.
pub const PARALLEL: usize = 16;

/// What a create-only put found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object is new.
    Yes,
    /// An object of that name existed already (and was left alone).
    AlreadyThere,
}

/// What a conditional head write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swapped {
    /// The object now holds our bytes.
    Won,
    /// Someone else's write came first (412, or Ceph's 500 for an overlapping loser).
    Lost,
}

/// An object listed under a prefix.
#[derive(Clone, Debug)]
pub struct Listed {
    /// Its key below the remote's prefix.
    pub key: String,
    /// Its size.
    pub size: u64,
    /// Seconds since the epoch it was last written.
    pub modified_s: i64,
}

/// One remote's bucket and prefix, reachable through S3.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    store: Arc<AmazonS3>,
    prefix: String,
    requests: AtomicU64,
    label: String,
}

impl Client {
    /// A client for a remote (no request is made yet).
    pub fn new(spec: &RemoteSpec, credentials: &Credentials) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Unreachable(format!("cannot start the I/O runtime: {e}")))?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&spec.bucket)
            .with_region(spec.region.as_deref().unwrap_or("us-east-1"))
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key)
            .with_virtual_hosted_style_request(false)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(token) = &credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &spec.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .build()
            .map_err(|e| RemoteError::InvalidUrl(e.to_string()))?;
        Ok(Self {
            runtime,
            store: Arc::new(store),
            prefix: spec.prefix.clone(),
            requests: AtomicU64::new(0),
            label: spec.display(),
        })
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Runs one future on the runtime, blocking.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    fn error(&self, key: &str, err: object_store::Error) -> RemoteError {
        classify(&self.label, key, err)
    }

    /// An object's bytes and ETag, or None when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, Option<String>)>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let got = match self.store.get(&self.path(key)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(key, e)),
        };
        let etag = got.meta.e_tag.clone();
        let bytes = got.bytes().await.map_err(|e| self.error(key, e))?;
        Ok(Some((bytes, etag)))
    }

    /// How many seconds ago an object was last written, or None when it does not exist.
    pub async fn age(&self, key: &str) -> Result<Option<i64>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(
                (crate::vault::now_ns() / 1_000_000_000 - meta.last_modified.timestamp()).max(0),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Writes an object only if no object of that name exists (If-None-Match: *).
    pub async fn put_new(&self, key: &str, bytes: Bytes) -> Result<Created> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(key), PutPayload::from_bytes(bytes), opts)
            .await
        {
            Ok(_) => Ok(Created::Yes),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Created::AlreadyThere),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Replaces an object only if it still has `etag` (If-Match). Ceph RGW
    /// 16.2 compares the header with its stored ETag without quotes, so they
    /// are stripped (AWS and others accept either form).
    pub async fn put_if_match(&self, key: &str, bytes: Bytes, etag: &str) -> Result<Swapped> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let opts = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag: Some(etag.trim_matches('"').to_string()),
                version: None,
            }),
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(key), PutPayload::from_bytes(bytes), opts)
            .await
        {
            Ok(_) => Ok(Swapped::Won),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => Ok(Swapped::Lost),
            // Ceph RGW answers an overlapping loser of an If-Match race with
            // HTTP 500 (ECANCELED): the caller re-reads the head either way.
            Err(e) if server_error(&e) => Ok(Swapped::Lost),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Replaces an object unconditionally (only for the unsafe single-writer mode).
    pub async fn put_overwrite(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.store
            .put(&self.path(key), PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.error(key, e))
    }

    /// Deletes an object (no error if it is gone).
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Every object under `dir` (a key prefix ending at a `/` boundary).
    pub async fn list(&self, dir: &str) -> Result<Vec<Listed>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let base = self.path(dir);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut stream = self.store.list(Some(&base));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let meta = item.map_err(|e| self.error(dir, e))?;
            let full = meta.location.to_string();
            out.push(Listed {
                key: full.strip_prefix(&strip).unwrap_or(&full).to_string(),
                size: meta.size,
                modified_s: meta.last_modified.timestamp(),
            });
        }
        Ok(out)
    }
}

fn server_error(err: &object_store::Error) -> bool {
    let text = format!("{err:?}");
    mentions_status(&text, "500") || text.contains("Internal Server Error")
}

/// Whether `text` names the HTTP status `code` as a number of its own: the
/// error texts also hold durations ("265.44036ms"), whose digits must not
/// read as a status.
fn mentions_status(text: &str, code: &str) -> bool {
    let numeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
    text.match_indices(code).any(|(at, _)| {
        !numeric(text[..at].chars().next_back()) && !numeric(text[at + code.len()..].chars().next())
    })
}

/// Maps a client error to what the user can act on.
fn classify(remote: &str, key: &str, err: object_store::Error) -> RemoteError {
    use object_store::Error as E;
    match &err {
        E::Unauthenticated { .. } | E::PermissionDenied { .. } => {
            RemoteError::Auth(format!("{remote}: {key}: {err}"))
        }
        _ => {
            let text = format!("{err:?}");
            if text.contains("NoSuchBucket") {
                RemoteError::NoBucket(remote.to_string())
            } else if text.contains("InvalidAccessKeyId")
                || text.contains("SignatureDoesNotMatch")
                || text.contains("AccessDenied")
                || mentions_status(&text, "403")
            {
                RemoteError::Auth(format!("{remote}: {err}"))
            } else {
                RemoteError::Unreachable(format!("{remote}: {key}: {err}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mentions_status;

    #[test]
    fn a_status_is_a_number_of_its_own_not_digits_of_a_duration() {
        assert!(mentions_status("status: 403, body", "403"));
        assert!(mentions_status(
            "Client error with status 403 Forbidden",
            "403"
        ));
        assert!(mentions_status("403", "403"));
        // A refused connection whose retry took 265.44036ms is not a 403.
        assert!(!mentions_status(
            "error sending request in 265.44036ms",
            "403"
        ));
        assert!(!mentions_status("after 1500 ms", "500"));
        assert!(!mentions_status("port 4030", "403"));
    }
}
