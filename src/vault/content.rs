//! Content-addressed file contents: fixed-size BLAKE3 chunks shared store-wide.
//!
//! A content is immutable and named by its [`ContentHash`]. Writers stream
//! bytes through [`ContentWriter`] (at most one chunk buffered), readers fetch
//! only the chunks a read touches through [`ContentReader`]. Fixed-size chunks
//! make the chunk list, and so the hash, a pure function of the bytes.
//!
//! Holes are free: a chunk whose bytes are all zero is never stored (the
//! content simply has no chunk at that index), so a sparse size change costs
//! O(1) and `truncate -s 1P` stores nothing. Every chunk is checked against its
//! BLAKE3 hash when it is read: damaged bytes are [`VaultError::Corrupt`],
//! never file data.

use super::blocks::{self, BlockCvs};
use super::error::{Result, VaultError};
use super::segment::{Extent, SEGMENT_MIN, Segments};
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};

/// Bytes per chunk; every chunk but a content's last is exactly this long.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Contents up to this size are stored inline, without chunk rows.
pub const INLINE_MAX: usize = 4096;
/// The largest file size the format holds (sizes are SQLite integers).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Identity of a content: BLAKE3 over its stored chunks' indices and hashes and its size.
///
/// Not the same value as `b3sum` of the bytes: hashing chunk hashes lets an
/// append or a one-chunk edit of a huge file rehash O(chunks), not O(bytes),
/// and leaving holes out makes a sparse file's hash O(stored chunks).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Lower-case hex, as shown to users.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads a hash back from a stored BLOB.
    pub fn from_blob(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| VaultError::Corrupt(format!("content hash of {} bytes", bytes.len())))?;
        Ok(Self(arr))
    }

    /// The hash of a content held whole in memory (inline contents).
    pub(crate) fn of_bytes(data: &[u8]) -> Self {
        let mut hasher = ContentHasher::default();
        for (idx, chunk) in data.chunks(CHUNK_SIZE).enumerate() {
            if !is_zero(chunk) {
                hasher.chunk(idx as u64, blake3::hash(chunk).as_bytes());
            }
        }
        hasher.finish(data.len() as u64)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

/// Builds a [`ContentHash`] from the stored chunks in index order, then the size
/// (docs/format.md, "Content hash").
pub(crate) struct ContentHasher(blake3::Hasher);

impl Default for ContentHasher {
    fn default() -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"avfs-content-v2\0");
        Self(hasher)
    }
}

impl ContentHasher {
    /// Adds the stored (non-zero) chunk `idx` with BLAKE3 `hash`.
    pub(crate) fn chunk(&mut self, idx: u64, hash: &[u8; 32]) {
        self.0.update(&idx.to_le_bytes());
        self.0.update(hash);
    }

    /// The content's hash, given its size.
    pub(crate) fn finish(mut self, size: u64) -> ContentHash {
        self.0.update(&size.to_le_bytes());
        ContentHash(*self.0.finalize().as_bytes())
    }
}

