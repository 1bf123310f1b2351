//! Merging one vault state into another: a fast-forward when the target has
//! not moved since the source's base, else a three-way merge by path.
//!
//! The base is the state the source was forked from (its `base_layer`), or,
//! for a source that is not a fork, the newest layer both chains share. Both
//! sides' changes come from [`diff`](super::diff), so the cost follows the
//! changes on both sides, never the number of files.
//!
//! Per path (`B` base, `O` ours = the target, `T` theirs = the source):
//! changed on one side only, that side wins; changed alike on both, nothing to
//! do; else a file changed on both sides is merged: two appends keep both
//! (ours first), other text is merged line by line when the hunks do not
//! overlap (`diffy`); kind, mode, content and symlink target are resolved
//! separately, each taken from the side that changed it. What is left is a
//! conflict: `content`, `add_add`, `modify_delete`, `type` or `mode`. A path
//! whose directory the other side removed is a conflict at that directory
//! (`modify_delete`, or `type` if a non-directory replaced it).
//!
//! Invariant: a merge is one transaction. With conflicts left (policy
//! `keep`), or in a dry run, it is rolled back: nothing of it is visible.

use super::content::{ContentHash, ContentReader};
use super::diff::{self, Change, EntryState};
use super::error::{Result, VaultError};
use super::journal::{self, Op};
use super::layer;
use super::path::VaultPath;
use super::store::{Checkpoint, Store, checkpoint_row, vault_row};
use super::tree::{Kind, NewNode, Tree, TreeWriter};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::io::Read;

/// Files larger than this (on any side) are not merged line by line: a
/// change on both sides is a conflict, unless both are appends.
pub const TEXT_MERGE_MAX: u64 = 8 << 20;

/// What to do with paths both sides changed differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Apply nothing; report the conflicts.
    Keep,
    /// Conflicting paths keep the target's version; the rest is applied.
    Ours,
    /// Conflicting paths take the source's version.
    Theirs,
}

impl OnConflict {
    /// `keep`, `ours` or `theirs`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::Keep => "keep",
            OnConflict::Ours => "ours",
            OnConflict::Theirs => "theirs",
        }
    }
}

/// Why a path could not be merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConflictKind {
    /// Both changed a file's content (or a symlink's target) and the changes overlap.
    Content,
    /// Both created the path, differently.
    AddAdd,
    /// One side deleted what the other changed (or a directory the other wrote into).
    ModifyDelete,
    /// The sides made it different kinds (file, directory, symlink).
    Type,
    /// Both changed the permission bits, differently.
    Mode,
}

impl ConflictKind {
    /// `content`, `add_add`, `modify_delete`, `type` or `mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Content => "content",
            ConflictKind::AddAdd => "add_add",
            ConflictKind::ModifyDelete => "modify_delete",
            ConflictKind::Type => "type",
            ConflictKind::Mode => "mode",
        }
    }
}

/// One path both sides changed differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The path.
    pub path: VaultPath,
    /// What kind of conflict.
    pub kind: ConflictKind,
    /// What the base had there.
    pub base: Option<EntryState>,
    /// What the target (ours) has there.
    pub ours: Option<EntryState>,
    /// What the source (theirs) has there.
    pub theirs: Option<EntryState>,
}

/// How a merge went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeStatus {
    /// The source has no change since its base: nothing to apply.
    UpToDate,
    /// The target had not moved since the base: it now stands on the source's state.
    FastForward,
    /// Both had changed; the source's changes were merged in.
    Merged,
    /// Conflicts with policy `keep`: nothing was applied.
    Conflict,
}

impl MergeStatus {
    /// `up_to_date`, `fast_forward`, `merged` or `conflict`.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeStatus::UpToDate => "up_to_date",
            MergeStatus::FastForward => "fast_forward",
            MergeStatus::Merged => "merged",
            MergeStatus::Conflict => "conflict",
        }
    }
}

/// The checkpoint a merge keeps of the target just before it applies anything.
#[derive(Clone, Debug)]
pub enum MergeCheckpoint {
    /// None.
    None,
    /// `pre-merge-N`, automatic (none when the source has nothing to merge).
    PreMerge,
    /// This name (or the first free `-2`, `-3`… suffix), automatic, with a message.
    Named {
        /// The name wanted.
        name: String,
        /// Its message.
        message: String,
    },
}

