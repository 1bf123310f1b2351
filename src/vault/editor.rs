//! Random-access edits of a content: the write buffer behind an open file.
//!
//! A [`ContentEditor`] starts from a stored content (or nothing) and keeps an
//! overlay of the chunks that were written. Reads see the overlay over the
//! base; [`ContentEditor::commit`] turns base + overlay into a new content,
//! rewriting only the chunks that changed. Memory stays bounded: once the
//! dirty bytes pass a limit, [`ContentEditor::spill`] stores the complete dirty
//! chunks (unreferenced chunk rows until a commit uses them) and keeps only
//! their ids. A write may come with its whole chunks already hashed, and on
//! disk appended to a segment ([`HashedWrite`], done before the caller took
//! its lock): the slot then keeps the hash with the bytes, or the placed
//! chunk instead of them, until a spill or commit names it in a row; a change
//! of the chunk drops the hash, or punches the placed range out again.
//!
//! Every operation costs O(chunks it touches), never O(size): a hole (a chunk
//! nobody wrote, or one that is all zeros) has no slot and no row, so growing a
//! file to a petabyte is a change of one number.

use super::content::{
    CHUNK_SIZE, ChunkCache, ChunkRef, ChunkSink, ContentHash, ContentHasher, FullChunkHash,
    INLINE_MAX, PlacedChunk, StoredContent, check_size, insert_chunked, insert_inline, is_zero,
    read_chunk, store_chunk, store_full_chunk, store_placed_chunk,
};
use super::error::Result;
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};

/// What a placed chunk counts for in [`ContentEditor::dirty_bytes`]: it
/// holds little memory, but a row is owed for it, and a spill names them
/// before they pile up (at 16 MiB, every 256 of them: 64 MiB of the file),
/// so that memory stays bounded and no commit owes a file's whole size in rows.
const PLACED_WEIGHT: usize = 64 * 1024;

/// One chunk of the overlay.
#[derive(Debug)]
enum Slot {
    /// Bytes written here, not stored yet (length ≤ CHUNK_SIZE; bytes past it
    /// up to the chunk's end read as zeros), with their hash when one write
    /// filled the whole chunk ([`HashedWrite`]). Any change of the bytes takes
    /// them out of the slot, which drops the hash with it.
    Dirty(Vec<u8>, Option<Box<FullChunkHash>>),
    /// A whole chunk one write filled, its bytes already in a segment
    /// ([`HashedWrite`] with a [`ChunkSink`]) and not named by a row yet. A
    /// change takes it out of the slot, and its range is punched out again.
    Placed(Box<PlacedChunk>),
    /// A stored chunk that replaced this one.
    Stored(ChunkRef),
    /// Zeros written here: nothing to store (its length, as for `Dirty`).
    Zero(usize),
}

/// Where the base content's bytes are.
#[derive(Debug, Default)]
enum Base {
    #[default]
    Empty,
    Inline(Vec<u8>),
    /// Stored chunks by index; a missing index is a hole.
    Chunks(BTreeMap<u64, ChunkRef>),
}

/// A whole chunk of a write, made ready before the writer's lock.
#[derive(Debug)]
enum Ready {
    /// Hashed; its bytes are copied into the editor.
    Hashed(FullChunkHash),
    /// Hashed and appended to a segment.
    Placed(PlacedChunk),
}

/// One write's bytes, with the chunks it fills whole made ready before the
/// writer takes any lock: hashed, and with a [`ChunkSink`] appended to a
/// segment. That is most of a large write's work, and it needs only the
/// bytes, so the mount's threads do it at the same time.
#[derive(Debug)]
pub struct HashedWrite<'d> {
    /// Where the write was meant to start.
    offset: u64,
    data: &'d [u8],
    /// The first chunk the write fills whole.
    first: u64,
    /// The chunks it fills whole, from `first`; None for all-zero ones
    /// (holes), and once the write took them.
    ready: Vec<Option<Ready>>,
}

impl<'d> HashedWrite<'d> {
    /// `data` to be written at `offset`: the chunks it fills whole hashed,
    /// and appended to `sink`'s segments when there is one.
    pub fn of(offset: u64, data: &'d [u8], sink: Option<&ChunkSink>) -> Self {
        let (first, within) = chunk_of(offset);
        let skip = if within == 0 { 0 } else { CHUNK_SIZE - within };
        let first = if within == 0 { first } else { first + 1 };
        let ready = data
            .get(skip..)
            .unwrap_or_default()
            .chunks_exact(CHUNK_SIZE)
            .map(|chunk| {
                if is_zero(chunk) {
                    return None;
                }
                let hash = FullChunkHash::of(chunk);
                Some(match sink {
                    Some(sink) => match sink.place(chunk, hash.clone()) {
                        Some(placed) => Ready::Placed(placed),
                        None => Ready::Hashed(hash),
                    },
                    None => Ready::Hashed(hash),
                })
            })
            .collect();
        HashedWrite {
            offset,
            data,
            first,
            ready,
        }
    }