/// True when every byte is zero: such a chunk is a hole and is not stored.
pub(crate) fn is_zero(data: &[u8]) -> bool {
    // OR-folding fixed blocks vectorizes; an early-exit `all` does not.
    data.chunks(64)
        .all(|block| block.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// Checks a size against what the format holds.
pub(crate) fn check_size(size: u64) -> Result<()> {
    if size > MAX_FILE_SIZE {
        return Err(VaultError::FileTooLarge {
            size,
            limit: MAX_FILE_SIZE,
        });
    }
    Ok(())
}

/// A stored chunk of a content: where its bytes are and what they must hash to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkRef {
    /// `chunks.id`.
    pub id: i64,
    /// Length in bytes.
    pub len: usize,
    /// BLAKE3 of its bytes.
    pub hash: [u8; 32],
}

/// Reads a whole chunk and checks it against its hash.
pub(crate) fn read_chunk(conn: &Connection, chunk: &ChunkRef) -> Result<Vec<u8>> {
    let row: ChunkRow = conn
        .prepare_cached("SELECT data, segment, seg_offset, size FROM chunks WHERE id = ?1")?
        .query_row([chunk.id], ChunkRow::from_row)
        .optional()?
        .ok_or_else(|| {
            VaultError::Corrupt(format!("chunk {} is missing", hex::encode(chunk.hash)))
        })?;
    // A lazy clone's chunk whose bytes are not here yet (src/vault/lazy.rs):
    // the chunk source fetches them, and they are checked like any others.
    let data = match row.bytes(conn)? {
        Some(data) => data,
        None => super::lazy::fetch_absent(conn, chunk.id)?,
    };
    if data.len() != chunk.len || blake3::hash(&data).as_bytes() != &chunk.hash {
        return Err(VaultError::Corrupt(format!(
            "chunk {} is damaged: its bytes do not match its hash",
            hex::encode(chunk.hash)
        )));
    }
    Ok(data)
}

/// The last chunk a reader fetched (verified), so that reads smaller than a
/// chunk fetch and hash each chunk once, not once per read; a small read that
/// does not follow the last one (random access) reads and checks only the
/// blocks it touches ([`Segments::read_part`]).
#[derive(Debug, Default)]
pub(crate) struct ChunkCache {
    slot: RefCell<Option<(i64, Vec<u8>)>>,
    /// Where the last read ended: (chunk id, offset in it).
    last_end: std::cell::Cell<(i64, usize)>,
}

impl ChunkCache {
    /// Copies `out.len()` bytes of `chunk` from `within`; bytes past its end read as zeros.
    pub(crate) fn read(
        &self,
        conn: &Connection,
        chunk: &ChunkRef,
        within: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (last_chunk, last_at) = self.last_end.replace((chunk.id, within + out.len()));
        let mut slot = self.slot.borrow_mut();
        if slot.as_ref().is_none_or(|(id, _)| *id != chunk.id) {
            // A read from a chunk's start is taken for the start of a
            // sequential pass, which reads (and hashes) the chunk once.
            let follows = (last_chunk, last_at) == (chunk.id, within) || within == 0;
            if !follows
                && chunk.len == CHUNK_SIZE
                && out.len() <= CHUNK_SIZE / 4
                && within < CHUNK_SIZE
                && let Some(part) = SegmentPart::of(conn, chunk.id)?
            {
                return part
                    .segments
                    .read_part(part.at, &chunk.hash, &part.cvs, within, out);
            }
            *slot = Some((chunk.id, read_chunk(conn, chunk)?));
        }
        let data = &slot.as_ref().expect("filled above").1;
        let n = data.len().saturating_sub(within).min(out.len());
        if n > 0 {
            out[..n].copy_from_slice(&data[within..within + n]);
        }
        out[n..].fill(0);
        Ok(())
    }
}

/// A chunk row's `segment`, `seg_offset` and `cvs`.
type PartRow = (Option<i64>, Option<i64>, Option<Vec<u8>>);

/// Where a full chunk's bytes are in a segment, with its block CVs, if so.
struct SegmentPart {
    segments: std::sync::Arc<Segments>,
    at: Extent,
    cvs: Vec<u8>,
}

impl SegmentPart {
    fn of(conn: &Connection, id: i64) -> Result<Option<Self>> {
        let row: Option<PartRow> = conn
            .prepare_cached("SELECT segment, seg_offset, cvs FROM chunks WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((Some(segment), Some(offset), Some(cvs))) = row else {
            return Ok(None);
        };
        Ok(Segments::of(conn).map(|segments| Self {
            segments,
            at: Extent {
                segment,
                offset: offset as u64,
            },
            cvs,
        }))
    }
}

/// Streams bytes into the store as a new (or deduplicated) content.
pub struct ContentWriter<'c> {
    conn: &'c Connection,
    buf: Vec<u8>,
    /// Index of the chunk `buf` fills.
    next_idx: u64,
    /// Stored chunks: (index, id), in index order.
    stored: Vec<(u64, i64)>,
    hasher: ContentHasher,
}

