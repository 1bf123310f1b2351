//! One proxied run, start to end: decide, fork the attempt, mount it (or copy
//! it out), run, unmount (or write back), diff the attempt, merge it into the
//! vault (checkpoint first), journal.
//!
//! A run works in its own attempt (a hidden O(1) fork of the vault's head as
//! it was at the start), so its `changes` are exactly its own and runs at once
//! do not share a writable layer. A `--keep-mount` run shares a live mount
//! and is not an attempt: it checkpoints before and diffs after, as before.

use super::attempt;
use super::checkpoint;
use super::child::{self, ChildOutcome, ChildSpec};
use super::env;
use super::error::ProxyError;
use super::materialize::{Materialized, host_path};
use super::namespace::{self, Isolation, Plan, VaultSource};
use super::workdir;
use crate::mount::registry::{is_fuse_mounted, pid_alive};
use crate::mount::{LiveMount, MountError, MountRequest, MountTarget, PathGuard, Violation};
use crate::policy::{
    CheckpointMode, CommandDecision, ConflictPolicy, IsolationRule, NetworkMode, Policy,
};
use crate::vault::{
    Change, Checkpoint, Conflict, MergeCheckpoint, MergeRequest, MergeStatus, OnConflict, Op,
    Owner, StateRef, Store, VaultPath,
};
use nix::sys::signal::Signal;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Timeout when neither the command line nor the policy sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Grace period between SIGTERM and SIGKILL when nothing sets one.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// Bytes of output kept per stream when nothing sets a limit.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1 << 20;
/// The status avfs exits with when a run's changes conflict and are kept as a fork.
pub const CONFLICT_STATUS: i32 = 4;

/// How the caller wants the vault presented to the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// FUSE when it works here, else materialize.
    Auto,
    /// FUSE or fail.
    Fuse,
    /// Copy out, run, write back.
    Materialize,
}

/// How the vault was presented to the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Mounted in a private directory.
    Fuse,
    /// Copied out and written back.
    Materialize,
}

/// How the policy's path rules were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRules {
    /// The policy has none.
    None,
    /// Checked by the mount on every operation (EACCES).
    Enforced,
    /// Applied around a materialized run: unreadable paths left out of the
    /// copy, refused changes not written back.
    WriteBack,
}

/// Where the policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// No policy: everything allowed.
    None,
    /// The vault's stored policy.
    Vault,
    /// A file given for this run.
    File,
}

