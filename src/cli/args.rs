//! The command line, as clap definitions only; behaviour lives in the `cmd_*` modules.

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::cell::Cell;
use std::ffi::OsString;
use std::path::PathBuf;

/// Durable, forkable workspaces for AI agents.
#[derive(Parser, Debug)]
#[command(name = "avfs", version, about, max_term_width = 100)]
pub struct Cli {
    /// Print exactly one JSON document on stdout (errors too).
    #[arg(long, global = true)]
    pub json: bool,

    /// The vault to work on [default: $AVFS_VAULT, else the current vault].
    #[arg(long, global = true, value_name = "NAME")]
    pub vault: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// A command's arguments (or its own subcommands), built only when the
/// command line names that command: clap otherwise builds all of avfs's
/// commands, with every argument, to parse any one of them, which cost every
/// start of avfs (a `proxy exec` included) about 0.13 ms.
/// Completion scripts and man pages see every command at once, in the order
/// an eager build gives (see [`full_command`]).
#[derive(Debug)]
pub struct Lazy<T>(pub T);

thread_local! {
    /// Set while [`full_command`] builds: [`Lazy`] then defers nothing.
    static EAGER: Cell<bool> = const { Cell::new(false) };
}

/// The whole command line, every command built at once: what completion
/// scripts and man pages are generated from (deferred parts would be missing
/// from their `help` trees, and arguments would come in another order).
pub fn full_command() -> clap::Command {
    EAGER.set(true);
    let cmd = <Cli as clap::CommandFactory>::command();
    EAGER.set(false);
    cmd
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Self)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Self)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: clap::Command) -> clap::Command {
        lazily(cmd, T::augment_args, |cmd| {
            keeping_about(cmd, T::augment_args)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        lazily(cmd, T::augment_args_for_update, |cmd| {
            keeping_about(cmd, T::augment_args_for_update)
        })
    }
}

/// `now(cmd)` while [`full_command`] builds, else `cmd` with `later` deferred
/// to when clap builds it.
fn lazily(
    cmd: clap::Command,
    now: fn(clap::Command) -> clap::Command,
    later: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    if EAGER.get() {
        now(cmd)
    } else {
        cmd.defer(later)
    }
}

/// `augment(cmd)`, keeping the about `cmd` has: built in place, the doc
/// comment of an argument struct (or subcommand enum) comes first and the
/// command's own overrides it; deferred, the struct's would come last and win.
fn keeping_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    use clap::builder::Resettable;
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    let cmd = match about {
        Some(text) => cmd.about(text),
        None => cmd.about(Resettable::Reset),
    };
    match long_about {
        Some(text) => cmd.long_about(text),
        None => cmd.long_about(Resettable::Reset),
    }
}

