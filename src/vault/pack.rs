//! The packed form of one frozen layer: a deterministic byte string, so that
//! its BLAKE3 names it (docs/format.md, "Packed layers").
//!
//! Decoding treats the bytes as hostile: every length is bounds-checked and
//! every failure is [`VaultError::InvalidPack`], never a panic.

use super::error::{Result, VaultError};

/// The first bytes of every pack (and its format version).
const MAGIC: &[u8] = b"avfs-pack-v1\0";

/// A directory entry row; `child` None is a whiteout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirentRow {
    pub parent: i64,
    pub name: Vec<u8>,
    pub child: Option<i64>,
}

/// An inode row (kind 0 is a whiteout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InodeRow {
    pub ino: i64,
    pub kind: i64,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub size: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub nlink: i64,
    pub content: Option<[u8; 32]>,
    pub target: Option<Vec<u8>>,
    /// Access time (the stored one, or mtime when none was set).
    pub atime_ns: i64,
    /// A device node's device number.
    pub rdev: i64,
}

/// An extended attribute row; `value` None is a whiteout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XattrRow {
    pub ino: i64,
    pub name: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// A file version row (without its local id; packs keep id order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    pub parent: i64,
    pub name: Vec<u8>,
    pub version: i64,
    pub ino: i64,
    pub content: Option<[u8; 32]>,
    pub size: i64,
    pub time_ns: i64,
    pub source: Vec<u8>,
}

/// How a content's bytes are laid out: inline, or the hashes of its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentBody {
    /// Up to `INLINE_MAX` bytes, kept in the pack itself.
    Inline(Vec<u8>),
    /// The index and BLAKE3 of each stored chunk, in order; holes are not listed.
    Chunks(Vec<(u64, [u8; 32])>),
}

/// A content the layer's rows name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentRow {
    pub hash: [u8; 32],
    pub size: i64,
    pub body: ContentBody,
}

/// Everything one frozen layer holds, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerRows {
    /// The pack hash of the parent layer (None for a root layer).
    pub parent: Option<[u8; 32]>,
    /// Usage of the layer's state, if known.
    pub usage: Option<(i64, i64)>,
    pub dirents: Vec<DirentRow>,
    pub inodes: Vec<InodeRow>,
    pub xattrs: Vec<XattrRow>,
    pub versions: Vec<VersionRow>,
    pub contents: Vec<ContentRow>,
}

struct Enc(Vec<u8>);

impl Enc {
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.i64(b.len() as i64);
        self.0.extend_from_slice(b);
    }
    fn flag(&mut self, present: bool) {
        self.0.push(present as u8);
    }
    fn opt_bytes(&mut self, b: Option<&[u8]>) {
        self.flag(b.is_some());
        if let Some(b) = b {
            self.bytes(b);
        }
    }
    fn opt_hash(&mut self, h: Option<&[u8; 32]>) {
        self.flag(h.is_some());
        if let Some(h) = h {
            self.0.extend_from_slice(h);
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        self.flag(v.is_some());
        if let Some(v) = v {
            self.i64(v);
        }
    }
}

fn bad(what: &str) -> VaultError {
    VaultError::InvalidPack(what.to_string())
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn len(&mut self) -> Result<usize> {
        let n = self.i64()?;
        if n < 0 || n as u64 > self.0.len() as u64 {
            return Err(bad("length beyond the end"));
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }
    fn flag(&mut self) -> Result<bool> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad("bad flag byte")),
        }
    }
    fn hash(&mut self) -> Result<[u8; 32]> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(if self.flag()? {
            Some(self.bytes()?)
        } else {
            None
        })
    }
    fn opt_hash(&mut self) -> Result<Option<[u8; 32]>> {
        Ok(if self.flag()? {
            Some(self.hash()?)
        } else {
            None
        })
    }
    fn opt_i64(&mut self) -> Result<Option<i64>> {
        Ok(if self.flag()? {
            Some(self.i64()?)
        } else {
            None
        })
    }
    /// A row count; each row takes at least one byte, which bounds it.
    fn count(&mut self) -> Result<usize> {
        self.len()
    }
}

