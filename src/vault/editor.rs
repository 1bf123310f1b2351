//! Random-access edits of a content: the write buffer behind an open file.
//!
//! A [`ContentEditor`] starts from a stored content (or nothing) and keeps an
//! overlay of the chunks that were written. Reads see the overlay over the
//! base; [`ContentEditor::commit`] turns base + overlay into a new content,
//! rewriting only the chunks that changed. Memory stays bounded: once the
//! dirty bytes pass a limit, [`ContentEditor::spill`] stores the complete dirty
//! chunks (unreferenced chunk rows until a commit uses them) and keeps only
//! their ids.

use super::content::{CHUNK_SIZE, ContentHash, INLINE_MAX, store_chunk};
use super::error::{Result, VaultError};
use rusqlite::{Connection, MAIN_DB, OptionalExtension, params};
use std::collections::BTreeMap;

/// One chunk of the overlay.
#[derive(Clone, Debug)]
enum Slot {
    /// Bytes written here, not stored yet (length ≤ CHUNK_SIZE).
    Dirty(Vec<u8>),
    /// A stored chunk row that replaced this chunk.
    Stored { id: i64, len: usize },
}

/// Where the base content's bytes are.
#[derive(Clone, Debug, Default)]
enum Base {
    #[default]
    Empty,
    Inline(Vec<u8>),
    Chunks(Vec<(i64, usize)>),
}

/// An editable view of a file's content.
#[derive(Debug, Default)]
pub struct ContentEditor {
    base: Base,
    base_size: u64,
    size: u64,
    overlay: BTreeMap<u64, Slot>,
    dirty_bytes: usize,
    changed: bool,
}

fn chunk_of(offset: u64) -> (u64, usize) {
    (
        offset / CHUNK_SIZE as u64,
        (offset % CHUNK_SIZE as u64) as usize,
    )
}

