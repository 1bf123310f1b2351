//! The line between avfs and a run's init ([`super::init`]): one Unix
//! seqpacket socket, one JSON document per packet. avfs sends a [`Start`]
//! (the namespaces' [`Plan`] and the command, in a memory file: an
//! environment may be larger than a packet) with the command's output pipes;
//! the init answers with [`Report`]s, the first of which may carry the
//! /dev/fuse descriptor of the mount it made inside the namespace (as
//! `SCM_RIGHTS`), for avfs to serve.

use super::namespace::Plan;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The largest packet either side sends (a report is a line of text; a
/// [`Start`] travels in a memory file).
const MAX_PACKET: usize = 64 << 10;

/// The most descriptors a packet carries (a [`Start`]'s memory file and pipes).
const MAX_FDS: usize = 3;

/// What avfs asks of a run's init: the namespaces, then the command in them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Start {
    /// The namespaces to build.
    pub plan: Plan,
    /// Program and arguments (bytes: they need not be UTF-8).
    pub argv: Vec<Vec<u8>>,
    /// The command's whole environment.
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What the init tells avfs.
#[derive(Debug, Serialize, Deserialize)]
pub enum Report {
    /// The vault is mounted at the workdir; the packet carries the mount's /dev/fuse descriptor.
    Mounted,
    /// The namespaces could not be built; nothing ran.
    SetupFailed(String),
    /// The command could not be started.
    SpawnFailed {
        /// The program does not exist (a shell's 127).
        not_found: bool,
        /// Why, for people.
        message: String,
    },
    /// The command ended (processes it left may still be running).
    Exited {
        /// Its exit status, if it exited.
        code: Option<i32>,
        /// The signal that ended it, if one did.
        signal: Option<i32>,
    },
}

/// One end of the socket.
#[derive(Debug)]
pub struct Channel(OwnedFd);

impl From<OwnedFd> for Channel {
    fn from(fd: OwnedFd) -> Self {
        Channel(fd)
    }
}

impl Channel {
    /// A connected pair: avfs keeps the first, the init gets the second.
    pub fn pair() -> std::io::Result<(Channel, OwnedFd)> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel(ours), theirs))
    }

    /// The init's end, which it got as its standard input.
    pub fn from_stdin() -> std::io::Result<Channel> {
        Ok(Channel(std::io::stdin().as_fd().try_clone_to_owned()?))
    }

    /// The process that made the socket pair (for the init: the avfs that started it).
    pub fn peer_pid(&self) -> std::io::Result<i32> {
        let cred =
            nix::sys::socket::getsockopt(&self.0, nix::sys::socket::sockopt::PeerCredentials)?;
        Ok(cred.pid())
    }

    /// Sends `message`, with `fd` attached when given.
    pub fn send<T: Serialize>(&self, message: &T, fd: Option<&OwnedFd>) -> std::io::Result<()> {
        let fds: Vec<BorrowedFd> = fd.map(|f| f.as_fd()).into_iter().collect();
        self.send_with(
            &serde_json::to_vec(message).map_err(std::io::Error::other)?,
            &fds,
        )
    }

    /// Sends a [`Start`] and the command's standard output and error.
    pub fn send_start(
        &self,
        start: &Start,
        stdout: BorrowedFd,
        stderr: BorrowedFd,
    ) -> std::io::Result<()> {
        let memfd = nix::sys::memfd::memfd_create(
            c"avfs-run-start",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )?;
        let mut file = std::fs::File::from(memfd);
        file.write_all(&serde_json::to_vec(start).map_err(std::io::Error::other)?)?;
        self.send_with(b"\"Start\"", &[file.as_fd(), stdout, stderr])
    }

    fn send_with(&self, bytes: &[u8], fds: &[BorrowedFd]) -> std::io::Result<()> {
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let cmsgs: Vec<ControlMessage> = if raw.is_empty() {
            Vec::new()
        } else {
            vec![ControlMessage::ScmRights(&raw)]
        };
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(bytes)],
            &cmsgs,
            MsgFlags::empty(),
            None,
        )?;
        Ok(())
    }

    /// Receives the next message and the descriptor it carries, if any;
    /// `None` once the other end has closed.
    pub fn recv<T: DeserializeOwned>(&self) -> std::io::Result<Option<(T, Option<OwnedFd>)>> {
        Ok(self
            .recv_with()?
            .map(|(message, fds)| (message, fds.into_iter().next())))
    }

    /// Receives a [`Start`] and the command's standard output and error;
    /// `None` once the other end has closed.
    pub fn recv_start(&self) -> std::io::Result<Option<(Start, OwnedFd, OwnedFd)>> {
        let Some((marker, fds)) = self.recv_with::<String>()? else {
            return Ok(None);
        };
        let [memfd, stdout, stderr]: [OwnedFd; 3] = fds
            .try_into()
            .ok()
            .filter(|_| marker == "Start")
            .ok_or_else(|| std::io::Error::other("not a start packet"))?;
        let mut file = std::fs::File::from(memfd);
        file.rewind()?;
        let mut json = Vec::new();
        file.read_to_end(&mut json)?;
        let start = serde_json::from_slice(&json).map_err(std::io::Error::other)?;
        Ok(Some((start, stdout, stderr)))
    }

    fn recv_with<T: DeserializeOwned>(&self) -> std::io::Result<Option<(T, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let (len, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )?;
            let mut fds = Vec::new();
            for cmsg in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(raw) = cmsg {
                    // SAFETY: SCM_RIGHTS installed these descriptors in our
                    // table just now; nothing else owns them.
                    fds.extend(
                        raw.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
            (msg.bytes, fds)
        };
        if len == 0 {
            return Ok(None);
        }
        let message = serde_json::from_slice(&buf[..len]).map_err(std::io::Error::other)?;
        Ok(Some((message, fds)))
    }

    /// Waits up to `timeout` for a message (or the other end's close).
    pub fn readable(&self, timeout: Duration) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
    }

    /// True when the other end is closed (its process gone), whatever is
    /// still to be read.
    pub fn hung_up(&self) -> bool {
        // POLLHUP is reported whatever is asked for.
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::empty())];
        poll(&mut fds, PollTimeout::ZERO).is_ok()
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_end_is_seen_as_hung_up() {
        let (ours, theirs) = Channel::pair().unwrap();
        let theirs = Channel(theirs);
        assert!(!ours.hung_up());
        theirs.send(&Report::Mounted, None).unwrap();
        assert!(!ours.hung_up(), "a message waiting is not a close");
        drop(theirs);
        assert!(ours.hung_up());
    }

    #[test]
    fn reports_and_descriptors_cross_the_socket() {
        let (ours, theirs) = Channel::pair().unwrap();
        let theirs = Channel(theirs);
        let file = tempfile::tempfile().unwrap();
        theirs
            .send(&Report::Mounted, Some(&OwnedFd::from(file)))
            .unwrap();
        theirs
            .send(
                &Report::Exited {
                    code: Some(3),
                    signal: None,
                },
                None,
            )
            .unwrap();
        assert!(ours.readable(Duration::ZERO));
        let (first, fd) = ours.recv::<Report>().unwrap().unwrap();
        assert!(matches!(first, Report::Mounted) && fd.is_some());
        let (second, fd) = ours.recv::<Report>().unwrap().unwrap();
        assert!(
            matches!(
                second,
                Report::Exited {
                    code: Some(3),
                    signal: None
                }
            ) && fd.is_none()
        );
        drop(theirs);
        assert!(ours.recv::<Report>().unwrap().is_none());
    }
}
