//! A command's output stream, kept within a limit: the first and last halves
//! survive (where a build's first error and a test run's summary usually are),
//! the middle is counted and dropped.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// What was kept of one output stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// The kept bytes; when truncated, head + a marker line + tail.
    pub bytes: Vec<u8>,
    /// More came than the limit allowed.
    pub truncated: bool,
    /// Every byte the stream produced.
    pub total: u64,
}

/// Accumulates a stream under a byte limit.
#[derive(Debug)]
pub struct BoundedOutput {
    limit: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl BoundedOutput {
    /// Keeps at most `limit` bytes of content (plus the marker when truncating).
    pub fn new(limit: u64) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
        }
    }

    /// Takes in the next bytes of the stream.
    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        let head_cap = self.limit - self.limit / 2;
        let tail_cap = self.limit / 2;
        if self.head.len() < head_cap {
            let n = (head_cap - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if tail_cap == 0 || data.is_empty() {
            return;
        }
        if data.len() >= tail_cap {
            self.tail.clear();
            self.tail.extend(&data[data.len() - tail_cap..]);
        } else {
            let overflow = (self.tail.len() + data.len()).saturating_sub(tail_cap);
            self.tail.drain(..overflow);
            self.tail.extend(data);
        }
    }

    /// What was kept, with a marker line where the middle was dropped.
    pub fn finish(self) -> CapturedOutput {
        let kept = self.head.len() + self.tail.len();
        let truncated = self.total > kept as u64;
        let mut bytes = self.head;
        if truncated {
            let omitted = self.total - kept as u64;
            bytes.extend_from_slice(format!("\n[… {omitted} bytes omitted …]\n").as_bytes());
        }
        bytes.extend(self.tail);
        CapturedOutput {
            bytes,
            truncated,
            total: self.total,
        }
    }
}

/// A thread draining one pipe into a [`BoundedOutput`].
pub struct OutputReader {
    done: mpsc::Receiver<CapturedOutput>,
}

impl OutputReader {
    /// Starts draining `source` (always to its end, so the writer never blocks).
    pub fn spawn(mut source: impl Read + Send + 'static, limit: u64) -> Self {
        let (tx, done) = mpsc::channel();
        thread::spawn(move || {
            let mut out = BoundedOutput::new(limit);
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(out.finish());
        });
        Self { done }
    }

    /// The captured output once the stream ends, or `None` if it is still open
    /// after `wait` (a process outside the run's control holds the pipe).
    pub fn finish(self, wait: Duration) -> Option<CapturedOutput> {
        self.done.recv_timeout(wait).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(limit: u64, pieces: &[&[u8]]) -> CapturedOutput {
        let mut out = BoundedOutput::new(limit);
        for p in pieces {
            out.push(p);
        }
        out.finish()
    }

    #[test]
    fn output_within_the_limit_is_kept_whole() {
        let got = capture(10, &[b"hello", b" you"]);
        assert_eq!(got.bytes, b"hello you");
        assert!(!got.truncated);
        assert_eq!(got.total, 9);
    }

    #[test]
    fn output_over_the_limit_keeps_head_and_tail() {
        let got = capture(6, &[b"abcdef", b"ghij", b"kl"]);
        assert!(got.truncated);
        assert_eq!(got.total, 12);
        assert_eq!(
            got.bytes,
            b"abc\n[\xe2\x80\xa6 6 bytes omitted \xe2\x80\xa6]\njkl"
        );
    }

    #[test]
    fn the_tail_follows_many_small_writes() {
        let pieces: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i]).collect();
        let refs: Vec<&[u8]> = pieces.iter().map(|p| p.as_slice()).collect();
        let got = capture(4, &refs);
        assert_eq!(&got.bytes[..2], &[0, 1]);
        assert_eq!(&got.bytes[got.bytes.len() - 2..], &[98, 99]);
        assert_eq!(got.total, 100);
    }

    #[test]
    fn a_zero_limit_keeps_nothing_but_counts() {
        let got = capture(0, &[b"abc"]);
        assert!(got.truncated);
        assert_eq!(got.total, 3);
    }
}
