//! The run's private mount namespace (as root): the vault bound at one stable
//! path (`/workspace` by default) and the store's directory hidden, so that
//! absolute paths tools record keep working from run to run and the policy
//! cannot be walked around through the store.
//!
//! Entered by the command's process between fork and exec, where only
//! async-signal-safe work is allowed: every path is turned into a `CString`
//! beforehand and the system calls (through `nix`, which passes a `CStr`
//! without allocating) touch nothing else. Nothing is mounted in the host's
//! namespace: the mounts are private to the run's, which ends with its last
//! process.

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The stable path the vault appears at when nothing else is asked.
pub const DEFAULT_WORKDIR: &str = "/workspace";

/// Everything the command's process needs to enter its namespace, prepared
/// before the fork.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The host directory holding the vault (the run's mount or copy).
    source: CString,
    /// Where the command sees it.
    workdir: CString,
    /// The directory to start in, below `workdir`.
    cwd: CString,
    /// Host directories covered by an empty read-only tmpfs.
    hide: Vec<CString>,
    /// Other FUSE mounts the namespace would copy: detached inside it, so that
    /// a run (or a process it leaked) never keeps another mount's connection
    /// alive after that mount is unmounted on the host (the host's mounts are
    /// private here, so an unmount would not reach the copy).
    foreign_fuse: Vec<CString>,
}

/// Mount points of FUSE file systems in this process's namespace, except `own`
/// (read from /proc/self/mountinfo; mount points are octal-escaped there).
fn fuse_mounts_except(own: &Path) -> Vec<CString> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| {
            let (fields, after) = line.split_once(" - ")?;
            let fstype = after.split(' ').next()?;
            if !fstype.starts_with("fuse") {
                return None;
            }
            let point = unescape(fields.split(' ').nth(4)?);
            (Path::new(std::ffi::OsStr::from_bytes(&point)) != own)
                .then(|| CString::new(point).ok())
                .flatten()
        })
        .collect()
}

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has a NUL byte", path.display()),
        )
    })
}

impl Namespace {
    /// Prepares a namespace binding `source` at `workdir`, starting in `cwd`
    /// (a path below `workdir`) and hiding `hide`.
    pub fn new(
        source: &Path,
        workdir: &Path,
        cwd: &Path,
        hide: &[PathBuf],
    ) -> std::io::Result<Self> {
        Ok(Self {
            source: c_path(source)?,
            workdir: c_path(workdir)?,
            cwd: c_path(cwd)?,
            hide: hide.iter().map(|p| c_path(p)).collect::<Result<_, _>>()?,
            foreign_fuse: fuse_mounts_except(source),
        })
    }

    /// Enters a new mount namespace and sets it up. Runs in the forked child:
    /// no allocation, system calls only.
    pub fn enter(&self) -> nix::Result<()> {
        unshare(CloneFlags::CLONE_NEWNS)?;
        // Nothing mounted from here on may reach the host's namespace.
        mount(
            None::<&std::ffi::CStr>,
            c"/",
            None::<&std::ffi::CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&std::ffi::CStr>,
        )?;
        mount(
            Some(self.source.as_c_str()),
            self.workdir.as_c_str(),
            None::<&std::ffi::CStr>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&std::ffi::CStr>,
        )?;
        // After the bind: the run's own mount lives under the store's
        // directory, and stays reachable only at the workdir.
        for dir in &self.hide {
            mount(
                Some(c"avfs-hidden"),
                dir.as_c_str(),
                Some(c"tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some(c"size=4k,mode=0555"),
            )?;
        }
        for point in &self.foreign_fuse {
            // Best effort: one that went away meanwhile is already gone.
            let _ = nix::mount::umount2(point.as_c_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        nix::unistd::chdir(self.cwd.as_c_str())
    }
}

/// True when this process may create mount namespaces without a user namespace.
pub fn available() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/tmp/a\\040b"), b"/tmp/a b");
        assert_eq!(unescape("/plain"), b"/plain");
        assert_eq!(unescape("/odd\\"), b"/odd\\");
    }

    #[test]
    fn paths_with_nul_bytes_are_refused_before_any_fork() {
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/a\0b"));
        assert!(
            Namespace::new(bad, Path::new("/workspace"), Path::new("/workspace"), &[]).is_err()
        );
        assert!(Namespace::new(Path::new("/x"), Path::new("/w"), Path::new("/w"), &[]).is_ok());
    }
}
