//! Export and import of frozen layers and chunks: the store's side of remotes.
//!
//! A frozen layer travels as a pack ([`super::pack`]) named by the BLAKE3 of
//! its bytes; a pack names its parent by the parent's pack hash, so a pack
//! hash names a whole state. `remote_layers` remembers which local layer each
//! pack hash is, in both directions (exported and imported), which makes a
//! second export of the same layer free and lets a pull recognise the layers
//! it already has. The store knows nothing of where packs and chunks go.
//!
//! Invariant: nothing unverified enters the store. An imported pack must hash
//! to its name, every content it describes must hash to its content hash, and
//! every chunk's bytes to the chunk's hash. A chunk row whose bytes have not
//! been fetched yet (lazy clone) has empty `data` (docs/format.md, rule 6).

use super::content::{CHUNK_SIZE, ContentHash, ContentHasher, INLINE_MAX};
use super::error::{Result, VaultError};
use super::journal::{self, Op};
use super::layer;
use super::pack::{ContentBody, ContentRow, DirentRow, InodeRow, LayerRows, VersionRow, XattrRow};
use super::path::validate_name;
use super::store::{
    Checkpoint, Store, VaultInfo, checkpoint_row, now_ns, validate_label, vault_row,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// The BLAKE3 of a pack's bytes.
pub type PackHash = [u8; 32];

/// One packed frozen layer.
#[derive(Clone, Debug)]
pub struct Pack {
    /// Its name: the BLAKE3 of `bytes`.
    pub hash: PackHash,
    /// The packed rows.
    pub bytes: Vec<u8>,
}

/// A chunk a layer's contents use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// BLAKE3 of the chunk's bytes.
    pub hash: [u8; 32],
    /// Its length in bytes.
    pub size: u64,
}

/// A checkpoint to create on an imported state.
#[derive(Clone, Debug)]
pub struct ImportedCheckpoint {
    /// Its name.
    pub name: String,
    /// The local layer (imported) holding its state.
    pub layer: i64,
    /// Its message.
    pub message: Option<String>,
    /// Whether avfs took it by itself.
    pub auto: bool,
    /// When it was first taken.
    pub created_ns: i64,
}

fn hash_blob(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| VaultError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

fn opt_hash(bytes: Option<Vec<u8>>) -> Result<Option<[u8; 32]>> {
    bytes.map(|b| hash_blob(&b)).transpose()
}

/// The pack hash recorded for a local layer.
fn mapped_hash(conn: &Connection, layer: i64) -> Result<Option<PackHash>> {
    let hash: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hash FROM remote_layers WHERE layer = ?1")?
        .query_row([layer], |r| r.get(0))
        .optional()?;
    opt_hash(hash)
}

/// The local layer recorded for a pack hash.
fn mapped_layer(conn: &Connection, hash: &PackHash) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT layer FROM remote_layers WHERE hash = ?1")?
        .query_row([&hash[..]], |r| r.get(0))
        .optional()?)
}

