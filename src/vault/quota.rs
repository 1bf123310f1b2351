//! Quotas: per-vault limits on logical bytes, number of entries and file size,
//! enforced inside every write transaction (so the CLI, the mount and the
//! proxy all meet them), and the usage counters that make the check O(1).
//!
//! A vault's head keeps `usage_files` / `usage_bytes`, moved by each write's
//! delta; a layer, when frozen, keeps the usage of its state, so a restore or
//! a fork knows its usage without counting. NULL means "not known" (a store
//! from before version 2): counted once, by a walk, when a quota needs it.

use super::error::{Result, VaultError};
use super::path::VaultPath;
use super::store::Store;
use super::tree::{Kind, Tree};
use rusqlite::{Connection, OptionalExtension, params};

/// A vault's limits; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes all files together may hold (hard links count once).
    pub max_bytes: Option<u64>,
    /// Most entries (files, directories, symlinks; `/` not counted).
    pub max_files: Option<u64>,
    /// Largest size one file may have.
    pub max_file_size: Option<u64>,
}

impl Limits {
    /// True when nothing is limited.
    pub fn is_unlimited(&self) -> bool {
        *self == Limits::default()
    }

    /// Refuses a file content larger than the per-file limit.
    pub(crate) fn check_file_size(&self, size: u64) -> Result<()> {
        match self.max_file_size {
            Some(limit) if size > limit => Err(VaultError::FileTooLarge { size, limit }),
            _ => Ok(()),
        }
    }
}

/// What a vault's head uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries, `/` not counted.
    pub files: u64,
    /// Bytes of all files, hard links once.
    pub bytes: u64,
}

fn to_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

