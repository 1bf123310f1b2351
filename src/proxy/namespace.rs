//! The run's namespaces: what they hold (a [`Plan`], made by avfs before the
//! run) and building them (by the run's init, [`super::init`], from inside).
//!
//! The vault appears at one stable path (`/workspace` by default) so that
//! absolute paths tools record keep working from run to run, and the store's
//! directory is hidden so that the policy cannot be walked around through it.
//! A FUSE vault is mounted inside the namespace itself: the mount exists only
//! there, and goes with the namespace's last process (nothing on the host can
//! see it, enter it or find it stale). Without root the namespaces are made in
//! a user namespace that maps the caller to itself.

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The stable path the vault appears at when nothing else is asked.
pub const DEFAULT_WORKDIR: &str = "/workspace";

/// How the vault reaches the workdir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VaultSource {
    /// Mounted by the init inside the namespace; avfs serves the /dev/fuse
    /// descriptor the init hands back.
    Fuse {
        /// The mount's source name (`avfs:VAULT`).
        fsname: String,
        /// Mounted read-only.
        readonly: bool,
    },
    /// A host directory (a materialized copy) bound there.
    Bind {
        /// The directory, as bytes.
        source: Vec<u8>,
    },
}

/// A user namespace's single mapping: the caller's ids, to themselves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdMap {
    /// The caller's user id.
    pub uid: u32,
    /// The caller's group id.
    pub gid: u32,
}

/// What an isolated run (`--isolate`) gets beyond the namespaces every run has.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Isolation {
    /// Its own network namespace with only loopback up (else the host's network).
    pub no_network: bool,
    /// The run's `$HOME`, made private: an overlay whose writes land in the
    /// run's `/tmp` and go with it.
    pub home: Option<Vec<u8>>,
    /// Host paths made invisible: a directory shows empty and read-only, a
    /// file empty. Paths that do not exist are left as they are.
    pub hide: Vec<Vec<u8>>,
}

/// Everything the run's init needs to build its namespaces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// A user namespace to make first (when not root).
    pub user: Option<IdMap>,
    /// The vault.
    pub vault: VaultSource,
    /// Where the command sees it.
    pub workdir: Vec<u8>,
    /// The directory to start in, below `workdir`.
    pub cwd: Vec<u8>,
    /// Host directories covered by an empty read-only tmpfs.
    pub hide: Vec<Vec<u8>>,
    /// The host read-only but for the workspace, a private `/tmp` and `$HOME`.
    pub isolation: Option<Isolation>,
}

/// A step of building the namespaces failed.
#[derive(Debug)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let b = path.as_os_str().as_bytes();
    if b.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has a NUL byte", path.display()),
        ));
    }
    Ok(b.to_vec())
}

/// A path from the bytes a plan holds.
pub fn path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// `step` failed with `e`, for people.
pub fn failed(step: &str, at: &[u8], e: impl std::fmt::Display) -> SetupError {
    SetupError(format!("{step} {}: {e}", path(at).display()))
}

impl Plan {
    /// Plans `vault` at `workdir`, starting in `cwd` (a path below `workdir`)
    /// and hiding `hide`; refuses paths no system call could take.
    pub fn new(
        user: Option<IdMap>,
        vault: VaultSource,
        workdir: &Path,
        cwd: &Path,
        hide: &[std::path::PathBuf],
    ) -> std::io::Result<Self> {
        if let VaultSource::Bind { source } = &vault {
            bytes(path(source))?;
        }
        Ok(Self {
            user,
            vault,
            workdir: bytes(workdir)?,
            cwd: bytes(cwd)?,
            hide: hide.iter().map(|p| bytes(p)).collect::<Result<_, _>>()?,
            isolation: None,
        })
    }

    /// Where the command sees the vault.
    pub fn workdir(&self) -> &Path {
        path(&self.workdir)
    }

    /// The directory the command starts in.
    pub fn cwd(&self) -> &Path {
        path(&self.cwd)
    }

