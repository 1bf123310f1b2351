//! Whole-store verification: SQLite's own `integrity_check`, every chunk's
//! bytes against its BLAKE3 hash, every content against its chunk list, and
//! every reference (inodes and versions → contents → chunks; vaults,
//! checkpoints and layers → layers), with the vault paths a fault reaches.
//!
//! Verification only reads, inside one read transaction, so it sees one
//! consistent state while writers go on. A fault is reported, never repaired.

use super::content::{CHUNK_SIZE, ChunkRow, ContentHash, ContentHasher};
use super::error::{Result, VaultError};
use super::path::VaultPath;
use super::store::Store;
use super::tree::{Kind, ROOT_INO, Tree};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeSet;

/// At most this many SQLite `integrity_check` messages are kept.
const MAX_INTEGRITY_MESSAGES: usize = 100;
/// At most this many affected paths are named per fault.
const MAX_PATHS_PER_FAULT: usize = 100;

/// What kind of damage a fault is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SQLite's `integrity_check` found the database file damaged.
    Integrity,
    /// A chunk's bytes do not hash to the hash it is stored under.
    ChunkHash,
    /// A chunk's length differs from its recorded size.
    ChunkSize,
    /// A content names a chunk that does not exist, or a chunk's bytes
    /// cannot be read from its segment.
    ChunkMissing,
    /// A content's chunk list is malformed (count, order, sizes) or does not
    /// hash to the content's hash.
    ContentMismatch,
    /// An inode or version names a content that does not exist.
    ContentMissing,
    /// A vault, checkpoint or layer names a layer that does not exist.
    LayerMissing,
    /// A layer's frozen flag contradicts its use (a checkpoint on a mutable
    /// layer, a vault head on a frozen one) or a state lacks its root.
    LayerState,
    /// Rows that belong to nothing: tree rows of a missing layer, chunk lists
    /// of a missing content.
    OrphanRows,
    /// The journal's hash chain is broken.
    Journal,
    /// Part of the store could not be read at all (SQLite reports it malformed).
    Unreadable,
}

impl FaultKind {
    /// The stable snake_case name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Integrity => "integrity",
            FaultKind::ChunkHash => "chunk_hash_mismatch",
            FaultKind::ChunkSize => "chunk_size_mismatch",
            FaultKind::ChunkMissing => "chunk_missing",
            FaultKind::ContentMismatch => "content_mismatch",
            FaultKind::ContentMissing => "content_missing",
            FaultKind::LayerMissing => "layer_missing",
            FaultKind::LayerState => "layer_state",
            FaultKind::OrphanRows => "orphan_rows",
            FaultKind::Journal => "journal",
            FaultKind::Unreadable => "unreadable",
        }
    }
}

/// A vault path that a fault reaches: a file of a head or checkpoint, or one of its versions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AffectedPath {
    /// The vault.
    pub vault: String,
    /// The checkpoint, when the path is in one (else the vault's head).
    pub checkpoint: Option<String>,
    /// The path.
    pub path: VaultPath,
    /// The version of the path that holds the damaged content, when it is
    /// only in the path's history (else the file as it is in that state).
    pub version: Option<u64>,
}

/// One thing wrong with the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What kind of damage.
    pub kind: FaultKind,
    /// What exactly, in words.
    pub message: String,
    /// The chunk at fault, if one is.
    pub chunk: Option<i64>,
    /// The content at fault (or using the chunk at fault), if one is.
    pub content: Option<ContentHash>,
    /// The vault paths whose bytes the fault reaches (at most 100).
    pub paths: Vec<AffectedPath>,
}

impl Fault {
    fn new(kind: FaultKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            chunk: None,
            content: None,
            paths: Vec::new(),
        }
    }
}

/// What `verify` looked at and what it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Chunks whose bytes were hashed.
    pub chunks: u64,
    /// Bytes hashed.
    pub bytes: u64,
    /// Contents checked against their chunk lists.
    pub contents: u64,
    /// Layers checked.
    pub layers: u64,
    /// Everything wrong, in the order found.
    pub faults: Vec<Fault>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn intact(&self) -> bool {
        self.faults.is_empty()
    }
}

