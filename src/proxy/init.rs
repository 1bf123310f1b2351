//! The run's init: puts a run in its own PID namespace (and user namespace,
//! when not root), and the command below it.
//!
//! Two processes, because a process cannot enter a PID namespace itself, only
//! its children can: the first (a child of avfs, dying with it by
//! `PR_SET_PDEATHSIG`) unshares and forks the second, which is PID 1 of the
//! new namespace and dies with the first the same way. PID 1 builds the
//! mount namespace ([`super::namespace::Plan::build`]), starts the command,
//! reports its status and reaps until nothing is left. When PID 1 dies the
//! kernel kills every process in the namespace: SIGKILL of avfs at any point
//! takes the whole run, and its mount, with it.
//!
//! As root, `avfs proxy exec` spares the first process: it makes the PID
//! namespace for its own next child (`unshare`, then back with `setns` once
//! it has forked, since the kernel makes no thread meanwhile), so the init it
//! forks is PID 1 itself, and a run costs one process, one fork and one exit
//! fewer. Without root the user namespace has to come first, and a process
//! cannot leave one it made, so the first process stays.
//!
//! The first process comes one of two ways. `avfs proxy exec` forks it as it
//! starts, while avfs is still small and has no other thread ([`fork_standby`]):
//! it waits there for its [`Start`] while avfs opens the store, and costs a
//! fork instead of executing the 25 MB binary again (about 2 ms of a run's
//! 10 on the machine BENCHMARKS.md measures). A process that runs commands
//! once it has threads (`avfs mcp`) cannot fork safely, so it starts avfs
//! again under the name [`ARG0`] ([`start`]). Both then serve the same
//! [`Channel`] the same way.

use super::handoff::{Channel, Report, Start};
use super::namespace::{SetupError, map_ids};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The name avfs runs itself under as a run's init.
pub const ARG0: &str = "avfs-run-init";

/// A run's init, started and waiting for its [`Start`].
#[derive(Debug)]
pub struct Init {
    /// The first process (a child of this one, and its process group's leader).
    pub pid: Pid,
    /// avfs's end of the line to it.
    pub channel: Channel,
    /// The first process is PID 1 of the run's namespace itself (else PID 1
    /// is its child).
    pub is_pid1: bool,
}

/// The init [`fork_standby`] made, until a run takes it.
static STANDBY: Mutex<Option<Init>> = Mutex::new(None);

/// Forks a run's init for this process's next run to take ([`start`]). Only
/// while the process has no other thread: the child goes on with a copy of
/// memory that no other thread may have left half-changed. Does nothing when
/// it cannot fork (the run then starts its init the slower way).
pub fn fork_standby() {
    if !single_threaded() {
        return;
    }
    let Ok((ours, theirs)) = Channel::pair() else {
        return;
    };
    let avfs = nix::unistd::getpid();
    // As root, the fork lands in the run's PID namespace as its PID 1: one
    // process, and one fork, fewer than making the namespace in between.
    let namespace = PidNamespaceForChildren::enter();
    let is_pid1 = namespace.is_some();
    // SAFETY: this process has a single thread (checked above), so the
    // child may do anything after the fork.
    let forked = unsafe { fork() };
    if let (Ok(ForkResult::Parent { .. }) | Err(_), Some(namespace)) = (&forked, namespace)
        && namespace.leave().is_err()
    {
        // This process could make no thread from here on: better to stop now.
        std::process::abort();
    }
    match forked {
        Ok(ForkResult::Parent { child }) => {
            // Both sides set the group, so that it is set before either goes
            // on: a terminal's Ctrl-C must not reach the init.
            let _ = nix::unistd::setpgid(child, child);
            drop(theirs);
            *STANDBY.lock().unwrap_or_else(|e| e.into_inner()) = Some(Init {
                pid: child,
                channel: ours,
                is_pid1,
            });
        }
        Ok(ForkResult::Child) => {
            drop(ours);
            let status = standby(Channel::from(theirs), avfs, is_pid1);
            // avfs printed nothing before the fork: exiting flushes nothing of
            // its output a second time.
            std::process::exit(i32::from(status));
        }
        Err(_) => {}
    }
}

