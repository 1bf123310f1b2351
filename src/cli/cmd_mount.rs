//! `avfs mount`, `avfs unmount`, `avfs mounts`.
//!
//! `mount` without `--foreground` re-runs avfs as a detached serving process
//! (`avfs --json mount VAULT DIR --foreground`) and returns once that process
//! reports the mount ready (or why it failed) on its stdout.

use super::args::{MountArgs, UnmountArgs};
use super::error::{CliError, CliResult, ExitStatus};
use super::wire_docs::{MountDoc, MountsDoc, UnmountDoc, to_json};
use super::{Ctx, Output};
use crate::mount::registry::{is_fuse_mounted, unmount as detach};
use crate::mount::{
    MountError, MountRecord, MountRequest, MountTarget, Registry, preflight, serve,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long `avfs mount` waits for the serving process to report.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `avfs unmount` waits for the serving process to commit and exit:
/// long, because what it commits last may be large and the disk busy (a loaded
/// CI machine took over a minute after `git add` of 10,000 files).
const EXIT_TIMEOUT: Duration = Duration::from_secs(300);

fn record_doc(r: &MountRecord) -> MountDoc {
    MountDoc {
        mountpoint: r.mountpoint.to_string_lossy().into_owned(),
        vault: r.vault.clone(),
        checkpoint: r.checkpoint.clone(),
        mode: if r.readonly { "ro" } else { "rw" },
        pid: r.pid,
        data_path: r.data_path.clone(),
        transport: r.transport.clone(),
    }
}

fn record_json(r: &MountRecord) -> Value {
    to_json(&record_doc(r))
}

fn record_line(r: &MountRecord) -> String {
    let what = match &r.checkpoint {
        Some(c) => format!("{}@{c}", r.vault),
        None => r.vault.clone(),
    };
    let mode = if r.readonly { "ro" } else { "rw" };
    format!("{}  {what}  {mode}  pid {}", r.mountpoint.display(), r.pid)
}

/// `avfs mount [VAULT] DIR [--readonly] [--checkpoint NAME] [--foreground] [--allow-other]`
pub fn mount(ctx: &mut Ctx, args: MountArgs) -> CliResult<Output> {
    let (vault, dir) = match args.args.as_slice() {
        [dir] => (ctx.vault()?, PathBuf::from(dir)),
        [vault, dir] => (vault.to_string_lossy().into_owned(), PathBuf::from(dir)),
        _ => return Err(CliError::invalid_argument("expected [VAULT] DIR")),
    };
    ctx.store()?.vault_info(&vault)?;
    if let Some(cp) = &args.checkpoint {
        ctx.store()?.checkpoint(&vault, cp)?;
    }
    let mountpoint = preflight(&dir)?;
    let request = MountRequest {
        store_dir: ctx.store_dir()?,
        owner: ctx.owner(),
        target: MountTarget {
            vault,
            checkpoint: args.checkpoint.clone(),
            readonly: args.readonly,
        },
        mountpoint,
        allow_other: args.allow_other,
    };
    if args.foreground {
        let json = ctx.json;
        serve(&request, |record| {
            let mut out = std::io::stdout().lock();
            let _ = if json {
                writeln!(out, "{}", record_json(record))
            } else {
                writeln!(
                    out,
                    "mounted {}; unmount with `avfs unmount` or Ctrl-C",
                    record_line(record)
                )
            };
            let _ = out.flush();
        })?;
        return Ok(Output::Streamed);
    }
    let record = spawn_server(&request, &args)?;
    Ok(Output::doc(
        record_json(&record),
        format!("mounted {}", record_line(&record)),
    ))
}

/// Starts the serving process and waits for its one-line report.
pub(super) fn spawn_server(request: &MountRequest, args: &MountArgs) -> CliResult<MountRecord> {
    let registry = Registry::new(&request.store_dir);
    registry
        .ensure()
        .map_err(|e| CliError::host_io(&request.store_dir, e))?;
    let log_path = registry.log_path(&request.mountpoint);
    let log = std::fs::File::create(&log_path).map_err(|e| CliError::host_io(&log_path, e))?;
    let exe =
        std::env::current_exe().map_err(|e| CliError::host_io(std::path::Path::new("avfs"), e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--json")
        .arg("mount")
        .arg(&request.target.vault)
        .arg(&request.mountpoint)
        .arg("--foreground")
        .env(super::env::AVFS_HOME, &request.store_dir)
        // Hold no directory busy but the mount point itself.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    if args.readonly {
        cmd.arg("--readonly");
    }
    if args.allow_other {
        cmd.arg("--allow-other");
    }
    if let Some(cp) = &args.checkpoint {
        cmd.arg("--checkpoint").arg(cp);
    }
    // SAFETY: setsid is async-signal-safe; the server must outlive this
    // process and not get the terminal's Ctrl-C.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|e| CliError::from(MountError::Io(e)))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            return Err(MountError::Daemon(format!(
                "no answer within {}s; see {}",
                READY_TIMEOUT.as_secs(),
                log_path.display()
            ))
            .into());
        }
    };
    let doc: Value = match serde_json::from_str(line.trim()) {
        Ok(doc) => doc,
        Err(_) => {
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = log
                .lines()
                .last()
                .unwrap_or("it exited without a word")
                .to_string();
            return Err(MountError::Daemon(last).into());
        }
    };
    if let Some(err) = doc.get("error") {
        let _ = child.wait();
        let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_string);
        return Err(CliError::relayed(
            text("code").unwrap_or_else(|| "mount_failed".into()),
            text("message").unwrap_or_default(),
            text("hint"),
            err.get("exit_status").and_then(Value::as_u64).unwrap_or(1) as u8,
        ));
    }
    registry.find(&request.mountpoint).ok_or_else(|| {
        MountError::Daemon("the mount reported ready but left no record".into()).into()
    })
}