/// What to merge and how.
#[derive(Clone, Debug)]
pub struct MergeRequest {
    /// The vault whose changes are merged (theirs).
    pub source: String,
    /// The vault they are merged into (ours).
    pub target: String,
    /// What to do with conflicts.
    pub on_conflict: OnConflict,
    /// Work everything out, then roll it all back.
    pub dry_run: bool,
    /// The checkpoint to keep when something is applied.
    pub checkpoint: MergeCheckpoint,
    /// Delete the source in the same transaction once merged (a run's attempt).
    pub delete_source: bool,
    /// The journal entry's operation name (`vault.merge`, `proxy.merge`).
    pub journal_op: String,
}

/// What a merge did (or, dry, would do).
#[derive(Clone, Debug)]
pub struct MergeOutcome {
    /// How it went.
    pub status: MergeStatus,
    /// The changes made to the target (for a conflict: none).
    pub applied: Vec<Change>,
    /// What the source changed since the merge base (for a fork: since it
    /// was forked), applied or not: a run's changes without a second diff.
    pub incoming: Vec<Change>,
    /// Paths both sides changed differently (resolved by the policy unless `keep`).
    pub conflicts: Vec<Conflict>,
    /// The checkpoint kept of the target's state before the merge.
    pub checkpoint: Option<Checkpoint>,
}

/// One path's three states and what the merge makes of it.
#[derive(Clone, Debug)]
struct Planned {
    base: Option<EntryState>,
    ours: Option<EntryState>,
    theirs: Option<EntryState>,
    result: Option<EntryState>,
    conflict: Option<ConflictKind>,
}

/// Reads contents for line merges and stores merged ones.
struct Contents<'c> {
    conn: &'c Connection,
}

impl Contents<'_> {
    fn read(&self, hash: &ContentHash) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        ContentReader::open(self.conn, hash)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn store(&self, bytes: &[u8]) -> Result<(ContentHash, u64)> {
        let mut writer = super::content::ContentWriter::new(self.conn);
        writer.write_all(bytes)?;
        writer.finish()
    }
}

/// The line-level merge of three file contents, `None` when it conflicts.
/// Two appends keep both, ours first; text (UTF-8, no NUL) is merged by
/// `diffy` when no hunks overlap; anything else conflicts.
pub fn merge_bytes(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    if ours.starts_with(base) && theirs.starts_with(base) {
        let mut out = ours.to_vec();
        out.extend_from_slice(&theirs[base.len()..]);
        return Some(out);
    }
    let (b, o, t) = (as_text(base)?, as_text(ours)?, as_text(theirs)?);
    diffy::merge(b, o, t).ok().map(String::into_bytes)
}

/// The bytes as text, if they are UTF-8 without NUL.
fn as_text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.contains('\0'))
}

/// The one value of three that changed, or `None` when both sides changed it differently.
fn pick<T: PartialEq + Clone>(base: Option<&T>, ours: &T, theirs: &T) -> Option<T> {
    if Some(ours) == base || ours == theirs {
        Some(theirs.clone())
    } else if Some(theirs) == base {
        Some(ours.clone())
    } else {
        None
    }
}

