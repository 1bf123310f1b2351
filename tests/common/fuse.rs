//! FUSE test support: a mounted vault that is always unmounted, even when the
//! test panics, and the explicit opt-out when /dev/fuse is missing.
#![allow(dead_code)]

use super::Avfs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Returns false (after saying why) when FUSE tests must not run here; panics
/// with a clear message when /dev/fuse is missing and nobody opted out.
pub fn fuse_available() -> bool {
    if std::env::var_os("AVFS_SKIP_FUSE_TESTS").is_some_and(|v| v == "1") {
        eprintln!("AVFS_SKIP_FUSE_TESTS=1: skipping a FUSE end-to-end test");
        return false;
    }
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: FUSE end-to-end tests cannot run here. \
         Load the fuse module, or opt out explicitly with AVFS_SKIP_FUSE_TESTS=1."
    );
    true
}

/// A vault mounted at a private temporary directory.
pub struct Mounted {
    pub dir: tempfile::TempDir,
    pub pid: u32,
    home: PathBuf,
}

#[derive(serde::Deserialize)]
struct MountDoc {
    pid: u32,
}

impl Mounted {
    /// Mounts `vault` with extra `flags` (e.g. `--readonly`).
    pub fn new(avfs: &Avfs, vault: &str, flags: &[&str]) -> Self {
        Self::with_env(avfs, vault, flags, &[])
    }

    /// As [`Mounted::new`], with extra environment variables for avfs (and
    /// so for the serving process), e.g. S3 credentials.
    pub fn with_env(avfs: &Avfs, vault: &str, flags: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("mount dir");
        let mut args: Vec<std::ffi::OsString> = vec![
            "--json".into(),
            "mount".into(),
            vault.into(),
            dir.path().into(),
        ];
        args.extend(flags.iter().map(Into::into));
        let out = avfs
            .command()
            .envs(env.iter().copied())
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("spawn avfs mount");
        assert!(
            out.status.success(),
            "mount failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let doc: MountDoc = super::parse_one(&out.stdout);
        Self {
            dir,
            pid: doc.pid,
            home: avfs.home.path().to_path_buf(),
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the mount.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Unmounts cleanly and waits for the serving process to commit and exit.
    pub fn unmount(self) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_avfs"))
            .env("AVFS_HOME", &self.home)
            .arg("unmount")
            .arg(self.dir.path())
            .output()
            .expect("run avfs unmount");
        assert!(
            out.status.success(),
            "unmount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Drop finds it already unmounted.
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let mounted = std::fs::read_to_string("/proc/self/mounts")
            .map(|t| {
                t.lines()
                    .any(|l| l.split(' ').nth(1) == Some(&*self.dir.path().to_string_lossy()))
            })
            .unwrap_or(false);
        if mounted {
            let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Polls `done` until it holds; fails the test after `limit`.
#[track_caller]
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True once `pid` has exited (a zombie counts: nobody may reap it here).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}