/// Everything a run needs; `None` settings fall back to the policy, then to defaults.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Directory of the store.
    pub store_dir: PathBuf,
    /// Owner of what the run creates.
    pub owner: Owner,
    /// The vault to run in.
    pub vault: String,
    /// Program and arguments.
    pub argv: Vec<OsString>,
    /// The script, when `argv` is `sh -c SCRIPT` made from `--shell`.
    pub shell: Option<String>,
    /// Vault directory to run in.
    pub cwd: VaultPath,
    /// The policy (allow-all when there is none).
    pub policy: Policy,
    /// Where the policy came from.
    pub policy_source: PolicySource,
    /// Stop the run after this long.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Option<Duration>,
    /// When to keep a checkpoint.
    pub checkpoint: Option<CheckpointMode>,
    /// Bytes of output kept per stream.
    pub output_limit: Option<u64>,
    /// Refuse every change.
    pub readonly: bool,
    /// The caller's environment, filtered by the policy.
    pub caller_env: Vec<(OsString, OsString)>,
    /// Variables set for this run, over everything else.
    pub env: Vec<(String, String)>,
    /// FUSE, materialize, or whichever works.
    pub mode: ModeChoice,
    /// Run in this live mount of the vault (served by another process)
    /// instead of a private one; it stays mounted.
    pub existing_mount: Option<PathBuf>,
    /// Automatic run checkpoints kept per vault.
    pub keep_checkpoints: usize,
    /// What the merge does with conflicts [default: the policy's, else keep].
    pub on_conflict: Option<OnConflict>,
    /// Where the vault appears inside the run [default: the policy's, else `/workspace`].
    pub workdir: Option<PathBuf>,
    /// Isolate the run from the host [default: when the policy has `isolation`].
    pub isolate: bool,
}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    /// The vault.
    pub vault: String,
    /// What ran.
    pub argv: Vec<OsString>,
    /// The `--shell` script, if that is what ran.
    pub shell: Option<String>,
    /// The vault directory it ran in.
    pub cwd: VaultPath,
    /// How the vault was presented.
    pub mode: RunMode,
    /// How path rules were applied.
    pub path_rules: PathRules,
    /// The policy's verdict on the command.
    pub decision: CommandDecision,
    /// Where the policy came from.
    pub policy_source: PolicySource,
    /// The checkpoint kept of the vault just before the run's changes were
    /// applied (before the run, with `--keep-mount`).
    pub checkpoint: Option<Checkpoint>,
    /// How the command ended; `None` when it was denied.
    pub outcome: Option<ChildOutcome>,
    /// What changed in the vault from before the run to after it.
    pub changes: Vec<Change>,
    /// Operations the path rules refused.
    pub violations: Vec<Violation>,
    /// More were refused than listed.
    pub violations_truncated: bool,
    /// How the run's attempt was merged; `None` when there was none (denied, `--keep-mount`).
    pub merge: Option<MergeStatus>,
    /// The conflict policy in force.
    pub on_conflict: OnConflict,
    /// Paths the vault changed differently during the run.
    pub conflicts: Vec<Conflict>,
    /// The fork that keeps the run's changes when they were not applied.
    pub fork: Option<String>,
    /// Where the vault appeared inside the run's mount namespace; `None` when
    /// the run had none (no namespaces here).
    pub workdir: Option<PathBuf>,
    /// The isolation in force, when the run was isolated.
    pub isolation: Option<Isolation>,
    /// What the run's own mount logged while it served the command: a
    /// commit that failed (say, on a full disk: the writes it held are not
    /// in the vault), a request that failed inside avfs. Empty when all
    /// went well, and for a run in a shared mount (which logs to its own stderr).
    pub mount_errors: Vec<String>,
}

impl RunReport {
    /// The status avfs exits with: 4 when the run's changes conflicted and
    /// were kept aside; else the child's own, 124 timed out, 126 denied or not
    /// executable, 127 not found, 128 + N for signal N.
    pub fn exit_status(&self) -> i32 {
        if self.merge == Some(MergeStatus::Conflict) {
            return CONFLICT_STATUS;
        }
        let Some(outcome) = &self.outcome else {
            return 126;
        };
        if let Some(e) = &outcome.exec_error {
            return e.status;
        }
        if let Some(signal) = outcome.interrupted {
            return 128 + signal as i32;
        }
        if outcome.timed_out {
            return 124;
        }
        match (outcome.exit_code, outcome.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => 1,
        }
    }
}

/// The base of a shared-mount run's diff: a checkpoint kept for the user, or a temporary one.
struct Base {
    checkpoint: Checkpoint,
    keep: bool,
}