fn read_chunk(conn: &Connection, id: i64) -> Result<Vec<u8>> {
    let data: Vec<u8> = conn
        .prepare_cached("SELECT data FROM chunks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    // lazy-clone hook (src/vault/lazy.rs): bytes not fetched yet
    if data.is_empty() {
        return super::lazy::fetch_absent(conn, id);
    }
    Ok(data)
}

fn read_chunk_at(conn: &Connection, id: i64, within: usize, buf: &mut [u8]) -> Result<()> {
    let blob = conn.blob_open(MAIN_DB, c"chunks", c"data", id, true)?;
    // lazy-clone hook (src/vault/lazy.rs): bytes not fetched yet
    if blob.is_empty() {
        let bytes = super::lazy::fetch_absent(conn, id)?;
        let slice = bytes
            .get(within..within + buf.len())
            .ok_or_else(|| VaultError::Corrupt("chunk shorter than its content says".into()))?;
        buf.copy_from_slice(slice);
        return Ok(());
    }
    blob.read_at_exact(buf, within)?;
    Ok(())
}

impl ContentEditor {
    /// Starts from a stored content, or from an empty file.
    pub fn open(conn: &Connection, base: Option<&ContentHash>) -> Result<Self> {
        let Some(hash) = base else {
            return Ok(Self::default());
        };
        let (size, inline): (i64, Option<Vec<u8>>) = conn
            .prepare_cached("SELECT size, data FROM contents WHERE hash = ?1")?
            .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| VaultError::Corrupt(format!("missing content {}", hash.to_hex())))?;
        let base = match inline {
            Some(data) => Base::Inline(data),
            None => {
                let mut stmt = conn.prepare_cached(
                    "SELECT cc.chunk, c.size FROM content_chunks cc JOIN chunks c ON c.id = cc.chunk
                     WHERE cc.content = ?1 ORDER BY cc.idx",
                )?;
                let chunks = stmt
                    .query_map([&hash.0[..]], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Base::Chunks(chunks)
            }
        };
        Ok(Self {
            base,
            base_size: size as u64,
            size: size as u64,
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

    /// Bytes held in memory by the overlay.
    pub fn dirty_bytes(&self) -> usize {
        self.dirty_bytes
    }

    /// The bytes of chunk `idx` of the base that still show (below `base_size`).
    fn base_chunk(&self, conn: &Connection, idx: u64) -> Result<Vec<u8>> {
        let start = idx * CHUNK_SIZE as u64;
        if start >= self.base_size {
            return Ok(Vec::new());
        }
        let visible = (self.base_size - start).min(CHUNK_SIZE as u64) as usize;
        let mut data = match &self.base {
            Base::Empty => Vec::new(),
            Base::Inline(data) => data.clone(),
            Base::Chunks(chunks) => read_chunk(conn, chunks[idx as usize].0)?,
        };
        data.truncate(visible);
        Ok(data)
    }

    /// The bytes of chunk `idx` as they are now (overlay over base), unpadded.
    fn current_chunk(&self, conn: &Connection, idx: u64) -> Result<Vec<u8>> {
        match self.overlay.get(&idx) {
            Some(Slot::Dirty(data)) => Ok(data.clone()),
            Some(Slot::Stored { id, .. }) => read_chunk(conn, *id),
            None => self.base_chunk(conn, idx),
        }
    }

    /// Fills `buf` from `offset`; returns the bytes read (short at the end of the file).
    pub fn read_at(&self, conn: &Connection, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let want = buf.len().min((self.size - offset) as usize);
        let mut done = 0;
        while done < want {
            let (idx, within) = chunk_of(offset + done as u64);
            let take = (want - done).min(CHUNK_SIZE - within);
            let out = &mut buf[done..done + take];
            // Bytes past what a chunk holds (a hole, or a grown file) read as zeros.
            let available = |len: usize| len.saturating_sub(within).min(take);
            let copied = match self.overlay.get(&idx) {
                Some(Slot::Dirty(data)) => {
                    let n = available(data.len());
                    out[..n].copy_from_slice(&data[within..within + n]);
                    n
                }
                Some(Slot::Stored { id, len }) => {
                    let n = available(*len);
                    read_chunk_at(conn, *id, within, &mut out[..n])?;
                    n
                }
                None => self.read_base(conn, idx, within, out)?,
            };
            out[copied..].fill(0);
            done += take;
        }
        Ok(done)
    }

    fn read_base(
        &self,
        conn: &Connection,
        idx: u64,
        within: usize,
        out: &mut [u8],
    ) -> Result<usize> {
        let start = idx * CHUNK_SIZE as u64 + within as u64;
        if start >= self.base_size {
            return Ok(0);
        }
        let n = out.len().min((self.base_size - start) as usize);
        match &self.base {
            Base::Empty => Ok(0),
            Base::Inline(data) => {
                out[..n].copy_from_slice(&data[start as usize..start as usize + n]);
                Ok(n)
            }
            Base::Chunks(chunks) => {
                read_chunk_at(conn, chunks[idx as usize].0, within, &mut out[..n])?;
                Ok(n)
            }
        }
    }

    /// Writes `data` at `offset`, growing the file (with a zero-filled hole) if needed.
    pub fn write_at(&mut self, conn: &Connection, offset: u64, data: &[u8]) -> Result<()> {
        let mut done = 0;
        while done < data.len() {
            let (idx, within) = chunk_of(offset + done as u64);
            let take = (data.len() - done).min(CHUNK_SIZE - within);
            let mut chunk = match self.overlay.remove(&idx) {
                Some(Slot::Dirty(bytes)) => {
                    self.dirty_bytes -= bytes.len();
                    bytes
                }
                Some(Slot::Stored { id, .. }) => read_chunk(conn, id)?,
                // A chunk written whole needs none of its old bytes.
                None if within == 0 && take == CHUNK_SIZE => Vec::new(),
                None => self.base_chunk(conn, idx)?,
            };
            if chunk.len() < within + take {
                chunk.resize(within + take, 0);
            }
            chunk[within..within + take].copy_from_slice(&data[done..done + take]);
            self.dirty_bytes += chunk.len();
            self.overlay.insert(idx, Slot::Dirty(chunk));
            done += take;
        }
        self.size = self.size.max(offset + data.len() as u64);
        self.changed = true;
        Ok(())
    }

    fn recount(&mut self) {
        self.dirty_bytes = self
            .overlay
            .values()
            .map(|s| match s {
                Slot::Dirty(d) => d.len(),
                Slot::Stored { .. } => 0,
            })
            .sum();
    }

    /// Sets the length: cuts, or extends with zeros.
    pub fn truncate(&mut self, conn: &Connection, size: u64) -> Result<()> {
        if size == self.size {
            self.changed = true;
            return Ok(());
        }
        if size < self.size {
            let (last, within) = chunk_of(size);
            self.overlay
                .retain(|idx, _| *idx < last || (*idx == last && within > 0));
            if within > 0 {
                let mut chunk = self.current_chunk(conn, last)?;
                chunk.resize(within, 0);
                self.overlay.insert(last, Slot::Dirty(chunk));
            }
            // Base bytes past the new end must never show through again.
            self.base_size = self.base_size.min(size);
        }
        self.size = size;
        self.changed = true;
        self.recount();
        Ok(())
    }

    /// Stores every dirty chunk that will not change length again, freeing its memory.
    pub fn spill(&mut self, conn: &Connection) -> Result<()> {
        for (idx, slot) in self.overlay.iter_mut() {
            if let Slot::Dirty(data) = slot {
                let full =
                    data.len() == CHUNK_SIZE || (*idx + 1) * (CHUNK_SIZE as u64) >= self.size;
                if full && !data.is_empty() {
                    let (id, _) = store_chunk(conn, data)?;
                    *slot = Slot::Stored {
                        id,
                        len: data.len(),
                    };
                }
            }
        }
        self.recount();
        Ok(())
    }

    /// Stores the edited content and returns its hash and size; the editor then
    /// starts over from that content.
    pub fn commit(&mut self, conn: &Connection) -> Result<(ContentHash, u64)> {
        let size = self.size;
        let chunks = size.div_ceil(CHUNK_SIZE as u64);
        if size as usize <= INLINE_MAX {
            let mut data = vec![0u8; size as usize];
            self.read_at(conn, 0, &mut data)?;
            let hashes: Vec<[u8; 32]> = if data.is_empty() {
                vec![]
            } else {
                vec![*blake3::hash(&data).as_bytes()]
            };
            let hash = ContentHash::compute(size, &hashes);
            conn.prepare_cached(
                "INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![&hash.0[..], size as i64, &data])?;
            *self = Self::open(conn, Some(&hash))?;
            return Ok((hash, size));
        }
        let mut ids = Vec::with_capacity(chunks as usize);
        let mut hashes = Vec::with_capacity(chunks as usize);
        let mut chunk_hash = conn.prepare_cached("SELECT hash FROM chunks WHERE id = ?1")?;
        let mut zero_chunk: Option<(i64, [u8; 32])> = None;
        for idx in 0..chunks {
            let expected = (size - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize;
            let reusable = match (self.overlay.get(&idx), &self.base) {
                (Some(Slot::Stored { id, len }), _) if *len == expected => Some(*id),
                (None, Base::Chunks(base))
                    if (idx as usize) < base.len() && base[idx as usize].1 == expected =>
                {
                    let end = idx * CHUNK_SIZE as u64 + expected as u64;
                    (end <= self.base_size).then_some(base[idx as usize].0)
                }
                _ => None,
            };
            // A whole chunk inside a hole is zeros: store (and hash) that once.
            let in_hole = expected == CHUNK_SIZE
                && !self.overlay.contains_key(&idx)
                && idx * CHUNK_SIZE as u64 >= self.base_size;
            let (id, hash) = match reusable {
                Some(id) => {
                    let hash: Vec<u8> = chunk_hash.query_row([id], |r| r.get(0))?;
                    (id, ContentHash::from_blob(&hash)?.0)
                }
                None if in_hole => match zero_chunk {
                    Some(zero) => zero,
                    None => *zero_chunk.insert(store_chunk(conn, &vec![0u8; CHUNK_SIZE])?),
                },
                None => {
                    let mut data = vec![0u8; expected];
                    self.read_at(conn, idx * CHUNK_SIZE as u64, &mut data)?;
                    store_chunk(conn, &data)?
                }
            };
            ids.push(id);
            hashes.push(hash);
        }
        let hash = ContentHash::compute(size, &hashes);
        let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, NULL)",
            )?
            .execute(params![&hash.0[..], size as i64])?;
        if inserted > 0 {
            let mut insert = conn.prepare_cached(
                "INSERT INTO content_chunks(content, idx, chunk) VALUES (?1, ?2, ?3)",
            )?;
            for (idx, id) in ids.iter().enumerate() {
                insert.execute(params![&hash.0[..], idx as i64, id])?;
            }
        }
        *self = Self::open(conn, Some(&hash))?;
        Ok((hash, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::content::{ContentReader, ContentWriter};
    use crate::vault::schema;
    use std::io::Read;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        schema::configure(&mut c).unwrap();
        schema::migrate(&mut c).unwrap();
        c
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
        let (hash, size) = ed.commit(&c).unwrap();
        assert_eq!(size as usize, model.len());
        assert_eq!(bytes(&c, &hash), model);
        assert_eq!(
            hash,
            store(&c, &model),
            "same bytes, same hash as a fresh write"
        );
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