impl LayerRows {
    /// The packed bytes. Rows must already be in key order (the exporter reads
    /// them with ORDER BY), which makes equal layers pack to equal bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc(MAGIC.to_vec());
        e.opt_hash(self.parent.as_ref());
        e.flag(self.usage.is_some());
        if let Some((files, bytes)) = self.usage {
            e.i64(files);
            e.i64(bytes);
        }
        e.i64(self.dirents.len() as i64);
        for d in &self.dirents {
            e.i64(d.parent);
            e.bytes(&d.name);
            e.opt_i64(d.child);
        }
        e.i64(self.inodes.len() as i64);
        for i in &self.inodes {
            for v in [
                i.ino, i.kind, i.mode, i.uid, i.gid, i.size, i.mtime_ns, i.ctime_ns, i.nlink,
                i.atime_ns, i.rdev,
            ] {
                e.i64(v);
            }
            e.opt_hash(i.content.as_ref());
            e.opt_bytes(i.target.as_deref());
        }
        e.i64(self.xattrs.len() as i64);
        for x in &self.xattrs {
            e.i64(x.ino);
            e.bytes(&x.name);
            e.opt_bytes(x.value.as_deref());
        }
        e.i64(self.versions.len() as i64);
        for v in &self.versions {
            e.i64(v.parent);
            e.bytes(&v.name);
            e.i64(v.version);
            e.i64(v.ino);
            e.opt_hash(v.content.as_ref());
            e.i64(v.size);
            e.i64(v.time_ns);
            e.bytes(&v.source);
        }
        e.i64(self.contents.len() as i64);
        for c in &self.contents {
            e.0.extend_from_slice(&c.hash);
            e.i64(c.size);
            match &c.body {
                ContentBody::Inline(data) => {
                    e.flag(false);
                    e.bytes(data);
                }
                ContentBody::Chunks(chunks) => {
                    e.flag(true);
                    e.i64(chunks.len() as i64);
                    for (idx, h) in chunks {
                        e.i64(*idx as i64);
                        e.0.extend_from_slice(h);
                    }
                }
            }
        }
        e.0
    }

    /// Reads packed bytes back; any malformation is [`VaultError::InvalidPack`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut d = Dec(bytes);
        if d.take(MAGIC.len())? != MAGIC {
            return Err(bad("not an avfs layer pack (or a newer format)"));
        }
        let mut rows = LayerRows {
            parent: d.opt_hash()?,
            usage: if d.flag()? {
                Some((d.i64()?, d.i64()?))
            } else {
                None
            },
            ..LayerRows::default()
        };
        for _ in 0..d.count()? {
            rows.dirents.push(DirentRow {
                parent: d.i64()?,
                name: d.bytes()?,
                child: d.opt_i64()?,
            });
        }
        for _ in 0..d.count()? {
            let mut v = [0i64; 11];
            for slot in &mut v {
                *slot = d.i64()?;
            }
            rows.inodes.push(InodeRow {
                ino: v[0],
                kind: v[1],
                mode: v[2],
                uid: v[3],
                gid: v[4],
                size: v[5],
                mtime_ns: v[6],
                ctime_ns: v[7],
                nlink: v[8],
                atime_ns: v[9],
                rdev: v[10],
                content: d.opt_hash()?,
                target: d.opt_bytes()?,
            });
        }
        for _ in 0..d.count()? {
            rows.xattrs.push(XattrRow {
                ino: d.i64()?,
                name: d.bytes()?,
                value: d.opt_bytes()?,
            });
        }
        for _ in 0..d.count()? {
            rows.versions.push(VersionRow {
                parent: d.i64()?,
                name: d.bytes()?,
                version: d.i64()?,
                ino: d.i64()?,
                content: d.opt_hash()?,
                size: d.i64()?,
                time_ns: d.i64()?,
                source: d.bytes()?,
            });
        }
        for _ in 0..d.count()? {
            let hash = d.hash()?;
            let size = d.i64()?;
            let body = if d.flag()? {
                let n = d.count()?;
                let mut chunks = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let idx = d.i64()?;
                    if idx < 0 {
                        return Err(bad("negative chunk index"));
                    }
                    chunks.push((idx as u64, d.hash()?));
                }
                ContentBody::Chunks(chunks)
            } else {
                ContentBody::Inline(d.bytes()?)
            };
            rows.contents.push(ContentRow { hash, size, body });
        }
        if !d.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LayerRows {
        LayerRows {
            parent: Some([7; 32]),
            usage: Some((3, 4096)),
            dirents: vec![
                DirentRow {
                    parent: 1,
                    name: b"a".to_vec(),
                    child: Some(2),
                },
                DirentRow {
                    parent: 1,
                    name: b"gone".to_vec(),
                    child: None,
                },
            ],
            inodes: vec![InodeRow {
                ino: 2,
                kind: 1,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: 5,
                mtime_ns: 1,
                ctime_ns: 2,
                nlink: 1,
                content: Some([9; 32]),
                target: None,
                atime_ns: 1,
                rdev: 0,
            }],
            xattrs: vec![XattrRow {
                ino: 2,
                name: b"user.x".to_vec(),
                value: None,
            }],
            versions: vec![VersionRow {
                parent: 1,
                name: b"a".to_vec(),
                version: 1,
                ino: 2,
                content: Some([9; 32]),
                size: 5,
                time_ns: 3,
                source: b"write".to_vec(),
            }],
            contents: vec![
                ContentRow {
                    hash: [9; 32],
                    size: 5,
                    body: ContentBody::Inline(b"hello".to_vec()),
                },
                ContentRow {
                    hash: [8; 32],
                    size: 300_000,
                    body: ContentBody::Chunks(vec![(0, [1; 32]), (1, [2; 32])]),
                },
            ],
        }
    }

    #[test]
    fn packs_roundtrip_and_equal_rows_pack_to_equal_bytes() {
        let rows = sample();
        let bytes = rows.encode();
        assert_eq!(bytes, sample().encode());
        assert_eq!(LayerRows::decode(&bytes).unwrap(), rows);
    }

    #[test]
    fn every_truncation_and_a_bad_flag_are_refused_without_panicking() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    LayerRows::decode(&bytes[..cut]),
                    Err(VaultError::InvalidPack(_))
                ),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(LayerRows::decode(&extra).is_err());
        let mut flipped = bytes;
        flipped[MAGIC.len()] = 7;
        assert!(LayerRows::decode(&flipped).is_err());
    }
}