/// Runs one command through the whole pipeline on `store` (the one in
/// `req.store_dir`). `stop` delivers the stop signals avfs receives
/// meanwhile (they end the run like a timeout).
pub fn execute(
    store: &mut Store,
    req: &RunRequest,
    stop: &Receiver<Signal>,
) -> Result<RunReport, ProxyError> {
    if req.argv.is_empty() || req.argv[0].is_empty() {
        return Err(ProxyError::EmptyCommand);
    }
    let head = StateRef::Head {
        vault: req.vault.clone(),
    };
    store.read(&head, |t| t.dir(&req.cwd))?;
    let spec = req.policy.spec();
    let path_rules_present = spec.paths.is_some();
    let decision = req.policy.decide_command(&req.argv);
    let on_conflict = req
        .on_conflict
        .or(spec.on_conflict.map(|p| match p {
            ConflictPolicy::Keep => OnConflict::Keep,
            ConflictPolicy::Ours => OnConflict::Ours,
            ConflictPolicy::Theirs => OnConflict::Theirs,
        }))
        .unwrap_or(OnConflict::Keep);
    let mut report = RunReport {
        vault: req.vault.clone(),
        argv: req.argv.clone(),
        shell: req.shell.clone(),
        cwd: req.cwd.clone(),
        mode: RunMode::Fuse,
        path_rules: PathRules::None,
        decision,
        policy_source: req.policy_source,
        checkpoint: None,
        outcome: None,
        changes: Vec::new(),
        violations: Vec::new(),
        violations_truncated: false,
        merge: None,
        on_conflict,
        conflicts: Vec::new(),
        fork: None,
        workdir: None,
        isolation: None,
        mount_errors: Vec::new(),
    };
    if !report.decision.allowed {
        journal(store, &report);
        return Ok(report);
    }
    if path_rules_present && req.existing_mount.is_some() {
        return Err(ProxyError::PathRulesNeedOwnMount);
    }

    let checkpoint_mode = req
        .checkpoint
        .or(spec.checkpoint)
        .unwrap_or(CheckpointMode::Auto);
    let keep = match checkpoint_mode {
        CheckpointMode::Auto => !req.readonly,
        CheckpointMode::Always => true,
        CheckpointMode::Never => false,
    };
    checkpoint::prune(store, &req.vault, req.keep_checkpoints.saturating_sub(1))?;

    let guard = Arc::new(PathGuard::new(req.policy.clone()));
    // Every run gets its own namespaces, with the vault at one stable
    // path (as root directly, else through a user namespace). Where they
    // cannot be made, a run that asked for a workdir fails; one that did not
    // runs as before, and its document says so (`workdir: null`).
    let asked = req
        .workdir
        .clone()
        .or(spec.workdir.as_ref().map(PathBuf::from));
    let isolate = req.isolate || spec.isolation.is_some();
    if isolate && req.existing_mount.is_some() {
        return Err(ProxyError::IsolationUnavailable(
            "--isolate needs a run of its own, not --keep-mount".into(),
        ));
    }
    let mut hide = vec![std::fs::canonicalize(&req.store_dir)?];
    if let Some((_, home)) = req.caller_env.iter().find(|(k, _)| k == "AVFS_HOME")
        && let Ok(home) = std::fs::canonicalize(home)
        && !hide.contains(&home)
    {
        hide.push(home);
    }
    if isolate {
        report.isolation = Some(isolation_of(spec.isolation.as_ref(), &req.caller_env)?);
    }
    let workdir = if namespace::available() {
        let wanted = asked.unwrap_or_else(|| PathBuf::from(namespace::DEFAULT_WORKDIR));
        let covered = workdir::Covered::new(&hide, report.isolation.as_ref());
        Some(workdir::check(&wanted, &covered)?)
    } else if asked.is_some() || isolate {
        return Err(ProxyError::IsolationUnavailable(
            "this user cannot make namespaces here (no user namespaces)".into(),
        ));
    } else {
        None
    };
    report.workdir = workdir.clone();
    let user = namespace::id_map();
    let isolation = report.isolation.clone();
    let child_spec = |dir: &Path, vault: Option<VaultSource>| -> Result<ChildSpec, ProxyError> {
        let plan = match (&workdir, vault) {
            (Some(w), Some(vault)) => Some(Plan {
                isolation: isolation.clone(),
                ..Plan::new(user, vault, w, &host_path(w, &req.cwd), &hide)
                    .map_err(|e| ProxyError::InvalidWorkdir(e.to_string()))?
            }),
            _ => None,
        };
        Ok(ChildSpec {
            argv: req.argv.clone(),
            cwd: host_path(dir, &req.cwd),
            env: {
                let mut env = env::build(req.caller_env.clone(), spec.env.as_ref(), &req.env);
                if let Some(w) = &workdir {
                    env.retain(|(k, _)| k != "AVFS_HOME" && k != "AVFS_WORKSPACE");
                    env.push(("AVFS_WORKSPACE".into(), w.clone().into_os_string()));
                    env.sort();
                }
                env
            },
            namespace: plan,
            // As with timeout(1), a zero timeout means none.
            timeout: Some(
                req.timeout
                    .or(spec.timeout.map(|d| d.0))
                    .unwrap_or(DEFAULT_TIMEOUT),
            )
            .filter(|t| !t.is_zero()),
            grace: req
                .grace
                .or(spec.grace.map(|d| d.0))
                .unwrap_or(DEFAULT_GRACE),
            output_limit: req
                .output_limit
                .or(spec.output_limit.map(|b| b.0))
                .unwrap_or(DEFAULT_OUTPUT_LIMIT),
        })
    };

    if req.existing_mount.is_some() {
        shared_run(req, store, keep, &guard, stop, &child_spec, &mut report)?;
    } else {
        attempt_run(req, store, keep, &guard, stop, &child_spec, &mut report)?;
    }
    if path_rules_present {
        report.path_rules = match report.mode {
            RunMode::Fuse => PathRules::Enforced,
            RunMode::Materialize => PathRules::WriteBack,
        };
    }
    (report.violations, report.violations_truncated) = guard.violations();
    journal(store, &report);
    Ok(report)
}

