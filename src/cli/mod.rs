//! The CLI edge: parses arguments, finds the store and the vault, runs one
//! command, and renders its result as JSON (`--json`) or for people. All
//! environment and terminal access of avfs happens here.

pub mod args;
pub mod args_eco;
pub mod args_ops;
pub mod args_remote;
mod cmd_audit;
mod cmd_checkpoint;
mod cmd_completions;
mod cmd_diff;
mod cmd_files;
mod cmd_history;
mod cmd_maint;
mod cmd_mcp;
mod cmd_merge;
mod cmd_mount;
mod cmd_policy;
mod cmd_proxy;
mod cmd_quota;
mod cmd_remote;
mod cmd_scan;
pub mod cmd_schema;
mod cmd_search;
mod cmd_stats;
mod cmd_transfer;
mod cmd_vault;
mod cmd_verify;
mod credentials;
pub mod error;
mod human;
mod interrupt;
mod slash;
pub mod wire;
pub mod wire_docs;
pub mod wire_remote;

use crate::vault::reserve::Reserve;
use crate::vault::{Owner, Store, VaultError, VaultPath};
use args::{Cli, Command, Lazy};
use clap::Parser;
use error::{CliError, CliResult, ExitStatus};
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
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
    /// S3 access key for remotes (with `AWS_SECRET_ACCESS_KEY`); never stored.
    pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    /// S3 secret key for remotes; never stored, journaled or passed to a run.
    pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    /// S3 session token for temporary credentials.
    pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    /// The profile of the shared credentials file to use [default: default].
    pub const AWS_PROFILE: &str = "AWS_PROFILE";
    /// The shared credentials file [default: ~/.aws/credentials].
    pub const AWS_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
    /// Default region of new remotes.
    pub const AWS_REGION: &str = "AWS_REGION";
    /// Default region of new remotes, when `AWS_REGION` is unset.
    pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
    /// Bytes of disk kept in reserve beside the store, released so that `rm`,
    /// `gc`, `prune` and deletes still work on a full disk [default: 8 MiB; 0: none].
    pub const AVFS_RESERVE_BYTES: &str = "AVFS_RESERVE_BYTES";
}

/// Disk kept in reserve beside the store unless `$AVFS_RESERVE_BYTES` says otherwise.
const DEFAULT_RESERVE_BYTES: u64 = 8 << 20;

/// Runs `op`, an operation that frees space; if it fails because the disk is
/// full, releases the store's reserve and runs it once more (the failed try
/// changed nothing: every mutation is one transaction).
pub fn freeing<T>(
    reserve: &Reserve,
    mut op: impl FnMut() -> Result<T, VaultError>,
) -> Result<T, VaultError> {
    match op() {
        Err(e) if e.is_disk_full() && reserve.release() => op(),
        other => other,
    }
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
    /// Dead mounts the first sweep cleaned, for `avfs mounts` to report.
    swept: Vec<PathBuf>,
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
        self.swept = crate::mount::Registry::new(&dir).sweep(false);
        self.store_dir = Some(dir.clone());
        Ok(dir)
    }

    /// The dead mounts this command's first sweep cleaned (taken once).
    pub fn take_swept(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.swept)
    }

    /// The owner stamped on what this process creates.
    pub fn owner(&self) -> Owner {
        Owner {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }

    /// The open store, opening (and creating) it on first use. Opening also
    /// puts the disk reserve back in place when there is room for it.
    pub fn store(&mut self) -> CliResult<&mut Store> {
        if self.store.is_none() {
            let dir = self.store_dir()?;
            let mut store = Store::open(&dir.join("store.db"), self.owner())?;
            // A shared mount commits a closed file within its next tick: the
            // command must see it, as the README's close-to-open promises.
            store.wait_for_owed(crate::mount::OWED_WAIT);
            if let Some(stop) = interrupt::stop_flag() {
                store.stop_when(stop)?;
            }
            self.store = Some(store);
            // A full disk only means the reserve waits for a later command.
            let _ = self.reserve()?.replenish();
        }
        Ok(self.store.as_mut().expect("opened above"))
    }

    /// The store's disk reserve (`store.db.reserve`, `$AVFS_RESERVE_BYTES` bytes).
    pub fn reserve(&mut self) -> CliResult<Reserve> {
        let dir = self.store_dir()?;
        let size = match std::env::var(env::AVFS_RESERVE_BYTES) {
            Ok(raw) if !raw.is_empty() => raw.parse::<u64>().map_err(|_| {
                CliError::invalid_argument(format!(
                    "{}={raw:?} is not a number of bytes",
                    env::AVFS_RESERVE_BYTES
                ))
            })?,
            _ => DEFAULT_RESERVE_BYTES,
        };
        Ok(Reserve::beside(&dir.join("store.db"), size))
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

/// Parses a path argument naming something that exists in `vault`'s head;
/// a trailing slash on a non-directory is `not_a_directory`.
pub fn existing_path(ctx: &mut Ctx, vault: &str, raw: &OsStr) -> CliResult<VaultPath> {
    let path = vault_path(raw)?;
    if slash::names_dir(raw) {
        let head = crate::vault::StateRef::Head {
            vault: vault.to_string(),
        };
        ctx.store()?
            .read(&head, |t| slash::check_existing(t, raw, &path))?;
    }
    Ok(path)
}

/// Runs avfs with the process's arguments; returns its exit status.
pub fn main() -> ExitCode {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A run's init is forked first, while the heap is nearly empty: what the
    // fork shares, this process would copy page by page as it writes. It
    // waits there while the store opens (see `proxy::init`).
    if cmd_proxy::names_exec(&raw) && crate::proxy::namespace::available() {
        crate::proxy::init::fork_standby();
    }
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
    // Proxy, mcp and mount stop and report on their own.
    let own_signals = matches!(
        cli.command,
        Command::Proxy(_) | Command::Mcp(_) | Command::Mount(_)
    );
    if !own_signals && let Err(e) = interrupt::watch(cli.json) {
        return report(CliError::host_io(Path::new("signals"), e), cli.json);
    }
    // Chunks a lazy clone left on its remote are fetched on first read, by
    // any command and by mounts served from this process.
    if let Ok(dir) = store_dir() {
        crate::vault::lazy::set_chunk_source(std::sync::Arc::new(
            crate::remote::source::RemoteChunks::new(
                dir.join("store.db"),
                Box::new(credentials::lookup),
            ),
        ));
    }
    let mut ctx = Ctx {
        json: cli.json,
        vault_flag: cli.vault,
        store: None,
        store_dir: None,
        swept: Vec::new(),
    };
    let result = match (dispatch(&mut ctx, cli.command), interrupt::received()) {
        // The signal stopped it: whatever it failed with came of that.
        (Err(_), Some(signal)) => Err(interrupt::interrupted(signal)),
        (result, _) => result,
    };
    // The signal handler answered already (the command did not end in
    // time) and is ending the process.
    if !interrupt::answering() {
        loop {
            std::thread::park();
        }
    }
    match result {
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
            merge: err.merge.clone(),
        },
    })
}

