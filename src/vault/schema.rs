//! The on-disk schema and its forward migrations (see `docs/format.md`).
//!
//! `PRAGMA user_version` holds the schema version. Opening a store runs every
//! migration above the stored version in one transaction; a store newer than
//! this binary is refused rather than guessed at.

use super::error::{Result, VaultError};
use rusqlite::Connection;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = 5;

/// Migration `i` brings a store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY
) STRICT;
INSERT INTO meta(key, value) VALUES ('next_ino', 2);

-- A layer holds the rows that differ from its parent. Only a vault's top layer
-- is mutable; AUTOINCREMENT because a layer id must never be reused (ids grow
-- along every chain, and chains are cached per connection).
CREATE TABLE layers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    parent     INTEGER REFERENCES layers(id),
    depth      INTEGER NOT NULL,
    frozen     INTEGER NOT NULL DEFAULT 0,
    created_ns INTEGER NOT NULL
) STRICT;

CREATE TABLE vaults (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    top_layer   INTEGER NOT NULL REFERENCES layers(id),
    forked_from TEXT,
    base_layer  INTEGER REFERENCES layers(id),
    created_ns  INTEGER NOT NULL
) STRICT;

CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    vault_id   INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    layer      INTEGER NOT NULL REFERENCES layers(id),
    message    TEXT,
    auto       INTEGER NOT NULL DEFAULT 0,
    created_ns INTEGER NOT NULL,
    UNIQUE (vault_id, name)
) STRICT;
-- One policy per vault, as validated JSON text (the store does not parse it).
CREATE TABLE policies (
    vault_id   INTEGER PRIMARY KEY REFERENCES vaults(id) ON DELETE CASCADE,
    json       TEXT NOT NULL,
    updated_ns INTEGER NOT NULL
) STRICT;

CREATE INDEX checkpoints_by_layer ON checkpoints(vault_id, layer);
CREATE INDEX layers_by_parent ON layers(parent);

-- Directory entries, keyed by (parent inode, name). child NULL is a whiteout:
-- the name is deleted in this layer even though a lower layer has it.
CREATE TABLE dirents (
    parent INTEGER NOT NULL,
    name   BLOB NOT NULL,
    layer  INTEGER NOT NULL,
    child  INTEGER,
    PRIMARY KEY (parent, name, layer)
) STRICT, WITHOUT ROWID;
CREATE INDEX dirents_by_layer ON dirents(layer);
CREATE INDEX dirents_by_child ON dirents(child, layer) WHERE child IS NOT NULL;

-- Inode attributes as of a layer. kind: 1 file, 2 directory, 3 symlink.
CREATE TABLE inodes (
    ino      INTEGER NOT NULL,
    layer    INTEGER NOT NULL,
    kind     INTEGER NOT NULL,
    mode     INTEGER NOT NULL,
    uid      INTEGER NOT NULL,
    gid      INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    nlink    INTEGER NOT NULL,
    content  BLOB,
    target   BLOB,
    PRIMARY KEY (ino, layer)
) STRICT, WITHOUT ROWID;
CREATE INDEX inodes_by_layer ON inodes(layer);

-- Extended attributes as of a layer; value NULL is a whiteout (removed here).
CREATE TABLE xattrs (
    ino   INTEGER NOT NULL,
    name  BLOB NOT NULL,
    layer INTEGER NOT NULL,
    value BLOB,
    PRIMARY KEY (ino, name, layer)
) STRICT, WITHOUT ROWID;
CREATE INDEX xattrs_by_layer ON xattrs(layer);

-- Immutable file contents, addressed by their content hash. Small contents
-- live inline in `data`; larger ones are a list of chunks.
CREATE TABLE contents (
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB
) STRICT, WITHOUT ROWID;

CREATE TABLE content_chunks (
    content BLOB NOT NULL,
    idx     INTEGER NOT NULL,
    chunk   INTEGER NOT NULL REFERENCES chunks(id),
    PRIMARY KEY (content, idx)
) STRICT, WITHOUT ROWID;

