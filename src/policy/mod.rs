//! Policies: what a command run through avfs may do. A policy is a JSON
//! document (see [`PolicySpec`]) validated with errors that name the bad field,
//! compiled into a [`Policy`] that decides commands and path operations.
//! Depends only on serde, serde_json and globset: no CLI, no store.

pub mod error;
pub mod limits;
pub mod matcher;
pub mod model;
pub mod withheld;

pub use error::PolicyError;
pub use matcher::{CommandDecision, PathDecision, PathRuleRef, Policy};
pub use model::{
    ByteSize, CheckpointMode, CommandGlob, CommandRules, ConflictPolicy, DurationSpec, EnvName,
    EnvRules, IsolationRule, NetworkMode, Op, PathGlob, PathRule, PolicySpec, RollupDir,
};
pub use withheld::{WITHHELD_REASON, withheld_from_runs};
