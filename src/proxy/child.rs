//! Running the command: its own process group, a given environment and
//! directory, bounded output, a timeout with a grace period, and nothing of
//! its process tree left behind, however it ends.
//!
//! avfs makes itself a child subreaper, so every process the command starts
//! stays a descendant of avfs even after its parent dies or it leaves the
//! process group: "the run's processes" are simply "avfs's descendants",
//! less the children avfs already had before the run (a mount server that
//! `--keep-mount` started must outlive it).

use super::handoff::{Channel, Report, Start};
use super::init;
use super::namespace::Plan;
use super::output::{CapturedOutput, OutputReader};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
/// How long a run's init may take to report and leave once SIGKILL went to
/// the rest of its namespace.
const INIT_WAIT: Duration = Duration::from_secs(2);

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
    /// The run's own namespaces (they set the directory too), if any.
    pub namespace: Option<super::namespace::Plan>,
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

/// The run's namespaces could not be built, or its vault not served there;
/// the command never ran (and nothing of the run is left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupFailed(pub String);

/// How the command ended, as far as avfs learnt: exit code and signal.
type Ended = (Option<i32>, Option<i32>);

/// Runs `spec` to its end. `stop` delivers signals asking avfs to stop, which
/// end the run the way a timeout does. With a namespace, the command runs
/// below the run's init ([`super::init`]), and `on_mounted` gets the /dev/fuse
/// descriptor of a vault the init mounted there, to serve it.
pub fn run(
    spec: &ChildSpec,
    stop: &Receiver<Signal>,
    on_mounted: &mut dyn FnMut(OwnedFd) -> Result<(), String>,
) -> Result<ChildOutcome, SetupFailed> {
    let mut spared = Spared(
        descendants(&Spared::default())
            .into_iter()
            .map(|(pid, _)| pid)
            .collect(),
    );
    let started = Instant::now();
    let (mut main, channel, stdout, stderr) = match &spec.namespace {
        None => match spawn_command(spec) {
            Ok(mut child) => {
                let stdout = Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>;
                let stderr = Box::new(child.stderr.take().expect("piped")) as Box<dyn Read + Send>;
                (Main::Command(child), None, stdout, stderr)
            }
            Err(e) => return Ok(not_started(e, started)),
        },
        Some(plan) => {
            let init::Init {
                pid,
                channel,
                is_pid1,
            } = init::start()
                .map_err(|e| SetupFailed(format!("cannot start the run's init: {e}")))?;
            // A standby init was already a child when the run began: it is
            // the run's now.
            spared.0.retain(|p| *p != pid);
            let mut main = Main::init(pid, is_pid1);
            match start_init(&channel, plan, spec) {
                Ok((stdout, stderr)) => (main, Some(channel), stdout, stderr),
                Err(e) => {
                    stop_tree(&mut main, Duration::ZERO, &spared, false);
                    return Err(SetupFailed(format!("cannot reach the run's init: {e}")));
                }
            }
        }
    };
    let stdout = OutputReader::spawn(stdout, spec.output_limit);
    let stderr = OutputReader::spawn(stderr, spec.output_limit);

    let deadline = spec.timeout.map(|t| started + t);
    let mut timed_out = false;
    let mut interrupted = None;
    let ended = loop {
        let slice = deadline.map_or(POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(POLL)
        });
        let step = match &channel {
            None => match main.wait_timeout(slice) {
                Waited::Ended(ended) => Step::Ended(Some(ended)),
                Waited::Running => Step::Running,
                Waited::Lost => Step::Ended(None),
            },
            Some(channel) => init_step(channel, &mut main, slice, on_mounted),
        };
        match step {
            Step::Running => {}
            Step::Ended(ended) => break ended,
            Step::NotStarted(e) => {
                stop_tree(&mut main, spec.grace, &spared, channel.is_some());
                return Ok(not_started(e, started));
            }
            Step::Failed(e) => {
                stop_tree(&mut main, Duration::ZERO, &spared, false);
                return Err(e);
            }
        }
        if let Ok(signal) = stop.try_recv() {
            interrupted = Some(signal);
        } else if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
        } else {
            continue;
        }
        let last = stop_tree(&mut main, spec.grace, &spared, channel.is_some());
        // The init's own status is not the command's.
        break if channel.is_some() { None } else { last };
    };
    // The program is gone; whatever it left running goes too.
    let last = stop_tree(&mut main, spec.grace, &spared, channel.is_some());
    let (exit_code, signal) = match &channel {
        // The init reported the command's end (unless it was killed first).
        Some(channel) => ended.or_else(|| reported_end(channel)),
        None => ended.or(last),
    }
    .unwrap_or((None, None));
    let duration = started.elapsed();
    Ok(ChildOutcome {
        exit_code,
        signal,
        timed_out,
        interrupted,
        exec_error: None,
        duration,
        stdout: stdout.finish(PIPE_DRAIN).unwrap_or_default(),
        stderr: stderr.finish(PIPE_DRAIN).unwrap_or_default(),
    })
}

