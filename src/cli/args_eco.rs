//! Arguments of the commands for agents' tooling: `schema` and `mcp`.

use clap::Args;
use std::path::PathBuf;

/// `avfs schema [DOCUMENT] [--write DIR]`
#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// The document whose schema to print (`avfs schema` lists them).
    pub document: Option<String>,
    /// Write every schema, and index.json, into DIR (as docs/schema is made).
    #[arg(long, value_name = "DIR", conflicts_with = "document")]
    pub write: Option<PathBuf>,
}

/// `avfs mcp [--policy FILE]`
#[derive(Args, Debug)]
pub struct McpArgs {
    /// Policy for every tool call instead of each vault's stored policy. With
    /// neither, every command is allowed (proxy_exec runs anything).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}
