//! Remotes: vaults pushed to, pulled from and cloned from S3-compatible
//! object storage (docs/remote.md has the object layout).
//!
//! Chunks (by BLAKE3) and packed frozen layers (by the BLAKE3 of the pack)
//! are immutable objects, uploaded create-only; each remote vault has one
//! head object, moved by a conditional write after everything it names is
//! uploaded. The store knows nothing of this module: it exports and imports
//! packs and chunks (`vault::exchange`), and asks a [`source::RemoteChunks`]
//! for chunk bytes a lazy clone left on the remote.

pub mod check;
pub mod client;
pub mod error;
pub mod fetch;
pub mod gc;
pub mod head;
pub mod push;
pub mod source;
pub mod spec;
pub mod transfer;

pub use client::Client;
pub use error::RemoteError;
pub use fetch::{FetchReport, clone, pull};
pub use push::{PushOptions, PushReport, push};
pub use spec::{Credentials, RemoteSpec};