/// Starts the command itself (a run without namespaces), in its own process
/// group, dying with avfs.
fn spawn_command(spec: &ChildSpec) -> Result<Child, ExecError> {
    let mut command = Command::new(&spec.argv[0]);
    command
        .args(&spec.argv[1..])
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let avfs = nix::unistd::getpid();
    // SAFETY: sigprocmask, prctl and getppid are async-signal-safe system
    // calls; nothing here allocates.
    unsafe {
        command.pre_exec(move || {
            // avfs blocks its stop signals (see `signals`); the command must not
            // inherit that, or SIGTERM could never stop it.
            nix::sys::signal::SigSet::empty()
                .thread_set_mask()
                .map_err(std::io::Error::from)?;
            // If avfs is killed outright, its direct child goes with it.
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != avfs {
                return Err(std::io::Error::other("avfs died before the run started"));
            }
            Ok(())
        });
    }
    command.spawn().map_err(|e| {
        let program = spec.argv[0].to_string_lossy();
        let (message, status) = match e.kind() {
            std::io::ErrorKind::NotFound => (format!("program not found: {program}"), 127),
            std::io::ErrorKind::PermissionDenied => {
                (format!("program not executable: {program}"), 126)
            }
            _ => (format!("cannot start {program}: {e}"), 126),
        };
        ExecError { message, status }
    })
}

/// Output pipes read by avfs.
type Pipes = (Box<dyn Read + Send>, Box<dyn Read + Send>);

/// Sends the run's init its [`Start`] with the write ends of the command's
/// output pipes; returns the read ends.
fn start_init(channel: &Channel, plan: &Plan, spec: &ChildSpec) -> std::io::Result<Pipes> {
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let bytes = |s: &OsString| s.as_bytes().to_vec();
    let start = Start {
        plan: plan.clone(),
        argv: spec.argv.iter().map(bytes).collect(),
        env: spec.env.iter().map(|(k, v)| (bytes(k), bytes(v))).collect(),
    };
    channel.send_start(&start, out_w.as_fd(), err_w.as_fd())?;
    // Only the init holds the write ends now: the pipes end with the run.
    drop((out_w, err_w));
    Ok((
        Box::new(std::fs::File::from(out_r)),
        Box::new(std::fs::File::from(err_r)),
    ))
}

/// The process avfs started for a run, and reaps.
enum Main {
    /// The command itself.
    Command(Child),
    /// The run's init ([`init`]), which reports the command's end.
    Init(InitProcess),
}

/// A run's init as avfs waits for it: by pid, since avfs forked it
/// ([`init::fork_standby`]) or spawned it without keeping the handle.
struct InitProcess {
    pid: Pid,
    /// Readable once the init ends, where the kernel has pidfds.
    pidfd: Option<OwnedFd>,
    /// It is PID 1 itself (else PID 1 is its child).
    is_pid1: bool,
}

