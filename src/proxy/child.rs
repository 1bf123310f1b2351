//! Running the command: its own process group, a given environment and
//! directory, bounded output, a timeout with a grace period, and nothing of
//! its process tree left behind, however it ends.
//!
//! avfs makes itself a child subreaper, so every process the command starts
//! stays a descendant of avfs even after its parent dies or it leaves the
//! process group: "the run's processes" are simply "avfs's descendants",
//! less the children avfs already had before the run (a mount server that
//! `--keep-mount` started must outlive it).

use super::output::{CapturedOutput, OutputReader};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

/// How often a waiting run looks at its deadline and for stop signals.
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for output pipes to close once the process tree is gone.
const PIPE_DRAIN: Duration = Duration::from_secs(2);
/// How long SIGKILLed processes may take to go: only one stuck in the kernel
/// (uninterruptible I/O on some other file system) takes longer, and the run
/// must still end and report.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// What to run and under which limits.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Program and arguments.
    pub argv: Vec<OsString>,
    /// Host directory to run in.
    pub cwd: PathBuf,
    /// The whole environment (nothing else is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Stop the run after this long.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
    /// Bytes kept per output stream.
    pub output_limit: u64,
    /// The private mount namespace to run in (it sets the directory too), if any.
    pub namespace: Option<super::namespace::Namespace>,
}

/// The program could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError {
    /// Why, for people.
    pub message: String,
    /// The status a shell would give: 127 not found, 126 not executable.
    pub status: i32,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct ChildOutcome {
    /// The exit status, if the program exited by itself.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// It ran past its timeout and was stopped.
    pub timed_out: bool,
    /// avfs got this stop signal during the run and stopped it.
    pub interrupted: Option<Signal>,
    /// It never started.
    pub exec_error: Option<ExecError>,
    /// From start to the end of the last process.
    pub duration: Duration,
    /// Standard output, bounded.
    pub stdout: CapturedOutput,
    /// Standard error, bounded.
    pub stderr: CapturedOutput,
}

/// Makes this process the reaper of its orphaned descendants (see the module doc).
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

