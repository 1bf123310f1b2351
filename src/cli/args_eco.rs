//! Arguments of the ecosystem commands: `schema`, `completions`, `man`, `mcp`.

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

/// `avfs completions SHELL`
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `avfs man [--write DIR]`
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write avfs.1 and one page per subcommand (avfs-vault-create.1, ...) into DIR
    /// instead of printing avfs.1.
    #[arg(long, value_name = "DIR")]
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