impl Store {
    /// Checks the whole store; faults are in the report, not errors.
    pub fn verify(&mut self) -> Result<VerifyReport> {
        let tx = self.connection().unchecked_transaction()?;
        let mut report = VerifyReport::default();
        guarded(&mut report, "integrity check", |r| integrity(&tx, r));
        guarded(&mut report, "chunks", |r| chunks(&tx, r));
        guarded(&mut report, "contents", |r| contents(&tx, r));
        guarded(&mut report, "content references", |r| content_refs(&tx, r));
        guarded(&mut report, "layers", |r| layers(&tx, r));
        guarded(&mut report, "journal", |r| {
            let verified = super::journal::verify(&tx)?;
            r.faults.extend(verified.problems.into_iter().map(|p| {
                Fault::new(
                    FaultKind::Journal,
                    format!("journal entry {}: {}", p.id, p.problem),
                )
            }));
            Ok(())
        });
        guarded(&mut report, "affected paths", |r| name_paths(&tx, r));
        // Only read: ending it cannot lose anything, and on a damaged file even
        // COMMIT may report the damage, which the faults already say.
        drop(tx);
        Ok(report)
    }
}

/// Runs one check; a part SQLite cannot read becomes a fault naming the
/// check, not the end of the report.
fn guarded(
    report: &mut VerifyReport,
    what: &str,
    check: impl FnOnce(&mut VerifyReport) -> Result<()>,
) {
    if let Err(err) = check(report) {
        report.faults.push(unreadable(what, &err));
    }
}

fn unreadable(what: &str, err: &VaultError) -> Fault {
    // Corruption is what is expected here; anything else is reported as found.
    let kind = if err.is_corruption() {
        FaultKind::Unreadable
    } else {
        FaultKind::Integrity
    };
    Fault::new(kind, format!("{what}: {err}"))
}

/// SQLite's own check of pages, indexes and constraints.
fn integrity(conn: &Connection, report: &mut VerifyReport) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .take(MAX_INTEGRITY_MESSAGES)
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // SQLite may put several messages in one row, one per line.
    let messages = rows
        .iter()
        .flat_map(|row| row.lines())
        .filter(|m| *m != "ok" && !m.starts_with("*** in database"))
        .take(MAX_INTEGRITY_MESSAGES);
    for message in messages {
        report
            .faults
            .push(Fault::new(FaultKind::Integrity, message.to_string()));
    }
    Ok(())
}

/// A stored chunk as its row says it is.
struct StoredChunk {
    hash: Vec<u8>,
    size: i64,
    data: Vec<u8>,
    /// Why its bytes could not be read (a segment missing or cut short).
    unreadable: Option<String>,
}

