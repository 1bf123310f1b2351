//! A short window after a request in which the server polls `/dev/fuse`
//! for the next one instead of sleeping.
//!
//! A program working through small files sends its requests one after the
//! other: each waits for the answer to the last. With the server's threads
//! asleep between them, every request wakes a thread, and on a VM whose idle
//! vCPUs halt that wake-up is an interrupt through the host (24 µs for a
//! round trip that costs 8.5 µs on one CPU, see BENCHMARKS.md). So after a
//! request that the thread reading the session's main descriptor answers,
//! that descriptor is non-blocking for a window (50 µs by default): the
//! thread (fuser's loop retries a read that finds nothing) picks the next
//! request up as it arrives, and the program's request wakes nobody. The
//! session's other thread reads a clone of the descriptor and always sleeps,
//! so at most one CPU polls.
//!
//! Not every answer opens it. After reading or writing file data, or an
//! fsync, the kernel already keeps the program and the server on one CPU,
//! handing it back and forth, and a polling thread that holds its CPU pushes
//! the program onto the other, whose wake-ups then cost more (4 KiB random
//! reads lost 25 %, the program's wake-up 1 → 7 µs at the median). Where
//! several threads of a program send requests at once, the polling thread
//! takes a CPU from them (`git status` lost 30 %). So the window opens after
//! the other requests (names, attributes, creates, flushes), and only when
//! the thread that sent one also sent the request before.
//!
//! Even then it is a trade: 500 SQLite transactions (a rollback journal: a
//! few metadata requests between data and fsyncs) were 25 % slower with it,
//! where the kernel's own hand-off was better, and no rule on the requests
//! kept that. So each session finds out by trying ([`Tuner`]): a stretch of
//! requests with the window, one without, and then the better way for a
//! longer stretch, over and over. With it, creates and untar through `proxy
//! exec` keep most of their gain (16–22 %) and SQLite is within 3 %.
//!
//! The window is closed by a timer whose signal runs on the polling thread
//! itself, which is running, so the close costs no wake-up. Two designs that
//! woke a sleeping thread to close it were measured and dropped: a clock
//! thread, and timers on both server threads; each made 10,000 creates 40 %
//! slower instead of 25 % faster. A signal handler may only touch what
//! outlives every timer, so each session's window lives in a static slot
//! that its timer names.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::libc;

/// How long the server polls after a request by default: longer than a
/// program's own work between two requests in a loop over small files (30
/// µs did as well; 100 and more took CPU from the program), short enough
/// that a burst's last request leaves little CPU spent.
pub const WINDOW: Duration = Duration::from_micros(50);

/// The environment variable that sets the window in microseconds (0: off).
pub const WINDOW_ENV: &str = "AVFS_FUSE_POLL_US";

/// Sessions of one process that can have a window at once.
const SLOTS: usize = 64;

/// One session's window, as its timers' signal handler sees it.
struct Slot {
    /// The session's main descriptor (a duplicate the window keeps open), or
    /// -1 when the slot is free.
    fd: AtomicI32,
    /// Bumped when the slot is freed: a signal of an older session's timer
    /// names an older generation and does nothing.
    generation: AtomicU32,
    /// When the window closes, in `CLOCK_MONOTONIC` nanoseconds.
    closes_at: AtomicU64,
    /// The descriptor is non-blocking, as far as requests know.
    open: AtomicBool,
    /// The thread reading the descriptor is answering a request.
    busy: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    fd: AtomicI32::new(-1),
    generation: AtomicU32::new(0),
    closes_at: AtomicU64::new(0),
    open: AtomicBool::new(false),
    busy: AtomicBool::new(false),
};

static SLOT: [Slot; SLOTS] = [FREE; SLOTS];

/// The window of one session: opened by each request its main descriptor's
/// reader answers, closed by that thread's timer.
pub struct PollWindow {
    slot: usize,
    generation: u32,
    length_ns: u64,
    /// The name of the thread that reads the main descriptor.
    reader: String,
    /// The thread that sent the last request answered.
    last_requester: AtomicU32,
    /// When the last request was answered (`CLOCK_MONOTONIC` ns).
    last_answer_ns: AtomicU64,
    /// Whether the window pays for the requests of the moment.
    tuner: Mutex<Tuner>,
    /// Keeps the descriptor the slot names open while the slot is taken.
    _fuse: Arc<OwnedFd>,
}

/// Serial requests in each of a probe's two stretches.
const PROBE: u32 = 256;

/// Serial requests served the way a probe found better, before the next.
const KEEP: u32 = 2048;

