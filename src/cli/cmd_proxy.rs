//! `avfs proxy exec`: one command run in a vault, reported as one `Run`
//! document (docs/json.md, "Proxy runs"); avfs exits with the run's status.

use super::args::{MountArgs, ProxyCommand, ProxyExecArgs};
use super::cmd_mount::spawn_server;
use super::error::{CliError, CliResult};
use super::wire::{WireChange, WireCheckpoint, WireConflict, WirePath, WireSummary};
use super::{Ctx, Output, cmd_policy, human, vault_path};
use crate::mount::{MountRequest, MountTarget, Registry};
use crate::policy::{CheckpointMode, Policy};
use crate::proxy::checkpoint::DEFAULT_KEEP;
use crate::proxy::output::CapturedOutput;
use crate::proxy::{
    ModeChoice, PathRules, PolicySource, RunMode, RunReport, RunRequest, child, execute, signals,
};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Overrides how many automatic run checkpoints a vault keeps.
const KEEP_VAR: &str = "AVFS_RUN_CHECKPOINTS";

/// Runs one `proxy` subcommand.
pub fn run(ctx: &mut Ctx, cmd: ProxyCommand) -> CliResult<Output> {
    match cmd {
        ProxyCommand::Exec(args) => exec(ctx, args),
    }
}

fn exec(ctx: &mut Ctx, args: ProxyExecArgs) -> CliResult<Output> {
    // First, before any thread exists: every thread must inherit the blocked
    // stop signals, and orphans of the run must come back to this process.
    let stop = signals::watch().map_err(|e| CliError::host_io(Path::new("signals"), e))?;
    child::become_subreaper().map_err(|e| CliError::host_io(Path::new("prctl"), e))?;

    let vault = ctx.vault()?;
    let (argv, shell) = match args.shell {
        Some(script) => (
            vec!["sh".into(), "-c".into(), OsString::from(&script)],
            Some(script),
        ),
        None => (args.command, None),
    };
    let cwd = vault_path(&args.cwd)?;
    let (policy, source, _) = cmd_policy::resolve(ctx, Some(&vault), args.policy.as_deref())?;
    let policy_source = match source {
        "file" => PolicySource::File,
        "vault" => PolicySource::Vault,
        _ => PolicySource::None,
    };
    let policy = policy.unwrap_or_default();
    // Push after the run when asked, or when the policy says so.
    let push_to = match &policy.spec().remote {
        Some(rule) if args.push || rule.push == crate::policy::model::PushWhen::AfterRun => {
            Some(Some(rule.name.clone()))
        }
        _ if args.push => Some(None),
        _ => None,
    };
    let keep_checkpoints = match std::env::var(KEEP_VAR) {
        Ok(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            CliError::invalid_argument(format!("{KEEP_VAR}={v:?} is not a positive number"))
        })?,
        Err(_) => DEFAULT_KEEP,
    };
    let existing_mount = match &args.keep_mount {
        Some(dir) if policy.decide_command(&argv).allowed => {
            Some(kept_mount(ctx, &vault, dir, args.readonly, &policy)?)
        }
        _ => None,
    };
    let request = RunRequest {
        store_dir: ctx.store_dir()?,
        owner: ctx.owner(),
        vault,
        argv,
        shell,
        cwd,
        policy,
        policy_source,
        timeout: args.timeout.map(|d| d.0),
        grace: args.grace.map(|d| d.0),
        checkpoint: args.checkpoint.as_deref().map(|c| match c {
            "always" => CheckpointMode::Always,
            "never" => CheckpointMode::Never,
            _ => CheckpointMode::Auto,
        }),
        output_limit: args.output_limit.map(|b| b.0),
        readonly: args.readonly,
        caller_env: std::env::vars_os().collect(),
        env: args.env,
        mode: match args.mode.as_str() {
            "fuse" => ModeChoice::Fuse,
            "materialize" => ModeChoice::Materialize,
            _ => ModeChoice::Auto,
        },
        existing_mount,
        keep_checkpoints,
        on_conflict: args
            .on_conflict
            .as_deref()
            .map(super::cmd_merge::on_conflict),
        workdir: args.workdir,
        isolate: args.isolate,
    };
    let vault = request.vault.clone();
    let report = execute(&request, &stop)?;
    let status = u8::try_from(report.exit_status()).unwrap_or(1);
    let mut json = document(&report);
    let mut human = human_text(&report, ctx.color());
    if let Some(remote) = push_to
        && report.outcome.is_some()
    {
        let (doc, text) = super::cmd_remote::push_after_run(ctx, &vault, remote);
        json["push"] = doc;
        human.push_str(&format!("\n{text}"));
    }
    Ok(Output::DocWithStatus {
        json,
        human,
        status,
    })
}