/// The PID namespace this process's children are made in, a new one until
/// [`PidNamespaceForChildren::leave`].
struct PidNamespaceForChildren {
    /// The namespace this process is in.
    own: std::fs::File,
}

impl PidNamespaceForChildren {
    /// Makes a new PID namespace for this process's next children, where
    /// a run needs no user namespace first (as root).
    fn enter() -> Option<Self> {
        if super::namespace::id_map().is_some() {
            return None;
        }
        let own = std::fs::File::open("/proc/self/ns/pid").ok()?;
        unshare(CloneFlags::CLONE_NEWPID).ok()?;
        Some(Self { own })
    }

    /// Makes children (and threads, which the kernel refuses meanwhile) in
    /// this process's own namespace again.
    fn leave(self) -> nix::Result<()> {
        nix::sched::setns(self.own, CloneFlags::CLONE_NEWPID)
    }
}

/// The first process, forked by [`fork_standby`] (as PID 1 of the run's
/// namespace when `is_pid1`): leaves avfs's process group and standard
/// streams, then serves.
fn standby(channel: Channel, avfs: Pid, is_pid1: bool) -> u8 {
    forget_environment();
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        return 125;
    }
    // PID 1 sees no parent (avfs is outside its namespace): avfs is alive
    // while its end of the line is open.
    let avfs_alive = if is_pid1 {
        !channel.hung_up()
    } else {
        nix::unistd::getppid() == avfs
    };
    if !avfs_alive {
        return 125;
    }
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let _ = nix::sys::prctl::set_name(c"avfs-run-init");
    // avfs's own output is its JSON document: nothing of the run may hold
    // it open, or write to it.
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        Ok(null) => {
            use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout};
            if dup2_stdin(&null).is_err()
                || dup2_stdout(&null).is_err()
                || dup2_stderr(&null).is_err()
            {
                return 125;
            }
        }
        Err(_) => return 125,
    }
    serve(&channel, is_pid1)
}

/// The init [`fork_standby`] left for this run, else avfs started again
/// as [`ARG0`].
pub fn start() -> std::io::Result<Init> {
    if let Some(init) = STANDBY.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Ok(init);
    }
    let (ours, theirs) = Channel::pair()?;
    // Without a pre-exec hook the standard library spawns with posix_spawn,
    // which does not copy avfs's page tables as a fork does: the init asks to
    // die with avfs itself ([`run_if_init`]).
    let child = Command::new("/proc/self/exe")
        .arg0(ARG0)
        .env_clear()
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    // Reaped by pid ([`super::child`]): the handle's drop neither waits nor kills.
    Ok(Init {
        pid: Pid::from_raw(child.id() as i32),
        channel: ours,
        is_pid1: false,
    })
}

/// Runs the init when this process was started as one; returns its exit status.
pub fn run_if_init() -> Option<u8> {
    if std::env::args_os().next().as_deref() != Some(OsStr::new(ARG0)) {
        return None;
    }
    let Ok(channel) = Channel::from_stdin() else {
        return Some(125);
    };
    // Asks to die with avfs, then checks that avfs did not die first.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
        || channel.peer_pid().ok() != Some(nix::unistd::getppid().as_raw())
    {
        return Some(125);
    }
    Some(serve(&channel, false))
}