fn report(err: CliError, json: bool) -> ExitCode {
    let documented = json && {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", error_document(&err))
            .and_then(|_| out.flush())
            .is_ok()
    };
    // Without --json, or when nobody reads stdout any more (a closed pipe),
    // the error goes to stderr: a failed write there must not panic either.
    if !documented {
        let mut text = format!("avfs: error: {}\n", err.message);
        if let Some(hint) = &err.hint {
            text.push_str(&format!("hint: {hint}\n"));
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
    ExitCode::from(err.status as u8)
}

fn dispatch(ctx: &mut Ctx, command: Command) -> CliResult<Output> {
    match command {
        Command::Vault(Lazy(cmd)) => cmd_vault::run(ctx, cmd),
        Command::Checkpoint(Lazy(cmd)) => cmd_checkpoint::run(ctx, cmd),
        Command::Diff(Lazy(args)) => cmd_diff::run(ctx, args),
        Command::Import(Lazy(args)) => cmd_transfer::import(ctx, args),
        Command::Export(Lazy(args)) => cmd_transfer::export(ctx, args),
        Command::Mkdir(Lazy(args)) => cmd_files::mkdir(ctx, args),
        Command::Write(Lazy(args)) => cmd_files::write(ctx, args),
        Command::Cat(Lazy(args)) => cmd_files::cat(ctx, args),
        Command::Ls(Lazy(args)) => cmd_files::ls(ctx, args),
        Command::Tree(Lazy(args)) => cmd_files::tree(ctx, args),
        Command::Stat(Lazy(args)) => cmd_files::stat(ctx, args),
        Command::Cp(Lazy(args)) => cmd_files::cp(ctx, args),
        Command::Mv(Lazy(args)) => cmd_files::mv(ctx, args),
        Command::Rm(Lazy(args)) => cmd_files::rm(ctx, args),
        Command::Mount(Lazy(args)) => cmd_mount::mount(ctx, args),
        Command::Unmount(Lazy(args)) => cmd_mount::unmount(ctx, args),
        Command::Mounts => cmd_mount::mounts(ctx),
        Command::Policy(Lazy(cmd)) => cmd_policy::run(ctx, cmd),
        Command::Proxy(Lazy(cmd)) => cmd_proxy::run(ctx, cmd),
        Command::Audit(Lazy(args)) => cmd_audit::run(ctx, args),
        Command::Stats => cmd_stats::run(ctx),
        Command::Grep(Lazy(args)) => cmd_scan::grep(ctx, args),
        Command::Find(Lazy(args)) => cmd_scan::find(ctx, args),
        Command::Search(Lazy(args)) => cmd_search::run(ctx, args),
        Command::Log(Lazy(args)) => cmd_history::log(ctx, args),
        Command::Checkout(Lazy(args)) => cmd_history::checkout(ctx, args),
        Command::Revert(Lazy(args)) => cmd_history::revert(ctx, args),
        Command::Retention(Lazy(args)) => cmd_history::retention(ctx, args),
        Command::Quota(Lazy(cmd)) => cmd_quota::run(ctx, cmd),
        Command::Gc(Lazy(args)) => cmd_maint::gc(ctx, args),
        Command::Prune(Lazy(args)) => cmd_maint::prune(ctx, args),
        Command::Compact => cmd_maint::compact(ctx),
        Command::Verify => cmd_verify::run(ctx),
        Command::Completions(Lazy(args)) => cmd_completions::completions(ctx, args),
        Command::Man(Lazy(args)) => cmd_completions::man(ctx, args),
        Command::Remote(Lazy(cmd)) => cmd_remote::run(ctx, cmd),
        Command::Push(Lazy(args)) => cmd_remote::push(ctx, args),
        Command::Pull(Lazy(args)) => cmd_remote::pull(ctx, args),
        Command::Clone(Lazy(args)) => cmd_remote::clone(ctx, args),
        Command::Schema(Lazy(args)) => cmd_schema::run(ctx, args),
        Command::Mcp(Lazy(args)) => cmd_mcp::run(ctx, args),
    }
}