/// The limits of vault `vault_id` (none if it has no quota).
pub(crate) fn load(conn: &Connection, vault_id: i64) -> Result<Limits> {
    Ok(conn
        .prepare_cached(
            "SELECT max_bytes, max_files, max_file_size FROM quotas WHERE vault_id = ?1",
        )?
        .query_row([vault_id], |r| {
            let get = |i| r.get::<_, Option<i64>>(i).map(|v| v.map(|v| v as u64));
            Ok(Limits {
                max_bytes: get(0)?,
                max_files: get(1)?,
                max_file_size: get(2)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Counts a state's usage by walking it: O(entries).
pub(crate) fn count(tree: &Tree<'_>) -> Result<Usage> {
    let mut usage = Usage::default();
    let mut seen = std::collections::HashSet::new();
    for (path, attr) in tree.walk(&VaultPath::root())? {
        if path.is_root() || !seen.insert(attr.ino) {
            continue;
        }
        usage.files += 1;
        if attr.kind == Kind::File {
            usage.bytes += attr.size;
        }
    }
    Ok(usage)
}

/// The vault head's usage, counted and remembered if not known.
pub(crate) fn current(conn: &Connection, vault_id: i64, top: i64) -> Result<Usage> {
    let known: Option<(Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT usage_files, usage_bytes FROM vaults WHERE id = ?1")?
        .query_row([vault_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((Some(files), Some(bytes))) = known {
        return Ok(Usage {
            files: files.max(0) as u64,
            bytes: bytes.max(0) as u64,
        });
    }
    let usage = count(&Tree::new(conn, top)?)?;
    conn.prepare_cached("UPDATE vaults SET usage_files = ?1, usage_bytes = ?2 WHERE id = ?3")?
        .execute(params![usage.files as i64, usage.bytes as i64, vault_id])?;
    Ok(usage)
}

/// After a write's changes: moves the head's counters by the write's delta and,
/// if the vault has a quota, refuses a write that grows usage past it (the
/// caller's transaction then rolls everything back).
pub(crate) fn settle(
    conn: &Connection,
    vault: &str,
    vault_id: i64,
    top: i64,
    limits: &Limits,
    (files, bytes): (i64, i64),
) -> Result<()> {
    if (files, bytes) == (0, 0) {
        return Ok(());
    }
    add_usage(conn, vault_id, (files, bytes))?;
    if limits.is_unlimited() {
        return Ok(());
    }
    let usage = current(conn, vault_id, top)?;
    // Only growth is refused: a vault over a lowered quota can still shrink.
    let over = |grew: bool, what, would_be: u64, limit: Option<u64>| match limit {
        Some(limit) if grew && would_be > limit => Err(VaultError::QuotaExceeded {
            vault: vault.to_string(),
            what,
            would_be,
            limit,
        }),
        _ => Ok(()),
    };
    over(files > 0, "files", usage.files, limits.max_files)?;
    over(bytes > 0, "bytes", usage.bytes, limits.max_bytes)
}

/// Moves a vault's usage counters by (files, bytes), unchecked.
pub(crate) fn add_usage(
    conn: &Connection,
    vault_id: i64,
    (files, bytes): (i64, i64),
) -> Result<()> {
    conn.prepare_cached(
        // Sparse files may add up past what an integer holds: the sum then
        // stays at the largest one (SQLite turns an overflowing sum into a REAL,
        // which min() brings back), past any quota anyone can set; a count
        // that saturated is approximate from then on, and never negative.
        "UPDATE vaults SET usage_files = usage_files + ?1,
                usage_bytes = max(0, min(usage_bytes + ?2, 9223372036854775807))
         WHERE id = ?3 AND usage_files IS NOT NULL AND usage_bytes IS NOT NULL",
    )?
    .execute(params![files, bytes, vault_id])?;
    Ok(())
}

/// Refuses a change of a vault's whole state (a fast-forward merge) that
/// grows its usage from `before` to `after` past its limits.
pub(crate) fn check_growth_from(
    vault: &str,
    limits: &Limits,
    before: Usage,
    after: Usage,
) -> Result<()> {
    let over = |what, before: u64, after: u64, limit: Option<u64>| match limit {
        Some(limit) if after > before && after > limit => Err(VaultError::QuotaExceeded {
            vault: vault.to_string(),
            what,
            would_be: after,
            limit,
        }),
        _ => Ok(()),
    };
    over("files", before.files, after.files, limits.max_files)?;
    over("bytes", before.bytes, after.bytes, limits.max_bytes)
}

/// Records a vault's usage on the layer it just froze.
pub(crate) fn freeze_usage(conn: &Connection, vault_id: i64, layer: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE layers SET (usage_files, usage_bytes) =
           (SELECT usage_files, usage_bytes FROM vaults WHERE id = ?1) WHERE id = ?2",
    )?
    .execute(params![vault_id, layer])?;
    Ok(())
}

/// Gives a vault the usage recorded for the layer its head now stands on.
pub(crate) fn adopt_usage(conn: &Connection, vault_id: i64, layer: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE vaults SET (usage_files, usage_bytes) =
           (SELECT usage_files, usage_bytes FROM layers WHERE id = ?2) WHERE id = ?1",
    )?
    .execute(params![vault_id, layer])?;
    Ok(())
}

impl Store {
    /// Sets (replaces) a vault's limits; all `None` removes its quota. Does not
    /// check current usage: a vault already over a new limit can only shrink.
    pub fn set_quota(&mut self, vault: &str, limits: Limits) -> Result<(Limits, Usage)> {
        let now = super::store::now_ns();
        let tx = self.begin_write()?;
        let (id, top) = tx
            .prepare_cached("SELECT id, top_layer FROM vaults WHERE name = ?1")?
            .query_row([vault], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
            .ok_or_else(|| VaultError::VaultNotFound(vault.to_string()))?;
        if limits.is_unlimited() {
            tx.execute("DELETE FROM quotas WHERE vault_id = ?1", [id])?;
        } else {
            tx.execute(
                "INSERT OR REPLACE INTO quotas(vault_id, max_bytes, max_files, max_file_size)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    to_i64(limits.max_bytes),
                    to_i64(limits.max_files),
                    to_i64(limits.max_file_size)
                ],
            )?;
        }
        let usage = current(&tx, id, top)?;
        // The journal is hash-chained and read by people: a stable, plain form.
        let limit = |v: Option<u64>| v.map_or("none".to_string(), |n| n.to_string());
        let (op, detail) = if limits.is_unlimited() {
            ("quota.clear", String::new())
        } else {
            (
                "quota.set",
                format!(
                    "max_bytes={} max_files={} max_file_size={}",
                    limit(limits.max_bytes),
                    limit(limits.max_files),
                    limit(limits.max_file_size)
                ),
            )
        };
        super::journal::append(&tx, now, Some(vault), &super::journal::Op::new(op, detail))?;
        tx.commit()?;
        Ok((limits, usage))
    }

    /// A vault's limits and current usage.
    pub fn quota(&mut self, vault: &str) -> Result<(Limits, Usage)> {
        // A write transaction: an unknown usage is counted and remembered.
        let tx = self.begin_write()?;
        let (id, top) = tx
            .prepare_cached("SELECT id, top_layer FROM vaults WHERE name = ?1")?
            .query_row([vault], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
            .ok_or_else(|| VaultError::VaultNotFound(vault.to_string()))?;
        let limits = load(&tx, id)?;
        let usage = current(&tx, id, top)?;
        tx.commit()?;
        Ok((limits, usage))
    }
}

impl Tree<'_> {
    /// Refuses, before anything is stored, a write that would make file `ino`
    /// `new_size` bytes long past vault `vault`'s quota: the mount calls this
    /// as a write grows a file, so a runaway writer cannot fill the disk with
    /// data it will never be allowed to commit. The check at commit
    /// ([`settle`]) stays the authoritative one; this one reads only, and
    /// skips the byte limit while the vault's usage is not counted yet.
    pub fn check_growth(&self, vault: &str, ino: u64, new_size: u64) -> Result<()> {
        let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT q.max_bytes, q.max_file_size, v.usage_bytes
                 FROM vaults v JOIN quotas q ON q.vault_id = v.id WHERE v.name = ?1",
            )?
            .query_row([vault], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((max_bytes, max_file_size, used)) = row else {
            return Ok(());
        };
        let limits = Limits {
            max_bytes: max_bytes.map(|v| v as u64),
            max_files: None,
            max_file_size: max_file_size.map(|v| v as u64),
        };
        limits.check_file_size(new_size)?;
        if let (Some(limit), Some(used)) = (limits.max_bytes, used) {
            let committed = self.attr(ino)?.map_or(0, |a| a.size);
            let would_be = (used.max(0) as u64).saturating_sub(committed) + new_size;
            if new_size > committed && would_be > limit {
                return Err(VaultError::QuotaExceeded {
                    vault: vault.to_string(),
                    what: "bytes",
                    would_be,
                    limit,
                });
            }
        }
        Ok(())
    }
}
