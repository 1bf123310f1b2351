//! What `--isolate` adds inside a run's mount namespace: every host mount
//! read-only (the workspace excepted), a private `/tmp` and `/dev/shm`, a
//! private `$HOME` (an overlay over the host's, its writes in the run's
//! `/tmp`), hidden paths, and loopback for a run without the host's network.
//! Run by the run's init, inside its namespaces.

use super::namespace::{Isolation, SetupError, failed, path};
use nix::mount::{MsFlags, mount};
use std::ffi::OsStr;
use std::path::Path;

/// Applies `isolation` in the current mount namespace; `workdir` (the
/// vault, already mounted) stays writable.
pub fn apply(isolation: &Isolation, workdir: &Path) -> Result<(), SetupError> {
    readonly_host(workdir)?;
    let tmpfs = |at: &str, mode: &str| {
        mount(
            Some("avfs-tmp"),
            at,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(mode),
        )
        .map_err(|e| failed("private tmpfs at", at.as_bytes(), e))
    };
    tmpfs("/tmp", "mode=1777")?;
    if Path::new("/dev/shm").is_dir() {
        tmpfs("/dev/shm", "mode=1777")?;
    }
    if let Some(home) = &isolation.home
        && path(home).is_dir()
    {
        private_home(path(home))?;
    }
    for hidden in &isolation.hide {
        hide(path(hidden))?;
    }
    Ok(())
}

/// Remounts every mount read-only but the workdir's (and those below it),
/// keeping each one's other flags (a user namespace may not drop them).
fn readonly_host(workdir: &Path) -> Result<(), SetupError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| SetupError(format!("read /proc/self/mountinfo: {e}")))?;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(options)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let point = std::path::PathBuf::from(std::ffi::OsString::from(
            String::from_utf8_lossy(&super::namespace::unescape(point)).into_owned(),
        ));
        if point.starts_with(workdir) {
            continue;
        }
        let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        for option in options.split(',') {
            flags |= match option {
                "nosuid" => MsFlags::MS_NOSUID,
                "nodev" => MsFlags::MS_NODEV,
                "noexec" => MsFlags::MS_NOEXEC,
                "noatime" => MsFlags::MS_NOATIME,
                "nodiratime" => MsFlags::MS_NODIRATIME,
                "relatime" => MsFlags::MS_RELATIME,
                _ => MsFlags::empty(),
            };
        }
        match mount(
            None::<&OsStr>,
            &point,
            None::<&OsStr>,
            flags,
            None::<&OsStr>,
        ) {
            // Covered by a later mount, or not reachable by its path: what
            // the run can reach at that path is remounted on its own line.
            Ok(()) | Err(nix::errno::Errno::ENOENT | nix::errno::Errno::EACCES) => {}
            Err(e) => {
                return Err(failed(
                    "make read-only",
                    point.as_os_str().as_encoded_bytes(),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// An overlay over `home` whose upper layer lives in the run's `/tmp`.
fn private_home(home: &Path) -> Result<(), SetupError> {
    let base = Path::new("/tmp/.avfs-home");
    for dir in ["upper", "work"] {
        std::fs::create_dir_all(base.join(dir))
            .map_err(|e| SetupError(format!("make {}: {e}", base.join(dir).display())))?;
    }
    let options = format!(
        "lowerdir={},upperdir=/tmp/.avfs-home/upper,workdir=/tmp/.avfs-home/work",
        home.display()
    );
    mount(
        Some("avfs-home"),
        home,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| failed("private overlay at", home.as_os_str().as_encoded_bytes(), e))
}

/// Makes `hidden` invisible: an empty read-only tmpfs over a directory,
/// `/dev/null` over anything else; a missing path is left alone.
fn hide(hidden: &Path) -> Result<(), SetupError> {
    let Ok(meta) = std::fs::symlink_metadata(hidden) else {
        return Ok(());
    };
    let at = hidden.as_os_str().as_encoded_bytes();
    if meta.is_dir() {
        mount(
            Some("avfs-hidden"),
            hidden,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=4k,mode=0"),
        )
        .map_err(|e| failed("hide", at, e))
    } else {
        mount(
            Some("/dev/null"),
            hidden,
            None::<&OsStr>,
            MsFlags::MS_BIND,
            None::<&OsStr>,
        )
        .map_err(|e| failed("hide", at, e))
    }
}

/// Brings the new network namespace's loopback interface up (its only one).
pub fn loopback_up() -> std::io::Result<()> {
    use nix::libc;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: an all-zero ifreq is valid; it gets the name "lo" and is
    // passed to SIOCGIFFLAGS/SIOCSIFFLAGS, which read and write only it.
    // nix wraps neither request, and a netlink crate would be far more
    // machinery for this one flag.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