/// The live mount at `dir` to run in: the one avfs already serves there for
/// this vault, or a new one that outlives this run.
fn kept_mount(
    ctx: &mut Ctx,
    vault: &str,
    dir: &Path,
    readonly: bool,
    policy: &Policy,
) -> CliResult<PathBuf> {
    if policy.spec().paths.is_some() {
        return Err(crate::proxy::ProxyError::PathRulesNeedOwnMount.into());
    }
    let store_dir = ctx.store_dir()?;
    std::fs::create_dir_all(dir).map_err(|e| CliError::host_io(dir, e))?;
    let absolute = std::fs::canonicalize(dir).map_err(|e| CliError::host_io(dir, e))?;
    if let Some(record) = Registry::new(&store_dir)
        .find(&absolute)
        .filter(Registry::is_live)
    {
        if record.vault != vault || record.checkpoint.is_some() || record.readonly != readonly {
            return Err(CliError::new(
                "already_mounted",
                super::error::ExitStatus::Conflict,
                format!(
                    "{} is a mount of {}{}, not a {} mount of {vault}",
                    absolute.display(),
                    record.vault,
                    record
                        .checkpoint
                        .map(|c| format!("@{c}"))
                        .unwrap_or_default(),
                    if readonly { "read-only" } else { "writable" },
                ),
            )
            .hint("unmount it with `avfs unmount`, or pick another --keep-mount directory"));
        }
        return Ok(absolute);
    }
    let request = MountRequest {
        store_dir,
        owner: ctx.owner(),
        target: MountTarget {
            vault: vault.to_string(),
            checkpoint: None,
            readonly,
        },
        mountpoint: crate::mount::preflight(&absolute)?,
        allow_other: false,
    };
    let args = MountArgs {
        args: Vec::new(),
        readonly,
        checkpoint: None,
        foreground: false,
        allow_other: false,
    };
    Ok(spawn_server(&request, &args)?.mountpoint)
}

/// Puts one captured stream into `doc` as `NAME`, `NAME_truncated`,
/// `NAME_bytes` and, when it is not UTF-8, `NAME_b64`.
fn put_output(doc: &mut Value, name: &str, out: &CapturedOutput) {
    let shown = WirePath::from_bytes(&out.bytes);
    doc[name] = json!(shown.path);
    if let Some(b64) = shown.path_b64 {
        doc[format!("{name}_b64")] = json!(b64);
    }
    doc[format!("{name}_truncated")] = json!(out.truncated);
    doc[format!("{name}_bytes")] = json!(out.total);
}