-- A rowid table so a read can open one chunk as a blob and read a slice of it.
CREATE TABLE chunks (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
) STRICT;

-- Append-only record of every mutation, each entry chained to the previous by hash.
CREATE TABLE journal (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns   INTEGER NOT NULL,
    vault     TEXT,
    op        TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;

-- Frozen layers never change: refuse any row written into one.
CREATE TRIGGER dirents_frozen BEFORE INSERT ON dirents
WHEN (SELECT frozen FROM layers WHERE id = NEW.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER inodes_frozen BEFORE INSERT ON inodes
WHEN (SELECT frozen FROM layers WHERE id = NEW.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER dirents_frozen_update BEFORE UPDATE ON dirents
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER inodes_frozen_update BEFORE UPDATE ON inodes
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER xattrs_frozen BEFORE INSERT ON xattrs
WHEN (SELECT frozen FROM layers WHERE id = NEW.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER xattrs_frozen_update BEFORE UPDATE ON xattrs
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER xattrs_frozen_delete BEFORE DELETE ON xattrs
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'delete from a frozen layer'); END;
CREATE TRIGGER dirents_frozen_delete BEFORE DELETE ON dirents
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'delete from a frozen layer'); END;
CREATE TRIGGER inodes_frozen_delete BEFORE DELETE ON inodes
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'delete from a frozen layer'); END;
"#,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
];

/// Version 2: the journal's head anchor, file versions, the full-text index,
/// quotas and usage counters (docs/format.md, revision history).
const MIGRATION_2: &str = r#"
-- The newest journal entry, so that `audit verify` also notices a deleted tail.
INSERT INTO meta(key, value)
SELECT 'journal_head_id', COALESCE((SELECT max(id) FROM journal), 0);
INSERT INTO meta(key, value)
SELECT 'journal_head_hash', COALESCE((SELECT hash FROM journal ORDER BY id DESC LIMIT 1), zeroblob(32));

