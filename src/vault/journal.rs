//! The journal: one append-only entry per mutation, written in the mutation's
//! own transaction and chained to the previous entry by BLAKE3 hash, so that an
//! edited or deleted entry breaks the chain.

use super::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// What a mutation records about itself.
#[derive(Clone, Debug)]
pub struct Op {
    /// Short operation name, e.g. `write` or `checkpoint.save`.
    pub name: String,
    /// Human-readable detail, e.g. the paths involved.
    pub detail: String,
}

impl Op {
    /// An operation with its detail.
    pub fn new(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            detail: detail.into(),
        }
    }
}

/// The hash that chains an entry to its predecessor.
pub fn entry_hash(
    prev: &[u8],
    time_ns: i64,
    vault: Option<&str>,
    op: &str,
    detail: &str,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&time_ns.to_le_bytes());
    for field in [vault.unwrap_or(""), op, detail] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Appends an entry; call inside the mutation's transaction.
pub fn append(conn: &Connection, time_ns: i64, vault: Option<&str>, op: &Op) -> Result<()> {
    let prev: Vec<u8> = conn
        .prepare_cached("SELECT hash FROM journal ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| vec![0u8; 32]);
    let hash = entry_hash(&prev, time_ns, vault, &op.name, &op.detail);
    conn.prepare_cached(
        "INSERT INTO journal(time_ns, vault, op, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![time_ns, vault, op.name, op.detail, prev, &hash[..]])?;
    // The head anchor: without it, deleting the newest entries would leave a
    // shorter chain that still verifies.
    conn.prepare_cached(
        "UPDATE meta SET value = CASE key WHEN 'journal_head_id' THEN ?1 ELSE ?2 END
         WHERE key IN ('journal_head_id', 'journal_head_hash')",
    )?
    .execute(params![conn.last_insert_rowid(), &hash[..]])?;
    Ok(())
}

/// One journal entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the journal (grows by one per entry).
    pub id: i64,
    /// When the mutation committed, ns since the epoch.
    pub time_ns: i64,
    /// The vault it changed, if it was about one.
    pub vault: Option<String>,
    /// The operation name (`write`, `mount.session`, `proxy.exec`...).
    pub op: String,
    /// What the operation recorded about itself.
    pub detail: String,
    /// The entry's chain hash.
    pub hash: [u8; 32],
}

/// Which entries to list: at or after `since_ns`, the newest `limit` of them, oldest first.
pub fn entries(conn: &Connection, since_ns: Option<i64>, limit: u64) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare(
        "SELECT id, time_ns, vault, op, detail, hash FROM journal
         WHERE time_ns >= ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![
            since_ns.unwrap_or(i64::MIN),
            limit.min(i64::MAX as u64) as i64
        ],
        |r| {
            let hash: Vec<u8> = r.get(5)?;
            Ok(Entry {
                id: r.get(0)?,
                time_ns: r.get(1)?,
                vault: r.get(2)?,
                op: r.get(3)?,
                detail: r.get(4)?,
                hash: hash.try_into().unwrap_or([0; 32]),
            })
        },
    )?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    out.reverse();
    Ok(out)
}

/// One break in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The entry where the chain breaks (for a deleted tail: the recorded head).
    pub id: i64,
    /// What is wrong, in words.
    pub problem: String,
}

/// What verifying the chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Every break found, in journal order; empty when the journal is intact.
    pub problems: Vec<Problem>,
}

/// Re-hashes every entry and checks each link, plus the recorded head: an
/// edited entry no longer matches its hash, a deleted one breaks the next
/// entry's `prev_hash` (or, at the end, the head anchor).
pub fn verify(conn: &Connection) -> Result<Verified> {
    let mut stmt = conn.prepare(
        "SELECT id, time_ns, vault, op, detail, prev_hash, hash FROM journal ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev = vec![0u8; 32];
    let mut last_id = 0i64;
    let mut checked = 0u64;
    let mut problems = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let time_ns: i64 = r.get(1)?;
        let vault: Option<String> = r.get(2)?;
        let op: String = r.get(3)?;
        let detail: String = r.get(4)?;
        let prev_hash: Vec<u8> = r.get(5)?;
        let hash: Vec<u8> = r.get(6)?;
        checked += 1;
        if prev_hash != prev {
            problems.push(Problem {
                id,
                problem: if id != last_id + 1 {
                    format!("entries {} to {} are missing", last_id + 1, id - 1)
                } else {
                    "does not link to the entry before it".into()
                },
            });
        }
        if entry_hash(&prev_hash, time_ns, vault.as_deref(), &op, &detail)[..] != hash[..] {
            problems.push(Problem {
                id,
                problem: "its content does not match its hash (edited)".into(),
            });
        }
        prev = hash;
        last_id = id;
    }
    let head_id: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'journal_head_id'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let head_hash: Vec<u8> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'journal_head_hash'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| vec![0u8; 32]);
    if head_id != last_id {
        problems.push(Problem {
            id: head_id,
            problem: format!(
                "the journal should end at entry {head_id} but ends at {last_id} (entries deleted)"
            ),
        });
    } else if head_hash != prev {
        problems.push(Problem {
            id: head_id,
            problem: "the newest entry is not the one recorded as the head".into(),
        });
    }
    Ok(Verified {
        entries: checked,
        problems,
    })
}

impl super::store::Store {
    /// Journal entries at or after `since_ns`, the newest `limit` of them, oldest first.
    pub fn journal_entries(&self, since_ns: Option<i64>, limit: u64) -> Result<Vec<Entry>> {
        entries(self.connection(), since_ns, limit)
    }

    /// Checks the whole journal chain (see [`verify`]).
    pub fn verify_journal(&mut self) -> Result<Verified> {
        // One read transaction, so a concurrent append cannot look like a break.
        let tx = self.connection().unchecked_transaction()?;
        let out = verify(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}