/// Resolves one path both sides changed differently; `Err` names the conflict.
fn resolve_both(
    base: Option<&EntryState>,
    ours: Option<&EntryState>,
    theirs: Option<&EntryState>,
    contents: &Contents<'_>,
) -> Result<std::result::Result<Option<EntryState>, ConflictKind>> {
    let (Some(o), Some(t)) = (ours, theirs) else {
        return Ok(Err(if base.is_none() {
            ConflictKind::AddAdd
        } else {
            ConflictKind::ModifyDelete
        }));
    };
    let Some(b) = base else {
        return Ok(Err(ConflictKind::AddAdd));
    };
    if o.kind != t.kind {
        return Ok(Err(ConflictKind::Type));
    }
    let same_kind = (b.kind == o.kind).then_some(b);
    let Some(mode) = pick(same_kind.map(|b| &b.mode), &o.mode, &t.mode) else {
        return Ok(Err(ConflictKind::Mode));
    };
    let mut out = o.clone();
    out.mode = mode;
    match o.kind {
        Kind::Dir => {}
        // A device's number is its content; fifos and sockets have none.
        Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice => {
            let Some(rdev) = pick(same_kind.map(|b| &b.rdev), &o.rdev, &t.rdev) else {
                return Ok(Err(ConflictKind::Content));
            };
            out.rdev = rdev;
        }
        Kind::Symlink => {
            let Some(target) = pick(same_kind.map(|b| &b.target), &o.target, &t.target) else {
                return Ok(Err(ConflictKind::Content));
            };
            out.size = target.as_ref().map_or(0, |t| t.len() as u64);
            out.target = target;
        }
        Kind::File => {
            let base_content = same_kind.map(|b| (b.content, b.size));
            match pick(
                base_content.as_ref(),
                &(o.content, o.size),
                &(t.content, t.size),
            ) {
                Some((content, size)) => (out.content, out.size) = (content, size),
                None => {
                    let Some(b) = same_kind else {
                        return Ok(Err(ConflictKind::Content));
                    };
                    if [b.size, o.size, t.size].iter().any(|s| *s > TEXT_MERGE_MAX) {
                        return Ok(Err(ConflictKind::Content));
                    }
                    let read = |s: &EntryState| match &s.content {
                        Some(h) => contents.read(h),
                        None => Ok(Vec::new()),
                    };
                    let Some(merged) = merge_bytes(&read(b)?, &read(o)?, &read(t)?) else {
                        return Ok(Err(ConflictKind::Content));
                    };
                    let (hash, size) = contents.store(&merged)?;
                    out.content = Some(hash);
                    out.size = size;
                }
            }
        }
    }
    Ok(Ok(Some(out)))
}

/// Every path either side changed, with its three states, resolved per
/// path; and the changes of theirs alone.
fn plan_paths(
    conn: &Connection,
    base: i64,
    ours_top: i64,
    theirs_top: i64,
    contents: &Contents<'_>,
) -> Result<(BTreeMap<VaultPath, Planned>, Vec<Change>)> {
    let mut plan: BTreeMap<VaultPath, Planned> = BTreeMap::new();
    for c in diff::diff(conn, base, ours_top, &[])? {
        let planned = Planned {
            base: c.before.clone(),
            ours: c.after,
            theirs: c.before,
            result: None,
            conflict: None,
        };
        plan.insert(c.path, planned);
    }
    let incoming = diff::diff(conn, base, theirs_top, &[])?;
    for c in &incoming {
        match plan.get_mut(&c.path) {
            Some(p) => p.theirs = c.after.clone(),
            None => {
                let planned = Planned {
                    base: c.before.clone(),
                    ours: c.before.clone(),
                    theirs: c.after.clone(),
                    result: None,
                    conflict: None,
                };
                plan.insert(c.path.clone(), planned);
            }
        }
    }
    for p in plan.values_mut() {
        if p.ours == p.base || p.ours == p.theirs {
            p.result = p.theirs.clone();
        } else if p.theirs == p.base {
            p.result = p.ours.clone();
        } else {
            match resolve_both(
                p.base.as_ref(),
                p.ours.as_ref(),
                p.theirs.as_ref(),
                contents,
            )? {
                Ok(result) => p.result = result,
                Err(kind) => {
                    p.conflict = Some(kind);
                    p.result = p.ours.clone();
                }
            }
        }
    }
    Ok((plan, incoming))
}

fn is_dir(state: Option<&EntryState>) -> bool {
    state.is_some_and(|s| s.kind == Kind::Dir)
}

/// Settles paths whose result has no directory to live in: one side removed
/// a directory (or made it something else) while the other wrote below it.
/// The conflict is at the highest such directory; the policy then gives that
/// directory's whole planned subtree one side's states (each side is a
/// consistent tree, so the subtree becomes one). Only planned parents need
/// checking: a parent neither side changed is a directory on both.
fn mark_orphans(plan: &mut BTreeMap<VaultPath, Planned>, on_conflict: OnConflict) {
    for _ in 0..=plan.len() {
        let removed = |path: &VaultPath| plan.get(path).is_some_and(|p| !is_dir(p.result.as_ref()));
        let orphaned: Option<VaultPath> = plan.iter().find_map(|(path, p)| {
            let mut dir = path.parent().filter(|d| p.result.is_some() && removed(d))?;
            while let Some(up) = dir.parent().filter(|u| !u.is_root() && removed(u)) {
                dir = up;
            }
            Some(dir)
        });
        let Some(dir) = orphaned else {
            return;
        };
        let p = plan.get_mut(&dir).expect("planned");
        if p.conflict.is_none() {
            let remover = if is_dir(p.ours.as_ref()) {
                &p.theirs
            } else {
                &p.ours
            };
            p.conflict = Some(match remover {
                None => ConflictKind::ModifyDelete,
                Some(_) => ConflictKind::Type,
            });
        }
        settle_subtree(plan, &dir, on_conflict);
    }
}