/// The request for a run's own mount of `vault` at `mountpoint`.
fn private_mount(req: &RunRequest, vault: &str, mountpoint: PathBuf) -> MountRequest {
    MountRequest {
        store_dir: req.store_dir.clone(),
        owner: req.owner,
        target: MountTarget {
            vault: vault.to_string(),
            checkpoint: None,
            readonly: req.readonly,
        },
        mountpoint,
        allow_other: false,
    }
}

/// A run in its own attempt: fork, run there, diff the attempt, merge it.
fn attempt_run(
    req: &RunRequest,
    store: &mut Store,
    keep: bool,
    guard: &Arc<PathGuard>,
    stop: &Receiver<Signal>,
    child_spec: &SpecFor,
    report: &mut RunReport,
) -> Result<(), ProxyError> {
    attempt::sweep_dead(store);
    let run_name = checkpoint::name_at(crate::vault::now_ns());
    let attempt = attempt::hidden_name(&run_name);
    store.fork_attempt(&req.vault, &attempt)?;
    let ran = run_in_mode(req, &attempt, store, guard, stop, child_spec, report);
    // The run's mount has closed its store: what its failed commits appended
    // goes now, before the merge needs room (on a full disk, all of it).
    let _ = store.sweep_own_segments();
    if let Err(e) = ran {
        // What a command that ran did is kept (as a fork); otherwise there is nothing to keep.
        let _ = attempt::set_aside(store, &attempt, &run_name, report.outcome.is_some());
        return Err(e);
    }
    let merged = store.merge(&MergeRequest {
        source: attempt.clone(),
        target: req.vault.clone(),
        on_conflict: report.on_conflict,
        dry_run: false,
        checkpoint: if keep {
            MergeCheckpoint::Named {
                name: run_name.clone(),
                message: command_line(&req.argv),
            }
        } else {
            MergeCheckpoint::None
        },
        delete_source: true,
        journal_op: "proxy.merge".into(),
    });
    let outcome = match merged {
        Ok(outcome) => outcome,
        Err(e) => {
            let fork = attempt::set_aside(store, &attempt, &run_name, true)?;
            return Err(ProxyError::Merge { fork, source: e });
        }
    };
    report.changes = outcome.incoming;
    report.merge = Some(outcome.status);
    report.conflicts = outcome.conflicts;
    report.checkpoint = outcome.checkpoint;
    if outcome.status == MergeStatus::Conflict {
        report.fork = attempt::set_aside(store, &attempt, &run_name, true)?;
    }
    Ok(())
}