/// Runs `spec` to its end. `stop` delivers signals asking avfs to stop, which
/// end the run the way a timeout does.
pub fn run(spec: &ChildSpec, stop: &Receiver<Signal>) -> ChildOutcome {
    let spared = Spared(descendants(&Spared::default()));
    let started = Instant::now();
    let mut command = Command::new(&spec.argv[0]);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let namespace = spec.namespace.clone();
    // SAFETY: sigprocmask, prctl, unshare, mount and chdir are async-signal-safe
    // system calls; the namespace's paths were made C strings before the fork,
    // so nothing allocates.
    unsafe {
        command.pre_exec(move || {
            // avfs blocks its stop signals (see `signals`); the command must not
            // inherit that, or SIGTERM could never stop it.
            nix::sys::signal::SigSet::empty()
                .thread_set_mask()
                .map_err(std::io::Error::from)?;
            // If avfs is killed outright, its direct child goes with it.
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            match &namespace {
                Some(ns) => ns.enter().map_err(std::io::Error::from),
                None => Ok(()),
            }
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let program = spec.argv[0].to_string_lossy();
            let (message, status) = match e.kind() {
                std::io::ErrorKind::NotFound => (format!("program not found: {program}"), 127),
                std::io::ErrorKind::PermissionDenied => {
                    (format!("program not executable: {program}"), 126)
                }
                _ => (format!("cannot start {program}: {e}"), 126),
            };
            return ChildOutcome {
                exit_code: None,
                signal: None,
                timed_out: false,
                interrupted: None,
                exec_error: Some(ExecError { message, status }),
                duration: started.elapsed(),
                stdout: CapturedOutput::default(),
                stderr: CapturedOutput::default(),
            };
        }
    };
    let stdout = OutputReader::spawn(child.stdout.take().expect("piped"), spec.output_limit);
    let stderr = OutputReader::spawn(child.stderr.take().expect("piped"), spec.output_limit);

    let deadline = spec.timeout.map(|t| started + t);
    let mut timed_out = false;
    let mut interrupted = None;
    let status = loop {
        let slice = deadline.map_or(POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(POLL)
        });
        match child.wait_timeout(slice) {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if let Ok(signal) = stop.try_recv() {
            interrupted = Some(signal);
            break stop_tree(&mut child, spec.grace, &spared);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            break stop_tree(&mut child, spec.grace, &spared);
        }
    };
    // The program is gone; whatever it left running goes too.
    stop_tree(&mut child, spec.grace, &spared);
    let duration = started.elapsed();
    let (exit_code, signal) = match status {
        Some(s) => (s.code(), s.signal()),
        None => (None, None),
    };
    ChildOutcome {
        exit_code,
        signal,
        timed_out,
        interrupted,
        exec_error: None,
        duration,
        stdout: stdout.finish(PIPE_DRAIN).unwrap_or_default(),
        stderr: stderr.finish(PIPE_DRAIN).unwrap_or_default(),
    }
}

/// Ends the run's whole process tree: SIGTERM, then SIGKILL for what is left
/// after `grace` (giving up on what is still there [`KILL_WAIT`] later).
/// Returns the main child's status (if this reaped it).
fn stop_tree(child: &mut Child, grace: Duration, spared: &Spared) -> Option<ExitStatus> {
    let main = Pid::from_raw(child.id() as i32);
    let mut status = child.try_wait().ok().flatten();
    let kill_at = Instant::now() + grace;
    let mut signal = Signal::SIGTERM;
    let mut signalled: Vec<Pid> = Vec::new();
    loop {
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        let alive: Vec<Pid> = descendants(spared)
            .into_iter()
            .filter(|p| {
                // Reap what is already dead (zombies reparented to us included).
                *p == main || !reap(*p)
            })
            .filter(|p| *p != main || status.is_none())
            .collect();
        if alive.is_empty() || Instant::now() >= kill_at + KILL_WAIT {
            return status;
        }
        if signal == Signal::SIGTERM && Instant::now() >= kill_at {
            signal = Signal::SIGKILL;
            signalled.clear();
        }
        // Only while the main child is unreaped: its pid (the group's id)
        // cannot have been reused by another process until then.
        if status.is_none() {
            let _ = killpg(main, signal);
        }
        for pid in &alive {
            if !signalled.contains(pid) {
                let _ = kill(*pid, signal);
                signalled.push(*pid);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reaps `pid` if it is a dead child of ours; true when it is gone.
fn reap(pid: Pid) -> bool {
    matches!(
        waitpid(pid, Some(WaitPidFlag::WNOHANG)),
        Ok(nix::sys::wait::WaitStatus::Exited(..)) | Ok(nix::sys::wait::WaitStatus::Signaled(..))
    ) || is_zombie_elsewhere(pid)
}

/// True for a zombie whose parent is not us: it waits on its parent, who is
/// being stopped too, and is gone (or ours to reap) once that one dies.
fn is_zombie_elsewhere(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .is_some_and(|(state, ppid)| state == 'Z' && ppid != std::process::id() as i32)
}

/// The state letter and parent pid from a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Processes that are not the run's: they and their subtrees are left alone.
#[derive(Default)]
struct Spared(Vec<Pid>);

/// Every live process descended from this one, except `spared` subtrees.
fn descendants(spared: &Spared) -> Vec<Pid> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent_of = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some((_, ppid)) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![me];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !spared.0.contains(&Pid::from_raw(*pid)))
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.into_iter().skip(1).map(Pid::from_raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        assert_eq!(parse_stat("42 (sleep) S 7 42 42 0 -1"), Some(('S', 7)));
        assert_eq!(parse_stat("43 (we ird) (x)) Z 1 43 43 0"), Some(('Z', 1)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