/// Every chunk id, in order.
fn chunk_ids(conn: &Connection) -> Result<Vec<i64>> {
    Ok(conn
        .prepare("SELECT id FROM chunks ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// One chunk's row and bytes, wherever they live (a chunk is at most
/// [`CHUNK_SIZE`] bytes). A segment that cannot be read is a fault, as
/// damaged bytes are.
fn read_chunk(conn: &Connection, id: i64) -> Result<Option<StoredChunk>> {
    let row = conn
        .prepare_cached("SELECT data, segment, seg_offset, size, hash FROM chunks WHERE id = ?1")?
        .query_row([id], |r| {
            Ok((
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, i64>(3)?,
                ChunkRow::from_row(r)?,
            ))
        })
        .optional()?;
    let Some((hash, size, place)) = row else {
        return Ok(None);
    };
    let (data, unreadable) = match place.bytes(conn) {
        Ok(Some(data)) => (data, None),
        // Not fetched yet (lazy clone): nothing here to check.
        Ok(None) => return Ok(None),
        Err(e) if e.is_corruption() => (Vec::new(), Some(e.to_string())),
        Err(e) => return Err(e),
    };
    Ok(Some(StoredChunk {
        hash,
        size,
        data,
        unreadable,
    }))
}

/// Hashes every chunk's bytes; one chunk in memory at a time.
fn chunks(conn: &Connection, report: &mut VerifyReport) -> Result<()> {
    for id in chunk_ids(conn)? {
        let Some(chunk) = read_chunk(conn, id)? else {
            continue;
        };
        report.chunks += 1;
        report.bytes += chunk.data.len() as u64;
        let actual = blake3::hash(&chunk.data);
        if let Some(why) = chunk.unreadable {
            report.faults.push(Fault {
                chunk: Some(id),
                ..Fault::new(
                    FaultKind::ChunkMissing,
                    format!("chunk {id}: its bytes cannot be read: {why}"),
                )
            });
        } else if actual.as_bytes()[..] != chunk.hash[..] {
            report.faults.push(Fault {
                chunk: Some(id),
                ..Fault::new(
                    FaultKind::ChunkHash,
                    format!(
                        "chunk {id}: its {} bytes hash to {}, not to its recorded hash {}",
                        chunk.data.len(),
                        actual.to_hex(),
                        hex::encode(&chunk.hash)
                    ),
                )
            });
        } else if chunk.size != chunk.data.len() as i64 {
            report.faults.push(Fault {
                chunk: Some(id),
                ..Fault::new(
                    FaultKind::ChunkSize,
                    format!(
                        "chunk {id}: {} bytes, its row says {}",
                        chunk.data.len(),
                        chunk.size
                    ),
                )
            });
        }
    }
    Ok(())
}

/// One entry of a content's chunk list: its index and the chunk's recorded
/// hash and size (`None` when the chunk row is missing).
struct ListedChunk {
    idx: i64,
    chunk: i64,
    stored: Option<([u8; 32], i64)>,
}

/// A content's chunk list, in index order.
fn chunk_list(conn: &Connection, content: &[u8]) -> Result<Vec<ListedChunk>> {
    let mut stmt = conn.prepare_cached(
        "SELECT cc.idx, cc.chunk, c.hash, c.size FROM content_chunks cc
         LEFT JOIN chunks c ON c.id = cc.chunk WHERE cc.content = ?1 ORDER BY cc.idx",
    )?;
    let rows = stmt.query_map([content], |r| {
        let hash: Option<Vec<u8>> = r.get(2)?;
        let size: Option<i64> = r.get(3)?;
        Ok((r.get(0)?, r.get(1)?, hash, size))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (idx, chunk, hash, size) = row?;
        let stored = match (hash, size) {
            (Some(h), Some(s)) => Some((ContentHash::from_blob(&h)?.0, s)),
            _ => None,
        };
        out.push(ListedChunk { idx, chunk, stored });
    }
    Ok(out)
}

/// How many chunks a chunked content of `size` bytes lists.
fn expected_chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE as u64)
}

/// How long chunk `idx` of a content of `size` bytes is.
fn expected_chunk_len(size: u64, idx: u64) -> u64 {
    (size - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64)
}

/// Checks every content: inline bytes against the hash, chunk lists against
/// the format's rules and the hash.
fn contents(conn: &Connection, report: &mut VerifyReport) -> Result<()> {
    let all: Vec<(Vec<u8>, i64, Option<Vec<u8>>)> = conn
        .prepare("SELECT hash, size, data FROM contents ORDER BY hash")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (hash, size, data) in all {
        report.contents += 1;
        let content = ContentHash::from_blob(&hash)?;
        let problem = match data {
            Some(data) => inline_problem(&content, size, &data),
            None => chunked_problem(conn, report, &content, size)?,
        };
        if let Some(message) = problem {
            report.faults.push(Fault {
                content: Some(content),
                ..Fault::new(FaultKind::ContentMismatch, message)
            });
        }
    }
    let orphans: i64 = conn.query_row(
        "SELECT count(*) FROM content_chunks cc
         WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.hash = cc.content)",
        [],
        |r| r.get(0),
    )?;
    if orphans > 0 {
        report.faults.push(Fault::new(
            FaultKind::OrphanRows,
            format!("{orphans} chunk-list rows belong to no content"),
        ));
    }
    Ok(())
}

fn inline_problem(content: &ContentHash, size: i64, data: &[u8]) -> Option<String> {
    let hex = content.to_hex();
    if data.len() as i64 != size {
        return Some(format!(
            "content {hex}: {} inline bytes, its row says {size}",
            data.len()
        ));
    }
    (ContentHash::of_bytes(data) != *content)
        .then(|| format!("content {hex}: its inline bytes do not hash to its name"))
}

/// The problem with a chunked content's list, if any; a missing chunk is its
/// own fault (`chunk_missing`) and ends the check of that content.
fn chunked_problem(
    conn: &Connection,
    report: &mut VerifyReport,
    content: &ContentHash,
    size: i64,
) -> Result<Option<String>> {
    let hex = content.to_hex();
    let list = chunk_list(conn, &content.0)?;
    let size = size.max(0) as u64;
    // Holes are not listed: indices only have to grow and stay below the count.
    let mut hasher = ContentHasher::default();
    let mut previous: Option<i64> = None;
    for listed in &list {
        let i = listed.idx;
        if i < 0 || (i as u64) >= expected_chunks(size) || previous.is_some_and(|p| p >= i) {
            return Ok(Some(format!(
                "content {hex}: chunk index {i} out of order or past its {} chunks",
                expected_chunks(size)
            )));
        }
        previous = Some(i);
        let Some((hash, chunk_size)) = listed.stored else {
            report.faults.push(Fault {
                chunk: Some(listed.chunk),
                content: Some(*content),
                ..Fault::new(
                    FaultKind::ChunkMissing,
                    format!(
                        "content {hex}: chunk {} (index {i}) does not exist",
                        listed.chunk
                    ),
                )
            });
            return Ok(None);
        };
        if chunk_size as u64 != expected_chunk_len(size, i as u64) {
            return Ok(Some(format!(
                "content {hex}: chunk {} (index {i}) holds {chunk_size} bytes, {} belong there",
                listed.chunk,
                expected_chunk_len(size, i as u64)
            )));
        }
        hasher.chunk(i as u64, &hash);
    }
    Ok((hasher.finish(size) != *content)
        .then(|| format!("content {hex}: its chunk list does not hash to its name")))
}

/// Every content an inode or a version names exists.
fn content_refs(conn: &Connection, report: &mut VerifyReport) -> Result<()> {
    for (table, what) in [
        ("inodes", "a file names it"),
        ("versions", "a version names it"),
    ] {
        let missing: Vec<Vec<u8>> = conn
            .prepare(&format!(
                "SELECT DISTINCT content FROM {table} t WHERE content IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM contents c WHERE c.hash = t.content)"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for hash in missing {
            let content = ContentHash::from_blob(&hash)?;
            report.faults.push(Fault {
                content: Some(content),
                ..Fault::new(
                    FaultKind::ContentMissing,
                    format!("content {} does not exist, but {what}", content.to_hex()),
                )
            });
        }
    }
    Ok(())
}

/// Layers, and what names them: parents, vault heads and bases, checkpoints.
fn layers(conn: &Connection, report: &mut VerifyReport) -> Result<()> {
    report.layers =
        conn.query_row("SELECT count(*) FROM layers", [], |r| r.get::<_, i64>(0))? as u64;
    let checks: [(FaultKind, &str); 7] = [
        (
            FaultKind::LayerMissing,
            "SELECT 'layer ' || id || ' has parent ' || parent || ', which does not exist'
             FROM layers l WHERE parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM layers p WHERE p.id = l.parent)",
        ),
        (
            FaultKind::LayerMissing,
            "SELECT 'vault ' || name || ': its head layer ' || top_layer || ' does not exist'
             FROM vaults v WHERE NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = v.top_layer)",
        ),
        (
            FaultKind::LayerMissing,
            "SELECT 'vault ' || name || ': its fork base layer ' || base_layer || ' does not exist'
             FROM vaults v WHERE base_layer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = v.base_layer)",
        ),
        (
            FaultKind::LayerMissing,
            "SELECT 'checkpoint ' || c.name || ' of vault ' || COALESCE(v.name, '#' || c.vault_id) || ': '
                    || CASE WHEN v.id IS NULL THEN 'its vault does not exist' ELSE 'its layer ' || c.layer || ' does not exist' END
             FROM checkpoints c LEFT JOIN vaults v ON v.id = c.vault_id
             WHERE v.id IS NULL OR NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = c.layer)",
        ),
        (
            FaultKind::LayerState,
            "SELECT 'checkpoint ' || c.name || ' of vault ' || v.name || ': its layer ' || c.layer || ' is not frozen'
             FROM checkpoints c JOIN vaults v ON v.id = c.vault_id JOIN layers l ON l.id = c.layer WHERE l.frozen = 0",
        ),
        (
            FaultKind::LayerState,
            "SELECT 'vault ' || v.name || ': its head layer ' || v.top_layer || ' is frozen'
             FROM vaults v JOIN layers l ON l.id = v.top_layer WHERE l.frozen != 0",
        ),
        (
            FaultKind::OrphanRows,
            "SELECT count(*) || ' ' || t || ' rows are in layer ' || layer || ', which does not exist' FROM (
               SELECT 'directory-entry' AS t, layer FROM dirents UNION ALL
               SELECT 'inode', layer FROM inodes UNION ALL
               SELECT 'xattr', layer FROM xattrs UNION ALL
               SELECT 'version', layer FROM versions) r
             WHERE NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = r.layer) GROUP BY t, layer",
        ),
    ];
    for (kind, sql) in checks {
        let messages: Vec<String> = conn
            .prepare(sql)?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        report
            .faults
            .extend(messages.into_iter().map(|m| Fault::new(kind, m)));
    }
    for state in states(conn)? {
        let tree = match Tree::new(conn, state.top) {
            Ok(tree) => tree,
            Err(e) if e.is_corruption() => {
                report.faults.push(unreadable(&state.label(), &e));
                continue;
            }
            Err(e) => {
                report.faults.push(Fault::new(
                    FaultKind::LayerState,
                    format!("{}: {e}", state.label()),
                ));
                continue;
            }
        };
        if !tree.attr(ROOT_INO)?.is_some_and(|a| a.kind == Kind::Dir) {
            report.faults.push(Fault::new(
                FaultKind::LayerState,
                format!("{}: its root directory is missing", state.label()),
            ));
        }
    }
    Ok(())
}