/// A run in a shared live mount (`--keep-mount`): it writes into the vault's
/// head directly, so the checkpoint is taken before it and the diff after.
fn shared_run(
    req: &RunRequest,
    store: &mut Store,
    keep: bool,
    guard: &Arc<PathGuard>,
    stop: &Receiver<Signal>,
    child_spec: &SpecFor,
    report: &mut RunReport,
) -> Result<(), ProxyError> {
    // A read-only run changes nothing, so it needs no base unless one is kept.
    let base = if keep || !req.readonly {
        let message = command_line(&req.argv);
        Some(Base {
            checkpoint: checkpoint::take(store, &req.vault, &message)?,
            keep,
        })
    } else {
        None
    };
    report.checkpoint = base
        .as_ref()
        .filter(|b| b.keep)
        .map(|b| b.checkpoint.clone());
    let ran = run_in_mode(req, &req.vault, store, guard, stop, child_spec, report);
    if let Err(e) = ran {
        // If the command never started, its checkpoint is noise; if it ran, the
        // checkpoint is the way back from whatever it did, and stays (if kept).
        if let Some(b) = base
            .as_ref()
            .filter(|b| report.outcome.is_none() || !b.keep)
        {
            let _ = store.checkpoint_delete(&req.vault, &b.checkpoint.name);
        }
        return Err(e);
    }
    if let Some(base) = &base {
        let from = StateRef::Checkpoint {
            vault: req.vault.clone(),
            name: base.checkpoint.name.clone(),
        };
        let head = StateRef::Head {
            vault: req.vault.clone(),
        };
        report.changes = store.diff(&from, &head, &[])?;
        if !base.keep {
            store.checkpoint_delete(&req.vault, &base.checkpoint.name)?;
        }
    }
    Ok(())
}

/// Presents the vault in the chosen mode, runs the command and takes the
/// vault's presentation down again, filling in `report.mode` and `report.outcome`.
fn run_in_mode(
    req: &RunRequest,
    vault: &str,
    store: &mut Store,
    guard: &Arc<PathGuard>,
    stop: &Receiver<Signal>,
    child_spec: &SpecFor,
    report: &mut RunReport,
) -> Result<(), ProxyError> {
    if let Some(dir) = &req.existing_mount {
        report.mode = RunMode::Fuse;
        // The shared mount, bound at the workdir in the run's namespaces.
        let bind = VaultSource::Bind {
            source: std::fs::canonicalize(dir)?
                .into_os_string()
                .into_encoded_bytes(),
        };
        report.outcome = Some(run_child(&child_spec(dir, Some(bind))?, stop, &mut |_| {
            Err("no mount was expected".into())
        })?);
        // fsync of the mount's root commits the serving process's open batch,
        // so the diff below sees every change the command made.
        std::fs::File::open(dir)?.sync_all()?;
        return Ok(());
    }
    let want_fuse = match req.mode {
        ModeChoice::Fuse => true,
        ModeChoice::Materialize => false,
        ModeChoice::Auto => fuse_usable(),
    };
    let runs = req.store_dir.join("runs");
    sweep_stale_runs(&runs);
    if want_fuse && let Some(workdir) = report.workdir.clone() {
        return namespaced_fuse_run(req, vault, &workdir, guard, stop, child_spec, report);
    }
    std::fs::create_dir_all(&runs)?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("run-{}-", std::process::id()))
        .tempdir_in(&runs)?
        // Never removed recursively: if an unmount failed, that would delete
        // the vault's files through the mount. Emptied and removed below.
        .keep();
    let live = if want_fuse {
        let request = private_mount(req, vault, dir.clone());
        match LiveMount::start_private(&request, Some(Arc::clone(guard))) {
            Ok(live) => Some(live),
            Err(MountError::FuseUnavailable(_) | MountError::Io(_))
                if req.mode == ModeChoice::Auto =>
            {
                None
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e.into());
            }
        }
    } else {
        None
    };
    let result = match live {
        Some(live) => {
            report.mode = RunMode::Fuse;
            let mountpoint = live.record().mountpoint.clone();
            let ran = child_spec(&mountpoint, None)
                .and_then(|spec| run_child(&spec, stop, &mut |_| Err("unexpected mount".into())));
            let stopped = live.stop().map_err(ProxyError::from);
            report.outcome = Some(ran?);
            report.mount_errors = stopped?.faults;
            Ok(())
        }
        None => {
            report.mode = RunMode::Materialize;
            let copy = Materialized::create(store, vault, &dir, guard)?;
            let bind = VaultSource::Bind {
                source: copy.root().as_os_str().as_encoded_bytes().to_vec(),
            };
            let ran = child_spec(copy.root(), Some(bind))
                .and_then(|spec| run_child(&spec, stop, &mut |_| Err("unexpected mount".into())));
            let ran = match ran {
                Ok(outcome) => outcome,
                Err(e) => {
                    drop(copy); // removes the copy
                    let _ = std::fs::remove_dir(&dir);
                    return Err(e);
                }
            };
            report.outcome = Some(ran);
            // A read-only run writes nothing back; what it tried is still
            // worth listing, as refusals with no rule.
            let read_only = PathGuard::read_only();
            let rules = if req.readonly { &read_only } else { guard };
            let written = copy.write_back(store, vault, rules);
            if req.readonly {
                let (refused, _) = read_only.violations();
                guard.record_all(refused);
            }
            written.map(|_| ()).map_err(ProxyError::from)
        }
    };
    // Materialize removed its copy; a FUSE mount point is empty once unmounted.
    let _ = std::fs::remove_dir(&dir);
    result
}