impl<T: Subcommand> Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        lazily(cmd, T::augment_subcommands, |cmd| {
            keeping_about(cmd, T::augment_subcommands)
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        lazily(cmd, T::augment_subcommands_for_update, |cmd| {
            keeping_about(cmd, T::augment_subcommands_for_update)
        })
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// Every subcommand.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, list, fork, select and delete vaults.
    #[command(subcommand)]
    Vault(Lazy<VaultCommand>),
    /// Create directories.
    Mkdir(Lazy<MkdirArgs>),
    /// Write a file from an argument or stdin.
    Write(Lazy<WriteArgs>),
    /// Print a file's bytes (or, with -v N, one of its versions).
    Cat(Lazy<super::args_ops::CatArgs>),
    /// List a directory.
    Ls(Lazy<LsArgs>),
    /// Show a directory tree.
    Tree(Lazy<TreeArgs>),
    /// Show a path's attributes.
    Stat(Lazy<PathArg>),
    /// Copy a file or (with -r) a directory; content is shared, not duplicated.
    Cp(Lazy<CpArgs>),
    /// Move or rename a path; into DST if DST is a directory.
    Mv(Lazy<MvArgs>),
    /// Remove paths.
    Rm(Lazy<RmArgs>),
    /// Copy a host directory into the vault (modes, symlinks, hard links, mtimes kept).
    Import(Lazy<ImportArgs>),
    /// Copy a vault path out to the host.
    Export(Lazy<ExportArgs>),
    /// Save, list, inspect, restore and delete checkpoints.
    #[command(subcommand)]
    Checkpoint(Lazy<CheckpointCommand>),
    /// Show what changed between two states (checkpoints or vaults).
    Diff(Lazy<DiffArgs>),
    /// Mount a vault as a directory (FUSE); returns once mounted.
    Mount(Lazy<MountArgs>),
    /// Unmount a vault mounted with `avfs mount`.
    Unmount(Lazy<UnmountArgs>),
    /// List live mounts; cleans up mounts whose process died.
    Mounts,
    /// Set, show and check the vault's policy (what commands may run, and touch).
    #[command(subcommand)]
    Policy(Lazy<PolicyCommand>),
    /// Run commands in a vault under its policy, with an automatic checkpoint,
    /// a timeout and a report of every changed file.
    #[command(subcommand)]
    Proxy(Lazy<ProxyCommand>),
    /// List the journal of every change (hash-chained), or verify it.
    Audit(Lazy<super::args_ops::AuditArgs>),
    /// Count files, directories and bytes per vault, and what the store spends after deduplication.
    Stats,
    /// Print lines matching a regular expression (binary files are skipped).
    Grep(Lazy<super::args_ops::GrepArgs>),
    /// List entries by name glob, type, size and depth.
    Find(Lazy<super::args_ops::FindArgs>),
    /// Full-text search (ranked, with snippets) of the vault's text files.
    Search(Lazy<super::args_ops::SearchArgs>),
    /// List every version of a file: number, size, hash, time, and what wrote it.
    Log(Lazy<PathArg>),
    /// Restore a version of a file as a new change.
    Checkout(Lazy<super::args_ops::CheckoutArgs>),
    /// Undo the last change of a file.
    Revert(Lazy<PathArg>),
    /// Show or set how many versions each file keeps (automatic pruning; 20 by default).
    Retention(Lazy<super::args_ops::RetentionArgs>),
    /// Set, show and clear the vault's quota (bytes, files, file size).
    #[command(subcommand)]
    Quota(Lazy<super::args_ops::QuotaCommand>),
    /// Free content and layers that no vault, checkpoint or fork reaches.
    Gc(Lazy<super::args_ops::GcArgs>),
    /// Remove old automatic checkpoints and old file versions (then `gc` frees their space).
    Prune(Lazy<super::args_ops::PruneArgs>),
    /// Squash layer chains no checkpoint or fork needs, then VACUUM the database.
    Compact,
    /// Check the whole store: every chunk against its hash, every reference,
    /// SQLite's integrity check and the journal. Exit status 5 on any fault.
    Verify,
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(Lazy<CompletionsArgs>),
    /// Print the avfs(1) man page, or write every page into a directory.
    Man(Lazy<ManArgs>),
    /// Add, list, remove and check remotes (S3-compatible object storage).
    #[command(subcommand)]
    Remote(Lazy<super::args_remote::RemoteCommand>),
    /// Upload the vault to a remote: only what it lacks, then move its head.
    Push(Lazy<super::args_remote::PushArgs>),
    /// Fast-forward the vault to its remote head.
    Pull(Lazy<super::args_remote::PullArgs>),
    /// Copy a vault from a remote into this store (--lazy: fetch content on first read).
    Clone(Lazy<super::args_remote::CloneArgs>),
    /// Print the JSON Schema of a --json document (`avfs schema` lists them), or write them all.
    Schema(Lazy<super::args_eco::SchemaArgs>),
    /// Serve vaults to AI agents over the Model Context Protocol (stdio): files,
    /// checkpoints, diff, log, merge and proxy_exec. With --vault, only that vault.
    /// proxy_exec runs under --policy FILE, else the vault's policy; with
    /// neither, every command is allowed.
    Mcp(Lazy<super::args_eco::McpArgs>),
}

/// How `proxy exec` lists a run's changes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangesMode {
    /// Every change.
    Full,
    /// Each rolled-up directory once, with counts and bytes.
    Summary,
}

/// `avfs proxy ...`
#[derive(Subcommand, Debug)]
pub enum ProxyCommand {
    /// Run one command in the vault and report what it did. The run works in
    /// its own attempt (a private fork of the vault as it was at the start),
    /// merged back when it ends. Exit status: the command's own; 124 timed
    /// out, 126 denied, 127 not found, 4 its changes conflicted (kept as a fork).
    Exec(ProxyExecArgs),
}