impl<'c> ContentWriter<'c> {
    /// Starts an empty content.
    pub fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            buf: Vec::new(),
            next_idx: 0,
            stored: Vec::new(),
            hasher: ContentHasher::default(),
        }
    }

    /// Starts from an existing content, reusing its full chunks, so that an
    /// append costs the new bytes plus at most one chunk.
    pub fn append_to(conn: &'c Connection, existing: &ContentHash) -> Result<Self> {
        let mut writer = Self::new(conn);
        let stored = StoredContent::load(conn, existing)?;
        match stored.inline {
            Some(data) => writer.buf = data,
            None => {
                let full = stored.size / CHUNK_SIZE as u64;
                for (&idx, chunk) in stored.chunks.range(..full) {
                    writer.stored.push((idx, chunk.id));
                    writer.hasher.chunk(idx, &chunk.hash);
                }
                writer.next_idx = full;
                let tail = (stored.size % CHUNK_SIZE as u64) as usize;
                if tail > 0 {
                    writer.buf = match stored.chunks.get(&full) {
                        Some(chunk) => read_chunk(conn, chunk)?,
                        None => vec![0; tail],
                    };
                }
            }
        }
        Ok(writer)
    }

    /// Adds bytes at the end.
    pub fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = CHUNK_SIZE - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK_SIZE {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    /// Adds everything `reader` yields; returns the number of bytes read.
    /// The bytes land in the chunk buffer itself: a scratch buffer allocated
    /// and zeroed per call cost more than storing a small file's content.
    pub fn copy_from(&mut self, mut reader: impl Read) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let room = (CHUNK_SIZE - self.buf.len()) as u64;
            total += (&mut reader).take(room).read_to_end(&mut self.buf)? as u64;
            if self.buf.len() < CHUNK_SIZE {
                // The reader ended before the chunk filled.
                return Ok(total);
            }
            self.flush_chunk()?;
        }
    }

    fn size(&self) -> u64 {
        self.next_idx * CHUNK_SIZE as u64 + self.buf.len() as u64
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if !is_zero(&self.buf) {
            let (id, hash) = store_chunk(self.conn, &self.buf)?;
            self.stored.push((self.next_idx, id));
            self.hasher.chunk(self.next_idx, &hash);
        }
        self.next_idx += 1;
        self.buf.clear();
        Ok(())
    }

    /// Stores the content (once, however many files share it) and names it.
    pub fn finish(mut self) -> Result<(ContentHash, u64)> {
        let total = self.size();
        check_size(total)?;
        if self.next_idx == 0 && self.buf.len() <= INLINE_MAX {
            let hash = ContentHash::of_bytes(&self.buf);
            insert_inline(self.conn, &hash, &self.buf)?;
            return Ok((hash, total));
        }
        if !self.buf.is_empty() {
            self.flush_chunk()?;
        }
        let hash = self.hasher.finish(total);
        insert_chunked(self.conn, &hash, total, &self.stored)?;
        Ok((hash, total))
    }
}

/// Records an inline content unless it exists.
pub(crate) fn insert_inline(conn: &Connection, hash: &ContentHash, data: &[u8]) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, ?3)")?
        .execute(params![&hash.0[..], data.len() as i64, data])?;
    Ok(())
}

/// Records a chunked content and its chunk list (stored chunks only) unless it exists.
pub(crate) fn insert_chunked(
    conn: &Connection,
    hash: &ContentHash,
    size: u64,
    stored: &[(u64, i64)],
) -> Result<()> {
    let inserted = conn
        .prepare_cached("INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, NULL)")?
        .execute(params![&hash.0[..], size as i64])?;
    if inserted > 0 {
        let mut insert = conn.prepare_cached(
            "INSERT INTO content_chunks(content, idx, chunk) VALUES (?1, ?2, ?3)",
        )?;
        for (idx, id) in stored {
            insert.execute(params![&hash.0[..], *idx as i64, id])?;
        }
    }
    Ok(())
}

/// A `chunks` row's columns that say where its bytes are.
pub(crate) struct ChunkRow {
    data: Vec<u8>,
    at: Option<Extent>,
    size: i64,
}

