//! avfs: durable, forkable workspaces for AI agents, and one safe door to run
//! commands in them. The library half is usable without the CLI.

pub mod cli;
pub mod mount;
pub mod policy;
pub mod proxy;
pub mod remote;
pub mod vault;