/// A gap between an answer and the next request counts at most this much:
/// a program that paused must not outweigh hundreds of requests.
const GAP_CAP_NS: u64 = 200_000;

/// Finds by trying whether the window pays: a stretch of [`PROBE`] serial
/// requests with it, one without, then [`KEEP`] the better way, over and
/// over. Better is a shorter mean time from an answer to the same program's
/// next request arriving at a server thread: what the window saves (waking
/// the server) and what it may cost (waking the program on the other CPU)
/// both fall in it.
struct Tuner {
    /// The window is open after answers in this stretch.
    on: bool,
    /// The stretch is a probe (else it keeps what the last probe found).
    probing: bool,
    /// Serial requests left in the stretch.
    left: u32,
    /// Sums and counts of the probe's gaps, without and with the window.
    sum_ns: [u64; 2],
    count: [u64; 2],
}

impl Tuner {
    fn new() -> Self {
        Self {
            on: true,
            probing: true,
            left: PROBE,
            sum_ns: [0; 2],
            count: [0; 2],
        }
    }

    /// Counts the gap before a serial request, and moves to the next stretch
    /// when this one is over.
    fn record(&mut self, gap_ns: u64) {
        if self.probing {
            let way = usize::from(self.on);
            self.sum_ns[way] += gap_ns.min(GAP_CAP_NS);
            self.count[way] += 1;
        }
        self.left = self.left.saturating_sub(1);
        if self.left > 0 {
            return;
        }
        match (self.probing, self.on) {
            // With the window, then without it.
            (true, true) => (self.on, self.left) = (false, PROBE),
            (true, false) => {
                let mean = |way: usize| self.sum_ns[way] / self.count[way].max(1);
                self.on = mean(1) < mean(0);
                (self.probing, self.left) = (false, KEEP);
                (self.sum_ns, self.count) = ([0; 2], [0; 2]);
            }
            (false, _) => (self.on, self.probing, self.left) = (true, true, PROBE),
        }
    }
}

/// A fuser thread's timer, deleted when the thread ends.
struct ThreadTimer {
    id: libc::timer_t,
    /// The slot and generation its signal names.
    key: (usize, u32),
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        // SAFETY: `id` came from timer_create and is deleted once, here.
        unsafe {
            libc::timer_delete(self.id);
        }
    }
}

thread_local! {
    static TIMER: RefCell<Option<ThreadTimer>> = const { RefCell::new(None) };
}

impl PollWindow {
    /// The window configured for this process: [`WINDOW`], or
    /// [`WINDOW_ENV`]'s microseconds (at most a second); `None` when that is
    /// 0 or not a number.
    pub fn configured() -> Option<Duration> {
        let Ok(us) = std::env::var(WINDOW_ENV) else {
            return Some(WINDOW);
        };
        let us = us.trim().parse::<u64>().ok()?;
        (us > 0).then(|| Duration::from_micros(us.min(1_000_000)))
    }

    /// A window of `length` on `fuse` (a duplicate of the session's main
    /// descriptor), which the thread named `reader` reads. `None` when the
    /// signal handler cannot be installed or every slot is taken: the
    /// session then serves as before, always sleeping between requests.
    pub fn start(fuse: Arc<OwnedFd>, reader: String, length: Duration) -> Option<Self> {
        signal()?;
        let fd = fuse.as_raw_fd();
        let slot = SLOT.iter().position(|s| {
            s.fd.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })?;
        Some(Self {
            slot,
            generation: SLOT[slot].generation.load(Ordering::Acquire),
            length_ns: length.as_nanos() as u64,
            reader,
            last_requester: AtomicU32::new(0),
            last_answer_ns: AtomicU64::new(0),
            tuner: Mutex::new(Tuner::new()),
            _fuse: fuse,
        })
    }

    /// Called as a request of `requester` begins: counts the time since the
    /// answer to its last request for the tuner, if it sent the last one.
    /// Returns whether the calling thread reads the main descriptor; if so,
    /// it is busy with the request until [`PollWindow::extend`], and no
    /// signal closes the window meanwhile (the thread polls nothing while it
    /// works, and closing then would only cost it syscalls).
    pub fn begin(&self, requester: u32) -> bool {
        if self.last_requester.load(Ordering::Acquire) == requester {
            let answered = self.last_answer_ns.load(Ordering::Acquire);
            let gap = monotonic_ns().saturating_sub(answered);
            if let Ok(mut tuner) = self.tuner.lock() {
                tuner.record(gap);
            }
        }
        let on_reader = std::thread::current().name() == Some(self.reader.as_str());
        if on_reader {
            SLOT[self.slot].busy.store(true, Ordering::Release);
        }
        on_reader
    }