impl ChunkRow {
    /// Reads the row from `SELECT data, segment, seg_offset, size`.
    pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let segment: Option<i64> = r.get(1)?;
        let offset: Option<i64> = r.get(2)?;
        Ok(Self {
            data: r.get(0)?,
            at: segment.map(|segment| Extent {
                segment,
                offset: offset.unwrap_or(0) as u64,
            }),
            size: r.get(3)?,
        })
    }

    /// The chunk's bytes, unchecked, wherever they live; None for a lazy
    /// clone's chunk whose bytes are not here yet.
    pub(crate) fn bytes(self, conn: &Connection) -> Result<Option<Vec<u8>>> {
        if let Some(at) = self.at {
            let segments = Segments::of(conn).ok_or_else(|| {
                VaultError::Corrupt("a chunk names a segment of a store that has none".into())
            })?;
            return segments.read(at, self.size.max(0) as usize).map(Some);
        }
        if self.data.is_empty() && self.size > 0 {
            return Ok(None);
        }
        Ok(Some(self.data))
    }
}

/// Where [`place`] put a chunk's bytes: its row's `data`, extent and `cvs`.
struct Placed<'d> {
    inline: &'d [u8],
    at: Option<Extent>,
    cvs: Option<Vec<u8>>,
}

/// Writes a chunk's bytes where they belong: a segment for large chunks of a
/// file-backed store (a full one's block CVs, `cvs` or computed here, go to
/// its row), else inline.
fn place<'d>(conn: &Connection, data: &'d [u8], cvs: Option<&BlockCvs>) -> Result<Placed<'d>> {
    if data.len() >= SEGMENT_MIN
        && let Some(segments) = Segments::of(conn)
    {
        let cvs = match (data.len() == CHUNK_SIZE, cvs) {
            (false, _) => None,
            (true, Some(cvs)) => Some(blocks::to_bytes(cvs)),
            (true, None) => Some(blocks::to_bytes(&blocks::of_chunk(data).0)),
        };
        return Ok(Placed {
            inline: &[],
            at: Some(segments.append(data)?),
            cvs,
        });
    }
    Ok(Placed {
        inline: data,
        at: None,
        cvs: None,
    })
}

/// A full chunk's hash and block CVs, computed before its bytes are stored
/// (one pass, as [`store_chunk`] makes them).
#[derive(Clone, Debug)]
pub(crate) struct FullChunkHash {
    hash: [u8; 32],
    cvs: BlockCvs,
}

impl FullChunkHash {
    /// Hashes a full chunk (`CHUNK_SIZE` bytes).
    pub(crate) fn of(data: &[u8]) -> Self {
        let (cvs, hash) = blocks::of_chunk(data);
        FullChunkHash { hash, cvs }
    }
}

/// Stores a full chunk that [`FullChunkHash::of`] hashed, as [`store_chunk`] would.
pub(crate) fn store_full_chunk(
    conn: &Connection,
    data: &[u8],
    hashed: &FullChunkHash,
) -> Result<(i64, [u8; 32])> {
    debug_assert_eq!(data.len(), CHUNK_SIZE);
    Ok((
        store_hashed(conn, &hashed.hash, data, Some(&hashed.cvs))?,
        hashed.hash,
    ))
}

/// Where a write's whole chunks go before the writer takes its lock: the
/// store's segments (`HashedWrite`). Copying a chunk into a segment is the
/// largest part of a large write after hashing, and it needs no row.
#[derive(Clone)]
pub struct ChunkSink {
    segments: std::sync::Arc<Segments>,
    store: std::path::PathBuf,
    /// A read-only connection of its own, opened at the first whole chunk:
    /// a chunk the store has already is not appended again.
    known: std::sync::Arc<std::sync::Mutex<Option<Connection>>>,
}

impl ChunkSink {
    /// The sink of a file-backed store; None for one in memory.
    pub(crate) fn of(conn: &Connection) -> Option<Self> {
        let store = conn.path().filter(|p| !p.is_empty())?.into();
        Some(ChunkSink {
            segments: Segments::of(conn)?,
            store,
            known: Default::default(),
        })
    }