/// Reads one frozen layer's rows in key order.
fn read_rows(conn: &Connection, layer: i64, parent: Option<PackHash>) -> Result<LayerRows> {
    let usage: (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT usage_files, usage_bytes FROM layers WHERE id = ?1",
        [layer],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut rows = LayerRows {
        parent,
        usage: usage.0.zip(usage.1),
        ..LayerRows::default()
    };
    let mut stmt = conn.prepare_cached(
        "SELECT parent, name, child FROM dirents WHERE layer = ?1 ORDER BY parent, name",
    )?;
    for row in stmt.query_map([layer], |r| {
        Ok(DirentRow {
            parent: r.get(0)?,
            name: r.get(1)?,
            child: r.get(2)?,
        })
    })? {
        rows.dirents.push(row?);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT ino, kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target,
                COALESCE(atime_ns, mtime_ns), rdev
         FROM inodes WHERE layer = ?1 ORDER BY ino",
    )?;
    let raw = stmt.query_map([layer], |r| {
        Ok((
            [
                r.get::<_, i64>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ],
            r.get::<_, Option<Vec<u8>>>(9)?,
            r.get::<_, Option<Vec<u8>>>(10)?,
            [r.get::<_, i64>(11)?, r.get::<_, i64>(12)?],
        ))
    })?;
    for row in raw {
        let (v, content, target, [atime_ns, rdev]) = row?;
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
            content: opt_hash(content)?,
            target,
            atime_ns,
            rdev,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT ino, name, value FROM xattrs WHERE layer = ?1 ORDER BY ino, name",
    )?;
    for row in stmt.query_map([layer], |r| {
        Ok(XattrRow {
            ino: r.get(0)?,
            name: r.get(1)?,
            value: r.get(2)?,
        })
    })? {
        rows.xattrs.push(row?);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT parent, name, version, ino, content, size, time_ns, source
         FROM versions WHERE layer = ?1 ORDER BY id",
    )?;
    let raw = stmt.query_map([layer], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    for row in raw {
        let (parent, name, version, ino, content, size, time_ns, source) = row?;
        rows.versions.push(VersionRow {
            parent,
            name,
            version,
            ino,
            content: opt_hash(content)?,
            size,
            time_ns,
            source: source.into_bytes(),
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT c.hash, c.size, c.data FROM contents c
         WHERE c.hash IN (SELECT content FROM inodes WHERE layer = ?1 AND content IS NOT NULL
                          UNION SELECT content FROM versions WHERE layer = ?1 AND content IS NOT NULL)
         ORDER BY c.hash",
    )?;
    let raw: Vec<(Vec<u8>, i64, Option<Vec<u8>>)> = stmt
        .query_map([layer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut chunk_list = conn.prepare_cached(
        "SELECT cc.idx, c.hash FROM content_chunks cc JOIN chunks c ON c.id = cc.chunk
         WHERE cc.content = ?1 ORDER BY cc.idx",
    )?;
    for (hash, size, inline) in raw {
        let body = match inline {
            Some(data) => ContentBody::Inline(data),
            None => ContentBody::Chunks(
                chunk_list
                    .query_map([&hash], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })?
                    .map(|row| {
                        let (idx, h) = row?;
                        Ok((idx as u64, hash_blob(&h)?))
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        rows.contents.push(ContentRow {
            hash: hash_blob(&hash)?,
            size,
            body,
        });
    }
    Ok(rows)
}

/// Checks a content description against its hash (docs/format.md, "Content hash").
fn verify_content(c: &ContentRow) -> Result<()> {
    let bad = |why: &str| {
        Err(VaultError::InvalidPack(format!(
            "content {}: {why}",
            hex::encode(c.hash)
        )))
    };
    if c.size < 0 {
        return bad("negative size");
    }
    let computed = match &c.body {
        ContentBody::Inline(data) => {
            if data.len() as i64 != c.size || data.len() > INLINE_MAX {
                return bad("inline bytes of the wrong length");
            }
            ContentHash::of_bytes(data)
        }
        ContentBody::Chunks(chunks) => {
            // Holes are not listed: indices grow and stay below the chunk count.
            let count = (c.size as u64).div_ceil(CHUNK_SIZE as u64);
            let mut hasher = ContentHasher::default();
            let mut previous = None;
            for (idx, h) in chunks {
                if *idx >= count || previous.is_some_and(|p| p >= *idx) {
                    return bad("chunk indices out of order or past its size");
                }
                previous = Some(*idx);
                hasher.chunk(*idx, h);
            }
            hasher.finish(c.size as u64)
        }
    };
    if computed.0 != c.hash {
        return bad("does not match its hash");
    }
    Ok(())
}

/// Inserts one verified pack's rows as a new frozen layer on `parent`.
fn insert_layer(conn: &Connection, rows: &LayerRows, parent: Option<i64>, now: i64) -> Result<i64> {
    let id = layer::create(conn, parent, now)?;
    for c in &rows.contents {
        verify_content(c)?;
        match &c.body {
            ContentBody::Inline(data) => {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![&c.hash[..], c.size, data])?;
            }
            ContentBody::Chunks(chunks) => {
                let inserted = conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO contents(hash, size, data) VALUES (?1, ?2, NULL)",
                    )?
                    .execute(params![&c.hash[..], c.size])?;
                if inserted == 0 {
                    continue;
                }
                for &(idx, ref h) in chunks {
                    let len = (c.size as u64 - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64);
                    // Bytes not fetched yet: an empty `data` (filled by a
                    // download or on first read).
                    conn.prepare_cached(
                        "INSERT OR IGNORE INTO chunks(hash, size, data) VALUES (?1, ?2, x'')",
                    )?
                    .execute(params![&h[..], len as i64])?;
                    conn.prepare_cached(
                        "INSERT INTO content_chunks(content, idx, chunk)
                         SELECT ?1, ?2, id FROM chunks WHERE hash = ?3",
                    )?
                    .execute(params![&c.hash[..], idx as i64, &h[..]])?;
                }
            }
        }
    }
    let has_content = |h: &[u8; 32]| -> Result<()> {
        let known: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM contents WHERE hash = ?1)")?
            .query_row([&h[..]], |r| r.get(0))?;
        if known {
            Ok(())
        } else {
            Err(VaultError::InvalidPack(format!(
                "names content {} it does not describe",
                hex::encode(h)
            )))
        }
    };
    for d in &rows.dirents {
        validate_name(&d.name).map_err(|e| VaultError::InvalidPack(e.to_string()))?;
        conn.prepare_cached(
            "INSERT INTO dirents(parent, name, layer, child) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![d.parent, d.name, id, d.child])?;
    }
    for i in &rows.inodes {
        if !(0..=7).contains(&i.kind) || i.ino < 1 {
            return Err(VaultError::InvalidPack(format!("bad inode {}", i.ino)));
        }
        if let Some(h) = &i.content {
            has_content(h)?;
        }
        conn.prepare_cached(
            "INSERT INTO inodes(ino, layer, kind, mode, uid, gid, size, mtime_ns, ctime_ns, nlink, content, target,
                                atime_ns, rdev)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            i.ino,
            id,
            i.kind,
            i.mode,
            i.uid,
            i.gid,
            i.size,
            i.mtime_ns,
            i.ctime_ns,
            i.nlink,
            i.content.as_ref().map(|h| &h[..]),
            i.target,
            i.atime_ns,
            i.rdev
        ])?;
    }
    for x in &rows.xattrs {
        conn.prepare_cached("INSERT INTO xattrs(ino, name, layer, value) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![x.ino, x.name, id, x.value])?;
    }
    for v in &rows.versions {
        if let Some(h) = &v.content {
            has_content(h)?;
        }
        let source = String::from_utf8(v.source.clone())
            .map_err(|_| VaultError::InvalidPack("version source is not UTF-8".into()))?;
        conn.prepare_cached(
            "INSERT INTO versions(layer, parent, name, version, ino, content, size, time_ns, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            id,
            v.parent,
            v.name,
            v.version,
            v.ino,
            v.content.as_ref().map(|h| &h[..]),
            v.size,
            v.time_ns,
            source
        ])?;
    }
    if let Some((files, bytes)) = rows.usage {
        conn.execute(
            "UPDATE layers SET usage_files = ?1, usage_bytes = ?2 WHERE id = ?3",
            params![files, bytes, id],
        )?;
    }
    layer::freeze(conn, id)?;
    // Inode numbers are allocated store-wide: new files must never reuse one
    // an imported state already has.
    let max_ino = rows
        .inodes
        .iter()
        .map(|i| i.ino)
        .chain(rows.dirents.iter().filter_map(|d| d.child))
        .max()
        .unwrap_or(0);
    conn.prepare_cached("UPDATE meta SET value = max(value, ?1 + 1) WHERE key = 'next_ino'")?
        .execute([max_ino])?;
    Ok(id)
}

impl Store {
    /// Freezes a vault's head (as a checkpoint would, without a name) and
    /// returns the frozen layer that stands for it. O(1).
    pub fn freeze_head(&mut self, vault: &str) -> Result<i64> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        let sealed = Self::seal_top(&tx, &row, now)?;
        tx.commit()?;
        Ok(sealed)
    }

    /// The layers under (and including) `layer`, top first.
    pub fn layer_chain(&self, layer: i64) -> Result<Vec<i64>> {
        layer::chain(self.connection(), layer)
    }

    /// The pack hash of a local layer, if it was packed or imported.
    pub fn pack_hash(&self, layer: i64) -> Result<Option<PackHash>> {
        mapped_hash(self.connection(), layer)
    }

    /// The local layer a pack hash names, if this store has it.
    pub fn layer_of_pack(&self, hash: &PackHash) -> Result<Option<i64>> {
        mapped_layer(self.connection(), hash)
    }

    /// Packs a frozen layer whose parent is packed already (pack a chain
    /// bottom-up) and records its hash. Deterministic: packing again gives the
    /// same bytes.
    pub fn pack_layer(&mut self, layer: i64) -> Result<Pack> {
        let conn = self.connection();
        let frozen: bool = conn
            .query_row("SELECT frozen FROM layers WHERE id = ?1", [layer], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| VaultError::Corrupt(format!("layer {layer} does not exist")))?;
        if !frozen {
            return Err(VaultError::Corrupt(format!(
                "layer {layer} is mutable and cannot be packed"
            )));
        }
        let parent = match layer::parent(conn, layer)? {
            Some(p) => Some(mapped_hash(conn, p)?.ok_or_else(|| {
                VaultError::Corrupt(format!("layer {p} must be packed before its child"))
            })?),
            None => None,
        };
        let bytes = read_rows(conn, layer, parent)?.encode();
        let hash = *blake3::hash(&bytes).as_bytes();
        match mapped_hash(conn, layer)? {
            Some(known) if known == hash => {}
            Some(_) => {
                return Err(VaultError::Corrupt(format!(
                    "frozen layer {layer} no longer packs to its recorded hash"
                )));
            }
            None => {
                let tx = self.begin_write()?;
                tx.execute(
                    "INSERT OR IGNORE INTO remote_layers(layer, hash) VALUES (?1, ?2)",
                    params![layer, &hash[..]],
                )?;
                tx.commit()?;
            }
        }
        Ok(Pack { hash, bytes })
    }

    /// The chunks a layer's own rows (files and versions) use, each once.
    pub fn layer_chunks(&self, layer: i64) -> Result<Vec<ChunkRef>> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT DISTINCT c.hash, c.size FROM content_chunks cc JOIN chunks c ON c.id = cc.chunk
             WHERE cc.content IN (SELECT content FROM inodes WHERE layer = ?1 AND content IS NOT NULL
                                  UNION SELECT content FROM versions WHERE layer = ?1 AND content IS NOT NULL)",
        )?;
        let rows = stmt.query_map([layer], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })?;
        rows.map(|row| {
            let (hash, size) = row?;
            Ok(ChunkRef {
                hash: hash_blob(&hash)?,
                size: size as u64,
            })
        })
        .collect()
    }

    /// Chunks the given layers use whose bytes this store does not have.
    pub fn absent_chunks(&self, layers: &[i64]) -> Result<Vec<ChunkRef>> {
        let mut seen = HashMap::new();
        for &l in layers {
            for c in self.layer_chunks(l)? {
                seen.entry(c.hash).or_insert(c);
            }
        }
        let mut stmt = self.connection().prepare_cached(
            "SELECT length(data) = 0 AND segment IS NULL FROM chunks WHERE hash = ?1",
        )?;
        let mut out = Vec::new();
        for c in seen.into_values() {
            let absent: bool = stmt.query_row([&c.hash[..]], |r| r.get(0))?;
            if absent {
                out.push(c);
            }
        }
        out.sort_by_key(|c| c.hash);
        Ok(out)
    }

    /// A chunk's bytes, if the store has them (unchecked: the caller checks the hash).
    pub fn chunk_bytes(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let conn = self.connection();
        let row = conn
            .prepare_cached("SELECT data, segment, seg_offset, size FROM chunks WHERE hash = ?1")?
            .query_row([&hash[..]], super::content::ChunkRow::from_row)
            .optional()?;
        match row {
            Some(row) => row.bytes(conn),
            None => Ok(None),
        }
    }

    /// Stores fetched chunk bytes, after checking each against its hash, in
    /// one transaction. A chunk that does not match stores nothing at all.
    pub fn fill_chunks(&mut self, chunks: &[([u8; 32], Vec<u8>)]) -> Result<()> {
        for (hash, bytes) in chunks {
            if blake3::hash(bytes).as_bytes() != hash {
                return Err(VaultError::InvalidPack(format!(
                    "chunk {} does not match its hash",
                    hex::encode(hash)
                )));
            }
        }
        let tx = self.begin_write()?;
        for (hash, bytes) in chunks {
            super::content::keep_chunk(&tx, hash, bytes)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Imports packs (parents before children; packs this store already has
    /// are skipped) as frozen layers, in one transaction. Each pack must hash
    /// to its name and name a parent that is in the store or earlier in
    /// `packs`. Returns the local layer of each pack. Chunk bytes are not part
    /// of a pack: their rows start empty until [`Store::fill_chunks`].
    pub fn import_packs(&mut self, packs: &[Pack]) -> Result<Vec<i64>> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let mut out = Vec::with_capacity(packs.len());
        for pack in packs {
            if blake3::hash(&pack.bytes).as_bytes() != &pack.hash {
                return Err(VaultError::InvalidPack(format!(
                    "layer {} does not match its hash",
                    hex::encode(pack.hash)
                )));
            }
            if let Some(id) = mapped_layer(&tx, &pack.hash)? {
                out.push(id);
                continue;
            }
            let rows = LayerRows::decode(&pack.bytes)?;
            let parent = match &rows.parent {
                Some(h) => Some(mapped_layer(&tx, h)?.ok_or_else(|| {
                    VaultError::InvalidPack(format!(
                        "layer {} names a parent {} that is missing",
                        hex::encode(pack.hash),
                        hex::encode(h)
                    ))
                })?),
                None => None,
            };
            let id = insert_layer(&tx, &rows, parent, now)?;
            tx.execute(
                "INSERT INTO remote_layers(layer, hash) VALUES (?1, ?2)",
                params![id, &pack.hash[..]],
            )?;
            out.push(id);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Creates vault `name` standing on an imported frozen layer, with the
    /// given checkpoints, journaled as `op`.
    pub fn create_vault_on(
        &mut self,
        name: &str,
        layer_id: i64,
        checkpoints: &[ImportedCheckpoint],
        op: Op,
    ) -> Result<VaultInfo> {
        validate_label(name)?;
        let now = now_ns();
        let tx = self.begin_write()?;
        if vault_row(&tx, name).is_ok() {
            return Err(VaultError::VaultExists(name.to_string()));
        }
        let top = layer::create(&tx, Some(layer_id), now)?;
        tx.execute(
            "INSERT INTO vaults(name, top_layer, created_ns, usage_files, usage_bytes)
             SELECT ?1, ?2, ?3, usage_files, usage_bytes FROM layers WHERE id = ?4",
            params![name, top, now, layer_id],
        )?;
        let id = tx.last_insert_rowid();
        for c in checkpoints {
            validate_label(&c.name)?;
            Self::insert_checkpoint(
                &tx,
                id,
                &c.name,
                c.layer,
                c.message.as_deref(),
                c.auto,
                c.created_ns,
            )?;
        }
        journal::append(&tx, now, Some(name), &op)?;
        tx.commit()?;
        self.vault_info(name)
    }

    /// Moves a vault's head onto an imported frozen layer, provided the vault
    /// still stands exactly on `expected` (frozen, with nothing written since):
    /// a fast-forward. Adds the checkpoints it does not have by name and
    /// returns the names it added.
    pub fn fast_forward(
        &mut self,
        vault: &str,
        expected: i64,
        target: i64,
        checkpoints: &[ImportedCheckpoint],
        op: Op,
    ) -> Result<Vec<String>> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        let stands_on_expected = row.top == expected
            || (layer::is_empty(&tx, row.top)? && layer::parent(&tx, row.top)? == Some(expected));
        if !stands_on_expected {
            return Err(VaultError::HeadMoved(vault.to_string()));
        }
        if target != expected {
            let top = layer::create(&tx, Some(target), now)?;
            tx.execute(
                "UPDATE vaults SET top_layer = ?1 WHERE id = ?2",
                [top, row.id],
            )?;
            super::quota::adopt_usage(&tx, row.id, target)?;
            if row.top != expected {
                tx.execute("DELETE FROM layers WHERE id = ?1", [row.top])?;
            }
        }
        let mut added = Vec::new();
        for c in checkpoints {
            if checkpoint_row(&tx, vault, &c.name).is_ok() {
                continue;
            }
            validate_label(&c.name)?;
            Self::insert_checkpoint(
                &tx,
                row.id,
                &c.name,
                c.layer,
                c.message.as_deref(),
                c.auto,
                c.created_ns,
            )?;
            added.push(c.name.clone());
        }
        journal::append(&tx, now, Some(vault), &op)?;
        tx.commit()?;
        Ok(added)
    }

    /// A vault's checkpoints with their frozen layers, for export.
    pub fn checkpoints_for_export(&self, vault: &str) -> Result<Vec<Checkpoint>> {
        self.checkpoints(vault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{Owner, StateRef, VaultPath};
    use std::io::Read;

    fn read(store: &mut Store, vault: &str, path: &str) -> Vec<u8> {
        let mut out = Vec::new();
        store
            .read(
                &StateRef::Head {
                    vault: vault.into(),
                },
                |t| {
                    let p = VaultPath::parse_str(path)?;
                    t.open(&t.stat(&p)?)?.read_to_end(&mut out)?;
                    Ok(())
                },
            )
            .unwrap();
        out
    }

    fn write(store: &mut Store, vault: &str, path: &str, data: &[u8]) {
        let p = VaultPath::parse_str(path).unwrap();
        store
            .write(vault, Op::new("write", path), |w| {
                w.write_file(&p, data, false, 0o644)
            })
            .unwrap();
    }

    /// Packs a vault's head chain bottom-up, as a push does.
    fn export(store: &mut Store, vault: &str) -> (Vec<Pack>, Vec<ChunkRef>) {
        let top = store.freeze_head(vault).unwrap();
        let mut chain = store.layer_chain(top).unwrap();
        chain.reverse();
        let mut packs = Vec::new();
        let mut chunks = Vec::new();
        for l in chain {
            packs.push(store.pack_layer(l).unwrap());
            chunks.extend(store.layer_chunks(l).unwrap());
        }
        (packs, chunks)
    }

    #[test]
    fn a_vault_travels_to_another_store_byte_for_byte_and_verified() {
        let mut a = Store::open_in_memory(Owner::default()).unwrap();
        a.create_vault("v").unwrap();
        let big: Vec<u8> = (0..CHUNK_SIZE * 2 + 99).map(|i| (i % 241) as u8).collect();
        write(&mut a, "v", "/small", b"hello");
        write(&mut a, "v", "/big", &big);
        let (packs, chunks) = export(&mut a, "v");
        assert_eq!(
            export(&mut a, "v").0.len(),
            packs.len(),
            "nothing new to pack"
        );

        let mut b = Store::open_in_memory(Owner::default()).unwrap();
        // Some unrelated inode numbers on b: allocation must continue above both.
        b.create_vault("other").unwrap();
        let layers = b.import_packs(&packs).unwrap();
        assert_eq!(b.import_packs(&packs).unwrap(), layers, "idempotent");
        let top = *layers.last().unwrap();
        let absent = b.absent_chunks(&layers).unwrap();
        assert_eq!(absent.len(), 3);
        let mut bad = a.chunk_bytes(&absent[0].hash).unwrap().unwrap();
        bad[0] ^= 1;
        assert!(matches!(
            b.fill_chunks(&[(absent[0].hash, bad)]),
            Err(VaultError::InvalidPack(_))
        ));
        let fetched: Vec<_> = chunks
            .iter()
            .map(|c| (c.hash, a.chunk_bytes(&c.hash).unwrap().unwrap()))
            .collect();
        b.fill_chunks(&fetched).unwrap();
        assert!(b.absent_chunks(&layers).unwrap().is_empty());
        b.create_vault_on("v", top, &[], Op::new("vault.clone", "v"))
            .unwrap();
        assert_eq!(read(&mut b, "v", "/small"), b"hello");
        assert!(read(&mut b, "v", "/big") == big);
        write(&mut b, "v", "/new", b"new");
        let inos: Vec<i64> = b
            .connection()
            .prepare("SELECT DISTINCT ino FROM inodes")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut sorted = inos.clone();
        sorted.dedup();
        assert_eq!(inos.len(), sorted.len());
        let new_ino: i64 = b
            .read(&StateRef::Head { vault: "v".into() }, |t| {
                Ok(t.stat(&VaultPath::parse_str("/new")?)?.ino as i64)
            })
            .unwrap();
        let big_ino: i64 = b
            .read(&StateRef::Head { vault: "v".into() }, |t| {
                Ok(t.stat(&VaultPath::parse_str("/big")?)?.ino as i64)
            })
            .unwrap();
        assert!(new_ino > big_ino, "new inodes come after imported ones");

        // A tampered pack is refused and leaves nothing behind.
        let mut c = Store::open_in_memory(Owner::default()).unwrap();
        let mut tampered = packs.clone();
        tampered[0].bytes[20] ^= 1;
        assert!(matches!(
            c.import_packs(&tampered),
            Err(VaultError::InvalidPack(_))
        ));
        let layers: i64 = c
            .connection()
            .query_row("SELECT count(*) FROM layers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(layers, 0);
    }

    #[test]
    fn fast_forward_refuses_a_vault_written_since() {
        let mut a = Store::open_in_memory(Owner::default()).unwrap();
        a.create_vault("v").unwrap();
        write(&mut a, "v", "/f", b"1");
        let base = a.freeze_head("v").unwrap();
        write(&mut a, "v", "/f", b"2");
        let next = a.freeze_head("v").unwrap();
        let err = a
            .fast_forward("v", base, next, &[], Op::new("remote.pull", "x"))
            .unwrap_err();
        assert!(matches!(err, VaultError::HeadMoved(_)));
        a.fast_forward("v", next, base, &[], Op::new("remote.pull", "x"))
            .unwrap();
        assert_eq!(read(&mut a, "v", "/f"), b"1");
    }
}
