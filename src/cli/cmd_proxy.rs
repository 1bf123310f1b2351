//! `avfs proxy exec`: one command run in a vault, reported as one `Run`
//! document (docs/json.md, "Proxy runs"); avfs exits with the run's status.

use super::args::{MountArgs, ProxyCommand, ProxyExecArgs};
use super::cmd_mount::spawn_server;
use super::error::{CliError, CliResult};
use super::wire::{WireChange, WireCheckpoint, WireConflict, WirePath, WireSummary};
use super::wire_docs::{
    CwdPath, RunDecision, RunDoc, RunViolation, StderrFields, StdoutFields, WireIsolation,
    WireRollup, to_json,
};
use super::{Ctx, Output, cmd_policy, human, vault_path};
use crate::mount::{MountRequest, MountTarget, Registry};
use crate::policy::{CheckpointMode, Policy};
use crate::proxy::checkpoint::DEFAULT_KEEP;
use crate::proxy::output::CapturedOutput;
use crate::proxy::rollup::{self, Rollup};
use crate::proxy::{
    ModeChoice, PathRules, PolicySource, RunMode, RunReport, RunRequest, child, execute, signals,
};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Changes listed in human output; the rest are counted ("… N more").
const HUMAN_CHANGES: usize = 20;

/// The WAL pages after which a run's own commits checkpoint. A run exits
/// without checkpointing, and the next process to open the store rebuilds
/// the WAL's index from every frame since the WAL last restarted: with
/// SQLite's 1,000 pages a run's first open took 1.8 ms, with 100 1.2 ms
/// (BENCHMARKS.md). A mount keeps SQLite's default: its batches pass 100
/// pages, and checkpointing after each slowed its writes.
const RUN_WAL_PAGES: u32 = 100;

/// Overrides how many automatic run checkpoints a vault keeps.
const KEEP_VAR: &str = "AVFS_RUN_CHECKPOINTS";

/// True when `args` (the process's, program name first) ask for `proxy
/// exec`: the first two words that are neither global options nor their
/// values. A cheap look before parsing; a wrong guess costs a fork, or the
/// slower start of a run's init, never a wrong run.
pub(super) fn names_exec(args: &[OsString]) -> bool {
    let mut words = Vec::with_capacity(2);
    let mut rest = args.iter().skip(1);
    while words.len() < 2 {
        match rest.next().map(|a| a.as_encoded_bytes()) {
            None | Some(b"--") => break,
            Some(b"--vault") => {
                rest.next();
            }
            Some(a) if a.starts_with(b"-") => {}
            Some(word) => words.push(word),
        }
    }
    words == [b"proxy".as_slice(), b"exec".as_slice()]
}

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
    exec_with(ctx, args, &stop)
}

/// Runs `proxy exec` in a process that already blocks the stop signals and
/// reaps orphans (see `exec`); `stop` delivers the signals meant for this run.
/// `avfs mcp` calls it for `proxy_exec`.
pub(super) fn exec_with(
    ctx: &mut Ctx,
    args: ProxyExecArgs,
    stop: &std::sync::mpsc::Receiver<nix::sys::signal::Signal>,
) -> CliResult<Output> {
    let vault = ctx.vault()?;
    let store = ctx.store()?;
    store.checkpoint_wal_past(RUN_WAL_PAGES)?;
    // The run's mount closes its store first, so this one closes last.
    store.skip_checkpoint_at_close()?;
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
    // Roll-ups are a view of the run's changes, chosen here at the edge: the
    // run itself always records them all.
    let rollup_dirs = (args.changes == super::args::ChangesMode::Summary)
        .then(|| crate::proxy::rollup::dirs(policy.spec().rollup.as_deref()));
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
    let report = execute(ctx.store()?, &request, stop)?;
    let status = u8::try_from(report.exit_status()).unwrap_or(1);
    let mut doc = document(&report, rollup_dirs.as_deref());
    let mut human = human_text(&report, rollup_dirs.as_deref(), ctx.color());
    if let Some(remote) = push_to
        && report.outcome.is_some()
    {
        let (pushed, text) = super::cmd_remote::push_after_run(ctx, &vault, remote);
        doc.push = Some(pushed);
        human.push_str(&format!("\n{text}"));
    }
    let json = to_json(&doc);
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

/// The changes a run lists one by one, and its roll-ups (`rollup_dirs`:
/// the directories `--changes summary` rolls up; none in full mode).
fn listed<'a>(
    r: &'a RunReport,
    rollup_dirs: Option<&[Vec<Vec<u8>>]>,
) -> (Vec<&'a crate::vault::Change>, Vec<Rollup>) {
    match rollup_dirs {
        Some(dirs) => rollup::roll_up(&r.changes, dirs),
        None => (r.changes.iter().collect(), Vec::new()),
    }
}