    /// Appends a full chunk's bytes to a segment. None if the store has the
    /// chunk already (as of its last commit), or the append failed: the
    /// caller then keeps the bytes, and storing them later finds the chunk or
    /// reports the error.
    pub(crate) fn place(&self, data: &[u8], hash: FullChunkHash) -> Option<PlacedChunk> {
        debug_assert_eq!(data.len(), CHUNK_SIZE);
        if self.is_stored(&hash.hash) {
            return None;
        }
        let at = self.segments.append(data).ok()?;
        Some(PlacedChunk {
            at,
            hash,
            segments: self.segments.clone(),
            named: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether a committed row has chunk `hash` with its bytes; false when
    /// the store cannot say (then the chunk is placed, and punched out again
    /// if it turns out to be stored).
    fn is_stored(&self, hash: &[u8; 32]) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.is_none() {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            *known = Connection::open_with_flags(&self.store, flags).ok();
        }
        let Some(conn) = known.as_ref() else {
            return false;
        };
        conn.prepare_cached(
            "SELECT 1 FROM chunks WHERE hash = ?1 AND (segment IS NOT NULL OR length(data) > 0)",
        )
        .and_then(|mut q| q.exists([&hash[..]]))
        .unwrap_or(false)
    }
}

/// A full chunk whose bytes are in a segment but no row names them yet.
/// Dropped before [`store_placed_chunk`] names it (or when an identical chunk
/// was stored already), its range is punched out again: nothing can read a
/// range no row names.
pub(crate) struct PlacedChunk {
    at: Extent,
    hash: FullChunkHash,
    segments: std::sync::Arc<Segments>,
    named: std::sync::atomic::AtomicBool,
}

impl PlacedChunk {
    /// Reads `out.len()` bytes from `within`, checked against the chunk's hash.
    pub(crate) fn read(&self, within: usize, out: &mut [u8]) -> Result<()> {
        let cvs = blocks::to_bytes(&self.hash.cvs);
        self.segments
            .read_part(self.at, &self.hash.hash, &cvs, within, out)
    }
}

impl fmt::Debug for PlacedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlacedChunk").field("at", &self.at).finish()
    }
}

impl Drop for PlacedChunk {
    fn drop(&mut self) {
        if !self.named.load(std::sync::atomic::Ordering::Relaxed) {
            self.segments.discard(self.at, CHUNK_SIZE as u64);
        }
    }
}

/// Names a placed chunk in a row, unless an identical chunk is stored
/// already (then the placed bytes go when it is dropped); returns the row's
/// id and the hash.
pub(crate) fn store_placed_chunk(
    conn: &Connection,
    placed: &PlacedChunk,
) -> Result<(i64, [u8; 32])> {
    let hash = placed.hash.hash;
    let id = store_with(conn, &hash, CHUNK_SIZE, || {
        placed
            .named
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Placed {
            inline: &[],
            at: Some(placed.at),
            cvs: Some(blocks::to_bytes(&placed.hash.cvs)),
        })
    })?;
    Ok((id, hash))
}

/// Stores one chunk unless an identical one exists; returns its id and hash.
pub(crate) fn store_chunk(conn: &Connection, data: &[u8]) -> Result<(i64, [u8; 32])> {
    // A full chunk bound for a segment hashes block by block: the same
    // hash, and the block CVs its row keeps come from the same pass.
    if data.len() == CHUNK_SIZE && Segments::of(conn).is_some() {
        let (cvs, hash) = blocks::of_chunk(data);
        return Ok((store_hashed(conn, &hash, data, Some(&cvs))?, hash));
    }
    let hash = *blake3::hash(data).as_bytes();
    Ok((store_hashed(conn, &hash, data, None)?, hash))
}

/// Stores the bytes of chunk `hash` (already checked against it) unless the
/// store has them; fills a lazy clone's absent chunk. Returns the chunk's id.
pub(crate) fn keep_chunk(conn: &Connection, hash: &[u8; 32], data: &[u8]) -> Result<i64> {
    store_hashed(conn, hash, data, None)
}

/// [`keep_chunk`], with a full chunk's block CVs when the caller has them.
fn store_hashed(
    conn: &Connection,
    hash: &[u8; 32],
    data: &[u8],
    cvs: Option<&BlockCvs>,
) -> Result<i64> {
    store_with(conn, hash, data.len(), || place(conn, data, cvs))
}

