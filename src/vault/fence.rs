//! Close-to-open across processes while a writer groups its commits.
//!
//! A shared mount leaves a closed file in its open batch until its next
//! timed commit (within about 20 ms) instead of committing at every close.
//! Other processes must still see the file once it is closed: an avfs
//! command started after the close, and another mount's next `open` of it.
//! So a batch that holds such changes holds the fence file
//! (`store.db-fence`, empty) shared until it commits ([`Fence::owe`]), and a
//! reader that must see them takes it exclusive and lets go at once
//! ([`Fence::wait`]), which waits for every such batch to commit.
//!
//! Only batches that owe others their changes take the fence, so a long
//! import does not hold readers up. A holder that is stopped delays a reader
//! at most the reader's limit; a holder that dies lets go with its process
//! (its batch, and what it owed, are gone: what a crash may lose).

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a batch tries to take the fence before it commits at once instead.
const HOLD_WAIT: Duration = Duration::from_millis(100);

/// One store handle's end of the fence.
#[derive(Default)]
pub(crate) struct Fence {
    /// The fence file; none for a store in memory, which nobody else reads.
    path: Option<PathBuf>,
    state: State,
}

#[derive(Default)]
enum State {
    /// Not opened yet (or it could not be: then nothing is deferred).
    #[default]
    Closed,
    Open(File),
    /// Held shared by this handle's open batch.
    Held(Flock<File>),
}

impl Fence {
    /// The fence of the store file at `db` (`<db>-fence`).
    pub(crate) fn beside(db: &Path) -> Self {
        // Absolute: a mount's serving process runs from `/`.
        let db = std::path::absolute(db).unwrap_or_else(|_| db.to_path_buf());
        let mut name = db.into_os_string();
        name.push("-fence");
        Self {
            path: Some(PathBuf::from(name)),
            state: State::Closed,
        }
    }

    /// True while this handle's batch holds the fence.
    pub(crate) fn is_held(&self) -> bool {
        matches!(self.state, State::Held(_))
    }

    /// The fence file, opened (and made) the first time; none while this
    /// handle holds it.
    fn file(&mut self) -> Option<File> {
        match std::mem::take(&mut self.state) {
            State::Open(file) => Some(file),
            held @ State::Held(_) => {
                self.state = held;
                None
            }
            // A lock needs no write access: a store someone else made the
            // fence of is fenced all the same.
            State::Closed => {
                let path = self.path.as_ref()?;
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(path)
                    .or_else(|_| File::open(path))
                    .ok()
            }
        }
    }

    /// Holds the fence for the open batch, which owes others what it holds;
    /// false when it cannot (the caller then commits at once instead).
    pub(crate) fn owe(&mut self) -> bool {
        if self.is_held() {
            return true;
        }
        let Some(file) = self.file() else {
            return false;
        };
        match lock_within(file, FlockArg::LockSharedNonblock, HOLD_WAIT) {
            Ok(held) => {
                self.state = State::Held(held);
                true
            }
            Err(file) => {
                self.state = State::Open(file);
                false
            }
        }
    }

    /// The batch committed (or rolled back): it owes nothing any more.
    pub(crate) fn settle(&mut self) {
        self.state = match std::mem::take(&mut self.state) {
            // A failed unlock drops the handle, and closing it lets go too.
            State::Held(held) => held.unlock().map_or(State::Closed, State::Open),
            other => other,
        };
    }

    /// Waits until no other handle's batch owes readers anything, at most
    /// `limit`; false if one still did then (the reader goes on regardless).
    pub(crate) fn wait(&mut self, limit: Duration) -> bool {
        let Some(file) = self.file() else {
            return true;
        };
        match lock_within(file, FlockArg::LockExclusiveNonblock, limit) {
            Ok(held) => {
                self.state = held.unlock().map_or(State::Closed, State::Open);
                true
            }
            Err(file) => {
                self.state = State::Open(file);
                false
            }
        }
    }
}

/// Takes the lock `arg` (a non-blocking one) on `file`, trying every
/// millisecond until `limit` has passed; the file back if it never could.
fn lock_within(mut file: File, arg: FlockArg, limit: Duration) -> Result<Flock<File>, File> {
    let start = Instant::now();
    loop {
        match Flock::lock(file, arg) {
            Ok(held) => return Ok(held),
            Err((back, _)) if start.elapsed() < limit => {
                file = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((back, _)) => return Err(back),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_waits_for_a_batch_that_owes_until_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let (mut batch, mut reader) = (Fence::beside(&db), Fence::beside(&db));
        assert!(reader.wait(Duration::ZERO), "nobody owes anything yet");
        assert!(batch.owe() && batch.is_held());
        assert!(batch.owe(), "owing twice holds it once");
        assert!(
            !reader.wait(Duration::from_millis(30)),
            "the batch still owes"
        );
        let settler = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            batch.settle();
            batch
        });
        assert!(
            reader.wait(Duration::from_secs(5)),
            "the batch settled meanwhile"
        );
        let mut batch = settler.join().unwrap();
        assert!(!batch.is_held());
        // The next batch owes again, and lets go again.
        assert!(batch.owe());
        batch.settle();
        assert!(reader.wait(Duration::ZERO));
    }

    #[test]
    fn a_batch_that_cannot_take_the_fence_says_so_and_a_store_in_memory_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let mut batch = Fence::beside(&db);
        assert!(batch.owe());
        batch.settle();
        // A reader stuck holding it (say, stopped between lock and unlock):
        // the batch gives up after HOLD_WAIT, and its caller commits at once.
        let stuck = Flock::lock(
            File::open(Fence::beside(&db).path.unwrap()).unwrap(),
            FlockArg::LockExclusiveNonblock,
        )
        .unwrap();
        assert!(!batch.owe() && !batch.is_held());
        drop(stuck);
        assert!(batch.owe());
        // In memory: nothing to owe, nothing to wait for.
        let mut memory = Fence::default();
        assert!(!memory.owe());
        assert!(memory.wait(Duration::from_secs(5)));
    }
}
