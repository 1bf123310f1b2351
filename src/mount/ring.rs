//! FUSE over io_uring (Linux 6.14+): the kernel queues a program's request on
//! the ring of the CPU the program runs on, and a thread of ours pinned to
//! that CPU answers it and fetches the next in one submission. A request no
//! longer wakes a server thread sleeping on another CPU, which on a VM is a
//! trip through the host: a round trip takes 6 µs instead of 17–29 µs here
//! (BENCHMARKS.md, "FUSE over io_uring").
//!
//! The kernel offers it only where root has set the `fuse` module's
//! `enable_uring` parameter; avfs then asks for it for a run's private mount
//! unless `AVFS_FUSE_URING=off`, and for a shared mount only with
//! `AVFS_FUSE_URING=on` (experimental). The session's INIT asks; once every
//! CPU's queue has an entry registered, requests come here, decoded by `wire`
//! and answered by the same `VaultFs` handlers as fuser's (`answer`). INIT,
//! FORGET, INTERRUPT and notifications stay on /dev/fuse, served by fuser.

use super::answer::{
    Answer, AnswerAttr, AnswerCreate, AnswerData, AnswerDir, AnswerDirPlus, AnswerEmpty,
    AnswerEntry, AnswerOpen, AnswerStatfs, AnswerWrite, AnswerXattr, RegisterBacking,
};
use super::attr::to_time;
use super::owner::Caller;
use super::vaultfs::VaultFs;
use super::wire::{self, Wire, opcode};
use fuser::{
    BackingId, Errno, FileAttr, FileHandle, FileType, FopenFlags, INodeNo, OpenFlags, RenameFlags,
    TimeOrNow, WriteFlags,
};
use io_uring::{IoUring, cqueue, opcode::UringCmd80, squeue, types};
use std::ffi::OsStr;
use std::fs::File;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where root turns the kernel's side on (off by default).
const ENABLE: &str = "/sys/module/fuse/parameters/enable_uring";

/// The CPUs the kernel may have, one queue each.
const POSSIBLE_CPUS: &str = "/sys/devices/system/cpu/possible";

/// `AVFS_FUSE_URING=on` asks for the queues for shared mounts too, `off` for
/// none (experimental: a request the kernel has queued to a stopped server
/// can no longer be abandoned by a fatal signal, see ARCHITECTURE.md).
const SWITCH: &str = "AVFS_FUSE_URING";

/// The ring commands (`enum fuse_uring_cmd`).
const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;

/// A ring entry's header: the request's (then the answer's) header, the
/// request's fixed arguments, and the entry's own fields.
const HEADER_LEN: usize = 288;
const OP_IN_AT: usize = 128;
const ENT_IN_OUT_AT: usize = 256;

/// How long a session waits for its queues to register.
const REGISTER_WAIT: Duration = Duration::from_secs(2);

/// Whether a new mount should ask the kernel for the ring: the kernel
/// offers it, this process may use io_uring, and `AVFS_FUSE_URING` is `on`,
/// or, for a run's `private` mount, not `off`. A private mount lives in the
/// run's own mount namespace, where no other process's probe can come to
/// wait on a stopped server: root turning `enable_uring` on is consent enough.
pub(super) fn wanted(private: bool) -> bool {
    let switch = std::env::var(SWITCH).ok();
    let asked = match switch.as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => private,
    };
    asked && std::fs::read_to_string(ENABLE).is_ok_and(|v| v.trim() == "Y") && usable()
}

/// Whether this process may make an io_uring with 128-byte commands (a
/// sysctl, seccomp or a container may forbid it). Asked before INIT: once
/// INIT has asked for the queues, the kernel holds every request until they
/// register.
fn usable() -> bool {
    IoUring::<squeue::Entry128, cqueue::Entry>::builder()
        .build(2)
        .is_ok()
}

/// The queues of a session, one thread per CPU we may run on.
pub(super) struct Rings {
    threads: Vec<JoinHandle<()>>,
}