/// `avfs proxy exec [options] -- PROGRAM ARGS...` or `--shell SCRIPT`
#[derive(Args, Debug)]
pub struct ProxyExecArgs {
    /// Vault directory to run in.
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub cwd: OsString,
    /// Stop the command after this long (e.g. 30s, 10m) [default: the policy's, else 10m].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<crate::policy::DurationSpec>,
    /// Time between SIGTERM and SIGKILL when stopping [default: the policy's, else 2s].
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<crate::policy::DurationSpec>,
    /// Use this policy file instead of the vault's policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Checkpoint before the run: auto (unless --readonly), always, never [default: the policy's, else auto].
    #[arg(long, value_name = "MODE", value_parser = ["auto", "always", "never"])]
    pub checkpoint: Option<String>,
    /// Refuse every change (EROFS inside a mount; in materialize mode, nothing is written back).
    #[arg(long)]
    pub readonly: bool,
    /// Set a variable for the command (repeatable); overrides the policy.
    /// AWS_* credentials are refused: they never reach a run.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// fuse (mount), materialize (copy out and write back), or auto (fuse when it works).
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "fuse", "materialize"])]
    pub mode: String,
    /// Run in a mount at DIR (reused if avfs already mounts this vault there)
    /// and leave it mounted. Not with a policy that has path rules. Such a run
    /// shares the mount with everything else using it, so it is not an
    /// attempt: it writes into the vault directly, its checkpoint is taken
    /// before it and its changes may include others' (no merge, no conflicts).
    #[arg(long, value_name = "DIR")]
    pub keep_mount: Option<PathBuf>,
    /// Where the vault appears inside the run, in the run's private mount
    /// namespace: the same path for every run, fork and machine, so absolute
    /// paths tools record keep working (AVFS_WORKSPACE in the run's
    /// environment; --cwd is relative to it). Made empty on the host if
    /// missing; nothing is mounted there outside the run. Other users than
    /// root get the namespaces through a user namespace
    /// [default: the policy's "workdir", else /workspace].
    #[arg(long, value_name = "PATH")]
    pub workdir: Option<PathBuf>,
    /// Isolate the run from the host: the host file system read-only except
    /// the workspace, a private /tmp and $HOME (writes there never reach the
    /// host), no network but loopback, the policy's "isolation.hide" paths
    /// invisible [default: the policy's "isolation", if any].
    #[arg(long)]
    pub isolate: bool,
    /// When the vault changed during the run in the same paths: keep (apply
    /// nothing, keep the run as a fork named after it, exit 4), ours (the
    /// vault's version stays), theirs (the run's wins) [default: the policy's, else keep].
    #[arg(long, value_name = "POLICY", value_parser = ["keep", "ours", "theirs"])]
    pub on_conflict: Option<String>,
    /// Output kept per stream (e.g. 64KiB) [default: the policy's, else 1MiB].
    #[arg(long, value_name = "SIZE")]
    pub output_limit: Option<crate::policy::ByteSize>,
    /// full: list every change; summary: report each rolled-up directory once (the
    /// policy's `rollup`, else node_modules, target, .venv, __pycache__, .git/objects).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ChangesMode::Full)]
    pub changes: ChangesMode,
    /// After the run, push the vault to its remote (the policy's `remote`, else
    /// its upstream, else origin); the result is the document's `push` field.
    #[arg(long)]
    pub push: bool,
    /// Run this script with `sh -c` instead of a program.
    #[arg(
        long,
        value_name = "SCRIPT",
        conflicts_with = "command",
        required_unless_present = "command"
    )]
    pub shell: Option<String>,
    /// The command, after `--`: program and arguments.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    pub command: Vec<OsString>,
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, _)) if crate::policy::withheld_from_runs(k) => {
            Err(format!("{k}: {}", crate::policy::WITHHELD_REASON))
        }
        Some((k, v)) if !k.is_empty() && !k.contains('\0') && !v.contains('\0') => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

/// `avfs policy ...`
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy file (JSON) and make it the vault's policy.
    Set {
        /// The policy file.
        file: PathBuf,
    },
    /// Print the vault's policy.
    Show,
    /// Explain whether a command would be allowed; runs nothing. Exit status 126 when denied.
    Check {
        /// Check against this policy file instead of the vault's policy.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The command, after `--`: program and arguments.
        #[arg(last = true, required = true, value_name = "PROGRAM ARGS")]
        command: Vec<OsString>,
    },
}

