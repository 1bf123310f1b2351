//! The CLI edge: parses arguments, finds the store and the vault, runs one
//! command, and renders its result as JSON (`--json`) or for people. All
//! environment and terminal access of avfs happens here.

pub mod args;
pub mod args_eco;
pub mod args_ops;
mod cmd_audit;
mod cmd_checkpoint;
mod cmd_completions;
mod cmd_diff;
mod cmd_files;
mod cmd_history;
mod cmd_maint;
mod cmd_mcp;
mod cmd_mount;
mod cmd_policy;
mod cmd_proxy;
mod cmd_quota;
mod cmd_scan;
pub mod cmd_schema;
mod cmd_search;
mod cmd_stats;
mod cmd_transfer;
mod cmd_vault;
pub mod error;
mod human;
pub mod wire;
pub mod wire_docs;

use crate::vault::{Owner, Store, VaultPath};
use args::{Cli, Command};
use clap::Parser;
use error::{CliError, CliResult, ExitStatus};
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Environment variables avfs reads, each declared once.
pub mod env {
    /// Directory holding `store.db` [default: `$XDG_DATA_HOME/avfs`, else `~/.local/share/avfs`].
    pub const AVFS_HOME: &str = "AVFS_HOME";
    /// Vault to use when `--vault` is not given.
    pub const AVFS_VAULT: &str = "AVFS_VAULT";
    /// Base for the default store directory.
    pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
    /// Fallback base for the default store directory.
    pub const HOME: &str = "HOME";
    /// Any value turns off colours in human output.
    pub const NO_COLOR: &str = "NO_COLOR";
}

/// The store setting that remembers `avfs vault use`.
const CURRENT_VAULT: &str = "current_vault";

/// What a command produced.
pub enum Output {
    /// A result document: JSON for `--json`, text otherwise.
    Doc {
        /// The JSON document.
        json: Value,
        /// The text for people (printed with a trailing newline unless empty).
        human: String,
    },
    /// A result document with a non-zero exit status that is not an error
    /// (`policy check` of a denied command exits 126).
    DocWithStatus {
        /// The JSON document.
        json: Value,
        /// The text for people.
        human: String,
        /// The process exit status.
        status: u8,
    },
    /// The command already wrote its output (e.g. `cat` streaming bytes).
    Streamed,
}

impl Output {
    /// A document from a JSON value and its human rendering.
    pub fn doc(json: Value, human: impl Into<String>) -> Self {
        Output::Doc {
            json,
            human: human.into(),
        }
    }
}

/// Everything a command needs: flags, the store (opened on first use).
pub struct Ctx {
    /// `--json` was given.
    pub json: bool,
    vault_flag: Option<String>,
    store: Option<Store>,
    store_dir: Option<PathBuf>,
}

impl Ctx {
    /// The directory holding the store, created on first use. Every command
    /// passes here first, so this is where dead mounts get cleaned up.
    pub fn store_dir(&mut self) -> CliResult<PathBuf> {
        if let Some(dir) = &self.store_dir {
            return Ok(dir.clone());
        }
        let dir = store_dir()?;
        // Absolute, so that a mount's serving process (which runs from `/`) finds it too.
        let dir = std::path::absolute(&dir).map_err(|e| CliError::host_io(&dir, e))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| CliError::host_io(&dir, e))?;
        crate::mount::Registry::new(&dir).sweep(false);
        self.store_dir = Some(dir.clone());
        Ok(dir)
    }

    /// The owner stamped on what this process creates.
    pub fn owner(&self) -> Owner {
        Owner {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }

    /// The open store, opening (and creating) it on first use.
    pub fn store(&mut self) -> CliResult<&mut Store> {
        if self.store.is_none() {
            let dir = self.store_dir()?;
            self.store = Some(Store::open(&dir.join("store.db"), self.owner())?);
        }
        Ok(self.store.as_mut().expect("opened above"))
    }

    /// The current vault name, if one is set.
    pub fn current_vault(&mut self) -> CliResult<Option<String>> {
        Ok(self.store()?.setting(CURRENT_VAULT)?)
    }

    /// Sets or clears the current vault.
    pub fn set_current_vault(&mut self, name: Option<&str>) -> CliResult<()> {
        Ok(self.store()?.set_setting(CURRENT_VAULT, name)?)
    }

    /// The vault to act on: `--vault`, else `$AVFS_VAULT`, else the current vault.
    pub fn vault(&mut self) -> CliResult<String> {
        let chosen = match self.vault_flag.clone() {
            Some(v) => Some(v),
            None => std::env::var(env::AVFS_VAULT)
                .ok()
                .filter(|v| !v.is_empty()),
        };
        let name = match chosen {
            Some(v) => v,
            None => self.current_vault()?.ok_or_else(|| {
                CliError::new("no_current_vault", ExitStatus::NotFound, "no vault selected")
                    .hint("pass --vault NAME, set AVFS_VAULT, or run `avfs vault create NAME` / `avfs vault use NAME`")
            })?,
        };
        self.store()?.vault_info(&name)?;
        Ok(name)
    }

    /// Whether human output may use colour.
    pub fn color(&self) -> bool {
        !self.json && std::env::var_os(env::NO_COLOR).is_none() && std::io::stdout().is_terminal()
    }

    /// Whether to draw progress bars (people watching a terminal).
    pub fn progress(&self) -> bool {
        !self.json && std::io::stderr().is_terminal()
    }
}

use std::os::unix::fs::DirBuilderExt;

