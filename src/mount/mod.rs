//! The FUSE mount: a vault (or a checkpoint of it) as a real directory.
//!
//! `fs` translates kernel requests onto vault operations, `session` serves one
//! mount in the current process, `registry` records live mounts and cleans up
//! after dead ones. Nothing here knows about the CLI.

pub mod errno;
pub mod error;
pub mod fault;
pub mod fs;
pub mod guard;
pub mod registry;
pub mod session;

pub use error::MountError;
pub use fs::{MountTarget, SessionStats, VaultFs};
pub use guard::{PathGuard, Violation};
pub use registry::{MountRecord, Registry};
pub use session::{LiveMount, MountRequest, preflight, serve};
