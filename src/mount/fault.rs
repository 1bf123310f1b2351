//! Blast radius: a failure while serving one request fails that request, never
//! the mount.
//!
//! Every kernel request's work runs under [`contain`], before its reply. A
//! panic in it unwinds to there: every SQLite savepoint and transaction the
//! work had open rolls back as it is dropped, the cause is logged to stderr,
//! the caller repairs the in-memory state the request touched, then replies
//! EIO, and the serving thread lives on to take the next request. (The repair
//! must come before the reply: once the kernel has its answer it may send the
//! next request on that file to another thread.)
//!
//! Debug builds also carry a fault trigger, so tests can prove all of that
//! through a real mount: see [`FAULT_PANIC`].

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Lines a kept log holds at most; past them it only counts.
const KEPT_MAX: usize = 100;

/// Where a mount's log lines go: its stderr, or, for a run's private mount
/// (whose process prints nothing but the run's document), kept for the
/// run's report.
#[derive(Default)]
pub struct FaultLog {
    keep: AtomicBool,
    kept: Mutex<(Vec<String>, u64)>,
}

impl FaultLog {
    /// From now on keeps lines (`true`) or writes them to stderr.
    pub(super) fn set_keep(&self, keep: bool) {
        if keep {
            quiet_kept_panics();
        }
        self.keep.store(keep, Ordering::Relaxed);
    }

    /// Writes one line. A log nobody can write to any more (a closed pipe)
    /// must not fail a request, or the mount, too.
    pub(super) fn write(&self, line: std::fmt::Arguments<'_>) {
        if !self.keep.load(Ordering::Relaxed) {
            return to_stderr(line);
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.0.len() < KEPT_MAX {
            kept.0.push(line.to_string());
        } else {
            kept.1 += 1;
        }
    }

    /// The lines kept so far (and a last one counting those past the
    /// bound), which it no longer holds.
    pub(super) fn take(&self) -> Vec<String> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (mut lines, more) = std::mem::take(&mut *kept);
        if more > 0 {
            lines.push(format!("... and {more} more"));
        }
        lines
    }
}

thread_local! {
    /// The log of the mount whose work this thread is doing.
    static CURRENT: RefCell<Option<Arc<FaultLog>>> = const { RefCell::new(None) };
}

/// Runs `work` with `log` as where [`log`] writes on this thread: errors
/// are turned into errnos deep in the mount's code, far from the mount.
fn within<T>(log: &Arc<FaultLog>, work: impl FnOnce() -> T) -> T {
    /// Puts back the log that was current, also when `work` panics.
    struct Restore(Option<Arc<FaultLog>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(Arc::clone(log)))));
    work()
}

/// Has the panic hook stay silent for a panic on a thread working for a kept
/// log: [`contain`] catches it and keeps its message, and the standard hook
/// would print it to stderr, which a run's process keeps for its document.
fn quiet_kept_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let standard = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let kept = CURRENT
                .try_with(|c| {
                    c.borrow()
                        .as_ref()
                        .is_some_and(|l| l.keep.load(Ordering::Relaxed))
                })
                .unwrap_or(false);
            if !kept {
                standard(info);
            }
        }));
    });
}

/// An errno as a log line shows it: `ENOSPC: No space left on device`.
pub(super) fn describe(e: fuser::Errno) -> String {
    nix::errno::Errno::from_raw(e.code()).to_string()
}

fn to_stderr(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "avfs mount: {line}");
}

/// Debug builds only: creating an entry with this name, or a write whose data
/// starts with it, panics in the middle of serving the request (after the
/// entry's row is written, or after the open file's buffer has changed).
/// Release builds never look at it.
pub const FAULT_PANIC: &[u8] = b"avfs-debug-panic";

/// Panics (debug builds only) when `bytes` start with [`FAULT_PANIC`].
#[inline]
pub fn trigger(bytes: &[u8]) {
    if cfg!(debug_assertions) && bytes.starts_with(FAULT_PANIC) {
        panic!("fault injected by a request carrying {FAULT_PANIC:?}");
    }
}

/// The message a panic carried.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Writes one line to the log of the mount this thread works for (see
/// [`within`]); to stderr outside any.
pub(super) fn log(line: std::fmt::Arguments<'_>) {
    match CURRENT.with(|c| c.borrow().clone()) {
        Some(log) => log.write(line),
        None => to_stderr(line),
    }
}

/// Runs `work` (one request's work, before its reply) for the mount whose
/// log is `faults`; `None`, after logging the cause, when it panicked. The
/// caller then repairs what the request may have left half-done in memory
/// (see `OpenFiles::quarantine`) and only then replies EIO, so no later
/// request can see the half-done state.
pub fn contain<T>(
    faults: &Arc<FaultLog>,
    op: &str,
    ino: u64,
    work: impl FnOnce() -> T,
) -> Option<T> {
    match within(faults, || catch_unwind(AssertUnwindSafe(work))) {
        Ok(out) => Some(out),
        Err(payload) => {
            faults.write(format_args!(
                "{op} on inode {ino} panicked: {}; the request failed with EIO \
                 and the mount keeps serving",
                message(payload.as_ref())
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_contained_and_reported() {
        let faults = Arc::new(FaultLog::default());
        assert_eq!(contain(&faults, "lookup", 1, || 5), Some(5));
        assert_eq!(
            contain(&faults, "write", 7, || -> u8 { panic!("boom") }),
            None
        );
        let injected = contain(&faults, "write", 7, || {
            trigger(b"avfs-debug-panic and more")
        });
        assert_eq!(injected.is_none(), cfg!(debug_assertions));
        trigger(b"ordinary data");
    }

    #[test]
    fn a_kept_log_holds_what_its_mount_s_threads_log_and_stderr_gets_the_rest() {
        let faults = Arc::new(FaultLog::default());
        faults.set_keep(true);
        assert_eq!(
            contain(&faults, "write", 7, || -> u8 { panic!("boom") }),
            None
        );
        within(&faults, || log(format_args!("a batch commit failed")));
        log(format_args!("outside any mount's work"));
        let lines = faults.take();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].contains("write on inode 7 panicked: boom"),
            "{lines:?}"
        );
        assert_eq!(lines[1], "a batch commit failed");
        assert!(faults.take().is_empty(), "taken once");
        for i in 0..KEPT_MAX + 3 {
            faults.write(format_args!("line {i}"));
        }
        let lines = faults.take();
        assert_eq!(lines.len(), KEPT_MAX + 1);
        assert_eq!(lines[KEPT_MAX], "... and 3 more");
    }
}
