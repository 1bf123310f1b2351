//! Serving one mount in this process: checks, mounting, signal handling,
//! and the clean-up that runs however the session ends.

use super::commit::{BATCH_MAX_AGE, Finisher, Sharing};
use super::device::{RingStarter, SessionFs};
use super::error::MountError;
use super::guard::PathGuard;
use super::notify::KernelLink;
use super::poll_window::PollWindow;
use super::registry::{MountRecord, Registry, is_fuse_mounted, unmount};
use super::vaultfs::{MountTarget, SessionStats, VaultFs};
use crate::vault::{Op, Owner, Store, now_ns};
use fuser::{Config, MountOption, Session, SessionACL};
use nix::sys::signal::{SigSet, Signal};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, OnceLock};

/// Everything needed to serve a mount.
#[derive(Clone, Debug)]
pub struct MountRequest {
    /// The directory holding `store.db` (and the mount registry).
    pub store_dir: PathBuf,
    /// Owner stamped on what the mount creates.
    pub owner: Owner,
    /// What to show.
    pub target: MountTarget,
    /// Where to show it.
    pub mountpoint: PathBuf,
    /// Let other users in (`allow_other`); the kernel still checks permissions.
    pub allow_other: bool,
}

/// Checks a mount point before anything is mounted; returns its absolute path.
pub fn preflight(mountpoint: &Path) -> Result<PathBuf, MountError> {
    let meta = match std::fs::metadata(mountpoint) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MountError::MountpointMissing(mountpoint.to_path_buf()));
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN) => {
            return Err(MountError::AlreadyMounted(mountpoint.to_path_buf()));
        }
        Err(e) => return Err(e.into()),
    };
    if !meta.is_dir() {
        return Err(MountError::NotADirectory(mountpoint.to_path_buf()));
    }
    let absolute = std::fs::canonicalize(mountpoint)?;
    if is_fuse_mounted(&absolute) {
        return Err(MountError::AlreadyMounted(absolute));
    }
    if std::fs::read_dir(&absolute)?.next().is_some() {
        return Err(MountError::NotEmpty(absolute));
    }
    if !Path::new("/dev/fuse").exists() {
        return Err(MountError::FuseUnavailable(
            "/dev/fuse does not exist".into(),
        ));
    }
    Ok(absolute)
}

fn config(target: &MountTarget, allow_other: bool) -> Config {
    let mut options = vec![
        MountOption::FSName(format!("avfs:{}", target.vault)),
        MountOption::Subtype("avfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
        MountOption::NoDev,
    ];
    options.push(if target.is_readonly() {
        MountOption::RO
    } else {
        MountOption::RW
    });
    let mut config = Config::default();
    config.mount_options = options;
    // Others (an agent running as its own uid) only when asked: permission
    // checks stay the kernel's (DefaultPermissions) either way.
    config.acl = if allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    config.n_threads = Some(THREADS);
    // With a poll window, each thread reads a descriptor of its own, so that
    // only the thread on the main one polls (see `poll_window`).
    config.clone_fd = PollWindow::configured().is_some();
    config
}

/// The threads that serve a session. fuser names them `fuser-0` and up, and
/// with `clone_fd` gives the last the session's own descriptor; the others
/// read clones.
const THREADS: usize = 2;

/// Links a mounted `session` to its file system: the channel that drops
/// what the kernel caches, and the poll window unless the session is to be
/// served through io_uring queues.
fn link_kernel(
    session: &Session<SessionFs>,
    kernel: &OnceLock<KernelLink>,
    window: &OnceLock<PollWindow>,
    rings: &RingStarter,
) -> std::io::Result<()> {
    let _ = kernel.set(KernelLink::of(session)?);
    // Requests that come through the queues need no thread polling /dev/fuse.
    if let Some(length) = PollWindow::configured().filter(|_| !rings.granted()) {
        let fuse = Arc::new(session.as_fd().try_clone_to_owned()?);
        let reader = format!("fuser-{}", THREADS - 1);
        if let Some(started) = PollWindow::start(fuse, reader, length) {
            let _ = window.set(started);
        }
    }
    Ok(())
}

/// Whether `e` says the FUSE connection is gone (the kernel refuses a
/// queue's registration with ENOTCONN once it is disconnected, and with
/// ECONNABORTED once aborted), not that the queues cannot work.
fn connection_gone(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::ENOTCONN | nix::libc::ECONNABORTED)
    )
}

