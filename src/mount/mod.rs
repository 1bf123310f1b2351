//! The FUSE mount: a vault (or a checkpoint of it) as a real directory.
//!
//! `fs` adapts kernel requests to `VaultFs` (`vaultfs`), whose operations live
//! in `ops` (names, attributes) and `io` (file data) over the open-file table
//! (`open_files`, with `spool` files for the passthrough data path) and the
//! commit policy (`commit`); `kernel_cache` records what the kernel may cache
//! of a shared mount, to invalidate (through `notify`) when another process
//! commits; `fault` keeps one failing request from taking the mount down;
//! `dirty_limit` gives the kernel room for a streaming write.
//! `session` serves one mount in the current process, `registry` records
//! live mounts and cleans up after dead ones. Nothing here knows about the
//! CLI.

mod acl;
mod answer;
mod attr;
mod commit;
mod device;
pub mod dirty_limit;
pub mod errno;
pub mod error;
pub mod fault;
pub mod fs;
pub mod guard;
mod io;
mod kernel_cache;
pub mod notify;
mod open_files;
mod ops;
mod owner;
pub mod poll_window;
pub mod registry;
mod ring;
pub mod session;
mod spool;
pub mod vaultfs;
mod wire;

pub use commit::{BATCH_MAX_AGE, Finisher, OWED_WAIT, SPILL_AT, Sharing};
pub use error::MountError;
pub use guard::{PathGuard, Violation};
pub use registry::{MountRecord, Registry};
pub use session::{LiveMount, MountRequest, preflight, serve};
pub use vaultfs::{MountTarget, SessionStats, VaultFs};