-- Every committed change of a file's content at a directory entry (parent
-- inode, name), written in the layer (and transaction) of the change.
-- content NULL: the entry was deleted.
-- A state's history of a path is the rows whose layer is in its chain, so a
-- fork shares its source's history up to the fork and checkpoints keep theirs.
CREATE TABLE versions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    layer   INTEGER NOT NULL,
    parent  INTEGER NOT NULL,
    name    BLOB NOT NULL,
    version INTEGER NOT NULL,
    ino     INTEGER NOT NULL,
    content BLOB,
    size    INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    source  TEXT NOT NULL
) STRICT;
CREATE INDEX versions_by_entry ON versions(parent, name, layer);
CREATE INDEX versions_by_layer ON versions(layer);
CREATE INDEX versions_by_content ON versions(content) WHERE content IS NOT NULL;
CREATE TRIGGER versions_frozen BEFORE INSERT ON versions
WHEN (SELECT frozen FROM layers WHERE id = NEW.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
CREATE TRIGGER versions_frozen_update BEFORE UPDATE ON versions
WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;

-- Full-text index, one document per distinct text content (not per file):
-- identical files, forks and checkpoints share it. docid NULL: the content was
-- looked at and deliberately not indexed (binary, not UTF-8, or too large).
CREATE VIRTUAL TABLE search_text USING fts5(body, tokenize = 'unicode61');
CREATE TABLE search_docs (
    hash  BLOB PRIMARY KEY,
    docid INTEGER
) STRICT, WITHOUT ROWID;
-- A search goes from the FTS row back to its content.
CREATE INDEX search_docs_by_docid ON search_docs(docid) WHERE docid IS NOT NULL;
-- Contents files got since the last search; a search indexes them first.
CREATE TABLE search_pending (
    hash BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;
-- Which inodes hold a content (search results, gc) and which contents use a
-- chunk (gc's sweep).
CREATE INDEX inodes_by_content ON inodes(content) WHERE content IS NOT NULL;
CREATE INDEX content_chunks_by_chunk ON content_chunks(chunk);

-- Limits per vault (NULL: no limit) and usage counters of a vault's head and
-- of each frozen layer's state (NULL: not known yet; counted on demand).
CREATE TABLE quotas (
    vault_id      INTEGER PRIMARY KEY REFERENCES vaults(id) ON DELETE CASCADE,
    max_bytes     INTEGER,
    max_files     INTEGER,
    max_file_size INTEGER
) STRICT;
ALTER TABLE vaults ADD COLUMN usage_files INTEGER;
ALTER TABLE vaults ADD COLUMN usage_bytes INTEGER;
ALTER TABLE layers ADD COLUMN usage_files INTEGER;
ALTER TABLE layers ADD COLUMN usage_bytes INTEGER;
"#;

/// Version 4 (docs/format.md, "Segments"): chunks of 64 KiB or more keep
/// their bytes in a segment file beside the store, written once instead of
/// through the WAL and again at the checkpoint. Existing chunks stay inline:
/// both forms are valid, so the migration moves no byte.
const MIGRATION_4: &str = r#"
-- A segment chunk: `data` is empty and (segment, seg_offset) say where its
-- `size` bytes are. An inline chunk: both NULL. A lazy clone's chunk not
-- fetched yet: empty `data` and no segment.
ALTER TABLE chunks ADD COLUMN segment INTEGER;
ALTER TABLE chunks ADD COLUMN seg_offset INTEGER;
-- A full (256 KiB) segment chunk's 16 block chaining values (src/vault/blocks.rs).
ALTER TABLE chunks ADD COLUMN cvs BLOB;
-- What each segment holds, for gc's sweep.
CREATE INDEX chunks_by_segment ON chunks(segment, seg_offset) WHERE segment IS NOT NULL;
-- Ranges of deleted segment chunks, punched out of their segment once no
-- reader can still see them (src/vault/segment.rs).
CREATE TABLE segment_free (
    id         INTEGER PRIMARY KEY,
    segment    INTEGER NOT NULL,
    seg_offset INTEGER NOT NULL,
    size       INTEGER NOT NULL
) STRICT;
CREATE TRIGGER chunks_segment_freed AFTER DELETE ON chunks
WHEN OLD.segment IS NOT NULL
BEGIN
    INSERT INTO segment_free(segment, seg_offset, size)
    VALUES (OLD.segment, OLD.seg_offset, OLD.size);
END;
"#;

/// Version 3 (docs/format.md, revision history). Contents: holes are not
/// stored and the content hash leaves them out; `rehash_v3` renames every
/// content, since the hash of every content changed. Inodes: fifos, sockets and
/// device nodes, `atime_ns` and `rdev`. Remotes: `remotes`, `remote_layers`,
/// `remote_tracking`.
const MIGRATION_3: &str = r#"
-- contents: no table change (see rehash_v3).
-- Access times as set by utimensat (NULL: the same as mtime, as before), and
-- the device number of device nodes (kinds 4-7: fifo, socket, char and block
-- device, are new in version 3).
ALTER TABLE inodes ADD COLUMN atime_ns INTEGER;
ALTER TABLE inodes ADD COLUMN rdev INTEGER NOT NULL DEFAULT 0;

-- Remotes (src/remote): configured remotes, the pack hash of each exported
-- or imported layer, and the remote vault each local vault tracks. Chunk rows
-- with empty `data` are a lazy clone's chunks not fetched yet.
-- Where vaults are pushed and cloned from. Never credentials.
CREATE TABLE remotes (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    endpoint   TEXT,
    region     TEXT,
    unsafe_single_writer INTEGER NOT NULL DEFAULT 0,
    -- whether the server's conditional writes were found atomic (NULL: not checked yet)
    conditional_writes INTEGER,
    created_ns INTEGER NOT NULL
) STRICT;
-- The pack hash (BLAKE3 of its packed rows) of a frozen layer that was
-- exported or imported. Such a layer is never compacted (its rows would change).
CREATE TABLE remote_layers (
    layer INTEGER PRIMARY KEY REFERENCES layers(id) ON DELETE CASCADE,
    hash  BLOB NOT NULL UNIQUE
) STRICT;
-- The remote vault a local vault pushes to and pulls from by default.
CREATE TABLE remote_tracking (
    vault_id     INTEGER PRIMARY KEY REFERENCES vaults(id) ON DELETE CASCADE,
    remote       TEXT NOT NULL,
    remote_vault TEXT NOT NULL
) STRICT;
"#;

/// Version 5: the entry index orders each entry's versions by number, so the
/// newest version of an entry in a state (asked for whenever a file with a
/// history is created, committed, renamed or deleted) is the first indexed
/// row in the state's chain, and trimming an entry to its kept versions skips
/// index rows, not sorted table rows.
const MIGRATION_5: &str = r#"
DROP INDEX versions_by_entry;
CREATE INDEX versions_by_entry ON versions(parent, name, version, layer);
"#;

/// How long a writer waits for the write lock before giving up with SQLITE_BUSY.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Set through [`crate::vault::Store::stop_when`]: a writer waiting for the
/// lock stops waiting. SQLite's busy handler is a plain function, hence a
/// flag for the whole process (only the CLI sets it, for its one store).
pub(super) static STOP_WAITING: std::sync::OnceLock<&'static std::sync::atomic::AtomicBool> =
    std::sync::OnceLock::new();

/// SQLite's busy handler: sleep 1 ms and retry, up to [`LOCK_WAIT`] or
/// until [`STOP_WAITING`] is set.
fn wait_for_lock(attempt: i32) -> bool {
    let stopped = STOP_WAITING
        .get()
        .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Relaxed));
    if stopped || attempt as u128 >= LOCK_WAIT.as_millis() {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    true
}

/// Keeps `store.db-wal` and `store.db-shm` when the last connection closes
/// (SQLite's persistent WAL). A connection needs the shared-memory file to
/// read at all, and making it takes disk space: on a full disk a store whose
/// `-shm` was deleted could not even be opened, so `rm` and `gc` could not
/// free space through the reserve.
fn keep_wal_files(conn: &Connection) {
    let mut on: std::ffi::c_int = 1;
    // SAFETY: the handle is this open connection's, the name a C string, and
    // SQLITE_FCNTL_PERSIST_WAL reads and writes one int through the pointer.
    // An in-memory database answers SQLITE_NOTFOUND, which changes nothing.
    unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::ffi::c_int).cast(),
        );
    }
}