/// What one wait for [`Main`] found.
enum Waited {
    Running,
    Ended(Ended),
    /// It cannot be waited for (reaped elsewhere).
    Lost,
}

impl Waited {
    /// What a wait for a [`Child`] found.
    fn of_child(waited: std::io::Result<Option<std::process::ExitStatus>>) -> Waited {
        match waited {
            Ok(Some(status)) => Waited::Ended((status.code(), status.signal())),
            Ok(None) => Waited::Running,
            Err(_) => Waited::Lost,
        }
    }
}

impl Main {
    fn init(pid: Pid, is_pid1: bool) -> Main {
        Main::Init(InitProcess {
            pid,
            pidfd: pidfd_open(pid),
            is_pid1,
        })
    }

    /// Whether `pid` (a child of `parent`) is part of the run's init: the
    /// process avfs started, and PID 1 when that is its child.
    fn is_init(&self, pid: Pid, parent: Pid) -> bool {
        match self {
            Main::Command(_) => false,
            Main::Init(init) => pid == init.pid || (!init.is_pid1 && parent == init.pid),
        }
    }

    fn pid(&self) -> Pid {
        match self {
            Main::Command(child) => Pid::from_raw(child.id() as i32),
            Main::Init(init) => init.pid,
        }
    }

    /// Reaps it if it has ended.
    fn try_wait(&mut self) -> Waited {
        match self {
            Main::Command(child) => Waited::of_child(child.try_wait()),
            Main::Init(init) => init.try_wait(),
        }
    }

    /// Waits up to `limit` for it to end, and reaps it.
    fn wait_timeout(&mut self, limit: Duration) -> Waited {
        match self {
            Main::Command(child) => Waited::of_child(child.wait_timeout(limit)),
            Main::Init(init) => init.wait_timeout(limit),
        }
    }
}

impl InitProcess {
    fn try_wait(&self) -> Waited {
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Waited::Ended((Some(code), None)),
            Ok(WaitStatus::Signaled(_, signal, _)) => Waited::Ended((None, Some(signal as i32))),
            Ok(_) | Err(nix::errno::Errno::EINTR) => Waited::Running,
            Err(_) => Waited::Lost,
        }
    }

    fn wait_timeout(&self, limit: Duration) -> Waited {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match &self.pidfd {
                Some(fd) => {
                    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                    let _ = poll(
                        &mut fds,
                        PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
                    );
                }
                None => std::thread::sleep(left.min(Duration::from_millis(1))),
            }
            match self.try_wait() {
                Waited::Running if Instant::now() < deadline => {}
                waited => return waited,
            }
        }
    }
}

/// A descriptor that becomes readable once `pid` ends (Linux 5.3 and later).
fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor,
    // which is ours alone.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The outcome of a command that never started.
fn not_started(e: ExecError, started: Instant) -> ChildOutcome {
    ChildOutcome {
        exit_code: None,
        signal: None,
        timed_out: false,
        interrupted: None,
        exec_error: Some(e),
        duration: started.elapsed(),
        stdout: CapturedOutput::default(),
        stderr: CapturedOutput::default(),
    }
}

/// Where a run stands after one wait.
enum Step {
    Running,
    /// The command ended (with its status, when known).
    Ended(Option<Ended>),
    NotStarted(ExecError),
    Failed(SetupFailed),
}