impl Rings {
    /// Starts serving `fs` on `fuse` (the session's /dev/fuse descriptor,
    /// its INIT answered) through one queue per possible CPU, each entry with
    /// room for `payload` bytes (the kernel's largest request or answer).
    /// Returns once every queue is registered, or fails if one is not.
    pub(super) fn start(fs: Arc<VaultFs>, fuse: OwnedFd, payload: usize) -> std::io::Result<Self> {
        let queues = possible_cpus()?;
        let fuse = Arc::new(fuse);
        let cpus = usable_cpus().unwrap_or_else(|| (0..queues).collect());
        let threads = cpus.len().clamp(1, queues);
        let (registered, outcomes) = std::sync::mpsc::channel();
        let mut handles = Vec::with_capacity(threads);
        let mine = |q: usize| cpus.iter().position(|&c| c == q);
        for t in 0..threads {
            // Each thread serves the queue of its CPU and a share of the
            // queues of CPUs this process may not run on (its programs,
            // which run where it may, send nothing there).
            let qids: Vec<u16> = (0..queues)
                .filter(|&q| mine(q).unwrap_or(q % threads) == t)
                .map(|q| q as u16)
                .collect();
            let cpu = cpus.get(t).copied();
            let (fs, fuse, registered) = (Arc::clone(&fs), Arc::clone(&fuse), registered.clone());
            let handle = std::thread::Builder::new()
                .name(format!("avfs-ring-{t}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        pin_to(cpu);
                    }
                    let queue = Queue::new(&fuse, &qids, payload)
                        .and_then(|mut q| q.register().map(|early| (q, early)));
                    match queue {
                        Ok((mut queue, early)) => {
                            let _ = registered.send(Ok(()));
                            queue.serve(&fs, early);
                        }
                        Err(e) => {
                            let _ = registered.send(Err(e));
                        }
                    }
                })?;
            handles.push(handle);
        }
        for _ in 0..threads {
            match outcomes.recv_timeout(REGISTER_WAIT) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("an io_uring queue did not register")),
            }
        }
        Ok(Self { threads: handles })
    }

    /// Waits until every queue has stopped (the connection is gone).
    pub(super) fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// The number of CPUs the kernel may have (`nr_cpu_ids`): one queue each.
fn possible_cpus() -> std::io::Result<usize> {
    let text = std::fs::read_to_string(POSSIBLE_CPUS)?;
    let last = text
        .trim()
        .rsplit([',', '-'])
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| std::io::Error::other(format!("{POSSIBLE_CPUS}: {text:?}")))?;
    Ok(last + 1)
}

/// The CPUs this process may run on.
fn usable_cpus() -> Option<Vec<usize>> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    let cpus: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect();
    (!cpus.is_empty()).then_some(cpus)
}

/// Keeps this thread on `cpu`, where its queue's requests come from.
fn pin_to(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// One registered ring entry: the buffers the kernel copies a request into
/// and the answer out of. They stay put while the ring lives.
struct Slot {
    qid: u16,
    /// The commit id of the last answer sent, none before the first.
    commit: Option<u64>,
    header: Box<[u64; HEADER_LEN / 8]>,
    payload: Vec<u8>,
    iov: Box<[nix::libc::iovec; 2]>,
}

impl Slot {
    fn new(qid: u16, payload: usize) -> Self {
        let mut slot = Self {
            qid,
            commit: None,
            header: Box::new([0; HEADER_LEN / 8]),
            payload: vec![0; payload],
            iov: Box::new(
                [nix::libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }; 2],
            ),
        };
        slot.iov[0] = nix::libc::iovec {
            iov_base: slot.header.as_mut_ptr().cast(),
            iov_len: HEADER_LEN,
        };
        slot.iov[1] = nix::libc::iovec {
            iov_base: slot.payload.as_mut_ptr().cast(),
            iov_len: slot.payload.len(),
        };
        slot
    }

    fn header(&self) -> &[u8] {
        // SAFETY: a [u64; 36] is 288 initialized bytes.
        unsafe { std::slice::from_raw_parts(self.header.as_ptr().cast::<u8>(), HEADER_LEN) }
    }

    fn header_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `header`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.header.as_mut_ptr().cast::<u8>(), HEADER_LEN) }
    }

    /// The commit id and payload size the kernel put in the entry's fields.
    fn entry_fields(&self) -> (u64, usize) {
        let h = self.header();
        let commit = u64::from_ne_bytes(
            h[ENT_IN_OUT_AT + 8..ENT_IN_OUT_AT + 16]
                .try_into()
                .expect("8 bytes"),
        );
        let size = u32::from_ne_bytes(
            h[ENT_IN_OUT_AT + 16..ENT_IN_OUT_AT + 20]
                .try_into()
                .expect("4 bytes"),
        );
        (commit, size as usize)
    }

    /// Puts the answer to request `unique` in the entry: `status` 0 or a
    /// negative errno, `body` the answer's arguments.
    fn answer(&mut self, unique: u64, status: i32, body: &[u8]) {
        let (status, body) = if body.len() > self.payload.len() {
            (-nix::libc::EIO, &[][..])
        } else {
            (status, body)
        };
        self.payload[..body.len()].copy_from_slice(body);
        let out = wire::out_header {
            len: (size_of::<wire::out_header>() + body.len()) as u32,
            error: status,
            unique,
        };
        let h = self.header_mut();
        h[..size_of::<wire::out_header>()].copy_from_slice(wire::bytes(&out));
        h[ENT_IN_OUT_AT + 16..ENT_IN_OUT_AT + 20]
            .copy_from_slice(&(body.len() as u32).to_ne_bytes());
    }
}