/// The record of a mount of `request` at `mountpoint`, served by this process.
fn record_of(request: &MountRequest, mountpoint: PathBuf) -> MountRecord {
    MountRecord {
        mountpoint,
        vault: request.target.vault.clone(),
        checkpoint: request.target.checkpoint.clone(),
        readonly: request.target.is_readonly(),
        pid: std::process::id(),
        started_ns: now_ns(),
        data_path: None,
        transport: None,
    }
}

/// How long a new mount waits for the kernel's INIT before it is recorded
/// without its data path (a kernel that never sends INIT fails elsewhere).
const INIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The data path the session's `init` chose, once it has run (or `None`
/// after [`INIT_WAIT`]).
fn wait_for_init(data_path: &OnceLock<&'static str>) -> Option<&'static str> {
    let deadline = std::time::Instant::now() + INIT_WAIT;
    loop {
        if let Some(path) = data_path.get() {
            return Some(path);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// A mount served by threads of this process until it is stopped.
pub struct LiveMount {
    record: MountRecord,
    registry: Registry,
    finisher: Finisher,
    server: std::thread::JoinHandle<std::io::Result<()>>,
    /// The thread that ticks the batch, and the line that stops it (dropped:
    /// it stops at once, not at its next tick).
    ticker: (std::thread::JoinHandle<()>, std::sync::mpsc::Sender<()>),
    /// Mounted on the host (and so recorded in the registry); a mount made
    /// inside a run's namespace is neither.
    on_host: bool,
}

/// A vault opened for a run's private mount that is not served yet.
pub struct PrivateVault(VaultFs);

impl LiveMount {
    /// Mounts `request` and serves it on background threads, shared with
    /// other users of the store (`avfs mount`); `guard`, when given, enforces
    /// a policy's path rules on every operation.
    pub fn start(
        request: &MountRequest,
        guard: Option<Arc<PathGuard>>,
    ) -> Result<Self, MountError> {
        Self::start_as(request, guard, Sharing::Shared)
    }

    /// As [`LiveMount::start`], for a mount that nothing else reads or
    /// changes until it stops (a proxy run's own): commits are grouped and
    /// the kernel caches for long (see [`Sharing::Private`]). What it wrote
    /// reaches other processes when it stops, or when a program in it fsyncs.
    pub fn start_private(
        request: &MountRequest,
        guard: Option<Arc<PathGuard>>,
    ) -> Result<Self, MountError> {
        Self::start_as(request, guard, Sharing::Private)
    }

    /// Opens the vault for [`LiveMount::serve_private`], before its mount
    /// exists (so that opening the store overlaps the run's start).
    pub fn open_private(
        request: &MountRequest,
        guard: Option<Arc<PathGuard>>,
    ) -> Result<PrivateVault, MountError> {
        Self::filesystem(request, guard, Sharing::Private).map(PrivateVault)
    }

    /// As [`LiveMount::start_private`], for a vault already mounted by a
    /// run's init inside the run's namespace, on `fuse` (its /dev/fuse
    /// descriptor): nothing is mounted here and nothing recorded; the session
    /// ends when the namespace does.
    pub fn serve_private(
        vault: PrivateVault,
        request: &MountRequest,
        fuse: std::os::fd::OwnedFd,
    ) -> Result<Self, MountError> {
        let fs = vault.0;
        let config = config(&request.target, request.allow_other);
        let (finisher, kernel, data_path) = (fs.finisher(), fs.kernel_slot(), fs.data_path_slot());
        let window = fs.poll_window_slot();
        let fs = SessionFs::new(fs);
        let rings = fs.ring_starter();
        let session = Session::from_fd(fs, fuse, config.acl, config)?;
        link_kernel(&session, &kernel, &window, &rings)?;
        let record = record_of(request, request.mountpoint.clone());
        Self::serve(
            session,
            rings,
            record,
            &request.store_dir,
            finisher,
            data_path,
            false,
        )
    }

    fn filesystem(
        request: &MountRequest,
        guard: Option<Arc<PathGuard>>,
        sharing: Sharing,
    ) -> Result<VaultFs, MountError> {
        let mut store = Store::open(&request.store_dir.join("store.db"), request.owner)?;
        store.read(&request.target.state(), |_| Ok(()))?;
        let mut fs =
            VaultFs::new(store, request.target.clone(), &request.store_dir).with_sharing(sharing);
        if let Some(guard) = guard {
            fs = fs.with_guard(guard);
        }
        Ok(fs)
    }

    fn start_as(
        request: &MountRequest,
        guard: Option<Arc<PathGuard>>,
        sharing: Sharing,
    ) -> Result<Self, MountError> {
        let mountpoint = preflight(&request.mountpoint)?;
        let fs = Self::filesystem(request, guard, sharing)?;
        let finisher = fs.finisher();
        let kernel = fs.kernel_slot();
        let window = fs.poll_window_slot();
        let data_path = fs.data_path_slot();
        let fs = SessionFs::new(fs);
        let rings = fs.ring_starter();
        let session = Session::new(
            fs,
            &mountpoint,
            &config(&request.target, request.allow_other),
        )
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ENODEV) | Some(nix::libc::ENOENT) => {
                MountError::FuseUnavailable(e.to_string())
            }
            _ => MountError::Io(e),
        })?;
        link_kernel(&session, &kernel, &window, &rings)?;
        if !request.target.is_readonly() {
            super::dirty_limit::raise(&mountpoint);
        }
        let registry = Registry::new(&request.store_dir);
        let record = record_of(request, mountpoint.clone());
        // Recorded before serving: if this process dies, the next avfs command
        // finds the record and detaches the dead mount.
        if let Err(e) = registry.add(&record) {
            drop(session); // unmounts
            return Err(e.into());
        }
        Self::serve(
            session,
            rings,
            record,
            &request.store_dir,
            finisher,
            data_path,
            true,
        )
    }

    /// Serves `session` on a background thread.
    fn serve(
        session: Session<SessionFs>,
        rings: RingStarter,
        record: MountRecord,
        store_dir: &Path,
        finisher: Finisher,
        data_path: Arc<OnceLock<&'static str>>,
        on_host: bool,
    ) -> Result<Self, MountError> {
        let registry = Registry::new(store_dir);
        let fuse = session.as_fd().try_clone_to_owned()?;
        let server = std::thread::Builder::new()
            .name("avfs-fuse".into())
            .spawn(move || session.run())?;
        let mut record = record;
        match rings.start(fuse.as_fd()) {
            Ok(transport) => record.transport = Some(transport.to_string()),
            // A run's connection can end before its queues register: the
            // command failed to start, its init left, and the namespace
            // took the mount with it. The session ends as any other, and the
            // run reports what its command did.
            Err(e) if !on_host && connection_gone(&e) => {}
            Err(e) => {
                // The kernel holds every request until the queues register:
                // end the session rather than leave a mount that never
                // answers (a run's private mount ends with its namespace).
                if on_host && unmount(&record.mountpoint, false).is_err() {
                    let _ = unmount(&record.mountpoint, true);
                }
                drop(fuse);
                if on_host {
                    let _ = server.join();
                    registry.remove(&record.mountpoint);
                }
                return Err(MountError::Io(e));
            }
        }
        if on_host {
            // The kernel's INIT is the session's first request: its answer
            // (the data path) follows the mount at once, and goes in the record.
            record.data_path = wait_for_init(&data_path).map(str::to_string);
            if record.data_path.is_some() {
                let _ = registry.add(&record);
            }
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let ticking = finisher.clone();
        let ticker = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(BATCH_MAX_AGE) {
                ticking.tick();
            }
        });
        Ok(Self {
            record,
            registry,
            finisher,
            server,
            ticker: (ticker, stop),
            on_host,
        })
    }

    /// Where and what is mounted.
    pub fn record(&self) -> &MountRecord {
        &self.record
    }

    /// Unmounts (detaching lazily if something still holds files open) and
    /// waits for the session to end; see [`LiveMount::wait`].
    pub fn stop(self) -> Result<SessionStats, MountError> {
        if !self.on_host {
            // Inside a run's namespace, gone with it.
            return self.wait();
        }
        if unmount(&self.record.mountpoint, false).is_err() {
            let _ = unmount(&self.record.mountpoint, true);
        }
        self.wait()
    }

    /// Waits until the mount is unmounted, then commits what is unsaved and
    /// removes the mount record; returns what the session changed.
    pub fn wait(self) -> Result<SessionStats, MountError> {
        let served = self
            .server
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the FUSE server thread panicked")))
            .or_else(ended_by_the_kernel);
        // Joined, so that nothing of the session outlives it: its store
        // closes here, not at the process's exit.
        let (ticker, stop) = self.ticker;
        drop(stop);
        let _ = ticker.join();
        // The session's DESTROY may have finished it already: that commits
        // nothing twice, and the log is taken here, once.
        let mut stats = self.finisher.finish();
        stats.faults = self.finisher.take_faults();
        if self.on_host {
            self.registry.remove(&self.record.mountpoint);
        }
        served?;
        Ok(stats)
    }
}

