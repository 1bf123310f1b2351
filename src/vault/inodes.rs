//! Inode numbers: `meta.next_ino` is the lowest number never handed out.
//!
//! Outside a batch, each create takes one number with one UPDATE. Inside a
//! batch ([`super::Store::begin_batch`]) the store hands numbers out of a
//! block it reserved, one UPDATE per [`BLOCK`] creates. A write that fails
//! rolls back its savepoint, and with it a reservation it made, while the
//! block stays in memory: so every reservation starts at or above each
//! number handed out before it, and the batch writes that high-water mark
//! back before it commits. Numbers of a block the batch did not use are
//! skipped, never reused. A batch whose COMMIT fails takes that write-back
//! with it, yet a mount's kernel may still hold the numbers it handed out
//! (and a file's cached pages under one): the block keeps its high-water
//! mark across batches, so that the next batch never hands them out again,
//! and writes it back when it commits.

use super::error::Result;
use rusqlite::{Connection, params};
use std::cell::Cell;

/// Numbers reserved at once inside a batch, after its first create (a
/// shared mount commits a batch per closed file, so its batches reserve one).
const BLOCK: u64 = 64;

/// Takes the next inode number on its own.
pub(crate) fn take_one(conn: &Connection) -> Result<u64> {
    let ino: i64 = conn
        .prepare_cached(
            "UPDATE meta SET value = value + 1 WHERE key = 'next_ino' RETURNING value - 1",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(ino as u64)
}

/// The numbers an open batch reserved and has not handed out yet.
#[derive(Debug, Default)]
pub(crate) struct InoBlock {
    /// The next number to hand out.
    next: Cell<u64>,
    /// One past the last reserved number; 0 before the batch's first create.
    end: Cell<u64>,
    /// One past the highest number ever handed out through this block, by
    /// any batch (one that rolled back too).
    floor: Cell<u64>,
}

impl InoBlock {
    /// Hands out a number, reserving a new block when this one is used up.
    pub(crate) fn take(&self, conn: &Connection) -> Result<u64> {
        let (next, end) = (self.next.get(), self.end.get());
        if next < end {
            self.hand_out(next);
            return Ok(next);
        }
        let want = if end == 0 { 1 } else { BLOCK };
        let start: i64 = conn
            .prepare_cached(
                "UPDATE meta SET value = max(value, ?1) + ?2 WHERE key = 'next_ino'
                 RETURNING value - ?2",
            )?
            .query_row(
                params![end.max(self.floor.get()) as i64, want as i64],
                |r| r.get(0),
            )?;
        let start = start as u64;
        self.end.set(start + want);
        self.hand_out(start);
        Ok(start)
    }

    fn hand_out(&self, ino: u64) {
        self.next.set(ino + 1);
        self.floor.set(self.floor.get().max(ino + 1));
    }

    /// Makes `meta.next_ino` cover every number handed out, in the batch's
    /// transaction, and forgets the block: the next batch reserves anew.
    pub(crate) fn settle(&self, conn: &Connection) -> Result<()> {
        if self.next.get() > 0 {
            conn.prepare_cached("UPDATE meta SET value = max(value, ?1) WHERE key = 'next_ino'")?
                .execute([self.floor.get() as i64])?;
        }
        self.next.set(0);
        self.end.set(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value);
             INSERT INTO meta VALUES ('next_ino', 2);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_batch_that_rolled_back_leaves_its_numbers_taken() {
        let conn = meta();
        let block = InoBlock::default();
        conn.execute_batch("BEGIN").unwrap();
        let first = [block.take(&conn).unwrap(), block.take(&conn).unwrap()];
        block.settle(&conn).unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let next = block.take(&conn).unwrap();
        assert!(next > first[1], "{next} after {first:?}");
        block.settle(&conn).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        let stored: i64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'next_ino'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            stored as u64,
            next + 1,
            "the high-water mark is written back"
        );
    }
}