/// A thread's io_uring and the entries it registered on its queues.
struct Queue {
    ring: IoUring<squeue::Entry128, cqueue::Entry>,
    fuse: i32,
    slots: Vec<Slot>,
    /// What the answer being built holds (reused between requests).
    body: Vec<u8>,
}

impl Queue {
    fn new(fuse: &Arc<OwnedFd>, qids: &[u16], payload: usize) -> std::io::Result<Self> {
        let ring = IoUring::<squeue::Entry128, cqueue::Entry>::builder()
            .build((qids.len() as u32).next_power_of_two().max(2))?;
        Ok(Self {
            ring,
            fuse: fuse.as_raw_fd(),
            slots: qids.iter().map(|&q| Slot::new(q, payload)).collect(),
            body: Vec::new(),
        })
    }

    /// Registers every entry with the kernel; an error the kernel gives at
    /// once (it checks the entry as it takes it) fails the queue. A request
    /// may already have come in: the completions seen are returned for `serve`.
    fn register(&mut self) -> std::io::Result<Vec<(usize, i32)>> {
        for i in 0..self.slots.len() {
            self.push_register(i);
        }
        self.ring.submit()?;
        let early: Vec<(usize, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data() as usize, c.result()))
            .collect();
        // EAGAIN and EINTR are tried again by `serve`; any other error fails.
        if let Some(&(_, failed)) = early
            .iter()
            .find(|(_, result)| *result < 0 && !retried(*result))
        {
            return Err(std::io::Error::from_raw_os_error(-failed));
        }
        Ok(early)
    }

    /// Answers requests, starting with the completions `done` already
    /// holds, until the connection ends.
    fn serve(&mut self, fs: &VaultFs, mut done: Vec<(usize, i32)>) {
        let mut live = self.slots.len();
        loop {
            for (i, result) in done.drain(..) {
                if i >= self.slots.len() {
                    continue;
                }
                if retried(result) {
                    // Not taken this time: the same command again.
                    match self.slots[i].commit {
                        Some(commit) => self.push_commit(i, commit),
                        None => self.push_register(i),
                    }
                } else if result < 0 {
                    // The connection is gone.
                    live -= 1;
                } else {
                    let commit = self.handle(fs, i);
                    self.push_commit(i, commit);
                }
            }
            if live == 0 {
                return;
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                // Interrupted, or the kernel short of room for a moment:
                // what has completed is taken, then the wait resumes.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(nix::libc::EINTR | nix::libc::EAGAIN | nix::libc::EBUSY)
                    ) => {}
                Err(_) => return,
            }
            done.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data() as usize, c.result())),
            );
        }
    }

    /// Answers the request in slot `i`; returns its commit id.
    fn handle(&mut self, fs: &VaultFs, i: usize) -> u64 {
        let slot = &mut self.slots[i];
        let (commit, payload_len) = slot.entry_fields();
        let header: wire::in_header = wire::read(slot.header()).unwrap_or_default();
        let mut status = None;
        self.body.clear();
        {
            let op = &slot.header()[OP_IN_AT..ENT_IN_OUT_AT];
            let payload = &slot.payload[..payload_len.min(slot.payload.len())];
            let reply = RingReply {
                status: &mut status,
                body: &mut self.body,
                room: usize::MAX,
            };
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                dispatch(fs, &header, op, payload, reply)
            }));
            if served.is_err() {
                status = Some(-nix::libc::EIO);
            }
        }
        // Every handler answers exactly once; one that did not is a fault.
        let status = status.unwrap_or(-nix::libc::EIO);
        let body = if status == 0 { &self.body[..] } else { &[][..] };
        slot.answer(header.unique, status, body);
        commit
    }

    fn push_register(&mut self, i: usize) {
        let slot = &self.slots[i];
        let mut sqe = UringCmd80::new(types::Fd(self.fuse), CMD_REGISTER)
            .cmd(command(slot.qid, 0))
            .addr(Some(slot.iov.as_ptr() as u64))
            .build()
            .user_data(i as u64);
        set_len(&mut sqe, 2);
        self.push(sqe);
    }

    fn push_commit(&mut self, i: usize, commit: u64) {
        self.slots[i].commit = Some(commit);
        let sqe = UringCmd80::new(types::Fd(self.fuse), CMD_COMMIT_AND_FETCH)
            .cmd(command(self.slots[i].qid, commit))
            .build()
            .user_data(i as u64);
        self.push(sqe);
    }

    fn push(&mut self, sqe: squeue::Entry128) {
        // SAFETY: the slot's buffers and iovecs live as long as the ring.
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            let _ = self.ring.submit();
        }
    }
}

