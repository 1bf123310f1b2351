//! The store: one SQLite file holding every vault, and the transactions that
//! change it. Vault-level operations (create, fork, checkpoint, restore) live
//! here; tree operations run inside [`Store::read`] and [`Store::write`].
//!
//! Invariant: every mutation is one `BEGIN IMMEDIATE` transaction that re-reads
//! the vault's top layer inside the transaction (another process may have
//! checkpointed meanwhile) and appends one journal entry before committing.

use super::diff::{self, Change};
use super::error::{Result, VaultError};
use super::fence::Fence;
use super::journal::{self, Op};
use super::layer;
use super::path::VaultPath;
use super::schema;
use super::tree::{Kind, ROOT_INO, Stamp, Tree, TreeWriter};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Who owns what this store handle creates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Owner {
    /// User id for new inodes.
    pub uid: u32,
    /// Group id for new inodes.
    pub gid: u32,
}

/// A vault as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultInfo {
    /// The vault's name.
    pub name: String,
    /// When it was created, ns since the epoch.
    pub created_ns: i64,
    /// The vault it was forked from, if any.
    pub forked_from: Option<String>,
    /// Its mutable top layer.
    pub top_layer: i64,
    /// How many layers its chain has below the top.
    pub depth: i64,
    /// How many checkpoints it has.
    pub checkpoints: i64,
}

/// A named, frozen state of a vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The vault it belongs to.
    pub vault: String,
    /// Its name, unique within the vault.
    pub name: String,
    /// The optional message given at save.
    pub message: Option<String>,
    /// True for checkpoints avfs took by itself (before a restore, by the proxy).
    pub auto: bool,
    /// When it was taken, ns since the epoch.
    pub created_ns: i64,
    /// The frozen layer holding its state.
    pub layer: i64,
}

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The checkpoint now in effect.
    pub checkpoint: Checkpoint,
    /// The automatic checkpoint that keeps the state the restore replaced, if it had changes.
    pub saved_previous: Option<Checkpoint>,
}

/// A state of a vault that can be read or diffed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateRef {
    /// The vault as it is now.
    Head {
        /// Vault name.
        vault: String,
    },
    /// A checkpoint of a vault.
    Checkpoint {
        /// Vault name.
        vault: String,
        /// Checkpoint name.
        name: String,
    },
}

/// The first character of a hidden vault's name (a run's attempt).
pub const HIDDEN_PREFIX: &str = ".";

/// Checks a vault or checkpoint name: 1–128 of `[A-Za-z0-9._-]`, starting alphanumeric.
pub fn validate_label(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 128 {
        Some("must be at most 128 characters")
    } else if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        Some("must start with a letter or digit")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("may contain only letters, digits, '.', '_' and '-'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(VaultError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[derive(Clone, Copy)]
pub(super) struct VaultRow {
    pub(super) id: i64,
    pub(super) top: i64,
}

/// What a write needs of a vault's head, read once per batch: while the batch
/// holds the write lock nobody else can move the head or change the quota,
/// and this store commits the batch before any write that could.
#[derive(Clone, Copy)]
struct BatchHead {
    row: VaultRow,
    limits: super::quota::Limits,
    /// The store's retention: versions kept per entry (`None`: all).
    keep_versions: Option<u64>,
}

pub(super) fn vault_row(conn: &Connection, name: &str) -> Result<VaultRow> {
    conn.prepare_cached("SELECT id, top_layer FROM vaults WHERE name = ?1")?
        .query_row([name], |r| {
            Ok(VaultRow {
                id: r.get(0)?,
                top: r.get(1)?,
            })
        })
        .optional()?
        .ok_or_else(|| VaultError::VaultNotFound(name.to_string()))
}

/// A checkpoint from a row of (name, message, auto, created_ns, layer).
fn checkpoint_from_row(vault: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        vault: vault.to_string(),
        name: r.get(0)?,
        message: r.get(1)?,
        auto: r.get(2)?,
        created_ns: r.get(3)?,
        layer: r.get(4)?,
    })
}

pub(super) fn checkpoint_row(conn: &Connection, vault: &str, name: &str) -> Result<Checkpoint> {
    conn.prepare_cached(
        "SELECT c.name, c.message, c.auto, c.created_ns, c.layer FROM checkpoints c
         JOIN vaults v ON v.id = c.vault_id WHERE v.name = ?1 AND c.name = ?2",
    )?
    .query_row([vault, name], |r| checkpoint_from_row(vault, r))
    .optional()?
    .ok_or_else(|| VaultError::CheckpointNotFound(name.to_string()))
}

/// How often a handle told to [`Store::stop_when`] looks at its flag, in
/// SQLite virtual machine steps: a row written costs a few dozen.
pub const STOP_CHECK_STEPS: std::ffi::c_int = 16;

/// An open store.
pub struct Store {
    conn: Connection,
    owner: Owner,
    /// A batch transaction is open (see [`Store::begin_batch`]).
    batch: bool,
    /// The heads the open batch (or held snapshot) has read, by vault name;
    /// empty outside them.
    batch_heads: std::collections::HashMap<String, BatchHead>,
    /// When this handle last punched freed segment ranges.
    reclaimed_at: Option<std::time::Instant>,
    /// The last `segment_free` row punched and not yet forgotten.
    punched: Option<i64>,
    /// Reads outside a batch share one read transaction (see [`Store::hold_reads`]).
    hold_reads: bool,
    /// That shared read transaction is open.
    snapshot: bool,
    /// Usage counter moves (files, bytes) of the open batch's writes to
    /// vaults without limits, by vault id, added once when the batch commits:
    /// nothing reads them before then (a limited vault settles every write).
    pending_usage: std::collections::HashMap<i64, (i64, i64)>,
    /// The open batch's reserved inode numbers.
    inos: super::inodes::InoBlock,
    /// How many batches a failed COMMIT rolled back.
    rolled_back: u64,
    /// The last of them failed for want of disk space.
    rolled_back_full: bool,
    /// This handle's end of the store's fence (close-to-open across processes).
    fence: Fence,
    /// [`Store::sync`] has synced the WAL's directory (once is enough).
    wal_dir_synced: bool,
}

