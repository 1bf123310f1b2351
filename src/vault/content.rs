//! Content-addressed file contents: fixed-size BLAKE3 chunks shared store-wide.
//!
//! A content is immutable and named by its [`ContentHash`]. Writers stream
//! bytes through [`ContentWriter`] (at most one chunk buffered), readers fetch
//! only the chunks a read touches through [`ContentReader`]. Fixed-size chunks
//! make the chunk list, and so the hash, a pure function of the bytes.

use super::error::{Result, VaultError};
use rusqlite::{Connection, MAIN_DB, OptionalExtension, params};
use std::fmt;
use std::io::{self, Read};

/// Bytes per chunk; every chunk but a content's last is exactly this long.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Contents up to this size are stored inline, without chunk rows.
pub const INLINE_MAX: usize = 4096;

/// Identity of a content: BLAKE3 over its size and its chunks' BLAKE3 hashes.
///
/// Not the same value as `b3sum` of the bytes: hashing chunk hashes lets an
/// append or a one-chunk edit of a huge file rehash O(chunks), not O(bytes).
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

    pub(crate) fn compute(size: u64, chunk_hashes: &[[u8; 32]]) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"avfs-content-v1\0");
        hasher.update(&size.to_le_bytes());
        for h in chunk_hashes {
            hasher.update(h);
        }
        Self(*hasher.finalize().as_bytes())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

/// Streams bytes into the store as a new (or deduplicated) content.
pub struct ContentWriter<'c> {
    conn: &'c Connection,
    buf: Vec<u8>,
    chunk_ids: Vec<i64>,
    chunk_hashes: Vec<[u8; 32]>,
    size: u64,
}

impl<'c> ContentWriter<'c> {
    /// Starts an empty content.
    pub fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            buf: Vec::new(),
            chunk_ids: Vec::new(),
            chunk_hashes: Vec::new(),
            size: 0,
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
                let full = (stored.size / CHUNK_SIZE as u64) as usize;
                let mut rows = conn.prepare_cached("SELECT hash FROM chunks WHERE id = ?1")?;
                for &id in &stored.chunk_ids[..full] {
                    let hash: Vec<u8> = rows.query_row([id], |r| r.get(0))?;
                    writer.chunk_ids.push(id);
                    writer.chunk_hashes.push(ContentHash::from_blob(&hash)?.0);
                }
                writer.size = full as u64 * CHUNK_SIZE as u64;
                if let Some(&tail) = stored.chunk_ids.get(full) {
                    writer.buf =
                        conn.query_row("SELECT data FROM chunks WHERE id = ?1", [tail], |r| {
                            r.get(0)
                        })?;
                    // lazy-clone hook (src/vault/lazy.rs): bytes not fetched yet
                    if writer.buf.is_empty() {
                        writer.buf = super::lazy::fetch_absent(conn, tail)?;
                    }
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
    pub fn copy_from(&mut self, mut reader: impl Read) -> Result<u64> {
        let mut total = 0u64;
        let mut block = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut block) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.write_all(&block[..n])?;
            total += n as u64;
        }
        Ok(total)
    }

    fn flush_chunk(&mut self) -> Result<()> {
        let (id, hash) = store_chunk(self.conn, &self.buf)?;
        self.size += self.buf.len() as u64;
        self.chunk_ids.push(id);
        self.chunk_hashes.push(hash);
        self.buf.clear();
        Ok(())
    }

    /// Stores the content (once, however many files share it) and names it.
    pub fn finish(mut self) -> Result<(ContentHash, u64)> {
        let total = self.size + self.buf.len() as u64;
        if self.chunk_ids.is_empty() && self.buf.len() <= INLINE_MAX {
            let chunk_hashes: Vec<[u8; 32]> = if self.buf.is_empty() {
                Vec::new()
            } else {
                vec![*blake3::hash(&self.buf).as_bytes()]
            };
            let hash = ContentHash::compute(total, &chunk_hashes);
            self.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![&hash.0[..], total as i64, &self.buf])?;
            return Ok((hash, total));
        }
        if !self.buf.is_empty() {
            self.flush_chunk()?;
        }
        let hash = ContentHash::compute(total, &self.chunk_hashes);
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, NULL)",
            )?
            .execute(params![&hash.0[..], total as i64])?;
        if inserted > 0 {
            let mut insert = self.conn.prepare_cached(
                "INSERT INTO content_chunks(content, idx, chunk) VALUES (?1, ?2, ?3)",
            )?;
            for (idx, id) in self.chunk_ids.iter().enumerate() {
                insert.execute(params![&hash.0[..], idx as i64, id])?;
            }
        }
        Ok((hash, total))
    }
}

