//! `avfs mcp`: a Model Context Protocol server over stdio (the official Rust
//! SDK, rmcp), the agents' door beside the CLI.
//!
//! Each tool call becomes the argument list of one avfs command, parsed by
//! the same clap definitions and run in-process by the same command code the
//! CLI runs (nothing is shelled out): a tool's result is exactly that
//! command's `--json` document (docs/schema), and a failure is an MCP tool
//! error carrying its `{"error": {"code", ...}}` document with our stable code.
//!
//! Invariants: every path is a vault path (parsed by `VaultPath`, so nothing
//! outside the vault is reachable); with `--vault` only that vault is served;
//! `proxy_exec` always runs under a policy: `--policy FILE`, else the vault's,
//! else none (every command allowed), and the tool descriptions say which.

use super::args::{Cli, Command, Lazy, ProxyCommand};
use super::args_eco::McpArgs;
use super::error::{CliError, CliResult, ExitStatus};
use super::{Ctx, Output};
use crate::proxy::{child, signals};
use clap::Parser;
use nix::sys::signal::Signal;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// Runs the server until the client closes stdin.
pub fn run(ctx: &mut Ctx, args: McpArgs) -> CliResult<Output> {
    // Before any other thread starts (see `signals::watch`): stop signals are
    // blocked everywhere and handed to the run in progress, if any.
    let stop = signals::watch().map_err(|e| CliError::host_io(Path::new("signals"), e))?;
    child::become_subreaper().map_err(|e| CliError::host_io(Path::new("prctl"), e))?;
    let served = ctx.vault_flag.clone();
    if let Some(v) = &served {
        ctx.store()?.vault_info(v)?;
    }
    if let Some(file) = &args.policy {
        // Refuse a bad policy file now, not at the first run.
        super::cmd_policy::resolve(ctx, None, Some(file))?;
    }
    let policy = match &args.policy {
        Some(p) => Some(std::path::absolute(p).map_err(|e| CliError::host_io(p, e))?),
        None => None,
    };
    let server = Server(Arc::new(Shared {
        served,
        policy,
        current_run: Mutex::new(None),
        one_run: Mutex::new(()),
    }));
    let forward = server.0.clone();
    std::thread::Builder::new()
        .name("avfs-mcp-signals".into())
        .spawn(move || forward.forward_signals(stop))
        .map_err(|e| CliError::host_io(Path::new("thread"), e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::host_io(Path::new("tokio"), e))?;
    runtime
        .block_on(async {
            let service = server.serve(rmcp::transport::stdio()).await?;
            service.waiting().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .map_err(|e| CliError::new("mcp_failed", ExitStatus::Storage, e.to_string()))?;
    Ok(Output::Streamed)
}

/// The server: cheap to clone, state shared between calls.
#[derive(Clone)]
struct Server(Arc<Shared>);

struct Shared {
    /// The one vault served (`--vault`), or none: every vault.
    served: Option<String>,
    /// `--policy FILE`, absolute.
    policy: Option<PathBuf>,
    /// Where stop signals go while a run is in progress.
    current_run: Mutex<Option<Sender<Signal>>>,
    /// Runs one at a time: the stop signals have one destination.
    one_run: Mutex<()>,
}

impl Shared {
    /// Hands stop signals to the run in progress; with none, the server stops.
    fn forward_signals(&self, stop: Receiver<Signal>) {
        for signal in stop {
            let current = self.current_run.lock().unwrap_or_else(|e| e.into_inner());
            match current.as_ref() {
                Some(tx) => {
                    let _ = tx.send(signal);
                }
                None => std::process::exit(128 + signal as i32),
            }
        }
    }

    /// Runs one tool call: its JSON document, or its error document.
    fn call(&self, name: &str, arguments: Value) -> Result<Value, Value> {
        let outcome = TOOLS
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                CliError::new(
                    "unknown_tool",
                    ExitStatus::Usage,
                    format!("avfs has no tool '{name}'"),
                )
            })
            .and_then(|tool| (tool.argv)(self, arguments))
            .and_then(|call| self.run(call));
        outcome.map_err(|e| super::error_document(&e))
    }

    /// Picks the vault a call acts on, refusing any other than the one served.
    fn vault(&self, asked: Option<String>) -> CliResult<Option<String>> {
        match (&self.served, asked) {
            (Some(served), Some(asked)) if *served != asked => Err(not_served(&asked)),
            (Some(served), _) => Ok(Some(served.clone())),
            (None, asked) => Ok(asked),
        }
    }

    fn run(&self, call: Call) -> CliResult<Value> {
        let mut argv: Vec<OsString> = vec!["avfs".into(), "--json".into()];
        if let Some(v) = &call.vault {
            argv.push(format!("--vault={v}").into());
        }
        argv.extend(call.argv);
        let cli = Cli::try_parse_from(&argv).map_err(|e| {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            CliError::new(
                "invalid_argument",
                ExitStatus::Usage,
                first.trim_start_matches("error: ").to_string(),
            )
        })?;
        let mut ctx = Ctx {
            json: true,
            vault_flag: cli.vault,
            store: None,
            store_dir: None,
            swept: Vec::new(),
        };
        let output = match cli.command {
            Command::Proxy(Lazy(ProxyCommand::Exec(args))) => {
                let _one = self.one_run.lock().unwrap_or_else(|e| e.into_inner());
                let (tx, rx) = channel();
                *self.current_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
                let out = super::cmd_proxy::exec_with(&mut ctx, args, &rx);
                *self.current_run.lock().unwrap_or_else(|e| e.into_inner()) = None;
                out?
            }
            command => super::dispatch(&mut ctx, command)?,
        };
        let doc = match output {
            Output::Doc { json, .. } | Output::DocWithStatus { json, .. } => json,
            Output::Streamed => Value::Null,
        };
        Ok(match call.filter {
            Some(filter) => filter(self, doc),
            None => doc,
        })
    }
}

fn not_served(vault: &str) -> CliError {
    CliError::new(
        "vault_not_served",
        ExitStatus::Usage,
        format!("this MCP server serves one vault, not {vault}"),
    )
    .hint("start `avfs mcp` without --vault to serve every vault")
}

/// One command to run for a tool call.
struct Call {
    vault: Option<String>,
    argv: Vec<OsString>,
    /// Narrows the document (vault_list under `--vault`).
    filter: Option<fn(&Shared, Value) -> Value>,
}

impl Call {
    fn new(vault: Option<String>, argv: Vec<OsString>) -> Self {
        Self {
            vault,
            argv,
            filter: None,
        }
    }
}

/// One tool: its name, description, argument type and how it becomes a command.
struct ToolDef {
    name: &'static str,
    description: &'static str,
    schema: fn() -> Value,
    argv: fn(&Shared, Value) -> CliResult<Call>,
}

fn input_schema<T: JsonSchema>() -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    schema
}