/// One write inside an open batch, under its own savepoint: released when
/// the write succeeds, rolled back when it fails or unwinds. Its two
/// statements stay prepared: rusqlite's `savepoint()` parses its SQL anew
/// for every write, which showed in a mount's profile of small files.
struct Step<'c> {
    conn: &'c Connection,
    released: bool,
}

impl<'c> Step<'c> {
    fn begin(conn: &'c Connection) -> Result<Self> {
        conn.prepare_cached("SAVEPOINT step")?.execute([])?;
        Ok(Self {
            conn,
            released: false,
        })
    }

    fn release(mut self) -> Result<()> {
        self.conn.prepare_cached("RELEASE step")?.execute([])?;
        self.released = true;
        Ok(())
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        if !self.released {
            // ROLLBACK TO keeps the savepoint open; RELEASE then ends it.
            let _ = self.conn.execute_batch("ROLLBACK TO step; RELEASE step");
        }
    }
}

impl Drop for Store {
    /// A mount's session or a command ends: what it freed in segments is
    /// punched now if no reader can see it (else by a later store or gc),
    /// and, by the process's last store, what it appended that no row names.
    fn drop(&mut self) {
        // A stopped command still gives back what it appended (`stop_when`).
        let _ = self.conn.progress_handler(0, None::<fn() -> bool>);
        let _ = self.release_reads();
        if self.batch {
            return;
        }
        if let Ok((_, Some(last))) = super::segment::reclaim(&self.conn) {
            // Never wait for another writer's lock on the way out: the rows
            // stay for a later batch or gc, which punch them again harmlessly.
            let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
            let _ = super::segment::forget_punched(&self.conn, last);
        }
        // What this leaves (an error reading the rows), gc's sweep frees.
        let _ = self.sweep_own_segments();
    }
}

impl Store {
    /// Opens the store file at `path`, creating it only when nothing exists
    /// there: anything else that is not an avfs store is `Corrupt`, untouched.
    pub fn open(path: &Path, owner: Owner) -> Result<Self> {
        let conn = super::store_file::open(path)?;
        Ok(Self::over(conn, owner, Fence::beside(path)))
    }

    /// A private in-memory store, for tests and benchmarks.
    pub fn open_in_memory(owner: Owner) -> Result<Self> {
        Self::from_connection(Connection::open_in_memory()?, owner)
    }

    fn from_connection(mut conn: Connection, owner: Owner) -> Result<Self> {
        schema::configure(&mut conn)?;
        schema::migrate(&mut conn)?;
        // In memory: nobody else reads it, so there is no fence.
        Ok(Self::over(conn, owner, Fence::default()))
    }

    /// A handle on an open, configured connection.
    fn over(conn: Connection, owner: Owner, fence: Fence) -> Self {
        Self {
            conn,
            owner,
            batch: false,
            batch_heads: Default::default(),
            reclaimed_at: None,
            punched: None,
            hold_reads: false,
            snapshot: false,
            pending_usage: Default::default(),
            inos: Default::default(),
            rolled_back: 0,
            rolled_back_full: false,
            fence,
            wal_dir_synced: false,
        }
    }