/// A nameable state: a vault's head or one of its checkpoints.
struct State {
    vault: String,
    checkpoint: Option<String>,
    top: i64,
}

impl State {
    fn label(&self) -> String {
        match &self.checkpoint {
            Some(c) => format!("vault {}, checkpoint {c}", self.vault),
            None => format!("vault {}", self.vault),
        }
    }
}

/// Every head and checkpoint whose layer exists.
fn states(conn: &Connection) -> Result<Vec<State>> {
    Ok(conn
        .prepare(
            "SELECT v.name, NULL, v.top_layer FROM vaults v
               WHERE EXISTS (SELECT 1 FROM layers l WHERE l.id = v.top_layer)
             UNION ALL
             SELECT v.name, c.name, c.layer FROM checkpoints c JOIN vaults v ON v.id = c.vault_id
               WHERE EXISTS (SELECT 1 FROM layers l WHERE l.id = c.layer)
             ORDER BY 1, 2",
        )?
        .query_map([], |r| {
            Ok(State {
                vault: r.get(0)?,
                checkpoint: r.get(1)?,
                top: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// Fills in, for each fault about a chunk or content, the vault paths it reaches.
fn name_paths(conn: &Connection, report: &mut VerifyReport) -> Result<()> {
    if report
        .faults
        .iter()
        .all(|f| f.chunk.is_none() && f.content.is_none())
    {
        return Ok(());
    }
    let states = states(conn)?;
    for fault in &mut report.faults {
        let mut contents = BTreeSet::new();
        if let Some(content) = fault.content {
            contents.insert(content.0.to_vec());
        } else if let Some(chunk) = fault.chunk {
            let using: Vec<Vec<u8>> = conn
                .prepare_cached("SELECT DISTINCT content FROM content_chunks WHERE chunk = ?1")?
                .query_map([chunk], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            contents.extend(using);
        }
        let mut paths = BTreeSet::new();
        for content in &contents {
            for state in &states {
                paths_in_state(conn, state, content, &mut paths)?;
                if paths.len() >= MAX_PATHS_PER_FAULT {
                    break;
                }
            }
        }
        fault.paths = paths.into_iter().take(MAX_PATHS_PER_FAULT).collect();
    }
    Ok(())
}

/// The paths of one state whose file, or one of whose versions, is `content`.
fn paths_in_state(
    conn: &Connection,
    state: &State,
    content: &[u8],
    out: &mut BTreeSet<AffectedPath>,
) -> Result<()> {
    let Ok(tree) = Tree::new(conn, state.top) else {
        return Ok(());
    };
    let affected = |path: VaultPath, version: Option<u64>| AffectedPath {
        vault: state.vault.clone(),
        checkpoint: state.checkpoint.clone(),
        path,
        version,
    };
    let inos: Vec<i64> = conn
        .prepare_cached("SELECT DISTINCT ino FROM inodes WHERE content = ?1")?
        .query_map([content], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for ino in inos {
        let ino = ino as u64;
        let holds = tree
            .attr(ino)?
            .and_then(|a| a.content)
            .is_some_and(|c| c.0[..] == content[..]);
        if !holds {
            continue;
        }
        for (parent, name) in tree.links_to(ino)? {
            if let Some(dir) = tree.path_of(parent)? {
                out.insert(affected(dir.join(&name), None));
            }
        }
    }
    let versions: Vec<(i64, Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT parent, name, version FROM versions v WHERE content = ?1
               AND EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?2 AND c.layer = v.layer)",
        )?
        .query_map(params![content, state.top], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (parent, name, version) in versions {
        if let Some(dir) = tree.path_of(parent as u64)? {
            out.insert(affected(dir.join(&name), Some(version as u64)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{Op, Owner};

    fn store_with(bytes: &[u8]) -> Store {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        store
            .write("v", Op::new("write", "/f"), |w| {
                w.write_file(&VaultPath::parse_str("/f").unwrap(), bytes, false, 0o644)
            })
            .unwrap();
        store
    }

    #[test]
    fn a_clean_store_is_intact() {
        let mut store = store_with(&vec![7u8; CHUNK_SIZE + 10]);
        let report = store.verify().unwrap();
        assert!(report.intact(), "{:?}", report.faults);
        assert_eq!((report.chunks, report.contents), (2, 1));
        assert_eq!(report.bytes, CHUNK_SIZE as u64 + 10);
    }

    #[test]
    fn a_damaged_chunk_names_the_paths_it_reaches() {
        let mut store = store_with(&vec![7u8; CHUNK_SIZE + 10]);
        store.checkpoint_save("v", "c", None).unwrap();
        store
            .connection()
            .execute("UPDATE chunks SET data = zeroblob(10) WHERE size = 10", [])
            .unwrap();
        let report = store.verify().unwrap();
        let kinds: Vec<_> = report.faults.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FaultKind::ChunkHash]);
        let paths: Vec<_> = report.faults[0]
            .paths
            .iter()
            .map(|p| (p.checkpoint.clone(), p.path.to_string(), p.version))
            .collect();
        assert_eq!(
            paths,
            [
                (None, "/f".to_string(), None),
                (None, "/f".to_string(), Some(1)),
                (Some("c".to_string()), "/f".to_string(), None),
                (Some("c".to_string()), "/f".to_string(), Some(1)),
            ]
        );
    }
}
