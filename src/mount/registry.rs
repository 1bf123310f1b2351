//! Which avfs mounts exist: one record file per mount under `<store dir>/mounts`,
//! written by the serving process once mounted and removed when it ends.
//!
//! A process killed with SIGKILL cannot remove its record, and its mount point
//! then fails with ENOTCONN ("Transport endpoint is not connected").
//! [`Registry::sweep`] finds such records and detaches their mounts; every avfs
//! command runs it, so the next command after a crash cleans up.

use super::error::MountError;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A live (or dead, until swept) mount.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MountRecord {
    /// Absolute mount point.
    pub mountpoint: PathBuf,
    /// The vault served.
    pub vault: String,
    /// The checkpoint served instead of the head, if any.
    pub checkpoint: Option<String>,
    /// True when the mount refuses changes.
    pub readonly: bool,
    /// The serving process.
    pub pid: u32,
    /// When it was mounted, ns since the epoch.
    pub started_ns: i64,
    /// How file data travels (`passthrough` or `fuse`), once the kernel has
    /// answered the mount's first request; absent in older records.
    #[serde(default)]
    pub data_path: Option<String>,
    /// How requests reach the server: `io_uring` (one queue per CPU) or
    /// `dev_fuse` (read from /dev/fuse); absent in older records.
    #[serde(default)]
    pub transport: Option<String>,
}

/// The mount records of one store.
pub struct Registry {
    dir: PathBuf,
}

/// Which FUSE mounts [`fuse_mounts`] lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Which {
    /// Every FUSE file system.
    Any,
    /// Only avfs's: its source name starts with `avfs:` (a direct mount as root
    /// reports type `fuse`; through fusermount it is `fuse.avfs`).
    Avfs,
}

/// FUSE mount points in this mount namespace.
pub fn fuse_mounts(which: Which) -> Vec<PathBuf> {
    let Ok(table) = fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (source, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            let fuse = fstype == "fuse" || fstype.starts_with("fuse.");
            let matches = match which {
                Which::Any => fuse,
                Which::Avfs => fuse && (source.starts_with("avfs:") || fstype == "fuse.avfs"),
            };
            matches.then(|| PathBuf::from(unescape_mount_path(target)))
        })
        .collect()
}

/// `/proc/mounts` writes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mount_path(raw: &str) -> std::ffi::OsString {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    std::os::unix::ffi::OsStringExt::from_vec(out)
}

/// True if a FUSE file system is mounted at `path`.
pub fn is_fuse_mounted(path: &Path) -> bool {
    fuse_mounts(Which::Any).iter().any(|m| m == path)
}

/// True if `pid` is a running (not zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// How long [`answers_dead`] waits for a mount to answer.
const PROBE_WAIT: Duration = Duration::from_millis(250);

/// True when the mount at `path` answers ENOTCONN (its serving process is
/// gone) within [`PROBE_WAIT`]. The mount may be anyone's, and one whose
/// server is alive but stopped (Ctrl-Z of `avfs mount --foreground`) never
/// answers: it counts as alive, and its probe stays blocked on a thread of
/// its own, which this process's exit ends (a FUSE request that the stopped
/// server has not read yet yields to SIGKILL).
fn answers_dead(path: &Path) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    let probe = std::thread::Builder::new()
        .name("avfs-mount-probe".into())
        .spawn(move || {
            let dead = matches!(fs::metadata(&path), Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN));
            let _ = tx.send(dead);
        });
    probe.is_ok() && rx.recv_timeout(PROBE_WAIT).unwrap_or(false)
}

/// Unmounts `path`; `lazy` detaches it even while files are open.
pub fn unmount(path: &Path, lazy: bool) -> Result<(), MountError> {
    use nix::mount::{MntFlags, umount2};
    let flags = if lazy {
        MntFlags::MNT_DETACH
    } else {
        MntFlags::empty()
    };
    match umount2(path, flags) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => Err(MountError::Busy(path.to_path_buf())),
        Err(nix::errno::Errno::EINVAL) => Err(MountError::NotMounted(path.to_path_buf())),
        // Not root: the setuid helper from the fuse3 package may unmount for us.
        Err(nix::errno::Errno::EPERM) => {
            let mut args = vec!["-u"];
            if lazy {
                args.push("-z");
            }
            for helper in ["fusermount3", "fusermount"] {
                let status = std::process::Command::new(helper)
                    .args(&args)
                    .arg(path)
                    .status();
                if status.is_ok_and(|s| s.success()) {
                    return Ok(());
                }
            }
            Err(MountError::Io(io::Error::from_raw_os_error(
                nix::libc::EPERM,
            )))
        }
        Err(e) => Err(MountError::Io(io::Error::from(e))),
    }
}