/// Whether a command that completed with `result` is submitted again.
fn retried(result: i32) -> bool {
    result == -nix::libc::EAGAIN || result == -nix::libc::EINTR
}

/// The 80 bytes of a ring command (`struct fuse_uring_cmd_req`).
fn command(qid: u16, commit_id: u64) -> [u8; 80] {
    let mut cmd = [0u8; 80];
    cmd[8..16].copy_from_slice(&commit_id.to_ne_bytes());
    cmd[16..18].copy_from_slice(&qid.to_ne_bytes());
    cmd
}

/// Sets the SQE's `len` (the iovec count REGISTER reads), which the
/// io-uring crate's builder does not expose: a u32 at byte 24 of the SQE.
fn set_len(sqe: &mut squeue::Entry128, len: u32) {
    const _: () = assert!(size_of::<squeue::Entry128>() == 128);
    // SAFETY: `Entry128` is the kernel's 128-byte SQE; `len` is at byte 24.
    unsafe {
        (sqe as *mut squeue::Entry128)
            .cast::<u8>()
            .add(24)
            .cast::<u32>()
            .write_unaligned(len)
    };
}

/// The answer a handler builds: a status and the answer's arguments.
struct RingReply<'a> {
    status: &'a mut Option<i32>,
    body: &'a mut Vec<u8>,
    /// The most a directory listing may hold (the kernel's buffer).
    room: usize,
}

impl RingReply<'_> {
    fn with<T: Wire>(self, value: &T) {
        self.body.extend_from_slice(wire::bytes(value));
        *self.status = Some(0);
    }
}

impl Answer for RingReply<'_> {
    fn error(self, e: Errno) {
        *self.status = Some(-e.code());
    }
}

impl AnswerEntry for RingReply<'_> {
    fn entry(self, ttl: &Duration, attr: &FileAttr) {
        self.with(&entry_out(ttl, attr));
    }
}

impl AnswerAttr for RingReply<'_> {
    fn attr(self, ttl: &Duration, attr: &FileAttr) {
        self.with(&wire::attr_out {
            attr_valid: ttl.as_secs(),
            attr_valid_nsec: ttl.subsec_nanos(),
            dummy: 0,
            attr: wire_attr(attr),
        });
    }
}

