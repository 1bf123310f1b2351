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
use std::panic::{AssertUnwindSafe, catch_unwind};

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

/// Writes one line to the mount's log (its stderr). A log nobody can write
/// to any more (a closed pipe) must not fail a request, or the mount, too.
pub(super) fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "avfs mount: {line}");
}

/// Runs `work` (one request's work, before its reply); `None`, after logging
/// the cause, when it panicked. The caller then repairs what the request may
/// have left half-done in memory (see `OpenFiles::quarantine`) and only then
/// replies EIO, so no later request can see the half-done state.
pub fn contain<T>(op: &str, ino: u64, work: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(out) => Some(out),
        Err(payload) => {
            log(format_args!(
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
        assert_eq!(contain("lookup", 1, || 5), Some(5));
        assert_eq!(contain("write", 7, || -> u8 { panic!("boom") }), None);
        let injected = contain("write", 7, || trigger(b"avfs-debug-panic and more"));
        assert_eq!(injected.is_none(), cfg!(debug_assertions));
        trigger(b"ordinary data");
    }
}