/// Builds a run's [`ChildSpec`] for the vault presented at a host directory
/// (or, in the run's namespace, from a [`VaultSource`]).
type SpecFor<'a> = dyn Fn(&Path, Option<VaultSource>) -> Result<ChildSpec, ProxyError> + 'a;

/// Runs the command; a namespace that could not be built is an error.
fn run_child(
    spec: &ChildSpec,
    stop: &Receiver<Signal>,
    on_mounted: &mut dyn FnMut(std::os::fd::OwnedFd) -> Result<(), String>,
) -> Result<ChildOutcome, ProxyError> {
    child::run(spec, stop, on_mounted).map_err(|e| ProxyError::IsolationUnavailable(e.0))
}

/// The isolation a run gets from the policy's `isolation` (or `--isolate`
/// alone: no network, nothing hidden); `~/` in hidden paths is the run's `$HOME`.
fn isolation_of(
    rule: Option<&IsolationRule>,
    caller_env: &[(OsString, OsString)],
) -> Result<Isolation, ProxyError> {
    let home = caller_env
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|h| h.is_absolute());
    let mut hide = Vec::new();
    for path in rule.and_then(|r| r.hide.as_ref()).into_iter().flatten() {
        let full = match (path.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => home.join(rest),
            (Some(_), None) => continue,
            (None, _) => PathBuf::from(path),
        };
        hide.push(full.into_os_string().into_encoded_bytes());
    }
    Ok(Isolation {
        no_network: rule.and_then(|r| r.network) != Some(NetworkMode::Host),
        // A $HOME of / (some containers) cannot be made private without
        // covering everything, the workspace too: it stays read-only.
        home: home
            .filter(|h| h.parent().is_some())
            .map(|h| h.into_os_string().into_encoded_bytes()),
        hide,
    })
}

/// True when this process can open /dev/fuse (it exists and is ours to use).
fn fuse_usable() -> bool {
    use nix::unistd::{AccessFlags, access};
    access("/dev/fuse", AccessFlags::R_OK | AccessFlags::W_OK).is_ok()
}