impl AnswerData for RingReply<'_> {
    fn data(self, data: &[u8]) {
        self.body.extend_from_slice(data);
        *self.status = Some(0);
    }
}

impl AnswerEmpty for RingReply<'_> {
    fn ok(self) {
        *self.status = Some(0);
    }
}

impl AnswerWrite for RingReply<'_> {
    fn written(self, size: u32) {
        self.with(&wire::write_out { size, padding: 0 });
    }
}

impl AnswerStatfs for RingReply<'_> {
    fn statfs(
        self,
        blocks: u64,
        bfree: u64,
        bavail: u64,
        files: u64,
        ffree: u64,
        bsize: u32,
        namelen: u32,
        frsize: u32,
    ) {
        self.with(&wire::statfs_out {
            blocks,
            bfree,
            bavail,
            files,
            ffree,
            bsize,
            namelen,
            frsize,
            ..Default::default()
        });
    }
}

impl AnswerXattr for RingReply<'_> {
    fn size(self, size: u32) {
        self.with(&wire::getxattr_out { size, padding: 0 });
    }

    fn data(self, data: &[u8]) {
        AnswerData::data(self, data)
    }
}

impl RegisterBacking for RingReply<'_> {
    /// The ring is asked for only without passthrough (`wanted`), so no
    /// file is spooled to a backing file here.
    fn open_backing(&self, _file: &File) -> std::io::Result<BackingId> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

impl AnswerOpen for RingReply<'_> {
    fn opened(self, fh: FileHandle, flags: FopenFlags) {
        self.with(&wire::open_out {
            fh: fh.0,
            open_flags: flags.bits(),
            backing_id: 0,
        });
    }

    fn opened_passthrough(self, _fh: FileHandle, _flags: FopenFlags, _backing: &BackingId) {
        // Unreachable: `open_backing` never succeeds here.
        self.error(Errno::EIO)
    }
}

impl AnswerCreate for RingReply<'_> {
    fn created(self, ttl: &Duration, attr: &FileAttr, fh: FileHandle, flags: FopenFlags) {
        self.body
            .extend_from_slice(wire::bytes(&entry_out(ttl, attr)));
        self.with(&wire::open_out {
            fh: fh.0,
            open_flags: flags.bits(),
            backing_id: 0,
        });
    }

    fn created_passthrough(
        self,
        _ttl: &Duration,
        _attr: &FileAttr,
        _fh: FileHandle,
        _flags: FopenFlags,
        _backing: &BackingId,
    ) {
        // Unreachable: `open_backing` never succeeds here.
        self.error(Errno::EIO)
    }
}

impl AnswerDir for RingReply<'_> {
    fn add(&mut self, ino: INodeNo, offset: u64, kind: FileType, name: &OsStr) -> bool {
        let name = name.as_bytes();
        let len = wire::dirent_len(size_of::<wire::dirent>(), name.len());
        if self.body.len() + len > self.room {
            return true;
        }
        let at = self.body.len();
        self.body.extend_from_slice(wire::bytes(&wire::dirent {
            ino: ino.0,
            off: offset,
            namelen: name.len() as u32,
            kind: dirent_kind(kind),
        }));
        self.body.extend_from_slice(name);
        self.body.resize(at + len, 0);
        false
    }

    fn ok(self) {
        *self.status = Some(0);
    }
}

impl AnswerDirPlus for RingReply<'_> {
    fn add(&mut self, offset: u64, name: &OsStr, ttl: &Duration, attr: &FileAttr) -> bool {
        let name = name.as_bytes();
        let fixed = size_of::<wire::entry_out>() + size_of::<wire::dirent>();
        let len = wire::dirent_len(fixed, name.len());
        if self.body.len() + len > self.room {
            return true;
        }
        let at = self.body.len();
        self.body
            .extend_from_slice(wire::bytes(&entry_out(ttl, attr)));
        self.body.extend_from_slice(wire::bytes(&wire::dirent {
            ino: attr.ino.0,
            off: offset,
            namelen: name.len() as u32,
            kind: dirent_kind(attr.kind),
        }));
        self.body.extend_from_slice(name);
        self.body.resize(at + len, 0);
        false
    }

    fn ok(self) {
        *self.status = Some(0);
    }
}