/// Waits up to `slice` for the run's init to report; serves a mount it hands over.
fn init_step(
    channel: &Channel,
    init: &mut Main,
    slice: Duration,
    on_mounted: &mut dyn FnMut(OwnedFd) -> Result<(), String>,
) -> Step {
    if !channel.readable(slice) {
        return match init.try_wait() {
            // Gone without a word (killed from outside).
            Waited::Ended(_) | Waited::Lost if !channel.readable(Duration::ZERO) => {
                Step::Ended(None)
            }
            _ => Step::Running,
        };
    }
    match channel.recv::<Report>() {
        Ok(Some((Report::Mounted, Some(fd)))) => match on_mounted(fd) {
            Ok(()) => Step::Running,
            Err(e) => Step::Failed(SetupFailed(format!("cannot serve the vault: {e}"))),
        },
        Ok(Some((Report::Mounted, None))) => {
            Step::Failed(SetupFailed("the run's init sent no mount".into()))
        }
        Ok(Some((Report::SetupFailed(why), _))) => Step::Failed(SetupFailed(why)),
        Ok(Some((Report::SpawnFailed { not_found, message }, _))) => Step::NotStarted(ExecError {
            message,
            status: if not_found { 127 } else { 126 },
        }),
        Ok(Some((Report::Exited { code, signal }, _))) => Step::Ended(Some((code, signal))),
        Ok(None) | Err(_) => Step::Ended(None),
    }
}

/// The command's end, if the init reported it (the run is over: no wait).
fn reported_end(channel: &Channel) -> Option<Ended> {
    while channel.readable(Duration::ZERO) {
        match channel.recv::<Report>() {
            Ok(Some((Report::Exited { code, signal }, _))) => return Some((code, signal)),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
    None
}

/// Ends the run's whole process tree: SIGTERM, then SIGKILL for what is left
/// after `grace` (giving up on what is still there [`KILL_WAIT`] later).
/// Returns the main child's status (if this reaped it).
///
/// A run's init (the main child, and PID 1 below it unless the main child is
/// PID 1 itself) is left to end by itself once the rest is gone, so that it
/// can report how the command ended; only if it has not [`INIT_WAIT`] after
/// SIGKILL went out is it killed too (taking what is left of its namespace
/// with it).
fn stop_tree(child: &mut Main, grace: Duration, spared: &Spared, init: bool) -> Option<Ended> {
    let main = child.pid();
    let reaped = |waited: Waited| match waited {
        Waited::Ended(ended) => Some(Some(ended)),
        Waited::Lost => Some(None),
        Waited::Running => None,
    };
    let mut status = reaped(child.try_wait());
    let kill_at = Instant::now() + grace;
    let mut signal = Signal::SIGTERM;
    let mut signalled: Vec<Pid> = Vec::new();
    loop {
        if status.is_none() {
            status = reaped(child.try_wait());
        }
        let alive: Vec<(Pid, Pid)> = descendants(spared)
            .into_iter()
            .filter(|(p, _)| {
                // Reap what is already dead (zombies reparented to us included).
                *p == main || !reap(*p)
            })
            .filter(|(p, _)| *p != main || status.is_none())
            .collect();
        if alive.is_empty() || Instant::now() >= kill_at + KILL_WAIT {
            return status.flatten();
        }
        let only_init = alive.iter().all(|(p, parent)| child.is_init(*p, *parent));
        if init && only_init && status.is_none() {
            // The rest is gone: the init leaves by itself once it has reaped
            // (waited for here rather than polled, which costs a /proc scan).
            if let Some(s) = reaped(child.wait_timeout(INIT_WAIT)) {
                status = Some(s);
                continue;
            }
        }
        if signal == Signal::SIGTERM && Instant::now() >= kill_at {
            signal = Signal::SIGKILL;
            signalled.clear();
        }
        let spare_init =
            init && !(signal == Signal::SIGKILL && Instant::now() >= kill_at + INIT_WAIT);
        // Only while the main child is unreaped: its pid (the group's id)
        // cannot have been reused by another process until then.
        if status.is_none() && !spare_init {
            let _ = killpg(main, signal);
        }
        for (pid, parent) in &alive {
            if spare_init && child.is_init(*pid, *parent) {
                continue;
            }
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

/// The fields of a `/proc/PID/stat` line from the third (the state) on.
pub(super) fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    // The command name is in parentheses and may itself contain spaces or ')'.
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// The state letter and parent pid from a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let mut fields = stat_fields(stat)?;
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Processes that are not the run's: they and their subtrees are left alone.
#[derive(Default)]
struct Spared(Vec<Pid>);

/// Every live process descended from this one, except `spared` subtrees,
/// with its parent.
fn descendants(spared: &Spared) -> Vec<(Pid, Pid)> {
    if !child_lists_available() {
        return descendants_by_scan(spared);
    }
    // Down the kernel's child lists from here: the cost is the run's own
    // process tree, not every process on the machine (a scan of /proc took
    // about a millisecond per run on a quiet host, twice per run).
    let mut found: Vec<(Pid, Pid)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut queue = vec![Pid::this()];
    while let Some(parent) = queue.pop() {
        for child in children_of(parent) {
            if spared.0.contains(&child) || !seen.insert(child) {
                continue;
            }
            found.push((child, parent));
            queue.push(child);
        }
    }
    found
}

/// Whether the kernel lists each thread's children (`CONFIG_PROC_CHILDREN`).
fn child_lists_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let tid = nix::unistd::gettid();
        std::path::Path::new(&format!("/proc/self/task/{tid}/children")).exists()
    })
}

/// The children of `pid`, whichever of its threads started (or adopted) them.
fn children_of(pid: Pid) -> Vec<Pid> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            children.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw),
            );
        }
    }
    children
}