/// Applies connection settings every handle needs.
pub fn configure(conn: &mut Connection) -> Result<()> {
    // WAL so readers never block the writer; NORMAL sync survives process
    // crashes, and `Store::sync` makes a commit durable against power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    keep_wal_files(conn);
    // A kept WAL is cut back to this size when it is reset and at close.
    conn.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    // Writers queue behind each other instead of failing with SQLITE_BUSY: a
    // long import holds the write lock for its whole (single) transaction.
    // Poll every millisecond (SQLite's default backs off to 100 ms) so a waiter
    // gets in during the short gaps a busy mount leaves between its batches.
    conn.busy_handler(Some(wait_for_lock))?;
    // A chunk's bytes in a segment are durable before a row naming them commits.
    super::segment::Segments::hook(conn)?;
    // Every statement of a write path should stay prepared: one file written
    // through the mount runs some 30 distinct statements (tree, history,
    // index queue, quota), and rusqlite's default cache of 16 made each of
    // them be parsed and planned again, every time.
    conn.set_prepared_statement_cache_capacity(256);
    // Plan each statement once. Without this SQLite re-prepares lookups whenever
    // a bound inode switches between 0/1 and other values (the root is 1), which
    // made path walks several times slower. The store never runs ANALYZE, so a
    // stable plan loses nothing.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS chain (
             top   INTEGER NOT NULL,
             layer INTEGER NOT NULL,
             PRIMARY KEY (top, layer)
         ) WITHOUT ROWID;",
    )?;
    Ok(())
}

