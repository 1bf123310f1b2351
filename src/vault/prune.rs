//! Pruning: dropping old automatic checkpoints and old file versions by count
//! and age. Named checkpoints are only touched when asked; the newest version
//! of a path (its current content) is never dropped. What pruning unreferences
//! is freed by the next `gc`.

use super::error::{Result, VaultError};
use super::journal::{self, Op};
use super::layer;
use super::store::{Store, now_ns};
use rusqlite::{OptionalExtension, params};

/// What to prune; `None` leaves that dimension alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct PruneRules {
    /// Keep only the newest this-many checkpoints the rules apply to.
    pub keep_checkpoints: Option<u64>,
    /// Drop checkpoints taken before this time (ns since the epoch).
    pub checkpoints_before_ns: Option<i64>,
    /// Apply the checkpoint rules to named checkpoints too, not only automatic ones.
    pub named: bool,
    /// Keep only the newest this-many versions of each path.
    pub keep_versions: Option<u64>,
    /// Drop versions made before this time (the newest of a path always stays).
    pub versions_before_ns: Option<i64>,
}

impl PruneRules {
    fn prunes_checkpoints(&self) -> bool {
        self.keep_checkpoints.is_some() || self.checkpoints_before_ns.is_some()
    }

    fn prunes_versions(&self) -> bool {
        self.keep_versions.is_some() || self.versions_before_ns.is_some()
    }
}

/// What a prune removed (or, dry, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Names of the checkpoints removed, oldest first.
    pub checkpoints: Vec<String>,
    /// Version rows removed.
    pub versions: u64,
}

impl Store {
    /// Prunes one vault's checkpoints and the versions along its head's chain
    /// (which forks and checkpoints may share). Journaled as `prune` unless dry.
    pub fn prune(&mut self, vault: &str, rules: &PruneRules, dry_run: bool) -> Result<PruneReport> {
        let now = now_ns();
        let tx = self.begin_write()?;
        let (id, top): (i64, i64) = tx
            .query_row(
                "SELECT id, top_layer FROM vaults WHERE name = ?1",
                [vault],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| VaultError::VaultNotFound(vault.to_string()))?;
        let mut report = PruneReport::default();
        if rules.prunes_checkpoints() {
            // Newest first, so the first `keep` candidates are the ones kept.
            let candidates: Vec<(String, i64)> = tx
                .prepare("SELECT name, created_ns FROM checkpoints WHERE vault_id = ?1 AND (auto OR ?2) ORDER BY id DESC")?
                .query_map(params![id, rules.named], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let keep = rules.keep_checkpoints.unwrap_or(u64::MAX);
            let before = rules.checkpoints_before_ns.unwrap_or(i64::MIN);
            for (i, (name, created)) in candidates.into_iter().enumerate() {
                if i as u64 >= keep || created < before {
                    report.checkpoints.push(name);
                }
            }
            report.checkpoints.reverse();
            for name in &report.checkpoints {
                tx.execute(
                    "DELETE FROM checkpoints WHERE vault_id = ?1 AND name = ?2",
                    params![id, name],
                )?;
            }
        }
        if rules.prunes_versions() {
            layer::ensure_chain(&tx, top)?;
            let keep = rules
                .keep_versions
                .unwrap_or(u64::MAX)
                .clamp(1, i64::MAX as u64) as i64;
            report.versions = tx.execute(
                "DELETE FROM versions WHERE id IN (
                   SELECT id FROM (
                     SELECT id, time_ns, row_number() OVER (PARTITION BY parent, name ORDER BY version DESC) AS rn
                     FROM versions v
                     WHERE EXISTS (SELECT 1 FROM temp.chain c WHERE c.top = ?1 AND c.layer = v.layer))
                   WHERE rn > 1 AND (rn > ?2 OR time_ns < ?3))",
                params![top, keep, rules.versions_before_ns.unwrap_or(i64::MIN)],
            )? as u64;
        }
        if dry_run {
            tx.rollback()?;
            return Ok(report);
        }
        let detail = format!(
            "{} checkpoints ({}), {} versions",
            report.checkpoints.len(),
            report.checkpoints.join(" "),
            report.versions
        );
        journal::append(&tx, now, Some(vault), &Op::new("prune", detail))?;
        tx.commit()?;
        Ok(report)
    }
}