/// The `Run` document.
pub fn document(r: &RunReport, rollup_dirs: Option<&[Vec<Vec<u8>>]>) -> RunDoc {
    let outcome = r.outcome.as_ref();
    let (kept, rollups) = listed(r, rollup_dirs);
    let changes: Vec<WireChange> = kept.into_iter().map(WireChange::from).collect();
    let violations: Vec<RunViolation> = r
        .violations
        .iter()
        .map(|v| RunViolation {
            path: WirePath::from_path(&v.path),
            op: v.op.as_str(),
            rule: v.rule.clone(),
        })
        .collect();
    let empty = CapturedOutput::default();
    RunDoc {
        vault: r.vault.clone(),
        command: r
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        shell: r.shell.clone(),
        cwd: CwdPath::new(&r.cwd),
        mode: match r.mode {
            RunMode::Fuse => "fuse",
            RunMode::Materialize => "materialize",
        },
        path_rules: match r.path_rules {
            PathRules::None => "none",
            PathRules::Enforced => "enforced",
            PathRules::WriteBack => "write_back",
        },
        decision: RunDecision {
            allowed: r.decision.allowed,
            rule: r.decision.rule.clone(),
            reason: r.decision.reason.clone(),
            policy: match r.policy_source {
                PolicySource::None => "none",
                PolicySource::Vault => "vault",
                PolicySource::File => "file",
            },
        },
        checkpoint: r.checkpoint.as_ref().map(WireCheckpoint::from),
        exit_code: outcome.and_then(|o| o.exit_code),
        signal: outcome.and_then(|o| o.signal),
        timed_out: outcome.is_some_and(|o| o.timed_out),
        interrupted: outcome.and_then(|o| o.interrupted).map(|s| s.as_str()),
        exec_error: outcome
            .and_then(|o| o.exec_error.as_ref())
            .map(|e| e.message.clone()),
        duration_ms: outcome.map_or(0, |o| o.duration.as_millis() as u64),
        stdout: StdoutFields::new(outcome.map_or(&empty, |o| &o.stdout)),
        stderr: StderrFields::new(outcome.map_or(&empty, |o| &o.stderr)),
        changes_mode: if rollup_dirs.is_some() {
            "summary"
        } else {
            "full"
        },
        changes,
        rollups: rollups.iter().map(WireRollup::from).collect(),
        summary: WireSummary::of(&r.changes),
        violations,
        violations_truncated: r.violations_truncated,
        mount_errors: r.mount_errors.clone(),
        merge: r.merge.map(|m| m.as_str()),
        on_conflict: r.on_conflict.as_str(),
        conflicts: r.conflicts.iter().map(WireConflict::from).collect(),
        fork: r.fork.clone(),
        workdir: r.workdir.as_ref().map(|w| w.to_string_lossy().into_owned()),
        isolation: r.isolation.as_ref().map(WireIsolation::from),
        push: None,
    }
}

fn human_text(r: &RunReport, rollup_dirs: Option<&[Vec<Vec<u8>>]>, color: bool) -> String {
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
        "--- {}: {ended} in {} ms; vault {}",
        crate::proxy::command_line(&r.argv),
        outcome.duration.as_millis(),
        r.vault
    ));
    if let Some(c) = &r.checkpoint {
        text.push_str(&format!("; checkpoint {}", c.name));
    }
    text.push('\n');
    let (kept, rollups) = listed(r, rollup_dirs);
    for roll in &rollups {
        text.push_str(&format!(
            "R  {}/  ({} changes: {} added, {} modified, {} deleted, {} type changed; +{} -{})\n",
            roll.path,
            roll.total(),
            roll.added,
            roll.modified,
            roll.deleted,
            roll.type_changed,
            human::size(roll.bytes_added),
            human::size(roll.bytes_removed)
        ));
    }
    for c in kept.iter().take(HUMAN_CHANGES) {
        let (tag, code) = human::change_tag(c.change);
        text.push_str(&human::paint(color, code, &format!("{tag}  {}", c.path)));
        text.push('\n');
    }
    if kept.len() > HUMAN_CHANGES {
        text.push_str(&format!(
            "… {} more (`avfs diff --from {}` lists them all)\n",
            kept.len() - HUMAN_CHANGES,
            r.checkpoint
                .as_ref()
                .map_or("CHECKPOINT", |c| c.name.as_str())
        ));
    }
    text.push_str(&human::count_line(&WireSummary::of(&r.changes)));
    text.push('\n');
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
    for line in &r.mount_errors {
        text.push_str(&format!("mount: {line}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_look_before_parsing_finds_proxy_exec_past_global_options_only() {
        let args = |line: &str| -> Vec<OsString> { line.split(' ').map(OsString::from).collect() };
        for yes in [
            "avfs proxy exec -- true",
            "avfs --json proxy exec true",
            "avfs --vault v --json proxy exec --vault w -- true",
            "avfs --vault=v proxy exec",
        ] {
            assert!(names_exec(&args(yes)), "{yes}");
        }
        for no in [
            "avfs",
            "avfs proxy",
            "avfs --vault proxy exec",
            "avfs write proxy exec",
            "avfs mcp proxy exec",
            "avfs -- proxy exec",
        ] {
            assert!(!names_exec(&args(no)), "{no}");
        }
    }
}