    /// Makes the mount namespace and everything in it; returns the /dev/fuse
    /// descriptor of a FUSE vault, for avfs to serve. The caller changes into
    /// [`Plan::cwd`] only once avfs serves it (a FUSE lookup waits for that).
    pub fn build(&self) -> Result<Option<OwnedFd>, SetupError> {
        let no_network = self.isolation.as_ref().is_some_and(|i| i.no_network);
        let mut flags = CloneFlags::CLONE_NEWNS;
        if no_network {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        unshare(flags).map_err(|e| failed("unshare", b"mount and network namespaces", e))?;
        if no_network {
            super::isolation::loopback_up().map_err(|e| SetupError(format!("bring up lo: {e}")))?;
        }
        // Nothing mounted from here on may reach the host's namespace.
        mount(
            None::<&OsStr>,
            "/",
            None::<&OsStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&OsStr>,
        )
        .map_err(|e| failed("make private", b"/", e))?;
        let fuse = match &self.vault {
            VaultSource::Fuse { fsname, readonly } => Some(self.mount_fuse(fsname, *readonly)?),
            VaultSource::Bind { source } => {
                mount(
                    Some(path(source)),
                    self.workdir(),
                    None::<&OsStr>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&OsStr>,
                )
                .map_err(|e| failed("bind the vault at", &self.workdir, e))?;
                None
            }
        };
        if let Some(isolation) = &self.isolation {
            super::isolation::apply(isolation, self.workdir())?;
        }
        // After the bind: a materialized copy lives under the store's
        // directory, and stays reachable only at the workdir.
        for dir in &self.hide {
            match mount(
                Some("avfs-hidden"),
                path(dir),
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=4k,mode=0555"),
            ) {
                // Gone from view already (under an isolated run's private /tmp).
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(failed("hide", dir, e)),
            }
        }
        // Other FUSE mounts the namespace copied: detached, so that a run (or
        // a process it leaked) never keeps another mount's connection alive
        // after that mount is unmounted on the host (the host's mounts are
        // private here, so an unmount would not reach the copy). Best effort:
        // in a user namespace copied mounts are locked to their parents.
        for point in fuse_mounts_except(self.workdir()) {
            let _ = umount2(point.as_path(), MntFlags::MNT_DETACH);
        }
        // The run's own /proc, showing only its processes. Best effort: the
        // kernel refuses it where the host's /proc has parts covered (some
        // containers), and the run then sees the host's list, not its pids'
        // owners' (signals still cannot leave the PID namespace).
        let _ = mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&OsStr>,
        );
        Ok(fuse)
    }

    /// Opens /dev/fuse here (a user namespace's FUSE mount needs the device
    /// opened inside it) and mounts it at the workdir.
    fn mount_fuse(&self, fsname: &str, readonly: bool) -> Result<OwnedFd, SetupError> {
        use std::os::fd::AsRawFd;
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| failed("open", b"/dev/fuse", e))?;
        // As fuser mounts: nodev, nosuid, the kernel checking permissions.
        let options = format!(
            "fd={},rootmode=40000,user_id={},group_id={},default_permissions",
            dev.as_raw_fd(),
            nix::unistd::geteuid(),
            nix::unistd::getegid()
        );
        let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME;
        if readonly {
            flags |= MsFlags::MS_RDONLY;
        }
        mount(
            Some(fsname),
            self.workdir(),
            Some("fuse.avfs"),
            flags,
            Some(options.as_str()),
        )
        .map_err(|e| failed("mount the vault at", &self.workdir, e))?;
        if !readonly {
            crate::mount::dirty_limit::raise(self.workdir());
        }
        Ok(OwnedFd::from(dev))
    }
}

/// Mount points of FUSE file systems in this process's namespace, except `own`
/// (read from /proc/self/mountinfo; mount points are octal-escaped there).
fn fuse_mounts_except(own: &Path) -> Vec<std::path::PathBuf> {
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
            let point = std::path::PathBuf::from(std::ffi::OsString::from_vec(point));
            (point != own).then_some(point)
        })
        .collect()
}

use std::os::unix::ffi::OsStringExt;

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
pub(super) fn unescape(field: &str) -> Vec<u8> {
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

/// True when this process may make a run's namespaces: as root, or where the
/// kernel lets users make user namespaces (the knobs distributions use to
/// forbid it are read, not probed: a probe would cost a fork per run).
pub fn available() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let knob = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    knob("/proc/sys/user/max_user_namespaces").is_some_and(|n| n > 0)
        && knob("/proc/sys/kernel/unprivileged_userns_clone") != Some(0)
        && knob("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") != Some(1)
}

/// The user namespace a run needs: none as root, else the caller's ids.
pub fn id_map() -> Option<IdMap> {
    let uid = nix::unistd::geteuid();
    (!uid.is_root()).then(|| IdMap {
        uid: uid.as_raw(),
        gid: nix::unistd::getegid().as_raw(),
    })
}

/// Writes a user namespace's maps for this process: `ids` to themselves.
/// Groups cannot be set in it (an unprivileged map requires that).
pub fn map_ids(ids: IdMap) -> Result<(), SetupError> {
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| SetupError(format!("write /proc/self/{file}: {e}")))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("{0} {0} 1", ids.uid))?;
    write("gid_map", format!("{0} {0} 1", ids.gid))
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
        let bad = Path::new(OsStr::from_bytes(b"/a\0b"));
        let bind = |p: &Path| VaultSource::Bind {
            source: p.as_os_str().as_bytes().to_vec(),
        };
        let ws = Path::new("/workspace");
        assert!(Plan::new(None, bind(bad), ws, ws, &[]).is_err());
        assert!(Plan::new(None, bind(Path::new("/x")), bad, ws, &[]).is_err());
        assert!(Plan::new(None, bind(Path::new("/x")), ws, ws, &[bad.into()]).is_err());
        let plan = Plan::new(None, bind(Path::new("/x")), ws, &ws.join("src"), &[]).unwrap();
        assert_eq!(plan.isolation, None);
        assert_eq!(plan.cwd(), Path::new("/workspace/src"));
    }
}