    /// Opens the window, or moves its end to a window's length from now:
    /// called as the answer to a request of `requester` has gone, with what
    /// [`PollWindow::begin`] said. Only the main descriptor's reader opens
    /// it (the other thread's timer would have to wake it to close the
    /// window), only when `opens` (not after file data or an fsync), only
    /// for a program that sends one request after another, and only while
    /// the tuner finds that it pays (see the module's doc).
    pub fn extend(&self, requester: u32, on_reader: bool, opens: bool) {
        let now = monotonic_ns();
        self.last_answer_ns.store(now, Ordering::Release);
        let serial = self.last_requester.swap(requester, Ordering::AcqRel) == requester;
        if !on_reader {
            return;
        }
        let slot = &SLOT[self.slot];
        slot.busy.store(false, Ordering::Release);
        let pays = self.tuner.lock().is_ok_and(|tuner| tuner.on);
        if !serial || !opens || !pays {
            return;
        }
        // Only this thread moves the end, so a plain store.
        slot.closes_at
            .store(now + self.length_ns, Ordering::Release);
        // Non-blocking first, then the timer: whatever the order of a
        // closing signal and this request, an open window always has a timer
        // running that closes it.
        if !slot.open.swap(true, Ordering::AcqRel) {
            set_nonblocking(slot.fd.load(Ordering::Acquire), true);
        }
        if !self.arm(self.length_ns) && slot.open.swap(false, Ordering::AcqRel) {
            // No timer would close it: close it now.
            set_nonblocking(slot.fd.load(Ordering::Acquire), false);
        }
    }

    /// Arms this thread's timer (made at its first use) to fire `after_ns`
    /// from now; false when the thread has no timer.
    fn arm(&self, after_ns: u64) -> bool {
        let key = (self.slot, self.generation);
        let armed = TIMER.try_with(|cell| {
            let Ok(mut timer) = cell.try_borrow_mut() else {
                return false;
            };
            if timer.as_ref().is_none_or(|t| t.key != key) {
                *timer = thread_timer(key);
            }
            if let Some(t) = timer.as_ref() {
                let spec = libc::itimerspec {
                    it_interval: libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    },
                    it_value: libc::timespec {
                        tv_sec: (after_ns / 1_000_000_000) as libc::time_t,
                        tv_nsec: (after_ns % 1_000_000_000) as libc::c_long,
                    },
                };
                // SAFETY: `t.id` is a live timer of this thread; `spec` is valid.
                unsafe { libc::timer_settime(t.id, 0, &spec, std::ptr::null_mut()) == 0 }
            } else {
                false
            }
        });
        armed.unwrap_or(false)
    }
}

impl Drop for PollWindow {
    fn drop(&mut self) {
        let slot = &SLOT[self.slot];
        // A signal still on its way names the old generation.
        slot.generation.fetch_add(1, Ordering::AcqRel);
        if slot.open.swap(false, Ordering::AcqRel) {
            set_nonblocking(slot.fd.load(Ordering::Acquire), false);
        }
        slot.closes_at.store(0, Ordering::Release);
        slot.busy.store(false, Ordering::Release);
        slot.fd.store(-1, Ordering::Release);
    }
}

/// The signal that closes windows, with its handler installed (once).
fn signal() -> Option<libc::c_int> {
    static SIGNAL: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *SIGNAL.get_or_init(|| {
        // glibc keeps the first real-time signals for itself; SIGRTMIN() is
        // the first it leaves to programs.
        let signo = libc::SIGRTMIN() + 6;
        // SAFETY: a zeroed sigaction is valid; the handler only uses
        // async-signal-safe calls and statics.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_timer as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            (libc::sigaction(signo, &action, std::ptr::null_mut()) == 0).then_some(signo)
        }
    })
}

/// A timer of the calling thread whose signal names `key`.
fn thread_timer(key: (usize, u32)) -> Option<ThreadTimer> {
    let signo = signal()?;
    // SAFETY: a zeroed sigevent is valid; the fields set are the ones
    // SIGEV_THREAD_ID reads, and `id` is written by timer_create. The
    // signal is unblocked first: a thread that inherited a mask blocking it
    // would keep its window open for good.
    unsafe {
        let mut unblock: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblock);
        libc::sigaddset(&mut unblock, signo);
        if libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut()) != 0 {
            return None;
        }
        let mut event: libc::sigevent = std::mem::zeroed();
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = signo;
        event.sigev_notify_thread_id = libc::gettid();
        event.sigev_value.sival_ptr = encode(key) as *mut libc::c_void;
        let mut id: libc::timer_t = std::ptr::null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut id) != 0 {
            return None;
        }
        Some(ThreadTimer { id, key })
    }
}