/// The row of chunk `hash` (`size` bytes): the existing one, or one whose
/// bytes `place` puts where they belong (it runs only when they are needed:
/// no row yet, or a lazy clone's row without its bytes).
fn store_with<'d>(
    conn: &Connection,
    hash: &[u8; 32],
    size: usize,
    place: impl FnOnce() -> Result<Placed<'d>>,
) -> Result<i64> {
    let existing: Option<(i64, bool)> = conn
        .prepare_cached(
            "SELECT id, length(data) = 0 AND segment IS NULL AND size > 0 FROM chunks WHERE hash = ?1",
        )?
        .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match existing {
        Some((id, false)) => id,
        Some((id, true)) => {
            let Placed { inline, at, cvs } = place()?;
            conn.prepare_cached(
                "UPDATE chunks SET data = ?2, segment = ?3, seg_offset = ?4, cvs = ?5 WHERE id = ?1",
            )?
            .execute(params![
                id,
                inline,
                at.map(|a| a.segment),
                at.map(|a| a.offset as i64),
                cvs
            ])?;
            id
        }
        None => {
            let Placed { inline, at, cvs } = place()?;
            conn.prepare_cached(
                "INSERT INTO chunks(hash, size, data, segment, seg_offset, cvs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &hash[..],
                size as i64,
                inline,
                at.map(|a| a.segment),
                at.map(|a| a.offset as i64),
                cvs
            ])?;
            conn.last_insert_rowid()
        }
    })
}

/// Where a content's bytes live.
pub(crate) struct StoredContent {
    /// Length in bytes.
    pub size: u64,
    /// The bytes of an inline content.
    pub inline: Option<Vec<u8>>,
    /// The stored chunks of a chunked content by index; a missing index is a hole.
    pub chunks: std::collections::BTreeMap<u64, ChunkRef>,
}

impl StoredContent {
    /// Loads a content's row and chunk list, checking them against rule 6 of docs/format.md.
    pub(crate) fn load(conn: &Connection, hash: &ContentHash) -> Result<Self> {
        let (size, inline): (i64, Option<Vec<u8>>) = conn
            .prepare_cached("SELECT size, data FROM contents WHERE hash = ?1")?
            .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| VaultError::Corrupt(format!("missing content {}", hash.to_hex())))?;
        let size = size as u64;
        let mut chunks = std::collections::BTreeMap::new();
        if let Some(data) = &inline {
            if data.len() as u64 != size {
                return Err(VaultError::Corrupt(format!(
                    "content {} holds {} bytes, expected {size}",
                    hash.to_hex(),
                    data.len()
                )));
            }
        } else {
            let mut stmt = conn.prepare_cached(
                "SELECT cc.idx, cc.chunk, c.size, c.hash FROM content_chunks cc
                 JOIN chunks c ON c.id = cc.chunk WHERE cc.content = ?1 ORDER BY cc.idx",
            )?;
            let rows = stmt.query_map([&hash.0[..]], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })?;
            let count = size.div_ceil(CHUNK_SIZE as u64);
            for row in rows {
                let (idx, id, len, chunk_hash) = row?;
                let idx = idx as u64;
                let expected = if idx < count {
                    (size - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize
                } else {
                    0
                };
                if len as usize != expected || expected == 0 {
                    return Err(VaultError::Corrupt(format!(
                        "content {} has a chunk of {len} bytes at index {idx}, expected {expected}",
                        hash.to_hex()
                    )));
                }
                let hash = ContentHash::from_blob(&chunk_hash)?.0;
                chunks.insert(
                    idx,
                    ChunkRef {
                        id,
                        len: expected,
                        hash,
                    },
                );
            }
        }
        Ok(Self {
            size,
            inline,
            chunks,
        })
    }
}

/// Reads a content by offset, touching only the chunks a read covers.
pub struct ContentReader<'c> {
    conn: &'c Connection,
    stored: StoredContent,
    cache: ChunkCache,
    pos: u64,
}

impl<'c> ContentReader<'c> {
    /// Opens a content for reading.
    pub fn open(conn: &'c Connection, hash: &ContentHash) -> Result<Self> {
        Ok(Self {
            conn,
            stored: StoredContent::load(conn, hash)?,
            cache: ChunkCache::default(),
            pos: 0,
        })
    }

    /// Total length in bytes.
    pub fn size(&self) -> u64 {
        self.stored.size
    }