fn entry_out(ttl: &Duration, attr: &FileAttr) -> wire::entry_out {
    wire::entry_out {
        nodeid: attr.ino.0,
        generation: 0,
        entry_valid: ttl.as_secs(),
        attr_valid: ttl.as_secs(),
        entry_valid_nsec: ttl.subsec_nanos(),
        attr_valid_nsec: ttl.subsec_nanos(),
        attr: wire_attr(attr),
    }
}

/// `kind`'s bits in `st_mode` (`S_IFMT`).
fn mode_bits(kind: FileType) -> u32 {
    use nix::libc::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK};
    match kind {
        FileType::NamedPipe => S_IFIFO,
        FileType::CharDevice => S_IFCHR,
        FileType::BlockDevice => S_IFBLK,
        FileType::Directory => S_IFDIR,
        FileType::RegularFile => S_IFREG,
        FileType::Symlink => S_IFLNK,
        FileType::Socket => S_IFSOCK,
    }
}

/// A directory entry's type (`DT_*`), as the kernel takes it from the mode.
fn dirent_kind(kind: FileType) -> u32 {
    mode_bits(kind) >> 12
}

fn wire_attr(attr: &FileAttr) -> wire::attr {
    let (atime, atimensec) = wire_time(attr.atime);
    let (mtime, mtimensec) = wire_time(attr.mtime);
    let (ctime, ctimensec) = wire_time(attr.ctime);
    wire::attr {
        ino: attr.ino.0,
        size: attr.size,
        blocks: attr.blocks,
        atime,
        mtime,
        ctime,
        atimensec,
        mtimensec,
        ctimensec,
        mode: mode_bits(attr.kind) | u32::from(attr.perm),
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        rdev: attr.rdev,
        blksize: attr.blksize,
        flags: 0,
    }
}

/// A time as the kernel's seconds (two's complement) and nanoseconds.
fn wire_time(t: SystemTime) -> (u64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs(), d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 {
                ((-secs) as u64, 0)
            } else {
                ((-secs - 1) as u64, 1_000_000_000 - nanos)
            }
        }
    }
}

/// The time a request names: seconds (two's complement) and nanoseconds.
/// (The store keeps nanoseconds in an i64: a time past its range saturates.)
fn system_time(secs: u64, nanos: u32) -> SystemTime {
    let ns = (secs as i64)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(nanos.min(999_999_999)));
    to_time(ns)
}

/// `setattr`'s time in `valid`, `now` or `at` (secs, nanos).
fn set_time(valid: u32, set: u32, now: u32, at: (u64, u32)) -> Option<TimeOrNow> {
    if valid & now != 0 {
        Some(TimeOrNow::Now)
    } else if valid & set != 0 {
        Some(TimeOrNow::SpecificTime(system_time(at.0, at.1)))
    } else {
        None
    }
}