fn encode((slot, generation): (usize, u32)) -> usize {
    (generation as usize) << 8 | slot
}

/// Closes the window a timer names, unless its thread is answering a request
/// (it re-arms the timer as it answers) or a later answer moved the window's
/// end (a signal of an expiry can still be pending when the next answer
/// re-arms).
extern "C" fn on_timer(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // errno is saved and restored around the calls that may set it.
    unsafe {
        let errno = *libc::__errno_location();
        let key = (*info).si_value().sival_ptr as usize;
        let (slot, generation) = (key & 0xff, (key >> 8) as u32);
        if let Some(slot) = SLOT.get(slot)
            && slot.generation.load(Ordering::Acquire) == generation
            && !slot.busy.load(Ordering::Acquire)
            && monotonic_ns() >= slot.closes_at.load(Ordering::Acquire)
            && slot.open.swap(false, Ordering::AcqRel)
        {
            set_nonblocking(slot.fd.load(Ordering::Acquire), false);
        }
        *libc::__errno_location() = errno;
    }
}

fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec; clock_gettime is async-signal-safe.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
    }
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Sets or clears `O_NONBLOCK` on `fd` (async-signal-safe).
fn set_nonblocking(fd: libc::c_int, on: bool) {
    if fd < 0 {
        return;
    }
    // SAFETY: F_GETFL/F_SETFL on a descriptor the window keeps open.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return;
        }
        let wanted = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if wanted != flags {
            libc::fcntl(fd, libc::F_SETFL, wanted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `tuner` `count` serial requests each `gap_ns` after the last answer.
    fn feed(tuner: &mut Tuner, count: u32, gap_ns: u64) {
        for _ in 0..count {
            tuner.record(gap_ns);
        }
    }

    #[test]
    fn the_tuner_keeps_the_window_where_it_shortens_the_gaps_and_tries_again() {
        let mut tuner = Tuner::new();
        // The probe: with the window first, then without.
        assert!(tuner.on);
        feed(&mut tuner, PROBE, 20_000);
        assert!(!tuner.on);
        feed(&mut tuner, PROBE, 35_000);
        // With it was sooner: kept for a long stretch.
        assert!(tuner.on);
        feed(&mut tuner, KEEP - 1, 500_000);
        assert!(tuner.on);
        // The next probe, where the window costs: without it, kept.
        feed(&mut tuner, 1, 0);
        assert!(tuner.on);
        feed(&mut tuner, PROBE, 30_000);
        assert!(!tuner.on);
        feed(&mut tuner, PROBE, 25_000);
        assert!(!tuner.on);
        feed(&mut tuner, KEEP, 25_000);
        // And probes again.
        assert!(tuner.on);
    }

    #[test]
    fn a_window_opens_after_a_serial_request_but_not_after_data_or_another_thread() {
        // Any descriptor shows the flag; this thread stands for the reader.
        let (read_end, _write_end) = nix::unistd::pipe().unwrap();
        let fd = read_end.as_raw_fd();
        let me = std::thread::current().name().unwrap().to_string();
        let window = PollWindow::start(Arc::new(read_end), me, Duration::from_millis(50)).unwrap();
        let open = || {
            // SAFETY: F_GETFL on a descriptor the window keeps open.
            unsafe { libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK != 0 }
        };
        let answer = |requester: u32, opens: bool| {
            let on_reader = window.begin(requester);
            window.extend(requester, on_reader, opens);
        };
        answer(7, true);
        assert!(!open(), "a program's first request is not yet serial");
        answer(7, true);
        assert!(open(), "a serial request opens the window");
        // The timer's signal closes it on this thread, during the sleep.
        std::thread::sleep(Duration::from_millis(300));
        assert!(!open(), "past its length the window is closed");
        answer(7, false);
        assert!(!open(), "file data or an fsync leaves it closed");
        answer(8, true);
        assert!(!open(), "another thread's request leaves it closed");
        answer(8, true);
        assert!(open(), "that thread's next request opens it");
    }

    #[test]
    fn a_long_pause_counts_no_more_than_the_cap() {
        let mut tuner = Tuner::new();
        // One pause of a second among quick requests with the window does not
        // outweigh the probe without it.
        feed(&mut tuner, PROBE - 1, 10_000);
        feed(&mut tuner, 1, 1_000_000_000);
        feed(&mut tuner, PROBE, 20_000);
        assert!(tuner.on);
    }
}