    /// `data`, with nothing made ready.
    pub fn unhashed(offset: u64, data: &'d [u8]) -> Self {
        HashedWrite {
            offset,
            data,
            first: 0,
            ready: Vec::new(),
        }
    }

    /// Takes chunk `idx` if the write, made at `offset`, fills it whole.
    fn take(&mut self, offset: u64, idx: u64) -> Option<Ready> {
        if offset != self.offset || idx < self.first {
            return None;
        }
        self.ready.get_mut((idx - self.first) as usize)?.take()
    }
}

/// An editable view of a file's content.
#[derive(Debug, Default)]
pub struct ContentEditor {
    base: Base,
    /// Base bytes at or past this offset never show (cut by a truncate).
    base_size: u64,
    size: u64,
    overlay: BTreeMap<u64, Slot>,
    dirty_bytes: usize,
    changed: bool,
    cache: ChunkCache,
}

fn chunk_of(offset: u64) -> (u64, usize) {
    (
        offset / CHUNK_SIZE as u64,
        (offset % CHUNK_SIZE as u64) as usize,
    )
}

/// Copies `out.len()` bytes from `data` at `within`; what `data` lacks reads as zeros.
fn copy_padded(data: &[u8], within: usize, out: &mut [u8]) {
    let n = data.len().saturating_sub(within).min(out.len());
    if n > 0 {
        out[..n].copy_from_slice(&data[within..within + n]);
    }
    out[n..].fill(0);
}

impl ContentEditor {
    /// Starts from a stored content, or from an empty file.
    pub fn open(conn: &Connection, base: Option<&ContentHash>) -> Result<Self> {
        let Some(hash) = base else {
            return Ok(Self::default());
        };
        let stored = StoredContent::load(conn, hash)?;
        let base = match stored.inline {
            Some(data) => Base::Inline(data),
            None => Base::Chunks(stored.chunks),
        };
        Ok(Self {
            base,
            base_size: stored.size,
            size: stored.size,
            ..Self::default()
        })
    }

    /// Current length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True once anything was written or truncated.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// Bytes held in memory by the overlay, and [`PLACED_WEIGHT`] for each
    /// placed chunk: past a bound, [`Self::spill`] stores them all.
    pub fn dirty_bytes(&self) -> usize {
        self.dirty_bytes
    }

    /// Reads `out.len()` bytes of base chunk `idx` from `within`, as they still
    /// show: zeros past `base_size` and in holes.
    fn read_base(&self, conn: &Connection, idx: u64, within: usize, out: &mut [u8]) -> Result<()> {
        let start = idx * CHUNK_SIZE as u64 + within as u64;
        let visible = self.base_size.saturating_sub(start).min(out.len() as u64) as usize;
        out[visible..].fill(0);
        let out = &mut out[..visible];
        if out.is_empty() {
            return Ok(());
        }
        match &self.base {
            Base::Empty => out.fill(0),
            Base::Inline(data) => copy_padded(data, start as usize, out),
            Base::Chunks(chunks) => match chunks.get(&idx) {
                Some(chunk) => self.cache.read(conn, chunk, within, out)?,
                None => out.fill(0),
            },
        }
        Ok(())
    }

    /// Reads `out.len()` bytes of chunk `idx` from `within`, as it is now.
    fn read_chunk_at(
        &self,
        conn: &Connection,
        idx: u64,
        within: usize,
        out: &mut [u8],
    ) -> Result<()> {
        match self.overlay.get(&idx) {
            Some(Slot::Dirty(data, _)) => copy_padded(data, within, out),
            Some(Slot::Placed(placed)) => placed.read(within, out)?,
            Some(Slot::Stored(chunk)) => self.cache.read(conn, chunk, within, out)?,
            Some(Slot::Zero(_)) => out.fill(0),
            None => self.read_base(conn, idx, within, out)?,
        }
        Ok(())
    }

    /// The first `len` bytes of chunk `idx` as they are now.
    fn chunk_bytes(&self, conn: &Connection, idx: u64, len: usize) -> Result<Vec<u8>> {
        let mut data = vec![0u8; len];
        self.read_chunk_at(conn, idx, 0, &mut data)?;
        Ok(data)
    }

