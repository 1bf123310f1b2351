//! The proxy: runs one command against a vault under a policy and reports
//! what it did. The steps: decide (policy), checkpoint, present the vault
//! (a private FUSE mount, or a materialized copy where FUSE is missing), run
//! the command in its own process group with a timeout, take the vault down
//! again, diff, journal. Knows nothing of the CLI: the report is plain data.

pub mod attempt;
pub mod checkpoint;
pub mod child;
pub mod env;
pub mod error;
pub mod handoff;
pub mod init;
pub mod isolation;
pub mod materialize;
pub mod namespace;
pub mod output;
pub mod rollup;
pub mod run;
pub mod signals;
pub mod workdir;

pub use error::ProxyError;
pub use run::{
    ModeChoice, PathRules, PolicySource, RunMode, RunReport, RunRequest, command_line, execute,
};