/// The `Run` document.
pub fn document(r: &RunReport) -> Value {
    let outcome = r.outcome.as_ref();
    let changes: Vec<WireChange> = r.changes.iter().map(WireChange::from).collect();
    let violations: Vec<Value> = r
        .violations
        .iter()
        .map(|v| {
            let mut doc = json!({ "op": v.op.as_str(), "rule": v.rule });
            super::wire::put_path(&mut doc, "path", &v.path);
            doc
        })
        .collect();
    let mut doc = json!({
        "vault": r.vault,
        "command": r.argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "shell": r.shell,
        "mode": match r.mode { RunMode::Fuse => "fuse", RunMode::Materialize => "materialize" },
        "path_rules": match r.path_rules {
            PathRules::None => "none",
            PathRules::Enforced => "enforced",
            PathRules::WriteBack => "write_back",
        },
        "decision": {
            "allowed": r.decision.allowed,
            "rule": r.decision.rule,
            "reason": r.decision.reason,
            "policy": match r.policy_source {
                PolicySource::None => "none",
                PolicySource::Vault => "vault",
                PolicySource::File => "file",
            },
        },
        "checkpoint": r.checkpoint.as_ref().map(WireCheckpoint::from),
        "exit_code": outcome.and_then(|o| o.exit_code),
        "signal": outcome.and_then(|o| o.signal),
        "timed_out": outcome.is_some_and(|o| o.timed_out),
        "interrupted": outcome.and_then(|o| o.interrupted).map(|s| s.as_str()),
        "exec_error": outcome.and_then(|o| o.exec_error.as_ref()).map(|e| e.message.clone()),
        "duration_ms": outcome.map_or(0, |o| o.duration.as_millis() as u64),
        "changes": changes,
        "summary": WireSummary::of(&r.changes),
        "violations": violations,
        "violations_truncated": r.violations_truncated,
        "merge": r.merge.map(|m| m.as_str()),
        "on_conflict": r.on_conflict.as_str(),
        "conflicts": r.conflicts.iter().map(WireConflict::from).collect::<Vec<_>>(),
        "fork": r.fork,
        "workdir": r.workdir.as_ref().map(|w| w.to_string_lossy()),
        "isolation": r.isolation.as_ref().map(|i| serde_json::json!({
            "network": if i.no_network { "none" } else { "host" },
            "hide": i.hide.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect::<Vec<_>>(),
        })),
    });
    super::wire::put_path(&mut doc, "cwd", &r.cwd);
    let empty = CapturedOutput::default();
    put_output(&mut doc, "stdout", outcome.map_or(&empty, |o| &o.stdout));
    put_output(&mut doc, "stderr", outcome.map_or(&empty, |o| &o.stderr));
    doc
}

fn human_text(r: &RunReport, color: bool) -> String {
    let mut text = String::new();
    let Some(outcome) = &r.outcome else {
        return format!(
            "denied: {}\n{}",
            crate::proxy::command_line(&r.argv),
            r.decision.reason
        );
    };
    for (name, out) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if !out.bytes.is_empty() {
            text.push_str(&format!("--- {name} ---\n"));
            text.push_str(&String::from_utf8_lossy(&out.bytes));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    let ended = if let Some(e) = &outcome.exec_error {
        e.message.clone()
    } else if outcome.timed_out {
        "timed out".to_string()
    } else if let Some(s) = outcome.interrupted {
        format!("interrupted by {}", s.as_str())
    } else {
        match (outcome.exit_code, outcome.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended".to_string(),
        }
    };
    text.push_str(&format!(
        "--- {}: {ended} in {} ms",
        crate::proxy::command_line(&r.argv),
        outcome.duration.as_millis()
    ));
    if let Some(c) = &r.checkpoint {
        text.push_str(&format!("; checkpoint {}", c.name));
    }
    text.push('\n');
    for c in &r.changes {
        let (tag, code) = human::change_tag(c.change);
        text.push_str(&human::paint(color, code, &format!("{tag}  {}", c.path)));
        text.push('\n');
    }
    for c in &r.conflicts {
        text.push_str(&format!("conflict ({})  {}\n", c.kind.as_str(), c.path));
    }
    if let Some(fork) = &r.fork {
        text.push_str(&format!(
            "--- not merged: the vault changed the same paths meanwhile; the run's changes are in fork {fork} (`avfs vault merge {fork}`)\n"
        ));
    }
    for v in &r.violations {
        text.push_str(&format!(
            "refused {} {} ({})\n",
            v.op.as_str(),
            v.path,
            v.rule.as_deref().unwrap_or("no rule grants it")
        ));
    }
    text
}