fn parse<T: for<'de> Deserialize<'de>>(args: Value) -> CliResult<T> {
    serde_json::from_value(args).map_err(|e| {
        CliError::new(
            "invalid_argument",
            ExitStatus::Usage,
            format!("bad tool arguments: {e}"),
        )
    })
}

fn os(s: impl Into<String>) -> OsString {
    OsString::from(s.into())
}

fn flag(name: &str, value: impl std::fmt::Display) -> OsString {
    format!("--{name}={value}").into()
}

macro_rules! tool {
    ($name:literal, $ty:ty, $desc:expr, $build:expr) => {
        ToolDef {
            name: $name,
            description: $desc,
            schema: input_schema::<$ty>,
            argv: |shared, args| {
                let args: $ty = parse(args)?;
                let build: fn(&Shared, $ty) -> CliResult<Call> = $build;
                build(shared, args)
            },
        }
    };
}

/// A tool that takes nothing.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// The vault a tool acts on.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VaultArg {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VaultCreateArgs {
    /// Name: letters, digits, '.', '_' and '-'.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VaultForkArgs {
    /// The vault to fork [default: the current vault].
    source: Option<String>,
    /// The new vault's name.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VaultMergeArgs {
    /// The vault to merge from (a fork, or a run's kept fork).
    source: String,
    /// The vault to merge into [default: the vault `source` was forked from].
    into: Option<String>,
    /// Report what would change; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// Paths both sides changed differently: keep (refuse, merge nothing; the
    /// default), ours (the target's version) or theirs (the source's).
    on_conflict: Option<OnConflictArg>,
}