/// Brings the schema up to `SCHEMA_VERSION`, or refuses a newer store.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(VaultError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for sql in MIGRATIONS.iter().skip(current as usize) {
        tx.execute_batch(sql)?;
    }
    // Only stores that had data before a version need it brought up to that
    // version's rules. The data steps run once every table is there: they
    // read and write through the current code, which knows only the newest schema.
    if (1..2).contains(&current) {
        backfill_v2(&tx)?;
    }
    if (1..3).contains(&current) {
        rehash_v3(&tx)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Brings a store from before version 2 up to its rules: each file of each
/// vault's head gets a first version (source `migration`, in the head's
/// mutable top layer), its text is queued for the index, and each head's
/// usage is counted.
/// Checkpoints keep no history of their own from before the migration.
fn backfill_v2(conn: &Connection) -> Result<()> {
    use super::tree::{Kind, Stamp, TreeWriter};
    let vaults: Vec<(i64, i64)> = conn
        .prepare("SELECT id, top_layer FROM vaults ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let stamp = Stamp {
        uid: 0,
        gid: 0,
        now_ns: super::store::now_ns(),
    };
    for (id, top) in vaults {
        let writer = TreeWriter::new(conn, top, stamp)?
            .configure("migration", super::quota::Limits::default());
        let mut seen = std::collections::HashSet::new();
        let mut dirs = std::collections::HashMap::new();
        let (mut files, mut bytes) = (0i64, 0i64);
        // Parents come before their children in a walk.
        for (path, attr) in writer.walk(&super::path::VaultPath::root())? {
            if attr.kind == Kind::Dir {
                dirs.insert(path.clone(), attr.ino);
            }
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let first_link = seen.insert(attr.ino);
            if first_link {
                files += 1;
            }
            let (Kind::File, Some(content)) = (attr.kind, attr.content) else {
                continue;
            };
            if first_link {
                bytes += attr.size as i64;
            }
            let parent = dirs.get(&parent).copied().ok_or_else(|| {
                VaultError::Corrupt(format!("{path} walked before its directory"))
            })?;
            writer.record_version(parent, name, attr.ino, Some((content, attr.size)))?;
            super::search::enqueue(conn, &content)?;
        }
        conn.execute(
            "UPDATE vaults SET usage_files = ?1, usage_bytes = ?2 WHERE id = ?3",
            rusqlite::params![files, bytes, id],
        )?;
    }
    Ok(())
}

/// Brings contents from before version 3 to its rules: every content gets
/// the version-3 hash (which leaves holes out), and all-zero chunks leave the
/// chunk lists (gc frees their rows). References follow the rename everywhere,
/// in frozen layers too: the rename changes no byte of any state, so the
/// frozen-layer triggers are lifted for it and restored.
fn rehash_v3(conn: &Connection) -> Result<()> {
    use super::content::{ContentHash, ContentHasher};
    use rusqlite::params;
    conn.execute_batch(
        "DROP TRIGGER inodes_frozen_update;
         DROP TRIGGER versions_frozen_update;
         CREATE TEMP TABLE rehash (old BLOB PRIMARY KEY, new BLOB NOT NULL) WITHOUT ROWID;",
    )?;
    let contents: Vec<(Vec<u8>, i64, Option<Vec<u8>>)> = conn
        .prepare("SELECT hash, size, data FROM contents")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut zero_hashes: std::collections::HashMap<i64, [u8; 32]> = Default::default();
    let mut chunk_rows = conn.prepare(
        "SELECT cc.idx, c.size, c.hash FROM content_chunks cc JOIN chunks c ON c.id = cc.chunk
         WHERE cc.content = ?1 ORDER BY cc.idx",
    )?;
    let mut drop_hole =
        conn.prepare("DELETE FROM content_chunks WHERE content = ?1 AND idx = ?2")?;
    let mut rename = conn.prepare("INSERT INTO temp.rehash(old, new) VALUES (?1, ?2)")?;
    for (old, size, inline) in contents {
        let new = match inline {
            Some(data) => ContentHash::of_bytes(&data),
            None => {
                let mut hasher = ContentHasher::default();
                let rows: Vec<(i64, i64, Vec<u8>)> = chunk_rows
                    .query_map([&old], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (idx, len, hash) in rows {
                    let zero = zero_hashes
                        .entry(len)
                        .or_insert_with(|| *blake3::hash(&vec![0u8; len as usize]).as_bytes());
                    if hash[..] == zero[..] {
                        drop_hole.execute(params![&old, idx])?;
                    } else {
                        hasher.chunk(idx as u64, &ContentHash::from_blob(&hash)?.0);
                    }
                }
                hasher.finish(size as u64)
            }
        };
        rename.execute(params![&old, &new.0[..]])?;
    }
    conn.execute_batch(
        "UPDATE contents SET hash = (SELECT new FROM temp.rehash WHERE old = hash);
         UPDATE content_chunks SET content = (SELECT new FROM temp.rehash WHERE old = content);
         UPDATE inodes SET content = (SELECT new FROM temp.rehash WHERE old = content)
           WHERE content IS NOT NULL;
         UPDATE versions SET content = (SELECT new FROM temp.rehash WHERE old = content)
           WHERE content IS NOT NULL;
         UPDATE search_docs SET hash = (SELECT new FROM temp.rehash WHERE old = hash);
         UPDATE search_pending SET hash = (SELECT new FROM temp.rehash WHERE old = hash);
         DROP TABLE temp.rehash;
         CREATE TRIGGER inodes_frozen_update BEFORE UPDATE ON inodes
         WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
         BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;
         CREATE TRIGGER versions_frozen_update BEFORE UPDATE ON versions
         WHEN (SELECT frozen FROM layers WHERE id = OLD.layer) != 0
         BEGIN SELECT RAISE(ABORT, 'write into a frozen layer'); END;",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::quota::{Limits, Usage};
    use crate::vault::{ContentHash, Op, Owner, StateRef, Store, VaultPath, journal};
    use rusqlite::params;

    /// The content hash of versions 1 and 2: every chunk, holes included.
    fn v1_hash(size: u64, chunk_hashes: &[[u8; 32]]) -> ContentHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"avfs-content-v1\0");
        hasher.update(&size.to_le_bytes());
        for h in chunk_hashes {
            hasher.update(h);
        }
        ContentHash(*hasher.finalize().as_bytes())
    }

    /// Writes a store exactly as version 2 laid it out: vault `v` whose `/big`
    /// holds three chunks (the middle one all zeros), frozen in checkpoint `c`,
    /// with a version row naming it.
    fn v2_store(path: &std::path::Path) -> Vec<u8> {
        use crate::vault::CHUNK_SIZE;
        let mut conn = Connection::open(path).unwrap();
        configure(&mut conn).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        let chunks = [vec![1u8; CHUNK_SIZE], vec![0u8; CHUNK_SIZE], vec![3u8; 100]];
        let size = (2 * CHUNK_SIZE + 100) as u64;
        let hashes: Vec<[u8; 32]> = chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect();
        let hash = v1_hash(size, &hashes);
        conn.execute_batch(
            "INSERT INTO layers(id, parent, depth, frozen, created_ns) VALUES (1, NULL, 0, 0, 1);
             INSERT INTO layers(id, parent, depth, frozen, created_ns) VALUES (2, 1, 1, 0, 2);
             INSERT INTO vaults(name, top_layer, created_ns, usage_files, usage_bytes)
               VALUES ('v', 2, 1, 1, 524388);
             INSERT INTO inodes VALUES (1, 1, 2, 493, 0, 0, 0, 1, 1, 1, NULL, NULL);
             UPDATE meta SET value = 3 WHERE key = 'next_ino';
             INSERT INTO dirents VALUES (1, CAST('big' AS BLOB), 1, 2);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO inodes VALUES (2, 1, 1, 420, 0, 0, ?1, 1, 1, 1, ?2, NULL)",
            params![size as i64, &hash.0[..]],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO versions(layer, parent, name, version, ino, content, size, time_ns, source)
             VALUES (1, 1, CAST('big' AS BLOB), 1, 2, ?1, ?2, 1, 'write')",
            params![&hash.0[..], size as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO contents(hash, size, data) VALUES (?1, ?2, NULL)",
            params![&hash.0[..], size as i64],
        )
        .unwrap();
        for (idx, (data, h)) in chunks.iter().zip(&hashes).enumerate() {
            conn.execute(
                "INSERT INTO chunks(hash, size, data) VALUES (?1, ?2, ?3)",
                params![&h[..], data.len() as i64, data],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO content_chunks(content, idx, chunk) VALUES (?1, ?2, last_insert_rowid())",
                params![&hash.0[..], idx as i64],
            )
            .unwrap();
        }
        conn.execute_batch(
            "UPDATE layers SET frozen = 1 WHERE id = 1;
             INSERT INTO checkpoints(vault_id, name, layer, auto, created_ns) VALUES (1, 'c', 1, 0, 2);",
        )
        .unwrap();
        chunks.concat()
    }

    #[test]
    fn a_version_2_store_migrates_to_hashes_without_holes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let bytes = v2_store(&path);
        let mut store = Store::open(&path, Owner::default()).unwrap();
        let big = VaultPath::parse_str("/big").unwrap();
        for at in [
            StateRef::Head { vault: "v".into() },
            StateRef::Checkpoint {
                vault: "v".into(),
                name: "c".into(),
            },
        ] {
            let (read, hash) = store
                .read(&at, |t| {
                    use std::io::Read;
                    let attr = t.stat(&big)?;
                    let mut out = Vec::new();
                    t.open(&attr)?.read_to_end(&mut out)?;
                    Ok((out, attr.content.unwrap()))
                })
                .unwrap();
            assert!(read == bytes, "same bytes after the migration");
            let fresh = store
                .write("v", Op::new("write", "/copy"), |w| {
                    w.store_content(&bytes[..])
                })
                .unwrap()
                .0;
            assert_eq!(hash, fresh, "the same hash as the bytes written anew");
        }
        let rows: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM content_chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "the zero chunk is a hole now");
        let log = store
            .log(&StateRef::Head { vault: "v".into() }, &big)
            .unwrap();
        assert_eq!(log.len(), 1);
        let frozen = store
            .connection()
            .execute("UPDATE inodes SET mode = 0 WHERE layer = 1", []);
        assert!(frozen.is_err(), "frozen layers are guarded again");
        let report = store.gc(crate::vault::gc::GcOptions::default()).unwrap();
        assert_eq!(report.chunks, 1, "gc frees the zero chunk's row");
    }

    #[test]
    fn a_version_4_store_finds_an_entry_s_newest_version_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let plan = |store: &Store| -> String {
            store
                .connection()
                .execute_batch(
                    "CREATE TEMP TABLE IF NOT EXISTS plan_chain(top INTEGER, layer INTEGER)",
                )
                .unwrap();
            let mut stmt = store
                .connection()
                .prepare(
                    "EXPLAIN QUERY PLAN SELECT version, ino FROM versions v
                     WHERE parent = 1 AND name = x'66'
                       AND EXISTS (SELECT 1 FROM temp.plan_chain c WHERE c.top = 2 AND c.layer = v.layer)
                     ORDER BY version DESC LIMIT 1",
                )
                .unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        {
            let mut conn = Connection::open(&path).unwrap();
            configure(&mut conn).unwrap();
            for sql in &MIGRATIONS[..4] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
        }
        let store = Store::open(&path, Owner::default()).unwrap();
        let version: i64 = store
            .connection()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let plan = plan(&store);
        assert!(plan.contains("versions_by_entry"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
    }

    /// Writes a store exactly as version 1 laid it out: one vault `old` with
    /// `/f` = "hello" (inline) and one journal entry.
    fn v1_store(path: &std::path::Path) {
        let mut conn = Connection::open(path).unwrap();
        configure(&mut conn).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let hash = v1_hash(5, &[*blake3::hash(b"hello").as_bytes()]);
        conn.execute_batch(
            "INSERT INTO layers(id, parent, depth, frozen, created_ns) VALUES (1, NULL, 0, 0, 1);
             INSERT INTO vaults(name, top_layer, created_ns) VALUES ('old', 1, 1);
             INSERT INTO inodes VALUES (1, 1, 2, 493, 0, 0, 0, 1, 1, 1, NULL, NULL);
             UPDATE meta SET value = 3 WHERE key = 'next_ino';
             INSERT INTO dirents VALUES (1, CAST('f' AS BLOB), 1, 2);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO inodes VALUES (2, 1, 1, 420, 0, 0, 5, 1, 1, 1, ?1, NULL)",
            [&hash.0[..]],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO contents(hash, size, data) VALUES (?1, 5, CAST('hello' AS BLOB))",
            [&hash.0[..]],
        )
        .unwrap();
        let entry = journal::entry_hash(&[0; 32], 1, Some("old"), "vault.create", "old");
        conn.execute(
            "INSERT INTO journal(time_ns, vault, op, detail, prev_hash, hash) VALUES (1, 'old', 'vault.create', 'old', ?1, ?2)",
            params![&[0u8; 32][..], &entry[..]],
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_store_migrates_and_every_new_command_works_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        v1_store(&path);
        let mut store = Store::open(&path, Owner::default()).unwrap();
        let version: i64 = store
            .connection()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(
            store.verify_journal().unwrap().problems.is_empty(),
            "the chain carries over"
        );
        let head = StateRef::Head {
            vault: "old".into(),
        };
        let f = VaultPath::parse_str("/f").unwrap();
        let log = store.log(&head, &f).unwrap();
        let versions: Vec<_> = log
            .iter()
            .map(|(v, _)| (v.version, v.source.as_str(), v.size))
            .collect();
        assert_eq!(
            versions,
            [(1, "migration", 5)],
            "history starts at the migration"
        );
        assert_eq!(
            store.search(&head, "hello", 10).unwrap().len(),
            1,
            "existing text is indexed"
        );
        // Usage was never counted in version 1: the migration counts it.
        assert_eq!(
            store.quota("old").unwrap(),
            (Limits::default(), Usage { files: 1, bytes: 5 })
        );
        store
            .set_quota(
                "old",
                Limits {
                    max_bytes: Some(8),
                    ..Limits::default()
                },
            )
            .unwrap();
        store
            .write("old", Op::new("write", "/f"), |w| {
                w.write_file(&f, &b"goodbye"[..], false, 0o644)
            })
            .unwrap();
        let err = store
            .write("old", Op::new("write", "/g"), |w| {
                w.write_file(
                    &VaultPath::parse_str("/g").unwrap(),
                    &b"xx"[..],
                    false,
                    0o644,
                )
            })
            .unwrap_err();
        assert!(
            matches!(err, crate::vault::VaultError::QuotaExceeded { .. }),
            "{err}"
        );
        assert_eq!(store.log(&head, &f).unwrap().len(), 2);
        assert_eq!(store.search(&head, "goodbye", 10).unwrap().len(), 1);
        assert!(store.search(&head, "hello", 10).unwrap().is_empty());
        let report = store.gc(crate::vault::gc::GcOptions::default()).unwrap();
        assert_eq!(report.contents, 0, "version 1 keeps \"hello\"");
        let mut bytes = String::new();
        store
            .read(&head, |t| {
                use std::io::Read;
                t.open(&t.stat(&f)?)?.read_to_string(&mut bytes)?;
                Ok(())
            })
            .unwrap();
        assert_eq!(bytes, "goodbye");
        assert!(store.verify_journal().unwrap().problems.is_empty());
    }
}
