//! Blast radius: a failure while serving one request fails that request, never
//! the mount.
//!
//! Every kernel request runs under [`contain`]. A panic in its handler unwinds
//! to there: the reply, dropped unsent on the way, answers the kernel with EIO
//! (fuser's rule for a reply that is never sent), every SQLite savepoint and
//! transaction the handler had open rolls back as it is dropped, the cause is
//! logged to stderr, and the serving thread lives on to take the next request.
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

/// Runs `serve` (one request's whole handler, reply included); returns false,
/// after logging the cause, when it panicked. The caller then repairs what the
/// request may have left half-done in memory (see `OpenFiles::quarantine`).
pub fn contain(op: &str, ino: u64, serve: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(serve)) {
        Ok(()) => true,
        Err(payload) => {
            eprintln!(
                "avfs mount: {op} on inode {ino} panicked: {}; the request failed with EIO \
                 and the mount keeps serving",
                message(payload.as_ref())
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_contained_and_reported() {
        assert!(contain("lookup", 1, || {}));
        assert!(!contain("write", 7, || panic!("boom")));
        let injected = contain("write", 7, || trigger(b"avfs-debug-panic and more"));
        assert_eq!(injected, !cfg!(debug_assertions));
        trigger(b"ordinary data");
    }
}