/// The first process: receives the [`Start`], makes the PID (and user)
/// namespace, forks PID 1 and waits for it; or, when it is PID 1 already
/// (`is_pid1`), goes on as PID 1. Leaves quietly when avfs closes the line
/// without a start (its run needed no init after all).
fn serve(channel: &Channel, is_pid1: bool) -> u8 {
    // avfs blocks its stop signals; nothing below the init may inherit that.
    let _ = SigSet::empty().thread_set_mask();
    let (start, stdout, stderr) = match channel.recv_start() {
        Ok(Some(received)) => received,
        Ok(None) => return 0,
        Err(_) => return 125,
    };
    let fail = |e: SetupError| {
        let _ = channel.send(&Report::SetupFailed(e.0), None);
        125
    };
    // The command's output goes where avfs reads it; so does this process's
    // own, which is nothing.
    if nix::unistd::dup2_stdout(&stdout).is_err() || nix::unistd::dup2_stderr(&stderr).is_err() {
        return fail(SetupError("cannot take the run's output pipes".into()));
    }
    drop((stdout, stderr));
    let plan = &start.plan;
    if is_pid1 {
        return match plan.user {
            None => pid1(&start, channel, None),
            Some(_) => fail(SetupError(
                "a run as root got a user namespace to make".into(),
            )),
        };
    }
    let mut flags = CloneFlags::CLONE_NEWPID;
    if plan.user.is_some() {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if let Err(e) = unshare(flags) {
        return fail(SetupError(format!("unshare PID namespace: {e}")));
    }
    if let Some(ids) = plan.user
        && let Err(e) = map_ids(ids)
    {
        return fail(e);
    }
    // Held open by this process only: PID 1 sees it close if this one died
    // before PID 1 could ask to die with it.
    let Ok((alive_r, alive_w)) = nix::unistd::pipe() else {
        return fail(SetupError("pipe: cannot make one".into()));
    };
    // SAFETY: this process is single-threaded (a fresh exec, or a fork of a
    // single-threaded avfs, that started no thread), so the child may do
    // anything after the fork.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(alive_r);
            // Stop signals are for the command; this one ends with PID 1.
            let mut stop = SigSet::empty();
            for s in super::signals::STOP_SIGNALS {
                stop.add(s);
            }
            let _ = stop.thread_block();
            let status = wait_for(child);
            drop(alive_w);
            status
        }
        Ok(ForkResult::Child) => {
            drop(alive_w);
            pid1(&start, channel, Some(alive_r))
        }
        Err(e) => fail(SetupError(format!("fork: {e}"))),
    }
}

/// Forgets the environment avfs started with, its strings in memory too.
/// This process's copy becomes PID 1 of the run's namespace, where the
/// command can read `/proc/1/environ`: the command gets only the curated
/// environment of its [`Start`], and must find no more there.
fn forget_environment() {
    if let Some((start, end)) = environment_strings() {
        // SAFETY: the kernel says the environment's strings lie at
        // [start, end) of this process's stack, which is writable; this
        // process has one thread, and nothing refers to the strings but
        // `environ`, which is cleared next.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
    }
    // SAFETY: one thread, so nothing reads the environment meanwhile.
    unsafe { nix::libc::clearenv() };
}

/// Where the environment's strings lie: `env_start` and `env_end`, fields
/// 50 and 51 of `/proc/self/stat`.
fn environment_strings() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // `stat_fields` starts at the third field.
    let mut fields = super::child::stat_fields(&stat)?.skip(50 - 3);
    let start: usize = fields.next()?.parse().ok()?;
    let end: usize = fields.next()?.parse().ok()?;
    (start < end).then_some((start, end))
}

/// True when this process has exactly one thread.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// Waits for `child`; its exit status, or 128 + the signal that ended it.
fn wait_for(child: Pid) -> u8 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code as u8,
            Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as u8,
            Err(nix::errno::Errno::EINTR) | Ok(_) => {}
            Err(_) => return 125,
        }
    }
}

