//! Stop signals (SIGINT, SIGTERM, SIGHUP) for a process that must clean up
//! before it exits: they are blocked in every thread and handed to the run
//! through a channel, so Ctrl-C stops the command, unmounts and still reports.

use nix::sys::signal::{SigSet, Signal};
use std::sync::mpsc::{self, Receiver};

/// The signals that ask avfs to stop.
pub const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Blocks the stop signals and delivers them on the returned channel. Call it
/// before any other thread starts: threads inherit the mask they start with.
pub fn watch() -> std::io::Result<Receiver<Signal>> {
    let mut set = SigSet::empty();
    for s in STOP_SIGNALS {
        set.add(s);
    }
    set.thread_block().map_err(std::io::Error::from)?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("avfs-signals".into())
        .spawn(move || {
            while let Ok(signal) = set.wait() {
                if tx.send(signal).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}