/// A FUSE run in the run's namespace: its init mounts the vault at the
/// workdir, inside the namespace only, and hands the connection over; this
/// process serves it until the namespace (and with it the mount) is gone.
fn namespaced_fuse_run(
    req: &RunRequest,
    vault: &str,
    workdir: &Path,
    guard: &Arc<PathGuard>,
    stop: &Receiver<Signal>,
    child_spec: &SpecFor,
    report: &mut RunReport,
) -> Result<(), ProxyError> {
    report.mode = RunMode::Fuse;
    let request = private_mount(req, vault, workdir.to_path_buf());
    let source = VaultSource::Fuse {
        fsname: format!("avfs:{vault}"),
        readonly: req.readonly,
    };
    let spec = child_spec(workdir, Some(source))?;
    // The store is opened for the mount while the run's init starts, on
    // another thread: the two overlap instead of adding up.
    let mut opening = Some({
        let (request, guard) = (request.clone(), Arc::clone(guard));
        std::thread::spawn(move || LiveMount::open_private(&request, Some(guard)))
    });
    let mut live = None;
    let mut serve = |fuse| {
        let vault = opening
            .take()
            .ok_or("the run's init mounted the vault twice")?
            .join()
            .map_err(|_| "opening the vault panicked".to_string())?
            .map_err(|e| e.to_string())?;
        live = Some(LiveMount::serve_private(vault, &request, fuse).map_err(|e| e.to_string())?);
        Ok(())
    };
    let ran = run_child(&spec, stop, &mut serve);
    if let Some(unused) = opening.take() {
        // Never mounted (the run failed to start): close the store here.
        let _ = unused.join();
    }
    // Every process of the run is gone, and with them the namespace and the
    // mount: the session has ended (or ends now), committing what is unsaved.
    let stopped = live.map(LiveMount::stop).transpose();
    report.outcome = Some(ran?);
    if let Some(stats) = stopped? {
        report.mount_errors = stats.faults;
    }
    Ok(())
}

/// Removes the run directories of avfs processes that died without cleaning
/// up (SIGKILL): named `run-<pid>-*`, their pid gone, no longer a mount point
/// (every avfs command has detached dead mounts before this runs).
fn sweep_stale_runs(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("run-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        let path = entry.path();
        if let Some(pid) = pid
            && !pid_alive(pid)
            && !is_fuse_mounted(&path)
        {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The command as one line (lossy for non-UTF-8 arguments).
pub fn command_line(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Appends the run to the vault's journal. A failure here must not hide the
/// run's result, which the caller is about to print.
fn journal(store: &mut Store, report: &RunReport) {
    let outcome = report.outcome.as_ref();
    let detail = serde_json::json!({
        "command": command_line(&report.argv),
        "cwd": report.cwd.to_string(),
        "allowed": report.decision.allowed,
        "checkpoint": report.checkpoint.as_ref().map(|c| c.name.clone()),
        "exit_status": report.exit_status(),
        "timed_out": outcome.is_some_and(|o| o.timed_out),
        "duration_ms": outcome.map_or(0, |o| o.duration.as_millis() as u64),
        "changes": report.changes.len(),
        "violations": report.violations.len(),
        "merge": report.merge.map(|m| m.as_str()),
        "conflicts": report.conflicts.len(),
        "fork": report.fork,
    });
    let _ = store.journal(
        Some(&report.vault),
        Op::new("proxy.exec", detail.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_of_slash_is_not_made_private_but_still_expands_hidden_paths() {
        let rule = IsolationRule {
            network: None,
            hide: Some(vec!["~/.ssh".into(), "/srv/secret".into()]),
        };
        let env = |home: &str| vec![(OsString::from("HOME"), OsString::from(home))];
        let isolation = isolation_of(Some(&rule), &env("/")).unwrap();
        // An overlay over / would cover the workspace and take the run's writes.
        assert_eq!(isolation.home, None);
        assert_eq!(
            isolation.hide,
            vec![b"/.ssh".to_vec(), b"/srv/secret".to_vec()]
        );
        let isolation = isolation_of(Some(&rule), &env("/home/agent")).unwrap();
        assert_eq!(isolation.home, Some(b"/home/agent".to_vec()));
        assert_eq!(isolation.hide[0], b"/home/agent/.ssh".to_vec());
    }
}