impl Registry {
    /// The registry of the store in `store_dir`.
    pub fn new(store_dir: &Path) -> Self {
        Self {
            dir: store_dir.join("mounts"),
        }
    }

    fn stem(mountpoint: &Path) -> String {
        blake3::hash(mountpoint.as_os_str().as_bytes()).to_hex()[..16].to_string()
    }

    fn record_path(&self, mountpoint: &Path) -> PathBuf {
        self.dir.join(format!("{}.json", Self::stem(mountpoint)))
    }

    /// Where the serving process of `mountpoint` writes its log.
    pub fn log_path(&self, mountpoint: &Path) -> PathBuf {
        self.dir.join(format!("{}.log", Self::stem(mountpoint)))
    }

    /// Creates the registry directory.
    pub fn ensure(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)
    }

    /// Records a mount (atomically: write, then rename into place).
    pub fn add(&self, record: &MountRecord) -> io::Result<()> {
        self.ensure()?;
        let path = self.record_path(&record.mountpoint);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&tmp, serde_json::to_vec(record).map_err(io::Error::other)?)?;
        fs::rename(tmp, path)
    }

    /// Forgets a mount.
    pub fn remove(&self, mountpoint: &Path) {
        let _ = fs::remove_file(self.record_path(mountpoint));
    }

    /// Every record, live or not, sorted by mount point.
    pub fn records(&self) -> Vec<MountRecord> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<MountRecord> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
        out
    }

    /// The record of the mount at `mountpoint`.
    pub fn find(&self, mountpoint: &Path) -> Option<MountRecord> {
        fs::read(self.record_path(mountpoint))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// True if the record's process is alive and its mount is there.
    pub fn is_live(record: &MountRecord) -> bool {
        pid_alive(record.pid) && is_fuse_mounted(&record.mountpoint)
    }

    /// Detaches the mounts of dead serving processes and drops their records;
    /// with `orphans`, also avfs mounts that have no record and no longer answer.
    /// Returns the mount points cleaned.
    pub fn sweep(&self, orphans: bool) -> Vec<PathBuf> {
        let mut cleaned = Vec::new();
        let records = self.records();
        for record in &records {
            if pid_alive(record.pid) {
                continue;
            }
            if is_fuse_mounted(&record.mountpoint) {
                let _ = unmount(&record.mountpoint, true);
            }
            self.remove(&record.mountpoint);
            cleaned.push(record.mountpoint.clone());
        }
        if orphans {
            for mountpoint in fuse_mounts(Which::Avfs) {
                let known = records
                    .iter()
                    .any(|r| r.mountpoint == mountpoint && pid_alive(r.pid));
                if !known && answers_dead(&mountpoint) && unmount(&mountpoint, true).is_ok() {
                    cleaned.push(mountpoint);
                }
            }
        }
        cleaned
    }

    /// Waits until the serving process of a record has exited (it commits on the way out).
    pub fn wait_for_exit(record: &MountRecord, limit: Duration) -> bool {
        let start = Instant::now();
        while pid_alive(record.pid) {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_proc_mounts_paths() {
        assert_eq!(
            unescape_mount_path("/tmp/a\\040b"),
            std::ffi::OsString::from("/tmp/a b")
        );
        assert_eq!(
            unescape_mount_path("/plain"),
            std::ffi::OsString::from("/plain")
        );
        assert_eq!(
            unescape_mount_path("/x\\134y"),
            std::ffi::OsString::from("/x\\y")
        );
    }

    #[test]
    fn records_round_trip_and_dead_ones_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        let record = MountRecord {
            mountpoint: PathBuf::from("/nowhere/avfs-test"),
            vault: "v".into(),
            checkpoint: None,
            readonly: false,
            pid: u32::MAX - 1,
            started_ns: 0,
            data_path: None,
            transport: None,
        };
        reg.add(&record).unwrap();
        assert_eq!(reg.find(&record.mountpoint), Some(record.clone()));
        assert_eq!(reg.records(), vec![record.clone()]);
        assert_eq!(reg.sweep(false), vec![record.mountpoint.clone()]);
        assert!(reg.records().is_empty());
    }
}
