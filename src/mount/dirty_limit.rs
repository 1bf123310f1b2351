//! How much written data the kernel may hold for a mount before it slows
//! the writer down.
//!
//! With the writeback cache a program's `write` lands in the kernel's page
//! cache, and the kernel's writeback sends it to the server. The kernel caps
//! each FUSE mount's dirty pages at 1 % of its dirty limit, strictly (about
//! 40 MB on a 24 GiB machine), and a writer past the cap sleeps in steps of
//! many milliseconds. A streaming write then alternates: the program sleeps
//! while the server drains the cache, and the server waits for requests while
//! the program sleeps (1 GiB + `fsync`: the program slept 0.74 s of 1.4 s, each
//! server thread waited 0.25 s for a request). With room for [`DIRTY_MAX`] the
//! two overlap.
//!
//! The cap is a property of the mount's own backing device in sysfs, gone
//! with the mount; only root may change it, and elsewhere the default stays.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Dirty bytes a mount may hold before its writers are slowed down.
pub const DIRTY_MAX: u64 = 128 << 20;

/// The sysfs directory of the backing device of the mount at `mountpoint`,
/// found without a request to the mount's server (which may not serve yet).
pub fn device_dir(mountpoint: &Path) -> Option<PathBuf> {
    let path = CString::new(mountpoint.as_os_str().as_bytes()).ok()?;
    let mut stx = std::mem::MaybeUninit::<nix::libc::statx>::zeroed();
    // AT_STATX_DONT_SYNC: the attributes the kernel has, so FUSE sends no
    // GETATTR; the device is the superblock's, known from the mount itself.
    // SAFETY: `path` is a valid C string and `stx` a buffer of the right type
    // that lives across the call.
    let rc = unsafe {
        nix::libc::statx(
            nix::libc::AT_FDCWD,
            path.as_ptr(),
            nix::libc::AT_STATX_DONT_SYNC,
            nix::libc::STATX_TYPE,
            stx.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: statx succeeded and filled the buffer.
    let stx = unsafe { stx.assume_init() };
    Some(PathBuf::from(format!(
        "/sys/class/bdi/{}:{}",
        stx.stx_dev_major, stx.stx_dev_minor
    )))
}

/// Lets the kernel hold up to [`DIRTY_MAX`] of written data for the mount at
/// `mountpoint`, unless it allows as much already. Returns false where this
/// process may not change it (not root), or the kernel has no such limit.
pub fn raise(mountpoint: &Path) -> bool {
    let Some(dir) = device_dir(mountpoint) else {
        return false;
    };
    let file = dir.join("max_bytes");
    // The kernel keeps the limit as a share of its own, which moves with
    // free memory, so what it shows back is near the value set, not equal.
    if limit_of(&file).is_some_and(|now| now >= DIRTY_MAX - DIRTY_MAX / 100) {
        return true;
    }
    std::fs::write(&file, DIRTY_MAX.to_string()).is_ok()
}

/// The limit a `max_bytes` file shows.
fn limit_of(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}