/// `avfs vault ...`
#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Create an empty vault (it becomes current if none is).
    Create {
        /// Name: letters, digits, '.', '_' and '-'.
        name: String,
        /// Make it the current vault.
        #[arg(long = "use")]
        use_it: bool,
    },
    /// List vaults (with --remote NAME: the vaults on that remote).
    List {
        /// List the vaults of this remote instead.
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
    },
    /// Show a vault's details [default: the selected vault].
    Info {
        /// The vault.
        name: Option<String>,
    },
    /// Make a vault the current one.
    Use {
        /// The vault.
        name: String,
    },
    /// Delete a vault and its checkpoints (its forks keep their data).
    Delete {
        /// The vault.
        name: String,
    },
    /// Fork a vault in O(1): the fork and the source evolve independently.
    Fork {
        /// The vault to fork.
        source: String,
        /// The new vault's name.
        name: String,
        /// Make the fork the current vault.
        #[arg(long = "use")]
        use_it: bool,
    },
    /// Merge a fork's changes into another vault (by default the vault it was
    /// forked from): fast-forward when that vault has not moved, else a
    /// three-way merge by path, text files line by line. One transaction, after
    /// an automatic `pre-merge-N` checkpoint. Exit status 4 on conflict
    /// (nothing merged, unless --on-conflict ours|theirs).
    Merge(MergeArgs),
}

/// `avfs vault merge SOURCE [--into TARGET] [--dry-run] [--on-conflict keep|ours|theirs]`
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The vault whose changes are merged (a fork).
    pub source: String,
    /// The vault to merge into [default: the one SOURCE was forked from, else the current vault].
    #[arg(long, value_name = "TARGET")]
    pub into: Option<String>,
    /// Report what the merge would do; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Paths both changed differently: keep (merge nothing), ours (TARGET's
    /// version stays), theirs (SOURCE's version wins).
    #[arg(long, value_name = "POLICY", default_value = "keep", value_parser = ["keep", "ours", "theirs"])]
    pub on_conflict: String,
}

/// `avfs checkpoint ...`
#[derive(Subcommand, Debug)]
pub enum CheckpointCommand {
    /// Freeze the vault's current state under a name, in O(1).
    Save {
        /// Name: letters, digits, '.', '_' and '-'.
        name: String,
        /// Why this checkpoint exists.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// List checkpoints, oldest first.
    List,
    /// Show one checkpoint.
    Info {
        /// The checkpoint.
        name: String,
    },
    /// Put the vault back to a checkpoint; unsaved changes are kept as `pre-restore-N`.
    Restore {
        /// The checkpoint.
        name: String,
    },
    /// Delete a checkpoint's name.
    Delete {
        /// The checkpoint.
        name: String,
    },
}

/// A single vault path.
#[derive(Args, Debug)]
pub struct PathArg {
    /// Path inside the vault.
    pub path: OsString,
}

/// `avfs mkdir`
#[derive(Args, Debug)]
pub struct MkdirArgs {
    /// Create missing parents; no error if the directory exists.
    #[arg(short, long)]
    pub parents: bool,
    /// Permission bits, in octal.
    #[arg(long, default_value = "755", value_parser = parse_mode)]
    pub mode: u32,
    /// Directories to create.
    #[arg(required = true)]
    pub paths: Vec<OsString>,
}

/// `avfs write`
#[derive(Args, Debug)]
pub struct WriteArgs {
    /// Path inside the vault.
    pub path: OsString,
    /// The content; read from stdin when omitted.
    pub content: Option<OsString>,
    /// Append instead of replacing.
    #[arg(short, long)]
    pub append: bool,
    /// Create missing parent directories.
    #[arg(short, long)]
    pub parents: bool,
    /// Permission bits for a new file, in octal.
    #[arg(long, default_value = "644", value_parser = parse_mode)]
    pub mode: u32,
}

/// `avfs ls`
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Long format: mode, size, mtime.
    #[arg(short, long)]
    pub long: bool,
    /// Directory (or file) to list [default: /].
    pub path: Option<OsString>,
}

/// `avfs tree`
#[derive(Args, Debug)]
pub struct TreeArgs {
    /// Root of the tree [default: /].
    pub path: Option<OsString>,
}

/// `avfs cp`
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Copy directories recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Source path.
    pub src: OsString,
    /// Destination path (or an existing directory to copy into).
    pub dst: OsString,
}