/// What a merge does with conflicting paths.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum OnConflictArg {
    /// Merge nothing; the call fails with merge_conflict, listing them.
    Keep,
    /// Keep the target's version.
    Ours,
    /// Take the source's version.
    Theirs,
}

impl OnConflictArg {
    fn as_str(self) -> &'static str {
        match self {
            OnConflictArg::Keep => "keep",
            OnConflictArg::Ours => "ours",
            OnConflictArg::Theirs => "theirs",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LsArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// Directory inside the vault [default: /].
    path: Option<String>,
    /// List the whole subtree, depth-first (as `avfs tree`).
    #[serde(default)]
    recursive: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// Path inside the vault.
    path: String,
}

/// How `write` content is given.
#[derive(Deserialize, JsonSchema, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    /// `content` is the text itself.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// `content` is the bytes, base64.
    Base64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// Path inside the vault.
    path: String,
    /// The content.
    content: String,
    /// `utf-8` (default) or `base64`.
    #[serde(default)]
    encoding: Encoding,
    /// Append instead of replacing.
    #[serde(default)]
    append: bool,
    /// Create missing parent directories.
    #[serde(default)]
    parents: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// FTS5 query: words, "exact phrases", AND / OR / NOT, prefix*.
    query: String,
    /// At most this many results [default: 20].
    limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrepArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// Regular expression (Rust `regex` syntax), matched against each line.
    pattern: String,
    /// File or directory to search [default: /].
    path: Option<String>,
    /// Match case-insensitively.
    #[serde(default)]
    ignore_case: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CheckpointSaveArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// Name: letters, digits, '.', '_' and '-'.
    name: String,
    /// Why this checkpoint exists.
    message: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CheckpointArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// The checkpoint.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DiffArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// Older state: CHECKPOINT, vault:NAME or vault:NAME@CHECKPOINT [default: the latest checkpoint].
    from: Option<String>,
    /// Newer state, same forms [default: the vault as it is now].
    to: Option<String>,
    /// Only changes at or below these vault paths.
    #[serde(default)]
    paths: Vec<String>,
    /// Add a unified text diff to each changed file.
    #[serde(default)]
    patch: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProxyExecArgs {
    /// The vault [default: the served vault, else the current vault].
    vault: Option<String>,
    /// The program and its arguments (give this or `shell`).
    command: Option<Vec<String>>,
    /// A script for `sh -c` (give this or `command`).
    shell: Option<String>,
    /// Vault directory to run in [default: /].
    cwd: Option<String>,
    /// Stop the command after this long (e.g. 30s, 10m) [default: the policy's, else 10m].
    timeout: Option<String>,
    /// Variables to set for the command (the policy decides what else passes).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Refuse every change.
    #[serde(default)]
    readonly: bool,
    /// Checkpoint before the run: auto, always or never [default: the policy's, else auto].
    checkpoint: Option<String>,
    /// Output kept per stream (e.g. 64KiB) [default: the policy's, else 1MiB].
    output_limit: Option<String>,
    /// `summary` (default): each rolled-up directory (the policy's `rollup`, else
    /// node_modules, target, .venv, __pycache__, .git/objects) once, with counts
    /// and bytes, in `rollups`; `full`: every change. `diff` lists them all anyway.
    changes: Option<ChangesArg>,
    /// The run works in its own attempt, merged into the vault when it ends; paths
    /// the vault changed differently meanwhile: keep (apply nothing, keep the run
    /// as a fork named in `fork`), ours or theirs [default: the policy's, else keep].
    on_conflict: Option<OnConflictArg>,
}

/// How `proxy_exec` lists changes.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ChangesArg {
    /// Every change.
    Full,
    /// Rolled-up directories once each.
    Summary,
}