/// `avfs unmount DIR [--lazy]`
pub fn unmount(ctx: &mut Ctx, args: UnmountArgs) -> CliResult<Output> {
    let registry = Registry::new(&ctx.store_dir()?);
    let mountpoint = std::path::absolute(&args.dir).map_err(|e| CliError::host_io(&args.dir, e))?;
    // Resolve symlinks where possible (a dead mount point cannot be resolved).
    let mountpoint = std::fs::canonicalize(&mountpoint).unwrap_or(mountpoint);
    let record = registry.find(&mountpoint);
    if !is_fuse_mounted(&mountpoint) {
        registry.remove(&mountpoint);
        return Err(MountError::NotMounted(mountpoint).into());
    }
    detach(&mountpoint, args.lazy)?;
    // The server commits what is unsaved and journals the session on its way out.
    if let Some(record) = &record
        && !args.lazy
        && !Registry::wait_for_exit(record, EXIT_TIMEOUT)
    {
        return Err(CliError::new(
            "mount_failed",
            ExitStatus::Storage,
            format!(
                "unmounted, but the serving process {} did not exit",
                record.pid
            ),
        ));
    }
    let vault = record.as_ref().map(|r| r.vault.clone());
    Ok(Output::doc(
        to_json(&UnmountDoc {
            unmounted: mountpoint.to_string_lossy().into_owned(),
            vault,
            lazy: args.lazy,
        }),
        format!("unmounted {}", mountpoint.display()),
    ))
}

/// `avfs mounts`
pub fn mounts(ctx: &mut Ctx) -> CliResult<Output> {
    let registry = Registry::new(&ctx.store_dir()?);
    // Every command sweeps dead mounts first: report those too.
    let mut cleaned = ctx.take_swept();
    cleaned.extend(registry.sweep(true));
    let live: Vec<MountRecord> = registry
        .records()
        .into_iter()
        .filter(Registry::is_live)
        .collect();
    let mut text: Vec<String> = live.iter().map(record_line).collect();
    if live.is_empty() {
        text.push("no live mounts".into());
    }
    text.extend(
        cleaned
            .iter()
            .map(|p| format!("cleaned up dead mount {}", p.display())),
    );
    let cleaned: Vec<_> = cleaned
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    Ok(Output::doc(
        to_json(&MountsDoc {
            mounts: live.iter().map(record_doc).collect(),
            cleaned,
        }),
        text.join("\n"),
    ))
}