/// `avfs mv`
#[derive(Args, Debug)]
pub struct MvArgs {
    /// Source path.
    pub src: OsString,
    /// Destination path (or an existing directory to move into).
    pub dst: OsString,
}

/// `avfs rm`
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Remove directories and everything below them.
    #[arg(short, long)]
    pub recursive: bool,
    /// Ignore paths that do not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Paths to remove.
    #[arg(required = true)]
    pub paths: Vec<OsString>,
}

/// `avfs import`
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Host directory to copy from.
    pub host_dir: PathBuf,
    /// Vault directory to copy into [default: /].
    pub dest: Option<OsString>,
}

/// `avfs export`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Vault path to copy out.
    pub src: OsString,
    /// Host path to create.
    pub host_path: PathBuf,
    /// Write into an existing non-empty directory, replacing files.
    #[arg(long)]
    pub force: bool,
}

/// `avfs diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Older state: CHECKPOINT, vault:NAME or vault:NAME@CHECKPOINT [default: the latest checkpoint].
    #[arg(long)]
    pub from: Option<String>,
    /// Newer state, same forms [default: the vault as it is now].
    #[arg(long)]
    pub to: Option<String>,
    /// Only changes at or below these paths (with --v1: the one file whose versions to compare).
    pub paths: Vec<OsString>,
    /// Compare version N of the file PATH (see `avfs log`) instead of two states.
    #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"])]
    pub v1: Option<u64>,
    /// With --v1: the newer version [default: the file's newest version].
    #[arg(long, value_name = "M", requires = "v1")]
    pub v2: Option<u64>,
    /// Add a unified text diff to each changed file.
    #[arg(long)]
    pub patch: bool,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("'{s}' is not an octal mode between 0 and 7777"))
}

/// `avfs mount [VAULT] DIR`
#[derive(Args, Debug)]
pub struct MountArgs {
    /// `[VAULT] DIR`: the vault [default: the selected vault] and an empty directory.
    #[arg(num_args = 1..=2, required = true, value_names = ["VAULT", "DIR"])]
    pub args: Vec<OsString>,
    /// Refuse every change (EROFS).
    #[arg(long)]
    pub readonly: bool,
    /// Mount this checkpoint (read-only) instead of the vault as it is now.
    #[arg(long, value_name = "NAME")]
    pub checkpoint: Option<String>,
    /// Serve from this process until unmounted or interrupted, instead of in the background.
    #[arg(long)]
    pub foreground: bool,
    /// Let other users use the mount (an agent running as its own uid); the
    /// kernel still checks each file's permissions. Needs root, or
    /// `user_allow_other` in /etc/fuse.conf.
    #[arg(long)]
    pub allow_other: bool,
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
    /// Write avfs.1 and one page per subcommand (avfs-vault-create.1, ...) into
    /// DIR instead of printing avfs.1.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

/// `avfs unmount DIR`
#[derive(Args, Debug)]
pub struct UnmountArgs {
    /// The mount point.
    pub dir: PathBuf,
    /// Detach even while files are open; the mount ends when they close.
    #[arg(long)]
    pub lazy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path of every command below `cmd` (`["vault", "create"]`, ...).
    fn paths(cmd: &clap::Command, above: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut path = above.to_vec();
            path.push(sub.get_name().to_string());
            paths(sub, &path, out);
            out.push(path);
        }
    }

    /// What `avfs PATH... --help` prints, as parsed by `cmd`.
    fn help(cmd: clap::Command, path: &[String]) -> String {
        let argv = std::iter::once("avfs".to_string())
            .chain(path.iter().cloned())
            .chain(["--help".to_string()]);
        match cmd.try_get_matches_from(argv) {
            Err(e) => e.render().to_string(),
            Ok(_) => panic!("--help parsed as a command: {path:?}"),
        }
    }

    #[test]
    fn the_whole_command_line_is_consistent() {
        full_command().debug_assert();
    }

    #[test]
    fn a_lazily_built_command_helps_as_the_whole_command_line_does() {
        let mut all = Vec::new();
        paths(&full_command(), &[], &mut all);
        assert!(all.len() > 60, "{} commands", all.len());
        all.push(Vec::new());
        for path in &all {
            let lazy = <Cli as clap::CommandFactory>::command();
            assert_eq!(help(lazy, path), help(full_command(), path), "{path:?}");
        }
    }
}