/// Stores one chunk unless an identical one exists; returns its id and hash.
pub(crate) fn store_chunk(conn: &Connection, data: &[u8]) -> Result<(i64, [u8; 32])> {
    let hash = *blake3::hash(data).as_bytes();
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM chunks WHERE hash = ?1")?
        .query_row([&hash[..]], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => {
            // lazy-clone hook (src/vault/lazy.rs): these are the bytes of a
            // chunk not fetched yet; keep them.
            conn.prepare_cached("UPDATE chunks SET data = ?2 WHERE id = ?1 AND length(data) = 0")?
                .execute(params![id, data])?;
            id
        }
        None => {
            conn.prepare_cached("INSERT INTO chunks(hash, size, data) VALUES (?1, ?2, ?3)")?
                .execute(params![&hash[..], data.len() as i64, data])?;
            conn.last_insert_rowid()
        }
    };
    Ok((id, hash))
}

/// Where a content's bytes live.
struct StoredContent {
    size: u64,
    inline: Option<Vec<u8>>,
    chunk_ids: Vec<i64>,
}

impl StoredContent {
    fn load(conn: &Connection, hash: &ContentHash) -> Result<Self> {
        let (size, inline): (i64, Option<Vec<u8>>) = conn
            .prepare_cached("SELECT size, data FROM contents WHERE hash = ?1")?
            .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| VaultError::Corrupt(format!("missing content {}", hash.to_hex())))?;
        let mut chunk_ids = Vec::new();
        if inline.is_none() {
            let mut stmt = conn.prepare_cached(
                "SELECT chunk FROM content_chunks WHERE content = ?1 ORDER BY idx",
            )?;
            for id in stmt.query_map([&hash.0[..]], |r| r.get(0))? {
                chunk_ids.push(id?);
            }
            let expected = (size as u64).div_ceil(CHUNK_SIZE as u64) as usize;
            if chunk_ids.len() != expected {
                return Err(VaultError::Corrupt(format!(
                    "content {} has {} chunks, expected {expected}",
                    hash.to_hex(),
                    chunk_ids.len()
                )));
            }
        }
        Ok(Self {
            size: size as u64,
            inline,
            chunk_ids,
        })
    }
}

/// Reads a content by offset, touching only the chunks a read covers.
pub struct ContentReader<'c> {
    conn: &'c Connection,
    stored: StoredContent,
    pos: u64,
}

impl<'c> ContentReader<'c> {
    /// Opens a content for reading.
    pub fn open(conn: &'c Connection, hash: &ContentHash) -> Result<Self> {
        Ok(Self {
            conn,
            stored: StoredContent::load(conn, hash)?,
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
        let want = buf.len().min((self.stored.size - offset) as usize);
        if let Some(data) = &self.stored.inline {
            let start = offset as usize;
            buf[..want].copy_from_slice(&data[start..start + want]);
            return Ok(want);
        }
        let mut done = 0;
        while done < want {
            let at = offset + done as u64;
            let idx = (at / CHUNK_SIZE as u64) as usize;
            let within = (at % CHUNK_SIZE as u64) as usize;
            let blob = self.conn.blob_open(
                MAIN_DB,
                c"chunks",
                c"data",
                self.stored.chunk_ids[idx],
                true,
            )?;
            let take = (want - done).min(CHUNK_SIZE - within);
            // ----- lazy-clone hook (src/vault/lazy.rs): bytes not fetched yet -----
            if blob.is_empty() {
                let bytes = super::lazy::fetch_absent(self.conn, self.stored.chunk_ids[idx])?;
                let slice = bytes.get(within..within + take).ok_or_else(|| {
                    VaultError::Corrupt("chunk shorter than its content says".into())
                })?;
                buf[done..done + take].copy_from_slice(slice);
                done += take;
                continue;
            }
            // ----- end of lazy-clone hook -----
            blob.read_at_exact(&mut buf[done..done + take], within)?;
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