/// Applies the conflict policy to a conflicted path and everything planned below it.
fn settle_subtree(plan: &mut BTreeMap<VaultPath, Planned>, dir: &VaultPath, on: OnConflict) {
    for (path, p) in plan.range_mut(dir.clone()..) {
        if !path.starts_with(dir) {
            break;
        }
        p.result = match on {
            OnConflict::Theirs => p.theirs.clone(),
            OnConflict::Keep | OnConflict::Ours => p.ours.clone(),
        };
    }
}

/// The base of a merge of `source` into anything: its fork base, else the
/// newest layer its chain shares with `target_top`.
fn merge_base(conn: &Connection, source: &str, source_top: i64, target_top: i64) -> Result<i64> {
    let fork_base: Option<i64> = conn
        .prepare_cached("SELECT base_layer FROM vaults WHERE name = ?1")?
        .query_row([source], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(base) = fork_base {
        return Ok(base);
    }
    layer::ensure_chain(conn, source_top)?;
    layer::ensure_chain(conn, target_top)?;
    conn.prepare_cached(
        "SELECT max(a.layer) FROM temp.chain a JOIN temp.chain b ON a.layer = b.layer
         WHERE a.top = ?1 AND b.top = ?2",
    )?
    .query_row([source_top, target_top], |r| r.get::<_, Option<i64>>(0))?
    .ok_or_else(|| VaultError::NoMergeBase {
        vault: source.to_string(),
    })
}

/// Makes the target's state at each planned path its planned result:
/// removals deepest first, then creations and updates parents first.
fn apply_plan(
    writer: &TreeWriter<'_>,
    theirs: &Tree<'_>,
    plan: &BTreeMap<VaultPath, Planned>,
) -> Result<()> {
    let differs = |p: &Planned| p.result != p.ours;
    for (path, p) in plan.iter().rev().filter(|(_, p)| differs(p)) {
        let Some(ours) = &p.ours else { continue };
        let replaced = match &p.result {
            None => true,
            Some(r) => r.kind != ours.kind || (r.kind == Kind::Symlink && r.target != ours.target),
        };
        if replaced && !path.is_root() {
            let dir = writer.dir(&path.parent().unwrap_or_default())?;
            writer.unlink(dir.ino, path.file_name().expect("not root"))?;
        }
    }
    for (path, p) in plan.iter().filter(|(_, p)| differs(p)) {
        let Some(result) = &p.result else { continue };
        // Taken whole from the source: keep its mtime too.
        let mtime = if p.result == p.theirs {
            theirs.resolve(path)?.map(|a| a.mtime_ns)
        } else {
            None
        };
        match writer.resolve(path)? {
            Some(cur) => {
                if result.kind == Kind::File && cur.content != result.content {
                    let content = result.content.expect("a file has content");
                    writer.set_content(cur.ino, content, result.size)?;
                }
                if cur.mode != result.mode || mtime.is_some() {
                    writer.set_meta(cur.ino, Some(result.mode), mtime)?;
                }
            }
            None => {
                let dir = writer.dir(&path.parent().unwrap_or_default())?;
                let node = match result.kind {
                    Kind::Dir => NewNode::dir(result.mode),
                    Kind::File => NewNode::file(
                        result.content.expect("a file has content"),
                        result.size,
                        result.mode,
                    ),
                    Kind::Symlink => NewNode::symlink(result.target.clone().unwrap_or_default()),
                    special => NewNode::special(special, result.mode, result.rdev),
                };
                let node = match mtime {
                    Some(m) => node.with_mtime(m),
                    None => node,
                };
                writer.create(dir.ino, path.file_name().expect("not root"), node)?;
            }
        }
    }
    Ok(())
}

/// The first free checkpoint name of the vault from `wanted`, `wanted-2`, …
fn free_checkpoint_name(conn: &Connection, vault_id: i64, wanted: &str) -> Result<String> {
    let mut n = 1u32;
    loop {
        let name = if n == 1 {
            wanted.to_string()
        } else {
            format!("{wanted}-{n}")
        };
        let taken: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE vault_id = ?1 AND name = ?2)",
            params![vault_id, name],
            |r| r.get(0),
        )?;
        if !taken {
            return Ok(name);
        }
        n += 1;
    }
}