/// PID 1 of the run's namespace (`alive`: the first process's pipe, when
/// PID 1 is its child).
fn pid1(start: &Start, channel: &Channel, alive: Option<OwnedFd>) -> u8 {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
        || alive.as_ref().is_some_and(parent_gone)
    {
        return 125;
    }
    drop(alive);
    let fail = |e: SetupError| {
        let _ = channel.send(&Report::SetupFailed(e.0), None);
        125
    };
    let plan = &start.plan;
    match plan.build() {
        Ok(fuse) => {
            if let Some(fd) = fuse
                && let Err(e) = channel.send(&Report::Mounted, Some(&fd))
            {
                return fail(SetupError(format!("hand the mount to avfs: {e}")));
            }
        }
        Err(e) => return fail(e),
    }
    if let Err(e) = std::env::set_current_dir(plan.cwd()) {
        return fail(SetupError(format!(
            "change into {}: {e}",
            plan.cwd().display()
        )));
    }
    let Some(program) = start.argv.first().map(|p| OsStr::from_bytes(p)) else {
        return fail(SetupError("no command".into()));
    };
    let env: Vec<(&OsStr, &OsStr)> = start
        .env
        .iter()
        .map(|(k, v)| (OsStr::from_bytes(k), OsStr::from_bytes(v)))
        .collect();
    let command = |path: &OsStr| {
        let mut command = Command::new(path);
        command
            .arg0(program)
            .args(start.argv[1..].iter().map(|a| OsStr::from_bytes(a)))
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        command
    };
    // The standard library finds a bare name on the command's own PATH by
    // forking this process and searching in the child. Found here first, the
    // command starts by posix_spawn instead, which copies nothing of this
    // process. What fails that way is started the first way again, whose
    // errors (and whose /bin/sh for a script without a #! line) the run reports.
    let path = env.iter().find(|(k, _)| *k == "PATH").map(|(_, v)| *v);
    let spawned = on_path(program, path)
        .and_then(|found| command(found.as_os_str()).spawn().ok())
        .map_or_else(|| command(program).spawn(), Ok);
    let child = match spawned {
        Ok(child) => Pid::from_raw(child.id() as i32),
        Err(e) => {
            let program = program.to_string_lossy();
            let not_found = e.kind() == std::io::ErrorKind::NotFound;
            let message = match e.kind() {
                std::io::ErrorKind::NotFound => format!("program not found: {program}"),
                std::io::ErrorKind::PermissionDenied => {
                    format!("program not executable: {program}")
                }
                _ => format!("cannot start {program}: {e}"),
            };
            let _ = channel.send(&Report::SpawnFailed { not_found, message }, None);
            return 0;
        }
    };
    // Reap everything; report the command's end; leave when nothing is left
    // (what the command left running is avfs's to stop, or the kernel's once
    // this process dies).
    loop {
        let report = match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => Report::Exited {
                code: Some(code),
                signal: None,
            },
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => Report::Exited {
                code: None,
                signal: Some(signal as i32),
            },
            Err(nix::errno::Errno::ECHILD) => return 0,
            _ => continue,
        };
        let _ = channel.send(&report, None);
    }
}

/// Where `execvp` finds `program` (a name without a slash) on `path`, or on
/// its default when the command has no PATH: the first regular file there
/// that this process may execute.
fn on_path(program: &OsStr, path: Option<&OsStr>) -> Option<std::path::PathBuf> {
    let name = program.as_bytes();
    if name.is_empty() || name.contains(&b'/') {
        return None;
    }
    let path = path.map_or(&b"/bin:/usr/bin"[..], OsStr::as_bytes);
    path.split(|b| *b == b':')
        .map(|dir| match dir {
            b"" => std::path::Path::new(".").join(program),
            dir => std::path::Path::new(OsStr::from_bytes(dir)).join(program),
        })
        .find(|candidate| {
            candidate.metadata().is_ok_and(|m| m.is_file())
                && nix::unistd::access(candidate.as_path(), nix::unistd::AccessFlags::X_OK).is_ok()
        })
}

/// True when the first process has already died (its end of the pipe closed).
fn parent_gone(alive: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(alive.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_bare_name_is_found_where_execvp_would_find_it() {
        let dir = tempfile::tempdir().unwrap();
        let at = |sub: &str| dir.path().join(sub);
        for sub in ["a", "b", "c", "d"] {
            std::fs::create_dir(at(sub)).unwrap();
        }
        // a: a directory of that name; b: a file nobody may execute; c: the
        // one; d: another one, later on the path.
        std::fs::create_dir(at("a/tool")).unwrap();
        for (file, mode) in [("b/tool", 0o644), ("c/tool", 0o755), ("d/tool", 0o755)] {
            std::fs::write(at(file), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(at(file), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let path = [at("missing"), at("a"), at("b"), at("c"), at("d")]
            .map(|p| p.into_os_string())
            .join(OsStr::new(":"));
        let tool = OsStr::new("tool");
        assert_eq!(on_path(tool, Some(&path)), Some(at("c/tool")));
        // Not searched: a name with a slash, an empty name.
        assert_eq!(on_path(OsStr::new("c/tool"), Some(&path)), None);
        assert_eq!(on_path(OsStr::new(""), Some(&path)), None);
        assert_eq!(on_path(OsStr::new("no-such-tool"), Some(&path)), None);
        // Without a PATH, execvp's own default.
        assert_eq!(
            on_path(OsStr::new("sh"), None),
            Some(std::path::PathBuf::from("/bin/sh"))
        );
    }
}