/// A session whose connection the kernel tore down (the last file of a
/// detached mount closed, or the connection aborted) can end reading
/// ECONNABORTED where fuser expects ENODEV: it is over all the same, and
/// what it left unsaved is committed next.
fn ended_by_the_kernel(e: std::io::Error) -> std::io::Result<()> {
    match e.raw_os_error() {
        Some(nix::libc::ECONNABORTED) => Ok(()),
        _ => Err(e),
    }
}

/// Mounts, calls `ready` once the mount is live, and serves until the mount is
/// unmounted or the process gets SIGTERM, SIGINT or SIGHUP. On the way out it
/// commits unsaved writes, removes the mount record and journals a summary.
pub fn serve(
    request: &MountRequest,
    ready: impl FnOnce(&MountRecord),
) -> Result<SessionStats, MountError> {
    // Block the stop signals before fuser starts its threads, so that only the
    // waiter below ever sees them.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block().map_err(std::io::Error::from)?;
    let live = LiveMount::start(request, None)?;
    ready(live.record());

    let watched = live.record().mountpoint.clone();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            // Open files keep a plain unmount busy: detach instead, and the
            // session ends when the last of them closes.
            if unmount(&watched, false).is_err() {
                let _ = unmount(&watched, true);
            }
        }
    });
    let mountpoint = live.record().mountpoint.clone();
    let served = live.wait();
    let stats = served.as_ref().cloned().unwrap_or_default();
    let summary = format!(
        "{}: {} files written, {} created, {} removed, {} renamed, {} attribute changes",
        mountpoint.display(),
        stats.files_written,
        stats.created,
        stats.removed,
        stats.renamed,
        stats.attrs_changed
    );
    if let Ok(mut store) = Store::open(&request.store_dir.join("store.db"), request.owner) {
        let _ = store.journal(
            Some(&request.target.vault),
            Op::new("mount.session", summary),
        );
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_the_kernel_aborted_has_ended_and_other_errors_stay_errors() {
        let aborted = std::io::Error::from_raw_os_error(nix::libc::ECONNABORTED);
        assert!(ended_by_the_kernel(aborted).is_ok());
        for other in [nix::libc::EIO, nix::libc::ENOTCONN] {
            let e = ended_by_the_kernel(std::io::Error::from_raw_os_error(other));
            assert_eq!(e.unwrap_err().raw_os_error(), Some(other));
        }
        assert!(
            ended_by_the_kernel(std::io::Error::other("the FUSE server thread panicked")).is_err()
        );
    }

    #[test]
    fn only_a_disconnected_or_aborted_connection_lets_a_run_s_queues_not_start() {
        for gone in [nix::libc::ENOTCONN, nix::libc::ECONNABORTED] {
            assert!(connection_gone(&std::io::Error::from_raw_os_error(gone)));
        }
        // Not enabled, no memory, too many rings, a queue that did not register.
        for other in [
            nix::libc::EOPNOTSUPP,
            nix::libc::ENOMEM,
            nix::libc::EMFILE,
            nix::libc::EAGAIN,
        ] {
            assert!(!connection_gone(&std::io::Error::from_raw_os_error(other)));
        }
        assert!(!connection_gone(&std::io::Error::other(
            "an io_uring queue did not register"
        )));
    }
}