fn store_dir() -> CliResult<PathBuf> {
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(home) = var(env::AVFS_HOME) {
        return Ok(home);
    }
    if let Some(data) = var(env::XDG_DATA_HOME) {
        return Ok(data.join("avfs"));
    }
    if let Some(home) = var(env::HOME) {
        return Ok(home.join(".local/share/avfs"));
    }
    Err(CliError::new(
        "no_store_location",
        ExitStatus::Usage,
        "cannot tell where the store lives",
    )
    .hint("set AVFS_HOME to a directory"))
}

/// Parses a vault path argument.
pub fn vault_path(raw: &OsStr) -> CliResult<VaultPath> {
    Ok(VaultPath::parse(raw.as_bytes())?)
}

/// Runs avfs with the process's arguments; returns its exit status.
pub fn main() -> ExitCode {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = raw.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&raw) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) || !json {
                let _ = e.print();
                return ExitCode::from(e.exit_code() as u8);
            }
            // The message is everything before clap's usage block, on one
            // line: "required arguments were not provided: <NAME>".
            let text = e.render().to_string();
            let before_usage = text.split("\n\nUsage:").next().unwrap_or_default();
            let joined = before_usage
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let message = joined.trim_start_matches("error: ");
            let message = if message.is_empty() {
                "invalid arguments"
            } else {
                message
            };
            return report(
                CliError::new("usage_error", ExitStatus::Usage, message),
                true,
            );
        }
    };
    let mut ctx = Ctx {
        json: cli.json,
        vault_flag: cli.vault,
        store: None,
        store_dir: None,
    };
    match dispatch(&mut ctx, cli.command) {
        Ok(Output::Doc { json, human }) => {
            print_doc(&ctx, &json, &human);
            ExitCode::SUCCESS
        }
        Ok(Output::DocWithStatus {
            json,
            human,
            status,
        }) => {
            print_doc(&ctx, &json, &human);
            ExitCode::from(status)
        }
        Ok(Output::Streamed) => ExitCode::SUCCESS,
        Err(err) => report(err, ctx.json),
    }
}

fn print_doc(ctx: &Ctx, json: &Value, human: &str) {
    let mut out = std::io::stdout().lock();
    let written = if ctx.json {
        writeln!(out, "{json}")
    } else if human.is_empty() {
        Ok(())
    } else {
        writeln!(out, "{}", human.trim_end_matches('\n'))
    };
    // A closed pipe (`avfs ls | head`) is not an error worth reporting.
    let _ = written.and_then(|_| out.flush());
}

/// The `{"error": {...}}` document of a failure.
pub(crate) fn error_document(err: &CliError) -> Value {
    wire_docs::to_json(&wire_docs::ErrorDoc {
        error: wire_docs::ErrorBody {
            code: err.code.to_string(),
            message: err.message.clone(),
            exit_status: err.status as u8,
            hint: err.hint.clone(),
        },
    })
}

fn report(err: CliError, json: bool) -> ExitCode {
    if json {
        println!("{}", error_document(&err));
    } else {
        eprintln!("avfs: error: {}", err.message);
        if let Some(hint) = &err.hint {
            eprintln!("hint: {hint}");
        }
    }
    ExitCode::from(err.status as u8)
}

fn dispatch(ctx: &mut Ctx, command: Command) -> CliResult<Output> {
    match command {
        Command::Vault(cmd) => cmd_vault::run(ctx, cmd),
        Command::Checkpoint(cmd) => cmd_checkpoint::run(ctx, cmd),
        Command::Diff(args) => cmd_diff::run(ctx, args),
        Command::Import(args) => cmd_transfer::import(ctx, args),
        Command::Export(args) => cmd_transfer::export(ctx, args),
        Command::Mkdir(args) => cmd_files::mkdir(ctx, args),
        Command::Write(args) => cmd_files::write(ctx, args),
        Command::Cat(args) => cmd_files::cat(ctx, args),
        Command::Ls(args) => cmd_files::ls(ctx, args),
        Command::Tree(args) => cmd_files::tree(ctx, args),
        Command::Stat(args) => cmd_files::stat(ctx, args),
        Command::Cp(args) => cmd_files::cp(ctx, args),
        Command::Mv(args) => cmd_files::mv(ctx, args),
        Command::Rm(args) => cmd_files::rm(ctx, args),
        Command::Mount(args) => cmd_mount::mount(ctx, args),
        Command::Unmount(args) => cmd_mount::unmount(ctx, args),
        Command::Mounts => cmd_mount::mounts(ctx),
        Command::Policy(cmd) => cmd_policy::run(ctx, cmd),
        Command::Proxy(cmd) => cmd_proxy::run(ctx, cmd),
        Command::Audit(args) => cmd_audit::run(ctx, args),
        Command::Stats => cmd_stats::run(ctx),
        Command::Grep(args) => cmd_scan::grep(ctx, args),
        Command::Find(args) => cmd_scan::find(ctx, args),
        Command::Search(args) => cmd_search::run(ctx, args),
        Command::Log(args) => cmd_history::log(ctx, args),
        Command::Checkout(args) => cmd_history::checkout(ctx, args),
        Command::Revert(args) => cmd_history::revert(ctx, args),
        Command::Quota(cmd) => cmd_quota::run(ctx, cmd),
        Command::Gc(args) => cmd_maint::gc(ctx, args),
        Command::Prune(args) => cmd_maint::prune(ctx, args),
        Command::Compact => cmd_maint::compact(ctx),
        Command::Schema(args) => cmd_schema::run(ctx, args),
        Command::Completions(args) => cmd_completions::completions(ctx, args),
        Command::Man(args) => cmd_completions::man(ctx, args),
        Command::Mcp(args) => cmd_mcp::run(ctx, args),
    }
}