fn vault_list_filter(shared: &Shared, mut doc: Value) -> Value {
    if let (Some(served), Some(list)) = (&shared.served, doc["vaults"].as_array_mut()) {
        list.retain(|v| v["name"] == json!(served));
    }
    doc
}

const POLICY_NOTE: &str = "Runs under `avfs mcp --policy FILE` if the server was started with one, \
else the vault's stored policy (`avfs policy set`); with neither, EVERY command is allowed. \
A denied command is not run: the document says `decision.allowed: false` (exit status 126).";

/// Every tool.
const TOOLS: &[ToolDef] = &[
    tool!(
        "vault_list",
        NoArgs,
        "List vaults (only the served one when the server was started with --vault). Returns the `vault_list` document.",
        |shared, _| Ok(Call {
            vault: None,
            argv: vec![os("vault"), os("list")],
            filter: Some(vault_list_filter as fn(&Shared, Value) -> Value),
        }
        .with_served(shared))
    ),
    tool!(
        "vault_create",
        VaultCreateArgs,
        "Create an empty vault. Returns the `vault` document. Refused (vault_not_served) when the server serves one vault.",
        |shared, a| {
            if shared.served.is_some() {
                return Err(not_served(&a.name));
            }
            Ok(Call::new(
                None,
                vec![os("vault"), os("create"), os("--"), os(a.name)],
            ))
        }
    ),
    tool!(
        "vault_fork",
        VaultForkArgs,
        "Fork a vault in O(1); the fork and its source evolve independently. Returns the `vault` document (the fork). Refused (vault_not_served) when the server serves one vault.",
        |shared, a| {
            if shared.served.is_some() {
                return Err(not_served(&a.name));
            }
            let source = match a.source {
                Some(s) => s,
                None => current_vault()?,
            };
            Ok(Call::new(
                None,
                vec![os("vault"), os("fork"), os("--"), os(source), os(a.name)],
            ))
        }
    ),
    tool!(
        "vault_merge",
        VaultMergeArgs,
        "Merge a fork back (three-way, by path, line-level for text changed on both sides). Returns the `merge` document. A conflict with on_conflict keep (the default) merges nothing and is the tool error merge_conflict carrying the `merge` document. Refused (vault_not_served) when the server serves one vault.",
        |shared, a| {
            if shared.served.is_some() {
                return Err(not_served(&a.source));
            }
            let mut argv = vec![os("vault"), os("merge")];
            argv.extend(a.into.map(|i| flag("into", i)));
            if a.dry_run {
                argv.push(os("--dry-run"));
            }
            argv.extend(a.on_conflict.map(|c| flag("on-conflict", c.as_str())));
            argv.extend([os("--"), os(a.source)]);
            Ok(Call::new(None, argv))
        }
    ),
    tool!(
        "ls",
        LsArgs,
        "List a vault directory (or, with recursive, its whole subtree). Returns the `listing` document.",
        |shared, a| {
            let mut argv = vec![os(if a.recursive { "tree" } else { "ls" }), os("--")];
            argv.push(os(a.path.unwrap_or_else(|| "/".into())));
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
    tool!(
        "read",
        PathArgs,
        "Read a file of the vault (up to 16 MiB): UTF-8 text, or base64 bytes. Returns the `file_content` document.",
        |shared, a| Ok(Call::new(
            shared.vault(a.vault)?,
            vec![os("cat"), os("--"), os(a.path)]
        ))
    ),
    tool!(
        "write",
        WriteArgs,
        "Write (or append to) a file of the vault. Returns the `entry` document.",
        |shared, a| {
            let content = match a.encoding {
                Encoding::Utf8 => os(a.content),
                Encoding::Base64 => {
                    use base64::Engine;
                    use std::os::unix::ffi::OsStringExt;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(a.content.as_bytes())
                        .map_err(|e| {
                            CliError::invalid_argument(format!("content is not base64: {e}"))
                        })?;
                    OsString::from_vec(bytes)
                }
            };
            let mut argv = vec![os("write")];
            if a.append {
                argv.push(os("--append"));
            }
            if a.parents {
                argv.push(os("--parents"));
            }
            argv.extend([os("--"), os(a.path), content]);
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
    tool!(
        "search",
        SearchArgs,
        "Full-text search (BM25-ranked, with snippets) of the vault's text files. Returns the `search` document.",
        |shared, a| {
            let mut argv = vec![os("search")];
            if let Some(n) = a.limit {
                argv.push(flag("limit", n));
            }
            argv.extend([os("--"), os(a.query)]);
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
    tool!(
        "grep",
        GrepArgs,
        "Lines matching a regular expression in the vault's files (binary files skipped). Returns the `grep` document.",
        |shared, a| {
            let mut argv = vec![os("grep")];
            if a.ignore_case {
                argv.push(os("--ignore-case"));
            }
            argv.extend([os("--"), os(a.pattern)]);
            argv.extend(a.path.map(os));
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
    tool!(
        "checkpoint_save",
        CheckpointSaveArgs,
        "Freeze the vault's current state under a name, in O(1). Returns the `checkpoint` document.",
        |shared, a| {
            let mut argv = vec![os("checkpoint"), os("save")];
            if let Some(m) = a.message {
                argv.push(flag("message", m));
            }
            argv.extend([os("--"), os(a.name)]);
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
    tool!(
        "checkpoint_list",
        VaultArg,
        "List the vault's checkpoints, oldest first. Returns the `checkpoint_list` document.",
        |shared, a| Ok(Call::new(
            shared.vault(a.vault)?,
            vec![os("checkpoint"), os("list")]
        ))
    ),
    tool!(
        "checkpoint_restore",
        CheckpointArgs,
        "Put the vault back to a checkpoint; the state it replaces is kept as checkpoint pre-restore-N. Returns the `checkpoint_restore` document.",
        |shared, a| Ok(Call::new(
            shared.vault(a.vault)?,
            vec![os("checkpoint"), os("restore"), os("--"), os(a.name)]
        ))
    ),
    tool!(
        "diff",
        DiffArgs,
        "What changed between two states of the vault (default: its latest checkpoint and now). Returns the `diff` document.",
        |shared, a| {
            let mut argv = vec![os("diff")];
            argv.extend(a.from.map(|f| flag("from", f)));
            argv.extend(a.to.map(|t| flag("to", t)));
            if a.patch {
                argv.push(os("--patch"));
            }
            argv.push(os("--"));
            argv.extend(a.paths.into_iter().map(os));
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
    tool!(
        "log",
        PathArgs,
        "Every version of a file: number, size, hash, time, and what wrote it. Returns the `log` document.",
        |shared, a| Ok(Call::new(
            shared.vault(a.vault)?,
            vec![os("log"), os("--"), os(a.path)]
        ))
    ),
    tool!(
        "proxy_exec",
        ProxyExecArgs,
        "Run a command (argv in `command`, or a `shell` script) in the vault, with an automatic checkpoint, a timeout, and a report of every changed file: returns the `run` document (exit code, output, changes, policy decision). Runs under `avfs mcp --policy FILE` if the server was started with one, else the vault's stored policy (`avfs policy set`); with neither, EVERY command is allowed. A denied command is not run: the document says `decision.allowed: false` and the call is a tool error.",
        |shared, a| {
            let mut argv = vec![os("proxy"), os("exec")];
            if let Some(p) = &shared.policy {
                let mut f = OsString::from("--policy=");
                f.push(p);
                argv.push(f);
            }
            argv.extend(a.cwd.map(|c| flag("cwd", c)));
            argv.extend(a.timeout.map(|t| flag("timeout", t)));
            argv.extend(a.checkpoint.map(|c| flag("checkpoint", c)));
            argv.extend(a.output_limit.map(|o| flag("output-limit", o)));
            argv.extend(a.on_conflict.map(|c| flag("on-conflict", c.as_str())));
            if a.readonly {
                argv.push(os("--readonly"));
            }
            // Agents read the document into their context: summarized unless asked.
            argv.push(flag(
                "changes",
                match a.changes.unwrap_or(ChangesArg::Summary) {
                    ChangesArg::Full => "full",
                    ChangesArg::Summary => "summary",
                },
            ));
            for (k, v) in a.env {
                argv.push(flag("env", format!("{k}={v}")));
            }
            match (a.command, a.shell) {
                (Some(command), None) if !command.is_empty() => {
                    argv.push(os("--"));
                    argv.extend(command.into_iter().map(os));
                }
                (None, Some(script)) => argv.push(flag("shell", script)),
                _ => {
                    return Err(CliError::invalid_argument(
                        "give exactly one of `command` (a non-empty argv) or `shell`",
                    ));
                }
            }
            Ok(Call::new(shared.vault(a.vault)?, argv))
        }
    ),
];

impl Call {
    /// Pins the served vault on calls that name none.
    fn with_served(mut self, shared: &Shared) -> Self {
        if self.vault.is_none() {
            self.vault = shared.served.clone();
        }
        self
    }
}

/// The vault a fork without `source` forks: as the CLI picks it.
fn current_vault() -> CliResult<String> {
    let mut ctx = Ctx {
        json: true,
        vault_flag: None,
        store: None,
        store_dir: None,
        swept: Vec::new(),
    };
    ctx.vault()
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let scope = match &self.0.served {
            Some(v) => format!("This server serves the vault {v} only."),
            None => "This server serves every vault of the store; tools take an optional `vault`."
                .to_string(),
        };
        let policy = match &self.0.policy {
            Some(p) => format!("proxy_exec runs under the policy file {}.", p.display()),
            None => POLICY_NOTE.to_string(),
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("avfs", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "avfs: durable, forkable workspaces (vaults). {scope} Paths are vault paths \
                 (`/src/main.rs`); nothing outside the vault is reachable. Every tool returns \
                 the JSON document of the avfs command it runs (schemas: `avfs schema`); \
                 failures are tool errors with {{\"error\": {{\"code\", \"message\"}}}}. {policy}"
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = TOOLS
            .iter()
            .map(|t| {
                let schema = match (t.schema)() {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                let description = if t.name == "proxy_exec" {
                    match &self.0.policy {
                        Some(p) => format!(
                            "{} This server was started with --policy {}: that policy decides.",
                            t.description,
                            p.display()
                        ),
                        None => t.description.to_string(),
                    }
                } else {
                    t.description.to_string()
                };
                Tool::new(t.name, description, Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let shared = self.0.clone();
        let outcome = tokio::task::spawn_blocking(move || shared.call(&name, arguments))
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(match outcome {
            // A denied or failed run is still a run document, and an error for the caller.
            Ok(doc) if doc["decision"]["allowed"] == json!(false) => {
                CallToolResult::structured_error(doc)
            }
            Ok(doc) => CallToolResult::structured(doc),
            Err(error) => CallToolResult::structured_error(error),
        }
        .into())
    }
}