    /// Fills `buf` from `offset`; returns the bytes read (0 at the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.stored.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.stored.size - offset) as usize;
        if let Some(data) = &self.stored.inline {
            let start = offset as usize;
            buf[..want].copy_from_slice(&data[start..start + want]);
            return Ok(want);
        }
        let mut done = 0;
        while done < want {
            let at = offset + done as u64;
            let idx = at / CHUNK_SIZE as u64;
            let within = (at % CHUNK_SIZE as u64) as usize;
            let take = (want - done).min(CHUNK_SIZE - within);
            let out = &mut buf[done..done + take];
            match self.stored.chunks.get(&idx) {
                Some(chunk) => self.cache.read(self.conn, chunk, within, out)?,
                None => out.fill(0),
            }
            done += take;
        }
        Ok(done)
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(self.pos, buf).map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::schema;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        schema::migrate(&mut c).unwrap();
        c
    }

    fn roundtrip(c: &Connection, data: &[u8]) -> ContentHash {
        let mut w = ContentWriter::new(c);
        w.write_all(data).unwrap();
        let (hash, size) = w.finish().unwrap();
        assert_eq!(size, data.len() as u64);
        let mut out = Vec::new();
        ContentReader::open(c, &hash)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        hash
    }

    #[test]
    fn roundtrips_inline_and_chunked() {
        let c = conn();
        roundtrip(&c, b"");
        roundtrip(&c, b"hello");
        let big: Vec<u8> = (0..CHUNK_SIZE * 2 + 17)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        roundtrip(&c, &big);
        roundtrip(&c, &big[..CHUNK_SIZE]);
    }

    /// A reader that hands out at most `step` bytes per read.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn copying_from_a_reader_equals_writing_the_bytes() {
        let c = conn();
        let data: Vec<u8> = (0..CHUNK_SIZE * 3 + 1)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            CHUNK_SIZE * 3 + 1,
        ] {
            for step in [1 << 20, 4096, 999] {
                let mut w = ContentWriter::new(&c);
                let read = w
                    .copy_from(Dribble {
                        data: &data[..len],
                        step,
                    })
                    .unwrap();
                assert_eq!(read, len as u64);
                let (hash, size) = w.finish().unwrap();
                assert_eq!(size, len as u64);
                assert_eq!(
                    hash,
                    roundtrip(&c, &data[..len]),
                    "{len} bytes, {step} per read"
                );
            }
        }
    }

    #[test]
    fn identical_bytes_share_content_and_chunks() {
        let c = conn();
        let big = vec![9u8; CHUNK_SIZE * 3];
        let a = roundtrip(&c, &big);
        let b = roundtrip(&c, &big);
        assert_eq!(a, b);
        let chunks: i64 = c
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(chunks, 1, "three equal chunks are stored once");
    }

    #[test]
    fn append_equals_writing_everything_at_once() {
        let c = conn();
        let data: Vec<u8> = (0..CHUNK_SIZE + 5000).map(|i| (i % 13) as u8).collect();
        for split in [0, 10, 4096, 5000, CHUNK_SIZE, CHUNK_SIZE + 1] {
            let mut w = ContentWriter::new(&c);
            w.write_all(&data[..split]).unwrap();
            let (first, _) = w.finish().unwrap();
            let mut w = ContentWriter::append_to(&c, &first).unwrap();
            w.write_all(&data[split..]).unwrap();
            let (whole, _) = w.finish().unwrap();
            assert_eq!(whole, roundtrip(&c, &data), "split at {split}");
        }
    }

    #[test]
    fn read_at_crosses_chunk_boundaries() {
        let c = conn();
        let data: Vec<u8> = (0..CHUNK_SIZE * 2).map(|i| (i % 256) as u8).collect();
        let hash = roundtrip(&c, &data);
        let r = ContentReader::open(&c, &hash).unwrap();
        let mut buf = vec![0u8; 100];
        let n = r.read_at(CHUNK_SIZE as u64 - 50, &mut buf).unwrap();
        assert_eq!(n, 100);
        assert_eq!(&buf[..], &data[CHUNK_SIZE - 50..CHUNK_SIZE + 50]);
        assert_eq!(r.read_at(data.len() as u64, &mut buf).unwrap(), 0);
    }
}
