//! The store: vaults as stacks of layers over content-addressed chunks, in one
//! SQLite file. Knows nothing of the CLI, the terminal, the environment or
//! JSON; configuration comes in as plain values.

pub mod blocks;
pub mod compact;
pub mod content;
pub mod diff;
pub mod editor;
pub mod error;
pub mod exchange;
pub(crate) mod fence;
pub mod gc;
pub mod history;
pub(crate) mod inodes;
pub mod journal;
pub mod layer;
pub mod lazy;
pub mod merge;
pub mod pack;
pub mod path;
pub mod prune;
pub mod quota;
pub mod remotes;
pub mod reserve;
pub mod retention;
pub mod scan;
pub mod schema;
pub mod search;
pub mod segment;
pub mod stats;
pub mod store;
mod store_file;
pub mod tree;
pub mod verify;

pub use content::{CHUNK_SIZE, ChunkSink, ContentHash, ContentReader, ContentWriter};
pub use diff::{Change, ChangeKind, EntryState};
pub use editor::{ContentEditor, HashedWrite};
pub use error::{Result, VaultError};
pub use journal::Op;
pub use merge::{
    Conflict, ConflictKind, MergeCheckpoint, MergeOutcome, MergeRequest, MergeStatus, OnConflict,
};
pub use path::VaultPath;
pub use store::{Checkpoint, Owner, Restored, StateRef, Store, VaultInfo, now_ns, validate_label};
pub use tree::{Attr, DirEntry, Kind, NewNode, ROOT_INO, RenameMode, Stamp, Tree, TreeWriter};
