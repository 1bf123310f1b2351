//! Ctrl-C, SIGTERM and SIGHUP for the commands that do not handle them
//! themselves (`proxy`, `mcp` and `mount` do). Left to the default action, a
//! signal ended avfs with no document on stdout, and what a stopped write
//! had appended to the store's segments stayed on disk until `avfs gc`.
//!
//! Now the signal stops the store at its next statement ([`Store::stop_when`]):
//! the command fails, what it had not committed rolls back, the store's
//! handle gives its space back as it closes, and avfs answers `interrupted`
//! with exit status 128 + the signal's number. A command that is blocked
//! elsewhere (waiting on the network) is left after [`GRACE`], or at a second
//! signal: the document is printed and the process exits at once.
//!
//! Signal handlers, not a watching thread: a thread started and torn down by
//! every command cost about 0.3 ms of its wall time on a 2-CPU VM.
//!
//! [`Store::stop_when`]: crate::vault::Store::stop_when

use super::error::{CliError, ExitStatus};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::io::Read;
use std::os::fd::AsFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// How long a stopped command has to end on its own before avfs leaves it.
pub const GRACE: Duration = Duration::from_secs(2);

/// The signals that stop a command.
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Set at the first signal; the store's statements fail from then on.
static STOP: AtomicBool = AtomicBool::new(false);

/// The first signal received, as its number; 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Taken by whoever answers: the command's own result, or the handler's
/// `interrupted` when the command did not end in time.
static ANSWERED: AtomicBool = AtomicBool::new(false);

/// What the handler prints, rendered before any signal can come (a signal
/// handler may not allocate): the bytes and the exit status per signal.
static LAST_WORDS: OnceLock<[(Vec<u8>, i32); 3]> = OnceLock::new();

/// Installs the handlers. A handler only sets flags, arms the grace timer
/// (SIGALRM) or, at a second signal or when the timer fires, writes the
/// rendered document and exits.
pub fn watch(json: bool) -> std::io::Result<()> {
    LAST_WORDS.get_or_init(|| STOP_SIGNALS.map(|signal| last_words(signal, json)));
    let action = |handler| {
        SigAction::new(
            SigHandler::Handler(handler),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        )
    };
    for signal in STOP_SIGNALS {
        // SAFETY: the handler is async-signal-safe (atomics, alarm, write, _exit).
        unsafe { sigaction(signal, &action(on_stop)) }?;
    }
    // SAFETY: as above.
    unsafe { sigaction(Signal::SIGALRM, &action(on_grace_over)) }?;
    Ok(())
}

/// The flag a store is told to stop at, once the handlers are installed.
pub fn stop_flag() -> Option<&'static AtomicBool> {
    LAST_WORDS.get().map(|_| &STOP)
}

/// The first stop signal received, if any.
pub fn received() -> Option<Signal> {
    Signal::try_from(RECEIVED.load(Ordering::SeqCst)).ok()
}

/// Takes the right to answer; false when the handler answered already (and
/// is ending the process).
pub fn answering() -> bool {
    !ANSWERED.swap(true, Ordering::SeqCst)
}

/// The error a command stopped by `signal` answers with.
pub fn interrupted(signal: Signal) -> CliError {
    let status = match signal {
        Signal::SIGHUP => ExitStatus::Hangup,
        Signal::SIGTERM => ExitStatus::Terminated,
        _ => ExitStatus::Interrupted,
    };
    CliError::new(
        "interrupted",
        status,
        format!(
            "interrupted by {}: what the command had not committed was rolled back",
            signal.as_str()
        ),
    )
}

/// The document (with `--json`, on stdout) or message (on stderr) for
/// `signal`, and the exit status.
fn last_words(signal: Signal, json: bool) -> (Vec<u8>, i32) {
    let err = interrupted(signal);
    let text = if json {
        format!("{}\n", super::error_document(&err))
    } else {
        format!("avfs: error: {}\n", err.message)
    };
    (text.into_bytes(), err.status as i32)
}

extern "C" fn on_stop(signo: nix::libc::c_int) {
    if RECEIVED
        .compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        STOP.store(true, Ordering::SeqCst);
        // SAFETY: alarm is async-signal-safe.
        unsafe { nix::libc::alarm(GRACE.as_secs() as nix::libc::c_uint) };
    } else {
        on_grace_over(signo);
    }
}

/// The command did not end in time (or a second signal came): answer for
/// it and exit, as after a crash (the store rolls back what was open).
extern "C" fn on_grace_over(_: nix::libc::c_int) {
    let first = RECEIVED.load(Ordering::SeqCst);
    let words = LAST_WORDS.get().and_then(|words| {
        STOP_SIGNALS
            .iter()
            .position(|s| *s as i32 == first)
            .map(|i| &words[i])
    });
    // A SIGALRM with no stop signal before it is not ours: nothing to answer.
    let Some((bytes, status)) = words else {
        return;
    };
    if !ANSWERED.swap(true, Ordering::SeqCst) {
        let fd = if bytes.first() == Some(&b'{') { 1 } else { 2 };
        // SAFETY: write and _exit are async-signal-safe; the buffer is live
        // (a static) and its length is its own.
        unsafe {
            nix::libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            nix::libc::_exit(*status);
        }
    }
}

/// Standard input, read without a buffer, that stops waiting once a stop
/// signal came: a write fed by a pipe gone quiet then fails and rolls back,
/// and its store gives the space back, instead of being left blocked when
/// the grace period ends (when the process exits as after a crash).
pub struct Stdin;

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        // Only while the handlers are installed can the flag be set.
        while LAST_WORDS.get().is_some() {
            if STOP.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("interrupted"));
            }
            let mut ready = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut ready, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                Ok(_) => break,
                Err(e) => return Err(e.into()),
            }
        }
        loop {
            match nix::unistd::read(fd, buf) {
                Err(nix::errno::Errno::EINTR) => {}
                done => return done.map_err(Into::into),
            }
        }
    }
}