    /// The underlying connection (read-only uses: integrity checks, stats).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Commits any open batch and starts a `BEGIN IMMEDIATE` transaction.
    pub(crate) fn begin_write(&mut self) -> Result<Transaction<'_>> {
        self.commit_batch()?;
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Starts a read transaction: one consistent snapshot (commits any open batch first).
    pub(super) fn begin_read(&mut self) -> Result<Transaction<'_>> {
        self.commit_batch()?;
        Ok(self.conn.transaction()?)
    }

    /// Starts grouping writes: until [`Store::commit_batch`], [`Store::write`] and
    /// [`Store::write_unjournaled`] run inside one open transaction, each under its
    /// own savepoint (a failed one still leaves nothing), and reads see them. Other
    /// connections see nothing of the batch until it commits. For the mount, where
    /// a commit per file-system call would dominate.
    pub fn begin_batch(&mut self) -> Result<()> {
        self.release_reads()?;
        if !self.batch {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.batch = true;
            // Under the write lock the batch holds anyway, so forgetting
            // punched ranges never waits for another writer. If the batch
            // rolls back, they are punched again later (it is idempotent).
            if let Some(last) = self.punched.take() {
                let _ = super::segment::forget_punched(&self.conn, last);
            }
        }
        Ok(())
    }

    /// How many of this handle's batches a failed COMMIT rolled back (a
    /// full disk, say): what they held is gone, and so is what a caller
    /// kept in memory about it (row ids, a file's stored chunks).
    pub fn batches_rolled_back(&self) -> u64 {
        self.rolled_back
    }

    /// Whether the last batch rolled back failed for want of disk space.
    pub fn last_rollback_was_disk_full(&self) -> bool {
        self.rolled_back_full
    }

    /// Tests: counts a batch as rolled back, as a failed COMMIT would (for
    /// want of disk space if `full`).
    #[cfg(test)]
    pub(crate) fn pretend_a_batch_rolled_back(&mut self, full: bool) {
        self.rolled_back += 1;
        self.rolled_back_full = full;
    }

    /// Commits the open batch, if any.
    pub fn commit_batch(&mut self) -> Result<()> {
        self.release_reads()?;
        self.batch_heads.clear();
        if self.batch {
            self.settle_pending_usage()?;
            self.inos.settle(&self.conn)?;
            let committed = self.conn.execute_batch("COMMIT");
            // A failed COMMIT may leave the transaction open (busy) or rolled back (full disk).
            self.batch = committed.is_err() && !self.conn.is_autocommit();
            if !self.batch {
                self.fence.settle();
            }
            if let Err(e) = &committed
                && !self.batch
            {
                self.rolled_back += 1;
                self.rolled_back_full = matches!(e, rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DiskFull);
            }
            committed?;
            // The batch is committed whatever happens here; what a failed
            // punch leaves, a later one or gc frees.
            let _ = self.reclaim_now_and_then();
        }
        Ok(())
    }

    /// Adds the open batch's deferred usage moves to their vaults' counters,
    /// all or none.
    fn settle_pending_usage(&mut self) -> Result<()> {
        if self.pending_usage.is_empty() {
            return Ok(());
        }
        let step = Step::begin(&self.conn)?;
        for (&vault_id, &delta) in &self.pending_usage {
            super::quota::add_usage(&self.conn, vault_id, delta)?;
        }
        step.release()?;
        self.pending_usage.clear();
        Ok(())
    }

    /// Punches freed segment ranges no reader can see any more, at most once
    /// a second: a long-lived mount that rewrites files gets its disk space
    /// back without waiting for a gc. The next batch forgets them.
    fn reclaim_now_and_then(&mut self) -> Result<()> {
        let now = std::time::Instant::now();
        if self
            .reclaimed_at
            .is_some_and(|at| now.duration_since(at).as_secs() < 1)
        {
            return Ok(());
        }
        self.reclaimed_at = Some(now);
        let (_, last) = super::segment::reclaim(&self.conn)?;
        self.punched = last.or(self.punched);
        Ok(())
    }

    /// Where a writer may put a write's whole chunks before it takes the
    /// lock it writes under ([`crate::vault::HashedWrite`]); None for a store in memory.
    pub fn chunk_sink(&self) -> Option<super::ChunkSink> {
        super::ChunkSink::of(&self.conn)
    }

    /// From now on, reads outside a batch share one read transaction until
    /// the next write or [`Store::release_reads`], instead of opening one
    /// each. For a mount whose vault nothing else writes (a proxy run's):
    /// its reads see the store as of the first of them, so a caller must
    /// release it often enough for others' commits elsewhere in the store
    /// not to matter, and for the WAL to be checkpointed.
    pub fn hold_reads(&mut self) {
        self.hold_reads = true;
    }

    /// Ends the read transaction reads share, if one is open.
    pub fn release_reads(&mut self) -> Result<()> {
        if self.snapshot {
            self.snapshot = false;
            self.batch_heads.clear();
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }

    /// True while a batch is open.
    pub fn in_batch(&self) -> bool {
        self.batch
    }

    /// Marks the open batch as owing what it holds to other processes'
    /// readers (a shared mount's closed files): until it commits, their
    /// [`Store::wait_for_owed`] waits for it (`vault/fence.rs`). False when
    /// there is no batch or the mark cannot be made: the caller commits now.
    pub fn owe_visibility(&mut self) -> bool {
        self.batch && self.fence.owe()
    }

    /// Waits, at most `limit`, until no other process's batch owes readers
    /// what it holds ([`Store::owe_visibility`]), so that this handle reads
    /// every file closed before; false if one still did when `limit` passed.
    pub fn wait_for_owed(&mut self, limit: std::time::Duration) -> bool {
        // Inside its own batch this handle holds the write lock: no other
        // batch can be open.
        self.batch || self.fence.wait(limit)
    }

    pub(super) fn stamp(&self) -> Stamp {
        Stamp {
            uid: self.owner.uid,
            gid: self.owner.gid,
            now_ns: now_ns(),
        }
    }

    /// Commits any open batch and makes everything committed durable against power loss.
    pub fn sync(&mut self) -> Result<()> {
        self.commit_batch()?;
        // Under `synchronous=NORMAL` a commit reaches the WAL unsynced, and
        // SQLite syncs the database file after every checkpoint itself: syncing
        // the WAL is enough. A `wal_checkpoint(FULL)` here copied every WAL
        // page into the database and synced both, three fsyncs for each
        // fsync(2) a program makes in a mount.
        self.wal_dir_synced |= super::store_file::sync_wal(&self.conn, !self.wal_dir_synced)?;
        Ok(())
    }

    // ----- settings -----

    /// A store-wide setting (e.g. the current vault).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([format!("setting.{key}")], |r| r.get(0))
            .optional()?)
    }

    /// Sets or clears a store-wide setting.
    pub fn set_setting(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        self.release_reads()?;
        let key = format!("setting.{key}");
        match value {
            Some(v) => self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    // ----- vaults -----

    /// Creates an empty vault holding only `/`.
    pub fn create_vault(&mut self, name: &str) -> Result<VaultInfo> {
        validate_label(name)?;
        let stamp = self.stamp();
        let tx = self.begin_write()?;
        if vault_row(&tx, name).is_ok() {
            return Err(VaultError::VaultExists(name.to_string()));
        }
        let top = layer::create(&tx, None, stamp.now_ns)?;
        tx.execute(
            "INSERT INTO vaults(name, top_layer, created_ns, usage_files, usage_bytes) VALUES (?1, ?2, ?3, 0, 0)",
            params![name, top, stamp.now_ns],
        )?;
        let writer = TreeWriter::new(&tx, top, stamp)?;
        writer.put_attr(&super::tree::Attr {
            ino: ROOT_INO,
            kind: Kind::Dir,
            mode: 0o755,
            uid: stamp.uid,
            gid: stamp.gid,
            size: 0,
            mtime_ns: stamp.now_ns,
            atime_ns: stamp.now_ns,
            ctime_ns: stamp.now_ns,
            nlink: 2,
            rdev: 0,
            content: None,
            target: None,
        })?;
        journal::append(
            &tx,
            stamp.now_ns,
            Some(name),
            &Op::new("vault.create", name),
        )?;
        tx.commit()?;
        self.vault_info(name)
    }

    /// Every vault, by name (hidden attempts left out: see [`Store::fork_attempt`]).
    pub fn vaults(&self) -> Result<Vec<VaultInfo>> {
        let names: Vec<String> = self
            .conn
            .prepare("SELECT name FROM vaults WHERE substr(name, 1, 1) <> '.' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names.iter().map(|n| self.vault_info(n)).collect()
    }

    /// One vault's details.
    pub fn vault_info(&self, name: &str) -> Result<VaultInfo> {
        self.conn
            .prepare_cached(
                "SELECT v.name, v.created_ns, v.forked_from, v.top_layer, l.depth,
                        (SELECT count(*) FROM checkpoints c WHERE c.vault_id = v.id)
                 FROM vaults v JOIN layers l ON l.id = v.top_layer WHERE v.name = ?1",
            )?
            .query_row([name], |r| {
                Ok(VaultInfo {
                    name: r.get(0)?,
                    created_ns: r.get(1)?,
                    forked_from: r.get(2)?,
                    top_layer: r.get(3)?,
                    depth: r.get(4)?,
                    checkpoints: r.get(5)?,
                })
            })
            .optional()?
            .ok_or_else(|| VaultError::VaultNotFound(name.to_string()))
    }

    /// Deletes a vault and its checkpoints; forks of it are unaffected.
    pub fn delete_vault(&mut self, name: &str) -> Result<()> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, name)?;
        tx.execute("DELETE FROM checkpoints WHERE vault_id = ?1", [row.id])?;
        tx.execute("DELETE FROM policies WHERE vault_id = ?1", [row.id])?;
        tx.execute("DELETE FROM quotas WHERE vault_id = ?1", [row.id])?;
        tx.execute("DELETE FROM vaults WHERE id = ?1", [row.id])?;
        journal::append(&tx, now, Some(name), &Op::new("vault.delete", name))?;
        tx.commit()?;
        Ok(())
    }

    /// Forks `src` into a new vault `dst` in O(1): both share the frozen state,
    /// and the fork starts with a copy of the source's policy.
    pub fn fork_vault(&mut self, src: &str, dst: &str) -> Result<VaultInfo> {
        validate_label(dst)?;
        self.fork_named(src, dst, "vault.fork")
    }

    /// Forks `vault` into a hidden vault for one attempt (a proxy run): its
    /// name starts with `.`, which no user-given name may, and
    /// [`Store::vaults`] leaves it out. It is a vault all the same, so gc,
    /// quotas and mounts treat it as one while the attempt lasts.
    pub fn fork_attempt(&mut self, vault: &str, name: &str) -> Result<VaultInfo> {
        if !name.starts_with(HIDDEN_PREFIX) || name.len() > 512 || name.contains('/') {
            return Err(VaultError::InvalidName {
                name: name.to_string(),
                reason: "an attempt's name starts with '.', has no '/' and at most 512 bytes",
            });
        }
        self.fork_named(vault, name, "attempt.start")
    }

    /// Every hidden (attempt) vault, by name.
    pub fn attempts(&self) -> Result<Vec<VaultInfo>> {
        let names: Vec<String> = self
            .conn
            .prepare("SELECT name FROM vaults WHERE substr(name, 1, 1) = '.' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names.iter().map(|n| self.vault_info(n)).collect()
    }

    /// Renames a vault (e.g. a hidden attempt kept as a visible fork).
    pub fn rename_vault(&mut self, from: &str, to: &str) -> Result<VaultInfo> {
        validate_label(to)?;
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, from)?;
        if vault_row(&tx, to).is_ok() {
            return Err(VaultError::VaultExists(to.to_string()));
        }
        tx.execute(
            "UPDATE vaults SET name = ?1 WHERE id = ?2",
            params![to, row.id],
        )?;
        tx.execute(
            "UPDATE vaults SET forked_from = ?1 WHERE forked_from = ?2",
            params![to, from],
        )?;
        journal::append(
            &tx,
            now,
            Some(to),
            &Op::new("vault.rename", format!("{from} -> {to}")),
        )?;
        tx.commit()?;
        self.vault_info(to)
    }

    fn fork_named(&mut self, src: &str, dst: &str, op: &str) -> Result<VaultInfo> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let source = vault_row(&tx, src)?;
        if vault_row(&tx, dst).is_ok() {
            return Err(VaultError::VaultExists(dst.to_string()));
        }
        let base = Self::seal_top(&tx, &source, now)?;
        let fork_top = layer::create(&tx, Some(base), now)?;
        tx.execute(
            "INSERT INTO vaults(name, top_layer, forked_from, base_layer, created_ns, usage_files, usage_bytes)
             SELECT ?1, ?2, ?3, ?4, ?5, usage_files, usage_bytes FROM vaults WHERE id = ?6",
            params![dst, fork_top, src, base, now, source.id],
        )?;
        let fork_id = tx.last_insert_rowid();
        // A fork is policed (and limited) like its source until someone sets its own.
        tx.execute(
            "INSERT INTO policies(vault_id, json, updated_ns)
             SELECT ?1, json, ?2 FROM policies WHERE vault_id = ?3",
            params![fork_id, now, source.id],
        )?;
        tx.execute(
            "INSERT INTO quotas(vault_id, max_bytes, max_files, max_file_size)
             SELECT ?1, max_bytes, max_files, max_file_size FROM quotas WHERE vault_id = ?2",
            params![fork_id, source.id],
        )?;
        journal::append(&tx, now, Some(dst), &Op::new(op, format!("{src} -> {dst}")))?;
        tx.commit()?;
        self.vault_info(dst)
    }

    /// Freezes a vault's state and gives it a fresh top layer; returns the frozen layer.
    pub(super) fn seal_top(tx: &Transaction<'_>, vault: &VaultRow, now: i64) -> Result<i64> {
        let (sealed, froze) = layer::seal(tx, vault.top)?;
        if froze {
            super::quota::freeze_usage(tx, vault.id, sealed)?;
            let top = layer::create(tx, Some(sealed), now)?;
            tx.execute(
                "UPDATE vaults SET top_layer = ?1 WHERE id = ?2",
                [top, vault.id],
            )?;
        }
        Ok(sealed)
    }

    // ----- tree transactions -----

    /// Runs `f` against a consistent snapshot of a vault state.
    pub fn read<T>(&mut self, at: &StateRef, f: impl FnOnce(&Tree<'_>) -> Result<T>) -> Result<T> {
        if self.hold_reads && !self.batch && !self.snapshot {
            self.conn.execute_batch("BEGIN")?;
            self.snapshot = true;
        }
        if self.batch || self.snapshot {
            // Within the open batch or the held snapshot a head cannot move.
            if let StateRef::Head { vault } = at {
                let top = self.batch_head(vault)?.row.top;
                return f(&Tree::over_known_chain(&self.conn, top));
            }
            let top = Self::state_top(&self.conn, at)?;
            return f(&Tree::new(&self.conn, top)?);
        }
        let tx = self.conn.transaction()?;
        let top = Self::state_top(&tx, at)?;
        let out = f(&Tree::new(&tx, top)?)?;
        tx.commit()?;
        Ok(out)
    }

    /// Has SQLite checkpoint the WAL after this handle's commits once it
    /// holds `pages` pages (its default is 1,000). For a process that exits
    /// without checkpointing: the next process to open the store rebuilds
    /// the WAL's index from every frame written since the WAL last
    /// restarted, reading and summing each.
    pub fn checkpoint_wal_past(&self, pages: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", i64::from(pages))?;
        Ok(())
    }

    /// Frees what this process appended to its segments that no row names
    /// (bytes of transactions that rolled back), if this is the only handle
    /// of the process on the store and nothing else of it holds the segments
    /// (see `segment::let_go`); otherwise frees nothing. Every handle does
    /// it as it closes; a proxy run also does it once its mount has closed,
    /// so that its merge gets the room a write that filled the disk took.
    pub fn sweep_own_segments(&self) -> Result<()> {
        super::segment::let_go(&self.conn).map(|_| ())
    }

    /// Has SQLite leave the WAL as it is when this handle closes, instead of
    /// checkpointing it there if it is the store's last connection. For a
    /// process that keeps its WAL short with [`Store::checkpoint_wal_past`]
    /// and whose last close is on its critical path: a checkpoint at close
    /// syncs the database file.
    pub fn skip_checkpoint_at_close(&self) -> Result<()> {
        self.conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        Ok(())
    }

    /// Makes this handle's statements fail with [`VaultError::Sqlite`]
    /// (`SQLITE_INTERRUPT`) once `stop` is set, from then on: a long command
    /// stops at its next statement and what it had not committed rolls back.
    /// SQLite asks every [`STOP_CHECK_STEPS`] virtual machine steps and at the
    /// end of every statement that ran as many, so a loop of short statements
    /// stops too, and so does a wait for another writer's lock (for every
    /// handle of the process: SQLite's busy handler takes no state). The
    /// handle's own cleanup when it is dropped still runs.
    pub fn stop_when(&mut self, stop: &'static std::sync::atomic::AtomicBool) -> Result<()> {
        let _ = schema::STOP_WAITING.set(stop);
        self.conn.progress_handler(
            STOP_CHECK_STEPS,
            Some(move || stop.load(std::sync::atomic::Ordering::Relaxed)),
        )?;
        Ok(())
    }

    /// A number that changes whenever another connection (in any process)
    /// has committed to the store since this one last looked.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// Reads through an editor whose chunk list is loaded: no state to look
    /// up and no transaction to open, as chunk rows never change once written.
    pub fn read_edited(
        &self,
        editor: &super::ContentEditor,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        editor.read_at(&self.conn, offset, buf)
    }

    /// Runs `f` as one transaction on a vault's head, journaled as `op`.
    /// Nothing of `f`'s writes is visible unless it returns `Ok`.
    pub fn write<T>(
        &mut self,
        vault: &str,
        op: Op,
        f: impl FnOnce(&TreeWriter<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_txn(vault, Some(&op), f)
    }

    /// Runs `f` as one transaction on a vault's head without a journal entry of
    /// its own: for the mount, which records one summary entry per session with
    /// [`Store::journal`] instead of one per file-system call.
    pub fn write_unjournaled<T>(
        &mut self,
        vault: &str,
        f: impl FnOnce(&TreeWriter<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_txn(vault, None, f)
    }

    fn write_txn<T>(
        &mut self,
        vault: &str,
        op: Option<&Op>,
        f: impl FnOnce(&TreeWriter<'_>) -> Result<T>,
    ) -> Result<T> {
        let stamp = self.stamp();
        if self.batch {
            let head = self.batch_head(vault)?;
            let step = Step::begin(&self.conn)?;
            let writer =
                TreeWriter::over_known_chain(&self.conn, head.row.top, stamp).with_inos(&self.inos);
            let defer = head.limits.is_unlimited();
            let (out, usage) = Self::apply(&self.conn, vault, head, writer, op, !defer, f)?;
            step.release()?;
            if defer && usage != (0, 0) {
                let pending = self.pending_usage.entry(head.row.id).or_default();
                pending.0 += usage.0;
                pending.1 = pending.1.saturating_add(usage.1);
            }
            return Ok(out);
        }
        let tx = self.begin_write()?;
        let head = Self::read_head(&tx, vault)?;
        let writer = TreeWriter::new(&tx, head.row.top, stamp)?;
        let (out, _) = Self::apply(&tx, vault, head, writer, op, true, f)?;
        tx.commit()?;
        Ok(out)
    }

    /// A vault's head row and quota, as the current transaction sees them.
    fn read_head(conn: &Connection, vault: &str) -> Result<BatchHead> {
        let row = vault_row(conn, vault)?;
        let limits = super::quota::load(conn, row.id)?;
        let keep_versions = super::retention::keep_versions(conn)?;
        Ok(BatchHead {
            row,
            limits,
            keep_versions,
        })
    }

    /// True when `vault` is known to have no limits to check writes against:
    /// inside a batch, which reads its quota once; outside one, never (the
    /// caller checks as usual).
    pub fn known_unlimited(&mut self, vault: &str) -> Result<bool> {
        Ok(self.batch && self.batch_head(vault)?.limits.is_unlimited())
    }

    /// Whether `vault` has no limits at all (inside a batch, as the batch read them).
    pub fn is_unlimited(&mut self, vault: &str) -> Result<bool> {
        if self.batch {
            return self.known_unlimited(vault);
        }
        let row = vault_row(&self.conn, vault)?;
        Ok(super::quota::load(&self.conn, row.id)?.is_unlimited())
    }

    /// The head of `vault` in the open batch, read (and its layer chain
    /// listed) the first time the batch touches it.
    fn batch_head(&mut self, vault: &str) -> Result<BatchHead> {
        if let Some(head) = self.batch_heads.get(vault) {
            return Ok(*head);
        }
        let head = Self::read_head(&self.conn, vault)?;
        layer::ensure_chain(&self.conn, head.row.top)?;
        self.batch_heads.insert(vault.to_string(), head);
        Ok(head)
    }

    /// The body of a write: runs `f` with `writer` on the vault's top layer
    /// inside the caller's transaction, settles the usage counters (unless
    /// `settle` is false: the caller settles later), journals `op`. Returns
    /// `f`'s result and the write's move of the usage counters.
    fn apply<T>(
        conn: &Connection,
        vault: &str,
        head: BatchHead,
        writer: TreeWriter<'_>,
        op: Option<&Op>,
        settle: bool,
        f: impl FnOnce(&TreeWriter<'_>) -> Result<T>,
    ) -> Result<(T, (i64, i64))> {
        let BatchHead {
            row,
            limits,
            keep_versions,
        } = head;
        // Versions written without a journal entry of their own come from the mount.
        let source = op.map_or("mount", |op| op.name.as_str());
        let writer = writer
            .configure(source, limits)
            .with_keep_versions(keep_versions);
        let out = f(&writer)?;
        let usage = writer.usage_delta();
        if settle {
            super::quota::settle(conn, vault, row.id, row.top, &limits, usage)?;
        }
        if let Some(op) = op {
            journal::append(conn, writer.stamp().now_ns, Some(vault), op)?;
        }
        Ok((out, usage))
    }

    /// Appends a journal entry on its own (e.g. a mount session's summary).
    pub fn journal(&mut self, vault: Option<&str>, op: Op) -> Result<()> {
        let tx = self.begin_write()?;
        journal::append(&tx, now_ns(), vault, &op)?;
        tx.commit()?;
        Ok(())
    }

    fn state_top(conn: &Connection, at: &StateRef) -> Result<i64> {
        match at {
            StateRef::Head { vault } => Ok(vault_row(conn, vault)?.top),
            StateRef::Checkpoint { vault, name } => {
                vault_row(conn, vault)?;
                Ok(checkpoint_row(conn, vault, name)?.layer)
            }
        }
    }

    // ----- checkpoints -----

    /// Freezes the vault's current state under `name`, in O(1).
    pub fn checkpoint_save(
        &mut self,
        vault: &str,
        name: &str,
        message: Option<&str>,
    ) -> Result<Checkpoint> {
        self.save_checkpoint(vault, name, message, false)
    }

    /// As [`Store::checkpoint_save`], for a checkpoint avfs takes by itself
    /// (marked `auto`, so that retention rules may delete it).
    pub fn checkpoint_save_auto(
        &mut self,
        vault: &str,
        name: &str,
        message: Option<&str>,
    ) -> Result<Checkpoint> {
        self.save_checkpoint(vault, name, message, true)
    }

    fn save_checkpoint(
        &mut self,
        vault: &str,
        name: &str,
        message: Option<&str>,
        auto: bool,
    ) -> Result<Checkpoint> {
        validate_label(name)?;
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        if checkpoint_row(&tx, vault, name).is_ok() {
            return Err(VaultError::CheckpointExists(name.to_string()));
        }
        let sealed = Self::seal_top(&tx, &row, now)?;
        Self::insert_checkpoint(&tx, row.id, name, sealed, message, auto, now)?;
        journal::append(&tx, now, Some(vault), &Op::new("checkpoint.save", name))?;
        tx.commit()?;
        checkpoint_row(&self.conn, vault, name)
    }

    pub(super) fn insert_checkpoint(
        tx: &Transaction<'_>,
        vault_id: i64,
        name: &str,
        layer: i64,
        message: Option<&str>,
        auto: bool,
        now: i64,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO checkpoints(vault_id, name, layer, message, auto, created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![vault_id, name, layer, message, auto, now],
        )?;
        Ok(())
    }

    /// A vault's checkpoints, oldest first.
    pub fn checkpoints(&self, vault: &str) -> Result<Vec<Checkpoint>> {
        let row = vault_row(&self.conn, vault)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, message, auto, created_ns, layer FROM checkpoints WHERE vault_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([row.id], |r| checkpoint_from_row(vault, r))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One checkpoint.
    pub fn checkpoint(&self, vault: &str, name: &str) -> Result<Checkpoint> {
        vault_row(&self.conn, vault)?;
        checkpoint_row(&self.conn, vault, name)
    }

    /// Puts the vault back to a checkpoint, in O(1). Changes made since the
    /// last checkpoint are not thrown away: they are kept as an automatic
    /// checkpoint named `pre-restore-N`, reported in [`Restored`].
    pub fn checkpoint_restore(&mut self, vault: &str, name: &str) -> Result<Restored> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        let target = checkpoint_row(&tx, vault, name)?;
        let (current, froze) = layer::seal(&tx, row.top)?;
        if froze {
            super::quota::freeze_usage(&tx, row.id, current)?;
        }
        let top = layer::create(&tx, Some(target.layer), now)?;
        tx.execute(
            "UPDATE vaults SET top_layer = ?1 WHERE id = ?2",
            [top, row.id],
        )?;
        super::quota::adopt_usage(&tx, row.id, target.layer)?;
        if !froze {
            // An empty mutable layer is referenced by nothing else: drop it.
            tx.execute("DELETE FROM layers WHERE id = ?1", [row.top])?;
        }
        let already_saved: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE vault_id = ?1 AND layer = ?2)",
            [row.id, current],
            |r| r.get(0),
        )?;
        let mut saved_previous = None;
        if !already_saved {
            let mut next: i64 = tx.query_row(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'checkpoints'), 0) + 1",
                [],
                |r| r.get(0),
            )?;
            // A user may have named a checkpoint `pre-restore-N` already: skip taken names.
            let saved = loop {
                let candidate = format!("pre-restore-{next}");
                let taken: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE vault_id = ?1 AND name = ?2)",
                    params![row.id, candidate],
                    |r| r.get(0),
                )?;
                if !taken {
                    break candidate;
                }
                next += 1;
            };
            let message = format!("state before restoring '{name}'");
            Self::insert_checkpoint(&tx, row.id, &saved, current, Some(&message), true, now)?;
            saved_previous = Some(saved);
        }
        journal::append(&tx, now, Some(vault), &Op::new("checkpoint.restore", name))?;
        tx.commit()?;
        Ok(Restored {
            checkpoint: target,
            saved_previous: saved_previous
                .map(|s| checkpoint_row(&self.conn, vault, &s))
                .transpose()?,
        })
    }

    /// Deletes a checkpoint's name; its state stays while anything else reaches it.
    pub fn checkpoint_delete(&mut self, vault: &str, name: &str) -> Result<()> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        checkpoint_row(&tx, vault, name)?;
        tx.execute(
            "DELETE FROM checkpoints WHERE vault_id = ?1 AND name = ?2",
            params![row.id, name],
        )?;
        journal::append(&tx, now, Some(vault), &Op::new("checkpoint.delete", name))?;
        tx.commit()?;
        Ok(())
    }

    // ----- policies -----

    /// Stores a vault's policy, replacing any previous one. The text is kept as
    /// given: validating it is the caller's business.
    pub fn set_policy(&mut self, vault: &str, json: &str) -> Result<()> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        tx.execute(
            "INSERT INTO policies(vault_id, json, updated_ns) VALUES (?1, ?2, ?3)
             ON CONFLICT(vault_id) DO UPDATE SET json = excluded.json, updated_ns = excluded.updated_ns",
            params![row.id, json, now],
        )?;
        journal::append(&tx, now, Some(vault), &Op::new("policy.set", json))?;
        tx.commit()?;
        Ok(())
    }

    /// A vault's stored policy text, if it has one.
    pub fn policy(&self, vault: &str) -> Result<Option<String>> {
        let row = vault_row(&self.conn, vault)?;
        Ok(self
            .conn
            .prepare_cached("SELECT json FROM policies WHERE vault_id = ?1")?
            .query_row([row.id], |r| r.get(0))
            .optional()?)
    }

    // ----- diff -----

    /// The changes from one state to another, optionally only under `paths`
    /// (an open batch is committed first).
    pub fn diff(
        &mut self,
        from: &StateRef,
        to: &StateRef,
        paths: &[VaultPath],
    ) -> Result<Vec<Change>> {
        let tx = self.begin_read()?;
        let from_top = Self::state_top(&tx, from)?;
        let to_top = Self::state_top(&tx, to)?;
        let changes = diff::diff(&tx, from_top, to_top, paths)?;
        tx.commit()?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store at `db` whose vault `v` has `/f` written `rounds` times with
    /// a chunk of bytes unlike every other round's.
    fn rewritten_chunk_file(db: &Path, rounds: u32) -> Store {
        use super::super::content::CHUNK_SIZE;
        let mut store = Store::open(db, Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        let path = VaultPath::parse_str("/f").unwrap();
        for round in 0..rounds {
            let data: Vec<u8> = (0..CHUNK_SIZE as u32)
                .map(|i| (i ^ (round * 104_729)) as u8)
                .collect();
            store
                .write("v", Op::new("write", "/f"), |w| {
                    w.write_file(&path, &data[..], false, 0o644)
                })
                .unwrap();
        }
        store
    }

    /// Bytes the segments of the store at `db` take on disk.
    fn segment_disk(db: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir(super::super::segment::dir_of(db))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
            .sum()
    }

    /// Freed segment ranges not punched (or not forgotten) yet.
    fn pending_frees(store: &Store) -> i64 {
        store
            .connection()
            .query_row("SELECT count(*) FROM segment_free", [], |r| r.get(0))
            .unwrap()
    }

    /// What a command freed in segments is punched when its store handle
    /// closes, and the punched ranges are forgotten.
    #[test]
    fn closing_a_store_punches_what_it_freed() {
        use super::super::content::CHUNK_SIZE;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let store = rewritten_chunk_file(&db, 22);
        let before = segment_disk(&db);
        drop(store);
        let after = segment_disk(&db);
        assert!(
            after <= before - 2 * CHUNK_SIZE as u64,
            "{after} of {before}"
        );
        let store = Store::open(&db, Owner::default()).unwrap();
        assert_eq!(pending_frees(&store), 0);
    }

    /// A file rewritten past retention frees its old chunks; a mount's next
    /// batch punches their segment ranges.
    #[test]
    fn a_batch_punches_the_segment_ranges_retention_freed() {
        use super::super::content::CHUNK_SIZE;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let mut store = rewritten_chunk_file(&db, 25);
        assert_eq!(pending_frees(&store), 5, "20 versions kept, 5 trimmed");
        let before = segment_disk(&db);
        // The batch that commits punches (no reader is inside an older
        // snapshot); the next one forgets the punched ranges.
        store.begin_batch().unwrap();
        store.commit_batch().unwrap();
        let after = segment_disk(&db);
        assert!(
            after <= before - 5 * CHUNK_SIZE as u64,
            "{after} of {before}"
        );
        store.begin_batch().unwrap();
        store.commit_batch().unwrap();
        assert_eq!(pending_frees(&store), 0);
    }

    /// Held reads see one snapshot: another connection's commit shows only
    /// once it is released, and this store's own write ends it first.
    #[test]
    fn held_reads_share_a_snapshot_until_released_or_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let mut other = Store::open(&db, Owner::default()).unwrap();
        other.create_vault("v").unwrap();
        let mut store = Store::open(&db, Owner::default()).unwrap();
        store.hold_reads();
        let head = StateRef::Head {
            vault: "v".to_string(),
        };
        let names = |store: &mut Store| {
            store
                .read(&head, |t| t.read_dir(ROOT_INO))
                .unwrap()
                .into_iter()
                .map(|e| String::from_utf8(e.name).unwrap())
                .collect::<Vec<_>>()
        };
        let put = |store: &mut Store, name: &str| {
            let path = VaultPath::parse_str(name).unwrap();
            store
                .write("v", Op::new("write", name), |w| {
                    w.write_file(&path, &b"x"[..], false, 0o644)
                })
                .unwrap();
        };
        assert!(names(&mut store).is_empty());
        put(&mut other, "/a");
        assert!(names(&mut store).is_empty(), "still the held snapshot");
        store.release_reads().unwrap();
        assert_eq!(names(&mut store), ["a"], "a new snapshot after release");
        put(&mut other, "/b");
        put(&mut store, "/c");
        assert_eq!(names(&mut store), ["a", "b", "c"], "a write ended it");
        store.begin_batch().unwrap();
        put(&mut store, "/d");
        store.commit_batch().unwrap();
        assert_eq!(names(&mut store).len(), 4);
    }

    #[test]
    fn policy_is_stored_per_vault_journaled_and_deleted_with_it() {
        let mut store = Store::open_in_memory(Owner { uid: 0, gid: 0 }).unwrap();
        store.create_vault("a").unwrap();
        store.create_vault("b").unwrap();
        assert_eq!(store.policy("a").unwrap(), None);
        store.set_policy("a", r#"{"timeout":"1s"}"#).unwrap();
        store.set_policy("a", "{}").unwrap();
        assert_eq!(store.policy("a").unwrap().as_deref(), Some("{}"));
        assert_eq!(store.policy("b").unwrap(), None);
        let journaled: i64 = store
            .connection()
            .query_row(
                "SELECT count(*) FROM journal WHERE op = 'policy.set' AND vault = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(journaled, 2);
        assert!(matches!(
            store.set_policy("nope", "{}"),
            Err(VaultError::VaultNotFound(_))
        ));
        store.delete_vault("a").unwrap();
        store.create_vault("a").unwrap();
        assert_eq!(store.policy("a").unwrap(), None);
        let rows: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM policies", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    /// A write in an open batch that creates `name` in the root with
    /// `bytes`, then fails when `fail` says so (its savepoint rolls back).
    fn batch_create(store: &mut Store, name: &str, bytes: &[u8], fail: bool) -> Result<u64> {
        store.write_unjournaled("v", |w| {
            let (content, size) = w.store_content(bytes)?;
            let attr = w.create(
                ROOT_INO,
                name.as_bytes(),
                super::super::tree::NewNode::file(content, size, 0o644),
            )?;
            if fail {
                return Err(VaultError::InvalidMove("the test fails this write".into()));
            }
            Ok(attr.ino)
        })
    }

    #[test]
    fn a_batch_never_hands_out_an_inode_number_twice() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let mut store = Store::open(&db, Owner::default()).unwrap();
        let mut other = Store::open(&db, Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        let mut inos = Vec::new();
        // `then` files after a write that reserved the batch's first block and
        // rolled it back; then three files from another connection.
        for (batch, then) in [(0, 3), (1, 100)] {
            store.begin_batch().unwrap();
            inos.push(batch_create(&mut store, &format!("first{batch}"), b"", false).unwrap());
            assert!(batch_create(&mut store, "failed", b"", true).is_err());
            // 3: numbers of the rolled-back block, which `next_ino` must
            // cover once the batch commits. 100: past that block's end, where
            // the next reservation must start above every number handed out.
            for i in 0..then {
                inos.push(batch_create(&mut store, &format!("f{batch}.{i}"), b"", false).unwrap());
            }
            store.commit_batch().unwrap();
            for i in 0..3 {
                let path = VaultPath::parse_str(&format!("/after{batch}.{i}")).unwrap();
                let attr = other
                    .write("v", Op::new("write", "after"), |w| {
                        w.write_file(&path, &b""[..], false, 0o644)
                    })
                    .unwrap();
                inos.push(attr.ino);
            }
        }
        let distinct: std::collections::BTreeSet<u64> = inos.iter().copied().collect();
        assert_eq!(distinct.len(), inos.len(), "inode numbers reused: {inos:?}");
        let listed = other
            .read(&StateRef::Head { vault: "v".into() }, |t| {
                t.entries(ROOT_INO)
            })
            .unwrap();
        assert_eq!(listed.len(), inos.len());
    }

    #[test]
    fn a_batch_counts_usage_once_it_commits_and_never_a_failed_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let mut store = Store::open(&db, Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        store.begin_batch().unwrap();
        batch_create(&mut store, "a", b"12345", false).unwrap();
        assert!(batch_create(&mut store, "failed", b"1234567", true).is_err());
        batch_create(&mut store, "b", b"123", false).unwrap();
        store.commit_batch().unwrap();
        let mut other = Store::open(&db, Owner::default()).unwrap();
        let (_, usage) = other.quota("v").unwrap();
        assert_eq!((usage.files, usage.bytes), (2, 8));
        // The counters agree with counting the tree anew.
        let recounted = other
            .read(
                &StateRef::Head { vault: "v".into() },
                super::super::quota::count,
            )
            .unwrap();
        assert_eq!((recounted.files, recounted.bytes), (2, 8));
    }

    #[test]
    fn a_content_change_is_a_version_at_every_link_of_the_file() {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        let head = StateRef::Head { vault: "v".into() };
        let path = |p: &str| VaultPath::parse_str(p).unwrap();
        let op = || Op::new("write", "test");
        let ino_of = |store: &mut Store, p: &str| {
            store
                .read(&head, |t| t.resolve(&path(p)))
                .unwrap()
                .unwrap()
                .ino
        };
        let set = |store: &mut Store, ino: u64, bytes: &[u8]| {
            store
                .write("v", op(), |w| {
                    let (content, size) = w.store_content(bytes)?;
                    w.set_content(ino, content, size)
                })
                .unwrap()
                .content
        };
        let latest = |store: &mut Store, p: &str| {
            store
                .read(&head, |t| t.latest_version(&path(p)))
                .unwrap()
                .and_then(|v| v.content)
        };
        for p in ["/one", "/a"] {
            store
                .write("v", op(), |w| {
                    w.write_file(&path(p), &b"0"[..], false, 0o644)
                })
                .unwrap();
        }
        let (one, a) = (ino_of(&mut store, "/one"), ino_of(&mut store, "/a"));
        store
            .write("v", op(), |w| w.link(a, ROOT_INO, b"b"))
            .unwrap();
        // One link in the top layer; two links in the top layer.
        let content = set(&mut store, one, b"1");
        assert_eq!(latest(&mut store, "/one"), content);
        let content = set(&mut store, a, b"1");
        assert_eq!(latest(&mut store, "/a"), content);
        assert_eq!(latest(&mut store, "/b"), content, "the second link");
        // The links now in a frozen layer below the head's new top.
        store.checkpoint_save("v", "below", None).unwrap();
        let content = set(&mut store, one, b"2");
        assert_eq!(
            latest(&mut store, "/one"),
            content,
            "a link below the top layer"
        );
        let content = set(&mut store, a, b"2");
        assert_eq!(latest(&mut store, "/a"), content);
        assert_eq!(
            latest(&mut store, "/b"),
            content,
            "the second link, below the top layer"
        );
    }
}
