//! The line between avfs and a run's init ([`super::init`]): one Unix
//! seqpacket socket, one JSON document per packet. avfs sends the
//! [`super::namespace::Plan`]; the init answers with [`Report`]s, the first of
//! which may carry the /dev/fuse descriptor of the mount it made inside the
//! namespace (as `SCM_RIGHTS`), for avfs to serve.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The largest packet either side sends (a plan is a few paths).
const MAX_PACKET: usize = 1 << 20;

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

impl Channel {
    /// A connected pair: avfs keeps the first, the init gets the second as its stdin.
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
        let bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
        let fds = fd.map(|f| [f.as_raw_fd()]);
        let cmsgs: Vec<ControlMessage> = fds
            .as_ref()
            .map(|f| ControlMessage::ScmRights(f))
            .into_iter()
            .collect();
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &cmsgs,
            MsgFlags::empty(),
            None,
        )?;
        Ok(())
    }

    /// Receives the next message and the descriptor it carries, if any;
    /// `None` once the other end has closed.
    pub fn recv<T: DeserializeOwned>(&self) -> std::io::Result<Option<(T, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )?;
            let mut fd = None;
            for cmsg in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    for raw in fds {
                        // SAFETY: SCM_RIGHTS installed this descriptor in our
                        // table just now; nothing else owns it.
                        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            (msg.bytes, fd)
        };
        if len == 0 {
            return Ok(None);
        }
        let message = serde_json::from_slice(&buf[..len]).map_err(std::io::Error::other)?;
        Ok(Some((message, fd)))
    }

    /// Waits up to `timeout` for a message (or the other end's close).
    pub fn readable(&self, timeout: Duration) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
