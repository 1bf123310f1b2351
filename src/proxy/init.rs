//! The run's init: avfs starts itself again under the name [`ARG0`] to put a
//! run in its own PID namespace (and user namespace, when not root), and
//! the command below it.
//!
//! Two processes, because a process cannot enter a PID namespace itself, only
//! its children can: the first (a child of avfs, dying with it by
//! `PR_SET_PDEATHSIG`) unshares and forks the second, which is PID 1 of the
//! new namespace and dies with the first the same way. PID 1 builds the
//! mount namespace ([`super::namespace::Plan::build`]), starts the command,
//! reports its status and reaps until nothing is left. When PID 1 dies the
//! kernel kills every process in the namespace: SIGKILL of avfs at any point
//! takes the whole run, and its mount, with it.

use super::handoff::{Channel, Report};
use super::namespace::{Plan, SetupError, map_ids};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};

/// The name avfs runs itself under as a run's init.
pub const ARG0: &str = "avfs-run-init";

/// Runs the init when this process was started as one; returns its exit status.
pub fn run_if_init() -> Option<u8> {
    let mut args = std::env::args_os();
    if args.next().as_deref() != Some(std::ffi::OsStr::new(ARG0)) {
        return None;
    }
    Some(outer(args.collect()))
}

/// The first process: receives the plan, makes the PID (and user) namespace,
/// forks PID 1 and waits for it.
fn outer(argv: Vec<OsString>) -> u8 {
    let Ok(channel) = Channel::from_stdin() else {
        return 125;
    };
    // avfs spawns this process without a pre-exec hook (a fork of avfs's
    // large address space costs more than the rest of the start), so it asks
    // to die with avfs here, then checks that avfs did not die first.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
        || channel.peer_pid().ok() != Some(nix::unistd::getppid().as_raw())
    {
        return 125;
    }
    // avfs blocks its stop signals; nothing below the init may inherit that.
    let _ = SigSet::empty().thread_set_mask();
    let plan: Plan = match channel.recv() {
        Ok(Some((plan, _))) => plan,
        _ => return 125,
    };
    let fail = |e: SetupError| {
        let _ = channel.send(&Report::SetupFailed(e.0), None);
        125
    };
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
    // SAFETY: this process is single-threaded (a fresh exec that started no
    // thread), so the child may do anything after the fork.
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
            pid1(&plan, &channel, alive_r, argv)
        }
        Err(e) => fail(SetupError(format!("fork: {e}"))),
    }
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

/// PID 1 of the run's namespace.
fn pid1(plan: &Plan, channel: &Channel, alive: OwnedFd, argv: Vec<OsString>) -> u8 {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || parent_gone(&alive) {
        return 125;
    }
    drop(alive);
    let fail = |e: SetupError| {
        let _ = channel.send(&Report::SetupFailed(e.0), None);
        125
    };
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
    let Some(program) = argv.first() else {
        return fail(SetupError("no command".into()));
    };
    let child = match Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .spawn()
    {
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

/// True when the first process has already died (its end of the pipe closed).
fn parent_gone(alive: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(alive.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