/// [`descendants`] where the kernel keeps no child lists: from every
/// process's parent in `/proc/PID/stat`.
fn descendants_by_scan(spared: &Spared) -> Vec<(Pid, Pid)> {
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
    let mut found = vec![(me, 0)];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].0;
        found.extend(
            parent_of
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !spared.0.contains(&Pid::from_raw(*pid)))
                .copied(),
        );
        i += 1;
    }
    found
        .into_iter()
        .skip(1)
        .map(|(pid, ppid)| (Pid::from_raw(pid), Pid::from_raw(ppid)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_lists_and_the_scan_of_proc_find_the_same_tree() {
        assert!(child_lists_available(), "this kernel lists children");
        // A child with a grandchild of its own; the spared one is left out
        // with everything below it.
        let mut tree = Command::new("sh")
            .args(["-c", "sleep 30 & echo started; wait"])
            .process_group(0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut spared_child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(tree.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let spared = Spared(vec![Pid::from_raw(spared_child.id() as i32)]);
        let sorted = |mut v: Vec<(Pid, Pid)>| {
            v.sort();
            v
        };
        // The spared shell may not have started its sleep yet: wait until both
        // ways see the same, stable tree.
        let deadline = Instant::now() + Duration::from_secs(10);
        let (walked, scanned) = loop {
            let (walked, scanned) = (
                sorted(descendants(&spared)),
                sorted(descendants_by_scan(&spared)),
            );
            if walked == scanned || Instant::now() > deadline {
                break (walked, scanned);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for child in [&mut tree, &mut spared_child] {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        }
        let me = Pid::this();
        let shell = Pid::from_raw(tree.id() as i32);
        let _ = (
            tree.kill(),
            spared_child.kill(),
            tree.wait(),
            spared_child.wait(),
        );
        assert_eq!(walked, scanned);
        assert!(walked.contains(&(shell, me)), "{walked:?}");
        assert!(
            walked.iter().any(|(_, parent)| *parent == shell),
            "the grandchild: {walked:?}"
        );
        assert!(
            walked
                .iter()
                .all(|(p, parent)| p.as_raw() != spared_child.id() as i32
                    && parent.as_raw() != spared_child.id() as i32),
            "nothing of the spared subtree: {walked:?}"
        );
    }

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        assert_eq!(parse_stat("42 (sleep) S 7 42 42 0 -1"), Some(('S', 7)));
        assert_eq!(parse_stat("43 (we ird) (x)) Z 1 43 43 0"), Some(('Z', 1)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