impl Store {
    /// What a fork changed since it was forked (its base); for a vault that
    /// is not a fork, nothing.
    pub fn fork_changes(&mut self, vault: &str) -> Result<Vec<Change>> {
        let tx = self.begin_read()?;
        let row = vault_row(&tx, vault)?;
        let base: Option<i64> = tx
            .prepare_cached("SELECT base_layer FROM vaults WHERE id = ?1")?
            .query_row([row.id], |r| r.get(0))?;
        let changes = match base {
            Some(base) => diff::diff(&tx, base, row.top, &[])?,
            None => Vec::new(),
        };
        tx.commit()?;
        Ok(changes)
    }

    /// Merges `source` into `target` in one transaction (see the module doc):
    /// a checkpoint of the target first (as asked), then the source's changes,
    /// one journal entry. Conflicts are not an error: with policy `keep` the
    /// outcome lists them and nothing is applied.
    pub fn merge(&mut self, req: &MergeRequest) -> Result<MergeOutcome> {
        let stamp = self.stamp();
        let now = stamp.now_ns;
        let tx = self.begin_write()?;
        let source = vault_row(&tx, &req.source)?;
        let target = vault_row(&tx, &req.target)?;
        if source.id == target.id {
            return Err(VaultError::InvalidMove(format!(
                "cannot merge vault '{}' into itself",
                req.source
            )));
        }
        let base = merge_base(&tx, &req.source, source.top, target.top)?;
        let contents = Contents { conn: &tx };
        let (mut plan, incoming) = plan_paths(&tx, base, target.top, source.top, &contents)?;
        for p in plan.values_mut().filter(|p| p.conflict.is_some()) {
            p.result = match req.on_conflict {
                OnConflict::Theirs => p.theirs.clone(),
                OnConflict::Keep | OnConflict::Ours => p.ours.clone(),
            };
        }
        mark_orphans(&mut plan, req.on_conflict);
        let conflicts: Vec<Conflict> = plan
            .iter()
            .filter_map(|(path, p)| {
                p.conflict.map(|kind| Conflict {
                    path: path.clone(),
                    kind,
                    base: p.base.clone(),
                    ours: p.ours.clone(),
                    theirs: p.theirs.clone(),
                })
            })
            .collect();
        let theirs_changed = plan.values().any(|p| p.theirs != p.base);
        let mut outcome = MergeOutcome {
            status: MergeStatus::Merged,
            applied: Vec::new(),
            incoming,
            conflicts,
            checkpoint: None,
        };
        if !outcome.conflicts.is_empty() && req.on_conflict == OnConflict::Keep {
            outcome.status = MergeStatus::Conflict;
            return Ok(outcome);
        }
        // The target's state before the merge, frozen: the checkpoint's state and the diff's base.
        let pre = Self::seal_top(&tx, &target, now)?;
        let target = vault_row(&tx, &req.target)?;
        let checkpoint_name = match &req.checkpoint {
            MergeCheckpoint::None => None,
            // Nothing will change: a checkpoint would only repeat the head.
            MergeCheckpoint::PreMerge if !theirs_changed => None,
            MergeCheckpoint::PreMerge => {
                let next: i64 = tx.query_row(
                    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'checkpoints'), 0) + 1",
                    [],
                    |r| r.get(0),
                )?;
                let name = free_checkpoint_name(&tx, target.id, &format!("pre-merge-{next}"))?;
                let message = format!("state before merging '{}'", req.source);
                Some((name, message))
            }
            MergeCheckpoint::Named { name, message } => {
                Some((free_checkpoint_name(&tx, target.id, name)?, message.clone()))
            }
        };
        if let Some((name, message)) = &checkpoint_name {
            Self::insert_checkpoint(&tx, target.id, name, pre, Some(message), true, now)?;
        }

        if !theirs_changed {
            outcome.status = MergeStatus::UpToDate;
        } else if pre == base {
            // Nothing happened on our side: stand on the source's state, O(1).
            outcome.status = MergeStatus::FastForward;
            let (sealed, froze) = layer::seal(&tx, source.top)?;
            if froze {
                super::quota::freeze_usage(&tx, source.id, sealed)?;
                if !req.delete_source {
                    let top = layer::create(&tx, Some(sealed), now)?;
                    tx.execute(
                        "UPDATE vaults SET top_layer = ?1 WHERE id = ?2",
                        [top, source.id],
                    )?;
                }
            }
            let before = super::quota::current(&tx, target.id, target.top)?;
            let top = layer::create(&tx, Some(sealed), now)?;
            tx.execute(
                "UPDATE vaults SET top_layer = ?1 WHERE id = ?2",
                [top, target.id],
            )?;
            // The old top was empty (it sealed to the base): nothing else names it.
            tx.execute("DELETE FROM layers WHERE id = ?1", [target.top])?;
            super::quota::adopt_usage(&tx, target.id, sealed)?;
            let limits = super::quota::load(&tx, target.id)?;
            if !limits.is_unlimited() {
                let after = super::quota::current(&tx, target.id, top)?;
                super::quota::check_growth_from(&req.target, &limits, before, after)?;
            }
            // From the base to the source's state, which is what came in.
            outcome.applied = outcome.incoming.clone();
        } else {
            let limits = super::quota::load(&tx, target.id)?;
            let theirs = Tree::new(&tx, source.top)?;
            let writer = TreeWriter::new(&tx, target.top, stamp)?.configure("merge", limits);
            apply_plan(&writer, &theirs, &plan)?;
            super::quota::settle(
                &tx,
                &req.target,
                target.id,
                target.top,
                &limits,
                writer.usage_delta(),
            )?;
            outcome.applied = diff::diff(&tx, pre, target.top, &[])?;
        }
        if req.delete_source {
            for table in ["checkpoints", "policies", "quotas"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE vault_id = ?1"),
                    [source.id],
                )?;
            }
            tx.execute("DELETE FROM vaults WHERE id = ?1", [source.id])?;
        }
        if req.dry_run {
            // Rolled back on drop: a dry run keeps no checkpoint and changes nothing.
            return Ok(outcome);
        }
        let detail = format!(
            "{} -> {}: {}, {} changes, {} conflicts",
            req.source,
            req.target,
            outcome.status.as_str(),
            outcome.applied.len(),
            outcome.conflicts.len()
        );
        journal::append(
            &tx,
            now,
            Some(&req.target),
            &Op::new(req.journal_op.clone(), detail),
        )?;
        tx.commit()?;
        outcome.checkpoint = checkpoint_name
            .map(|(name, _)| checkpoint_row(self.connection(), &req.target, &name))
            .transpose()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_keep_both_sides_ours_first_even_in_binary_files() {
        assert_eq!(
            merge_bytes(b"base\n", b"base\nA\n", b"base\nB\n").as_deref(),
            Some(&b"base\nA\nB\n"[..])
        );
        assert_eq!(
            merge_bytes(b"\0bin", b"\0binA", b"\0binB").as_deref(),
            Some(&b"\0binAB"[..])
        );
    }

    #[test]
    fn text_merges_line_by_line_unless_hunks_overlap() {
        let base = b"1\n2\n3\n4\n5\n";
        assert_eq!(
            merge_bytes(base, b"one\n2\n3\n4\n5\n", b"1\n2\n3\n4\nfive\n").as_deref(),
            Some(&b"one\n2\n3\n4\nfive\n"[..])
        );
        assert_eq!(
            merge_bytes(base, b"1\nA\n3\n4\n5\n", b"1\nB\n3\n4\n5\n"),
            None
        );
        // Binary content changed on both sides (not appends) never merges.
        assert_eq!(merge_bytes(b"\0x\0y", b"\0X\0y", b"\0x\0Y"), None);
    }

    #[test]
    fn pick_takes_the_side_that_changed() {
        assert_eq!(pick(Some(&1), &1, &2), Some(2));
        assert_eq!(pick(Some(&1), &2, &1), Some(2));
        assert_eq!(pick(Some(&1), &3, &3), Some(3));
        assert_eq!(pick(Some(&1), &2, &3), None);
        assert_eq!(pick(None, &2, &3), None);
    }
}