    /// Fills `buf` from `offset`; returns the bytes read (short at the end of the file).
    pub fn read_at(&self, conn: &Connection, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.size - offset) as usize;
        let mut done = 0;
        while done < want {
            let (idx, within) = chunk_of(offset + done as u64);
            let take = (want - done).min(CHUNK_SIZE - within);
            self.read_chunk_at(conn, idx, within, &mut buf[done..done + take])?;
            done += take;
        }
        Ok(done)
    }

    /// The bytes a slot of chunk `idx` holds before a write of `take` bytes at
    /// `within` (none needed when the write covers the whole chunk).
    fn slot_bytes(
        &mut self,
        conn: &Connection,
        idx: u64,
        within: usize,
        take: usize,
    ) -> Result<Vec<u8>> {
        Ok(match self.overlay.remove(&idx) {
            Some(Slot::Dirty(bytes, _)) => {
                self.dirty_bytes -= bytes.len();
                bytes
            }
            Some(Slot::Placed(_)) if within == 0 && take == CHUNK_SIZE => {
                self.dirty_bytes -= PLACED_WEIGHT;
                Vec::new()
            }
            Some(Slot::Placed(placed)) => {
                let mut bytes = vec![0u8; CHUNK_SIZE];
                if let Err(e) = placed.read(0, &mut bytes) {
                    self.overlay.insert(idx, Slot::Placed(placed));
                    return Err(e);
                }
                self.dirty_bytes -= PLACED_WEIGHT;
                bytes
            }
            Some(Slot::Stored(chunk)) => read_chunk(conn, &chunk)?,
            Some(Slot::Zero(len)) => vec![0; len],
            None if within == 0 && take == CHUNK_SIZE => Vec::new(),
            None => {
                let start = idx * CHUNK_SIZE as u64;
                let len = self.base_size.saturating_sub(start).min(CHUNK_SIZE as u64) as usize;
                let mut data = vec![0u8; len];
                self.read_base(conn, idx, 0, &mut data)?;
                data
            }
        })
    }

    /// Writes `data` at `offset`, growing the file (with a zero-filled hole) if needed.
    pub fn write_at(&mut self, conn: &Connection, offset: u64, data: &[u8]) -> Result<()> {
        self.write_hashed(conn, offset, HashedWrite::unhashed(offset, data))
    }

    /// Writes a [`HashedWrite`]'s bytes at `offset`, as [`Self::write_at`]
    /// does. When it was made for this offset, the chunks it fills whole go
    /// in as it made them ready: placed, or as bytes with their hash.
    pub fn write_hashed(
        &mut self,
        conn: &Connection,
        offset: u64,
        mut hashed: HashedWrite<'_>,
    ) -> Result<()> {
        let data = hashed.data;
        let end = offset.saturating_add(data.len() as u64);
        check_size(end)?;
        let mut done = 0;
        while done < data.len() {
            let (idx, within) = chunk_of(offset + done as u64);
            let take = (data.len() - done).min(CHUNK_SIZE - within);
            let piece = &data[done..done + take];
            let ready = hashed.take(offset, idx);
            if ready.is_some() {
                match self.overlay.remove(&idx) {
                    Some(Slot::Dirty(old, _)) => self.dirty_bytes -= old.len(),
                    Some(Slot::Placed(_)) => self.dirty_bytes -= PLACED_WEIGHT,
                    _ => {}
                }
            }
            match ready {
                Some(Ready::Placed(placed)) => {
                    self.dirty_bytes += PLACED_WEIGHT;
                    self.overlay.insert(idx, Slot::Placed(Box::new(placed)));
                    done += take;
                    continue;
                }
                Some(Ready::Hashed(hash)) => {
                    self.dirty_bytes += take;
                    self.overlay
                        .insert(idx, Slot::Dirty(piece.to_vec(), Some(Box::new(hash))));
                    done += take;
                    continue;
                }
                None => {}
            }
            let mut chunk = self.slot_bytes(conn, idx, within, take)?;
            // A large write fills its chunk in pieces: room for the whole
            // chunk at once saves a copy per growth.
            if within + take >= CHUNK_SIZE / 4 && chunk.capacity() < CHUNK_SIZE {
                chunk.reserve_exact(CHUNK_SIZE - chunk.len());
            }
            if chunk.len() <= within {
                // Appending (the common sequential case): no zeroing first.
                chunk.resize(within, 0);
                chunk.extend_from_slice(piece);
            } else {
                if chunk.len() < within + take {
                    chunk.resize(within + take, 0);
                }
                chunk[within..within + take].copy_from_slice(piece);
            }
            self.dirty_bytes += chunk.len();
            self.overlay.insert(idx, Slot::Dirty(chunk, None));
            done += take;
        }
        self.size = self.size.max(end);
        self.changed = true;
        Ok(())
    }

    fn recount(&mut self) {
        self.dirty_bytes = self
            .overlay
            .values()
            .map(|s| match s {
                Slot::Dirty(d, _) => d.len(),
                Slot::Placed(_) => PLACED_WEIGHT,
                Slot::Stored(_) | Slot::Zero(_) => 0,
            })
            .sum();
    }

    /// Sets the length: cuts, or extends with zeros, in O(chunks held in memory).
    pub fn truncate(&mut self, conn: &Connection, size: u64) -> Result<()> {
        check_size(size)?;
        if size < self.size {
            let (last, within) = chunk_of(size);
            // Chunks wholly past the end go; the one the end cuts keeps its head.
            let mut cut = self.overlay.split_off(&last);
            if within > 0
                && let Some(slot) = cut.remove(&last)
            {
                let head = match slot {
                    Slot::Dirty(mut data, _) => {
                        data.truncate(within);
                        Slot::Dirty(data, None)
                    }
                    Slot::Zero(len) => Slot::Zero(len.min(within)),
                    Slot::Placed(placed) => {
                        let mut head = vec![0u8; within];
                        placed.read(0, &mut head)?;
                        Slot::Dirty(head, None)
                    }
                    Slot::Stored(chunk) => {
                        let mut head = vec![0u8; within.min(chunk.len)];
                        self.cache.read(conn, &chunk, 0, &mut head)?;
                        Slot::Dirty(head, None)
                    }
                };
                self.overlay.insert(last, head);
            }
            // Base bytes past the new end must never show through again.
            self.base_size = self.base_size.min(size);
        }
        self.size = size;
        self.changed = true;
        self.recount();
        Ok(())
    }

    /// Turns `len` bytes from `offset` into zeros without changing the size
    /// (`fallocate(PUNCH_HOLE)`), in O(chunks that hold bytes in the range).
    pub fn zero_range(&mut self, conn: &Connection, offset: u64, len: u64) -> Result<()> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Ok(());
        }
        let (first, head) = chunk_of(offset);
        let (last, tail) = chunk_of(end);
        // Chunks the range covers whole become holes; only those holding
        // something (in the overlay or the base) need a slot.
        let whole_from = if head == 0 { first } else { first + 1 };
        let mut holding = BTreeSet::new();
        if whole_from < last {
            holding.extend(self.overlay.range(whole_from..last).map(|(i, _)| *i));
            let visible = self.base_size.div_ceil(CHUNK_SIZE as u64).min(last);
            match &self.base {
                Base::Chunks(chunks) if whole_from < visible => {
                    holding.extend(chunks.range(whole_from..visible).map(|(i, _)| *i));
                }
                Base::Inline(_) if whole_from == 0 && visible > 0 => {
                    holding.insert(0);
                }
                _ => {}
            }
        }
        for idx in holding {
            let len = (self.size - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize;
            self.overlay.insert(idx, Slot::Zero(len));
        }
        // The partial chunks at either end are written with zeros.
        let zeros = vec![0u8; CHUNK_SIZE];
        if head != 0 {
            let stop = if first == last { tail } else { CHUNK_SIZE };
            self.write_at(conn, offset, &zeros[..stop - head])?;
        }
        if tail != 0 && (last != first || head == 0) {
            self.write_at(conn, last * CHUNK_SIZE as u64, &zeros[..tail])?;
        }
        self.changed = true;
        self.recount();
        Ok(())
    }

    /// Stores every dirty chunk that will not change length again, freeing its memory.
    pub fn spill(&mut self, conn: &Connection) -> Result<()> {
        for (idx, slot) in self.overlay.iter_mut() {
            if let Slot::Placed(placed) = slot {
                let (id, hash) = store_placed_chunk(conn, placed)?;
                *slot = Slot::Stored(ChunkRef {
                    id,
                    len: CHUNK_SIZE,
                    hash,
                });
                continue;
            }
            if let Slot::Dirty(data, hashed) = slot {
                let full =
                    data.len() == CHUNK_SIZE || (*idx + 1) * (CHUNK_SIZE as u64) >= self.size;
                if full && !data.is_empty() {
                    *slot = if is_zero(data) {
                        Slot::Zero(data.len())
                    } else {
                        let (id, hash) = match hashed {
                            Some(h) => store_full_chunk(conn, data, h)?,
                            None => store_chunk(conn, data)?,
                        };
                        Slot::Stored(ChunkRef {
                            id,
                            len: data.len(),
                            hash,
                        })
                    };
                }
            }
        }
        self.recount();
        Ok(())
    }

    /// Stores the edited content and returns its hash and size; the editor then
    /// starts over from that content. Costs O(chunks stored or written), not O(size).
    pub fn commit(&mut self, conn: &Connection) -> Result<(ContentHash, u64)> {
        let size = self.size;
        if size as usize <= INLINE_MAX {
            let mut data = vec![0u8; size as usize];
            self.read_at(conn, 0, &mut data)?;
            let hash = ContentHash::of_bytes(&data);
            insert_inline(conn, &hash, &data)?;
            // What `open` would load back: the bytes just stored.
            *self = Self {
                base: Base::Inline(data),
                base_size: size,
                size,
                ..Self::default()
            };
            return Ok((hash, size));
        }
        let count = size.div_ceil(CHUNK_SIZE as u64);
        // Only chunks that hold something can be non-zero: every other index is a hole.
        let mut candidates: BTreeSet<u64> = self.overlay.keys().copied().collect();
        let base_chunks = self.base_size.div_ceil(CHUNK_SIZE as u64);
        match &self.base {
            Base::Empty => {}
            Base::Inline(_) => {
                if self.base_size > 0 {
                    candidates.insert(0);
                }
            }
            Base::Chunks(chunks) => candidates.extend(chunks.range(..base_chunks).map(|(i, _)| *i)),
        }
        let mut hasher = ContentHasher::default();
        let mut stored = Vec::new();
        for idx in candidates.into_iter().take_while(|i| *i < count) {
            let expected = (size - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize;
            let end = idx * CHUNK_SIZE as u64 + expected as u64;
            let reusable = match (self.overlay.get(&idx), &self.base) {
                (Some(Slot::Stored(chunk)), _) if chunk.len == expected => Some(*chunk),
                (None, Base::Chunks(base)) => base
                    .get(&idx)
                    .filter(|c| c.len == expected && end <= self.base_size)
                    .copied(),
                _ => None,
            };
            let (id, hash) = match reusable {
                Some(chunk) => (chunk.id, chunk.hash),
                None => match self.overlay.get(&idx) {
                    Some(Slot::Dirty(data, Some(hashed))) if data.len() == expected => {
                        store_full_chunk(conn, data, hashed)?
                    }
                    Some(Slot::Placed(placed)) if expected == CHUNK_SIZE => {
                        store_placed_chunk(conn, placed)?
                    }
                    _ => {
                        let data = self.chunk_bytes(conn, idx, expected)?;
                        if is_zero(&data) {
                            continue;
                        }
                        store_chunk(conn, &data)?
                    }
                },
            };
            hasher.chunk(idx, &hash);
            stored.push((idx, id));
        }
        let hash = hasher.finish(size);
        insert_chunked(conn, &hash, size, &stored)?;
        *self = Self::open(conn, Some(&hash))?;
        Ok((hash, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::VaultError;
    use crate::vault::content::{ContentReader, ContentWriter, MAX_FILE_SIZE};
    use crate::vault::schema;
    use std::io::Read;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        schema::configure(&mut c).unwrap();
        schema::migrate(&mut c).unwrap();
        c
    }

    /// A store file in `dir`, with its segments beside it.
    fn file_conn(dir: &std::path::Path) -> Connection {
        let mut c = Connection::open(dir.join("store.db")).unwrap();
        schema::configure(&mut c).unwrap();
        schema::migrate(&mut c).unwrap();
        c
    }

    /// Commits `ed`, which must give `model`'s bytes and the hash a fresh
    /// write of them gets.
    fn commits_as(c: &Connection, ed: &mut ContentEditor, model: &[u8]) {
        let (hash, size) = ed.commit(c).unwrap();
        assert_eq!(size as usize, model.len());
        assert_eq!(bytes(c, &hash), model);
        assert_eq!(
            hash,
            store(c, model),
            "same bytes, same hash as a fresh write"
        );
    }

    fn store(c: &Connection, data: &[u8]) -> ContentHash {
        let mut w = ContentWriter::new(c);
        w.write_all(data).unwrap();
        w.finish().unwrap().0
    }

    fn bytes(c: &Connection, h: &ContentHash) -> Vec<u8> {
        let mut out = Vec::new();
        ContentReader::open(c, h)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Applies the same edits to the editor and to a Vec, then compares both
    /// the live view and the committed content (and its hash) with the Vec.
    fn check(start: &[u8], edits: &[(&str, u64, usize)], spill_every: usize) {
        let c = conn();
        let base = store(&c, start);
        let mut model = start.to_vec();
        let mut ed = ContentEditor::open(&c, Some(&base)).unwrap();
        for (i, &(op, at, len)) in edits.iter().enumerate() {
            match op {
                "w" => {
                    let data: Vec<u8> = (0..len).map(|j| ((i * 7 + j) % 253) as u8 + 1).collect();
                    ed.write_at(&c, at, &data).unwrap();
                    let end = at as usize + len;
                    if model.len() < end {
                        model.resize(end, 0);
                    }
                    model[at as usize..end].copy_from_slice(&data);
                }
                "t" => {
                    ed.truncate(&c, at).unwrap();
                    model.resize(at as usize, 0);
                }
                _ => unreachable!(),
            }
            if spill_every > 0 && i % spill_every == 0 {
                ed.spill(&c).unwrap();
            }
            let mut live = vec![0u8; model.len() + 10];
            let n = ed.read_at(&c, 0, &mut live).unwrap();
            assert_eq!(&live[..n], &model[..], "live view after edit {i}");
        }
        commits_as(&c, &mut ed, &model);
        let mut again = vec![0u8; model.len()];
        ed.read_at(&c, 0, &mut again).unwrap();
        assert_eq!(again, model, "the editor continues from its commit");
    }

    const C: u64 = CHUNK_SIZE as u64;

    #[test]
    fn edits_match_a_plain_buffer() {
        let big: Vec<u8> = (0..3 * CHUNK_SIZE + 100).map(|i| (i % 251) as u8).collect();
        let cases: &[&[(&str, u64, usize)]] = &[
            &[("w", 0, 10)],
            &[("w", 5, 3), ("w", 100, 1)],
            &[("w", C - 2, 4)],
            &[("w", 3 * C + 50, 200)],
            &[("t", 10, 0), ("w", C * 2, 5)],
            &[("t", C + 7, 0), ("t", 3 * C, 0)],
            &[("w", 0, CHUNK_SIZE), ("w", C, CHUNK_SIZE), ("t", C / 2, 0)],
            &[("t", 0, 0)],
            &[("w", 10 * C, 1)],
        ];
        for edits in cases {
            for spill in [0, 1] {
                check(b"", edits, spill);
                check(b"small inline", edits, spill);
                check(&big, edits, spill);
            }
        }
    }

    /// Applies `edit` to an editor and a model of its bytes; the commit must
    /// give the model's bytes and the hash a fresh write of them gets.
    fn check_edits(edit: impl Fn(&Connection, &mut ContentEditor, &mut Vec<u8>)) {
        let c = conn();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        let mut model = Vec::new();
        edit(&c, &mut ed, &mut model);
        commits_as(&c, &mut ed, &model);
    }

    fn pattern(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|j| ((j * 7 + seed) % 251) as u8 + 1).collect()
    }

    #[test]
    fn a_hashed_chunk_changed_afterwards_is_stored_as_changed() {
        let c2 = 2 * CHUNK_SIZE;
        // Overwritten in part, before and after a spill.
        for spill in [false, true] {
            check_edits(|c, ed, model| {
                let data = pattern(c2, 1);
                ed.write_hashed(c, 0, HashedWrite::of(0, &data, None))
                    .unwrap();
                *model = data;
                ed.write_at(c, 100, b"changed").unwrap();
                model[100..107].copy_from_slice(b"changed");
                if spill {
                    ed.spill(c).unwrap();
                }
            });
        }
        // Cut inside its second chunk, then grown again.
        check_edits(|c, ed, model| {
            let data = pattern(c2, 2);
            ed.write_hashed(c, 0, HashedWrite::of(0, &data, None))
                .unwrap();
            ed.truncate(c, (CHUNK_SIZE + 10) as u64).unwrap();
            ed.truncate(c, c2 as u64).unwrap();
            *model = data;
            model[CHUNK_SIZE + 10..].fill(0);
        });
        // A punched hole in the first chunk.
        check_edits(|c, ed, model| {
            let data = pattern(c2, 3);
            ed.write_hashed(c, 0, HashedWrite::of(0, &data, None))
                .unwrap();
            ed.zero_range(c, 5, 5000).unwrap();
            *model = data;
            model[5..5005].fill(0);
        });
    }

    #[test]
    fn placed_chunks_read_and_store_as_written_and_free_what_no_row_names() {
        let dir = tempfile::tempdir().unwrap();
        let c = file_conn(dir.path());
        let sink = ChunkSink::of(&c).unwrap();
        let on_disk = || super::super::segment::disk_bytes(&c).unwrap();
        let data = pattern(4 * CHUNK_SIZE, 5);
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_hashed(&c, 0, HashedWrite::of(0, &data, Some(&sink)))
            .unwrap();
        assert!(on_disk() >= data.len() as u64, "placed at once");
        assert_eq!(ed.dirty_bytes(), 4 * PLACED_WEIGHT, "no bytes held");
        let mut model = data.clone();
        // Changed in part, cut inside, and punched: each frees its placed range.
        ed.write_at(&c, 10, b"changed").unwrap();
        model[10..17].copy_from_slice(b"changed");
        ed.zero_range(&c, C, C).unwrap();
        model[CHUNK_SIZE..2 * CHUNK_SIZE].fill(0);
        ed.truncate(&c, 3 * C + 100).unwrap();
        model.truncate(3 * CHUNK_SIZE + 100);
        let mut live = vec![0u8; model.len()];
        ed.read_at(&c, 0, &mut live).unwrap();
        assert_eq!(live, model);
        // Only the third chunk is still placed.
        let left = on_disk();
        assert!(
            (CHUNK_SIZE as u64..2 * CHUNK_SIZE as u64).contains(&left),
            "{left} bytes on disk"
        );
        let (hash, _) = ed.commit(&c).unwrap();
        assert_eq!(bytes(&c, &hash), model);
        assert_eq!(hash, store(&c, &model));
        // The same four chunks placed again: the third is stored already
        // (the only one the commit above kept as written), so it is not
        // appended at all, and the other three are.
        let appended = || -> u64 {
            let segments = super::super::segment::dir_of(&dir.path().join("store.db"));
            std::fs::read_dir(segments)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum()
        };
        let (before, appended_before) = (on_disk(), appended());
        let mut again = ContentEditor::open(&c, None).unwrap();
        again
            .write_hashed(&c, 0, HashedWrite::of(0, &data, Some(&sink)))
            .unwrap();
        again.commit(&c).unwrap();
        drop(again);
        assert_eq!(
            on_disk(),
            before + 3 * CHUNK_SIZE as u64,
            "the stored one placed twice"
        );
        assert_eq!(
            appended(),
            appended_before + 3 * CHUNK_SIZE as u64,
            "a chunk the store has was appended again"
        );
    }

    #[test]
    fn placed_chunks_a_write_never_took_are_freed_and_a_spill_names_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let c = file_conn(dir.path());
        let sink = ChunkSink::of(&c).unwrap();
        let on_disk = || super::super::segment::disk_bytes(&c).unwrap();
        let data = pattern(2 * CHUNK_SIZE, 6);
        // Refused before it reached the editor (a quota, a read-only file).
        drop(HashedWrite::of(0, &data, Some(&sink)));
        assert_eq!(on_disk(), 0, "an unused write's chunks are punched out");
        // Moved by O_APPEND after it was made: written as plain bytes.
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_hashed(&c, 1, HashedWrite::of(0, &data, Some(&sink)))
            .unwrap();
        assert_eq!(on_disk(), 0, "a moved write's chunks are punched out");
        // The first chunk's slot holds the byte before the write too.
        assert_eq!(ed.dirty_bytes(), data.len() + 1, "held as bytes");
        // Placed, then named by a spill: nothing is held or owed any more.
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_hashed(&c, 0, HashedWrite::of(0, &data, Some(&sink)))
            .unwrap();
        ed.spill(&c).unwrap();
        assert_eq!(ed.dirty_bytes(), 0, "the spill named the placed chunks");
        let rows: i64 = c
            .query_row(
                "SELECT count(*) FROM chunks WHERE segment IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 2);
        assert!(on_disk() >= data.len() as u64, "named chunks stay");
    }

    #[test]
    fn a_write_hashed_for_another_offset_uses_none_of_its_hashes() {
        // O_APPEND moves a write after it was hashed: by one byte, and by a chunk.
        for (meant, at) in [(1, 0), (0, 1), (0, CHUNK_SIZE as u64)] {
            check_edits(|c, ed, model| {
                let data = pattern(2 * CHUNK_SIZE + 1, 4);
                ed.write_hashed(c, at, HashedWrite::of(meant, &data, None))
                    .unwrap();
                model.resize(at as usize, 0);
                model.extend_from_slice(&data);
            });
        }
    }

    #[test]
    fn writing_into_a_cut_chunk_past_its_bytes_reads_zeros() {
        // The mount's random I/O crash: a short dirty chunk read far past its bytes.
        check(
            b"",
            &[("w", 0, 94208), ("t", 200_000, 0), ("w", C + 3, 1)],
            0,
        );
        let c = conn();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_at(&c, 0, &[1u8; 94208]).unwrap();
        ed.truncate(&c, 200_000).unwrap();
        let mut buf = vec![9u8; 4096];
        assert_eq!(ed.read_at(&c, 106_496, &mut buf).unwrap(), 4096);
        assert!(buf.iter().all(|b| *b == 0));
    }

    #[test]
    fn a_petabyte_hole_costs_nothing() {
        let c = conn();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_at(&c, 0, b"head").unwrap();
        ed.truncate(&c, 1 << 50).unwrap();
        ed.write_at(&c, (1 << 50) - 1, b"z").unwrap();
        let (hash, size) = ed.commit(&c).unwrap();
        assert_eq!(size, 1 << 50);
        let rows: i64 = c
            .query_row("SELECT count(*) FROM content_chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "two chunks hold bytes; everything else is a hole");
        let r = ContentReader::open(&c, &hash).unwrap();
        let mut buf = vec![7u8; 8];
        r.read_at(1 << 40, &mut buf).unwrap();
        assert_eq!(buf, [0u8; 8]);
        r.read_at((1 << 50) - 2, &mut buf).unwrap();
        assert_eq!(&buf[..2], b"\0z");
        // Cutting it back down is as cheap.
        let mut ed = ContentEditor::open(&c, Some(&hash)).unwrap();
        ed.truncate(&c, 4).unwrap();
        let (small, size) = ed.commit(&c).unwrap();
        assert_eq!((small, size), (store(&c, b"head"), 4));
    }

    #[test]
    fn sizes_past_the_format_are_file_too_large() {
        let c = conn();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        let err = ed.truncate(&c, u64::MAX).unwrap_err();
        assert!(matches!(err, VaultError::FileTooLarge { .. }), "{err}");
        let err = ed.write_at(&c, MAX_FILE_SIZE, b"x").unwrap_err();
        assert!(matches!(err, VaultError::FileTooLarge { .. }), "{err}");
        assert_eq!(ed.size(), 0, "nothing changed");
    }

    #[test]
    fn written_zeros_and_holes_are_the_same_content() {
        let c = conn();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_at(&c, 0, &vec![0u8; 3 * CHUNK_SIZE]).unwrap();
        ed.write_at(&c, 3 * C, b"end").unwrap();
        let (written, _) = ed.commit(&c).unwrap();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        ed.write_at(&c, 3 * C, b"end").unwrap();
        let (sparse, _) = ed.commit(&c).unwrap();
        assert_eq!(written, sparse);
        let mut zeros = vec![0u8; 3 * CHUNK_SIZE];
        zeros.extend_from_slice(b"end");
        assert_eq!(written, store(&c, &zeros), "and a streamed write agrees");
    }

    #[test]
    fn a_damaged_chunk_is_corrupt_never_data() {
        let c = conn();
        let data: Vec<u8> = (0..2 * CHUNK_SIZE).map(|i| (i % 249) as u8 + 1).collect();
        let hash = store(&c, &data);
        c.execute(
            "UPDATE chunks SET data = CAST(zeroblob(?1) AS BLOB) WHERE id = (SELECT min(id) FROM chunks)",
            [CHUNK_SIZE as i64],
        )
        .unwrap();
        let mut buf = vec![0u8; 10];
        let err = ContentReader::open(&c, &hash)
            .unwrap()
            .read_at(5, &mut buf)
            .unwrap_err();
        assert!(matches!(err, VaultError::Corrupt(_)), "{err}");
        let ed = ContentEditor::open(&c, Some(&hash)).unwrap();
        let err = ed.read_at(&c, 5, &mut buf).unwrap_err();
        assert!(matches!(err, VaultError::Corrupt(_)), "{err}");
        // Through std::io it comes back as the same error, not as plain i/o.
        let mut out = Vec::new();
        let err = ContentReader::open(&c, &hash)
            .unwrap()
            .read_to_end(&mut out)
            .map_err(VaultError::from)
            .unwrap_err();
        assert!(matches!(err, VaultError::Corrupt(_)), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Random writes, truncates, spills and commits around chunk boundaries
        /// agree with a plain buffer after every step.
        #[test]
        fn random_edits_match_a_model(ops in proptest::collection::vec(
            (0u8..6, 0u64..(4 * C + 10), 0usize..(C as usize + 300), proptest::bool::ANY),
            1..40,
        ), on_disk in proptest::bool::ANY) {
            // On disk, a hashed write's whole chunks go to a segment at once
            // (placed), as in a mount.
            let dir = tempfile::tempdir().unwrap();
            let c = if on_disk { file_conn(dir.path()) } else { conn() };
            let sink = ChunkSink::of(&c);
            let mut ed = ContentEditor::open(&c, None).unwrap();
            let mut model: Vec<u8> = Vec::new();
            for (i, &(op, at, len, near)) in ops.iter().enumerate() {
                // Half the offsets snap next to a chunk boundary.
                let at = if near { (at / C) * C + (at % 3) - 1.min(at / C) } else { at };
                match op {
                    0 | 1 => {
                        let zeros = i % 4 == 0;
                        let data: Vec<u8> = (0..len)
                            .map(|j| if zeros { 0 } else { ((i * 31 + j) % 251) as u8 + 1 })
                            .collect();
                        if op == 0 {
                            ed.write_at(&c, at, &data).unwrap();
                        } else {
                            // Hashed beforehand, as the mount does; every
                            // third one for another offset (O_APPEND moved
                            // it), whose hashes must go unused.
                            let meant = if i % 3 == 0 { at + 1 } else { at };
                            let write = HashedWrite::of(meant, &data, sink.as_ref());
                            ed.write_hashed(&c, at, write).unwrap();
                        }
                        let end = at as usize + len;
                        if model.len() < end {
                            model.resize(end, 0);
                        }
                        model[at as usize..end].copy_from_slice(&data);
                    }
                    2 => {
                        ed.truncate(&c, at).unwrap();
                        model.resize(at as usize, 0);
                    }
                    3 => ed.spill(&c).unwrap(),
                    4 => {
                        let len = len as u64 * 3;
                        ed.zero_range(&c, at, len).unwrap();
                        let end = (at + len).min(model.len() as u64) as usize;
                        if (at as usize) < end {
                            model[at as usize..end].fill(0);
                        }
                    }
                    _ => {
                        let (hash, size) = ed.commit(&c).unwrap();
                        proptest::prop_assert_eq!(size as usize, model.len());
                        proptest::prop_assert!(bytes(&c, &hash) == model);
                        proptest::prop_assert_eq!(hash, store(&c, &model));
                    }
                }
                proptest::prop_assert_eq!(ed.size() as usize, model.len());
                let probe = (at as usize).min(model.len());
                let mut live = vec![0xAAu8; 700];
                let n = ed.read_at(&c, probe as u64, &mut live).unwrap();
                let want = &model[probe..(probe + 700).min(model.len())];
                proptest::prop_assert!(&live[..n] == want, "read after op {}", i);
            }
            let (hash, _) = ed.commit(&c).unwrap();
            proptest::prop_assert!(bytes(&c, &hash) == model);
        }
    }

    #[test]
    fn untouched_chunks_are_reused_not_rewritten() {
        let c = conn();
        let data: Vec<u8> = (0..4 * CHUNK_SIZE).map(|i| (i % 241) as u8).collect();
        let base = store(&c, &data);
        let before: i64 = c
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        let mut ed = ContentEditor::open(&c, Some(&base)).unwrap();
        ed.write_at(&c, C + 5, b"x").unwrap();
        ed.commit(&c).unwrap();
        let after: i64 = c
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(after - before, 1, "one edited chunk, one new row");
    }

    #[test]
    fn spill_bounds_memory_for_sequential_writes() {
        let c = conn();
        let mut ed = ContentEditor::open(&c, None).unwrap();
        let block = vec![7u8; 128 * 1024];
        let mut peak = 0;
        for i in 0..64u64 {
            ed.write_at(&c, i * block.len() as u64, &block).unwrap();
            if ed.dirty_bytes() > 2 * CHUNK_SIZE {
                ed.spill(&c).unwrap();
            }
            peak = peak.max(ed.dirty_bytes());
        }
        assert!(peak <= 3 * CHUNK_SIZE, "peak {peak}");
        let (_, size) = ed.commit(&c).unwrap();
        assert_eq!(size, 64 * 128 * 1024);
    }
}