/// Hands the request to its handler; a request this mount does not serve
/// (locks, ioctls, lseek, ...) gets ENOSYS, as fuser answers it.
fn dispatch(
    fs: &VaultFs,
    h: &wire::in_header,
    op: &[u8],
    payload: &[u8],
    mut reply: RingReply<'_>,
) {
    let call = Caller::new(h.uid, h.gid, h.pid);
    let ino = INodeNo(h.nodeid);
    let name = || wire::name(payload).map(|(n, rest)| (OsStr::from_bytes(n), rest));
    macro_rules! arg {
        ($t:ty) => {
            match wire::read::<$t>(op) {
                Some(a) => a,
                None => return reply.error(Errno::EIO),
            }
        };
    }
    macro_rules! named {
        () => {
            match name() {
                Some(n) => n,
                None => return reply.error(Errno::EIO),
            }
        };
    }
    match h.opcode {
        opcode::LOOKUP => fs.lookup(call, ino, named!().0, reply),
        opcode::GETATTR => fs.getattr(call, ino, reply),
        opcode::SETATTR => {
            let a = arg!(wire::setattr_in);
            let v = a.valid;
            let has = |bit: u32| v & bit != 0;
            fs.setattr(
                call,
                ino,
                has(wire::fattr::MODE).then_some(a.mode),
                has(wire::fattr::UID).then_some(a.uid),
                has(wire::fattr::GID).then_some(a.gid),
                has(wire::fattr::SIZE).then_some(a.size),
                set_time(
                    v,
                    wire::fattr::ATIME,
                    wire::fattr::ATIME_NOW,
                    (a.atime, a.atimensec),
                ),
                set_time(
                    v,
                    wire::fattr::MTIME,
                    wire::fattr::MTIME_NOW,
                    (a.mtime, a.mtimensec),
                ),
                reply,
            )
        }
        opcode::READLINK => fs.readlink(call, ino, reply),
        opcode::SYMLINK => {
            let (link, rest) = named!();
            let Some((target, _)) = wire::name(rest) else {
                return reply.error(Errno::EIO);
            };
            fs.symlink(call, ino, link, Path::new(OsStr::from_bytes(target)), reply)
        }
        opcode::MKNOD => {
            let a = arg!(wire::mknod_in);
            fs.mknod(call, ino, named!().0, a.mode, a.umask, a.rdev, reply)
        }
        opcode::MKDIR => {
            let a = arg!(wire::mkdir_in);
            fs.mkdir(call, ino, named!().0, a.mode, a.umask, reply)
        }
        opcode::UNLINK => fs.unlink(call, ino, named!().0, reply),
        opcode::RMDIR => fs.rmdir(call, ino, named!().0, reply),
        opcode::RENAME | opcode::RENAME2 => {
            let (newdir, flags) = if h.opcode == opcode::RENAME {
                (arg!(wire::rename_in).newdir, 0)
            } else {
                let a = arg!(wire::rename2_in);
                (a.newdir, a.flags)
            };
            let (old, rest) = named!();
            let Some((new, _)) = wire::name(rest) else {
                return reply.error(Errno::EIO);
            };
            let flags = RenameFlags::from_bits_retain(flags);
            fs.rename(
                call,
                ino,
                old,
                INodeNo(newdir),
                OsStr::from_bytes(new),
                flags,
                reply,
            )
        }
        opcode::LINK => {
            let a = arg!(wire::link_in);
            fs.link(call, INodeNo(a.oldnodeid), ino, named!().0, reply)
        }
        opcode::OPEN => {
            let a = arg!(wire::open_in);
            fs.open(call, ino, OpenFlags(a.flags as i32), reply)
        }
        opcode::READ => {
            let a = arg!(wire::read_in);
            fs.read(call, ino, FileHandle(a.fh), a.offset, a.size, reply)
        }
        opcode::WRITE => {
            let a = arg!(wire::write_in);
            let data = &payload[..(a.size as usize).min(payload.len())];
            let flags = WriteFlags::from_bits_retain(a.write_flags);
            fs.write(call, ino, FileHandle(a.fh), a.offset, data, flags, reply)
        }
        opcode::STATFS => fs.statfs(call, ino, reply),
        opcode::RELEASE => {
            let a = arg!(wire::release_in);
            fs.release(call, ino, FileHandle(a.fh), reply)
        }
        opcode::FSYNC => fs.fsync(call, ino, reply),
        opcode::FSYNCDIR => fs.fsyncdir(call, ino, reply),
        opcode::SETXATTR => {
            let a = arg!(wire::setxattr_in);
            let (n, value) = named!();
            let value = &value[..(a.size as usize).min(value.len())];
            fs.setxattr(call, ino, n, value, a.flags as i32, reply)
        }
        opcode::GETXATTR => {
            let a = arg!(wire::getxattr_in);
            fs.getxattr(call, ino, named!().0, a.size, reply)
        }
        opcode::LISTXATTR => {
            let a = arg!(wire::getxattr_in);
            fs.listxattr(call, ino, a.size, reply)
        }
        opcode::REMOVEXATTR => fs.removexattr(call, ino, named!().0, reply),
        opcode::FLUSH => fs.flush(call, ino, reply),
        opcode::OPENDIR => {
            let a = arg!(wire::open_in);
            fs.opendir(call, ino, OpenFlags(a.flags as i32), reply)
        }
        opcode::READDIR | opcode::READDIRPLUS => {
            let a = arg!(wire::read_in);
            reply.room = a.size as usize;
            if h.opcode == opcode::READDIR {
                fs.readdir(call, ino, FileHandle(a.fh), a.offset, reply)
            } else {
                fs.readdirplus(call, ino, FileHandle(a.fh), a.offset, reply)
            }
        }
        opcode::RELEASEDIR => {
            let a = arg!(wire::release_in);
            fs.releasedir(call, FileHandle(a.fh), reply)
        }
        opcode::ACCESS => fs.access(call, ino, reply),
        opcode::CREATE => {
            let a = arg!(wire::create_in);
            fs.create(
                call,
                ino,
                named!().0,
                a.mode,
                a.umask,
                a.flags as i32,
                reply,
            )
        }
        opcode::FALLOCATE => {
            let a = arg!(wire::fallocate_in);
            fs.fallocate(call, ino, a.offset, a.length, a.mode as i32, reply)
        }
        _ => reply.error(Errno::ENOSYS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_before_the_epoch_goes_out_as_floor_seconds_and_comes_back() {
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(wire_time(before), ((-2i64) as u64, 500_000_000));
        assert_eq!(system_time((-2i64) as u64, 500_000_000), before);
        let after = UNIX_EPOCH + Duration::new(7, 9);
        assert_eq!(wire_time(after), (7, 9));
        assert_eq!(system_time(7, 9), after);
        assert_eq!(
            wire_time(UNIX_EPOCH - Duration::from_secs(3)),
            ((-3i64) as u64, 0)
        );
    }

    #[test]
    fn a_ring_command_names_its_queue_and_the_commit() {
        let cmd = command(3, 0x0102_0304_0506_0708);
        assert_eq!(&cmd[..8], &[0; 8], "flags");
        assert_eq!(
            u64::from_ne_bytes(cmd[8..16].try_into().unwrap()),
            0x0102_0304_0506_0708
        );
        assert_eq!(u16::from_ne_bytes(cmd[16..18].try_into().unwrap()), 3);
        assert!(cmd[18..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_listing_takes_entries_until_the_kernel_s_buffer_is_full() {
        let (mut status, mut body) = (None, Vec::new());
        let mut reply = RingReply {
            status: &mut status,
            body: &mut body,
            room: 64,
        };
        let name = OsStr::new("a");
        assert!(!AnswerDir::add(
            &mut reply,
            INodeNo(5),
            1,
            FileType::RegularFile,
            name
        ));
        assert!(!AnswerDir::add(
            &mut reply,
            INodeNo(6),
            2,
            FileType::Directory,
            OsStr::new("dir")
        ));
        // 32 + 32 bytes taken: a third entry does not fit.
        assert!(AnswerDir::add(
            &mut reply,
            INodeNo(7),
            3,
            FileType::Symlink,
            name
        ));
        AnswerDir::ok(reply);
        assert_eq!(status, Some(0));
        assert_eq!(body.len(), 64);
        let first: wire::dirent = wire::read(&body).unwrap();
        assert_eq!((first.ino, first.off, first.namelen), (5, 1, 1));
        assert_eq!(first.kind, nix::libc::DT_REG as u32);
        assert_eq!(&body[24..25], b"a");
        assert!(body[25..32].iter().all(|&b| b == 0), "padded to 8 bytes");
        let second: wire::dirent = wire::read(&body[32..]).unwrap();
        assert_eq!((second.ino, second.kind), (6, nix::libc::DT_DIR as u32));
    }

    #[test]
    fn an_error_answers_with_the_negative_errno_and_no_body() {
        let (mut status, mut body) = (None, Vec::new());
        let reply = RingReply {
            status: &mut status,
            body: &mut body,
            room: usize::MAX,
        };
        Answer::error(reply, Errno::ENOENT);
        assert_eq!(status, Some(-nix::libc::ENOENT));
        assert!(body.is_empty());
    }
}
