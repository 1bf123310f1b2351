//! Change roll-ups: a summarized run (`proxy exec --changes summary`) reports
//! each directory an agent rarely reads file by file (`node_modules`,
//! `target`, ...) once, with counts by change kind and bytes, and lists every
//! other change as it is. The full list stays one `avfs diff --from` away.

use crate::policy::RollupDir;
use crate::vault::{Change, ChangeKind, Kind, VaultPath};

/// Rolled up when the policy names no directories.
pub const DEFAULT_DIRS: &[&str] = &[
    "node_modules",
    "target",
    ".venv",
    "__pycache__",
    ".git/objects",
];

/// One rolled-up directory: what changed at or below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    /// The directory (the first match along each path, so nested ones fold into it).
    pub path: VaultPath,
    /// Paths added.
    pub added: u64,
    /// Paths modified.
    pub modified: u64,
    /// Paths deleted.
    pub deleted: u64,
    /// Paths whose kind changed.
    pub type_changed: u64,
    /// File bytes after the change, over added, modified and retyped files.
    pub bytes_added: u64,
    /// File bytes before the change, over deleted, modified and retyped files.
    pub bytes_removed: u64,
}

impl Rollup {
    /// Every change it stands for.
    pub fn total(&self) -> u64 {
        self.added + self.modified + self.deleted + self.type_changed
    }
}

/// The directory names to roll up: the policy's, else `DEFAULT_DIRS`.
pub fn dirs(policy: Option<&[RollupDir]>) -> Vec<Vec<Vec<u8>>> {
    match policy {
        Some(list) => list.iter().map(RollupDir::names).collect(),
        None => DEFAULT_DIRS
            .iter()
            .map(|d| d.split('/').map(|n| n.as_bytes().to_vec()).collect())
            .collect(),
    }
}

/// The rolled-up directory holding `path` (or being it), if any: the
/// shortest prefix of `path` that ends with one of `dirs`.
fn root_of(path: &VaultPath, dirs: &[Vec<Vec<u8>>]) -> Option<usize> {
    let names = path.components();
    (1..=names.len()).find(|&end| {
        dirs.iter()
            .any(|d| d.len() <= end && names[end - d.len()..end] == d[..])
    })
}

/// Splits `changes` (sorted by path) into the ones listed as they are and one
/// roll-up per directory, in path order.
pub fn roll_up<'a>(changes: &'a [Change], dirs: &[Vec<Vec<u8>>]) -> (Vec<&'a Change>, Vec<Rollup>) {
    let mut kept = Vec::new();
    let mut rollups: Vec<Rollup> = Vec::new();
    for change in changes {
        let Some(end) = root_of(&change.path, dirs) else {
            kept.push(change);
            continue;
        };
        let mut root = VaultPath::root();
        for name in &change.path.components()[..end] {
            root = root.join(name);
        }
        let index = match rollups.iter().position(|r| r.path == root) {
            Some(i) => i,
            None => {
                rollups.push(Rollup {
                    path: root,
                    added: 0,
                    modified: 0,
                    deleted: 0,
                    type_changed: 0,
                    bytes_added: 0,
                    bytes_removed: 0,
                });
                rollups.len() - 1
            }
        };
        let r = &mut rollups[index];
        match change.change {
            ChangeKind::Added => r.added += 1,
            ChangeKind::Modified => r.modified += 1,
            ChangeKind::Deleted => r.deleted += 1,
            ChangeKind::TypeChanged => r.type_changed += 1,
        }
        let file_size = |side: &Option<crate::vault::EntryState>| {
            side.as_ref()
                .filter(|s| s.kind == Kind::File)
                .map_or(0, |s| s.size)
        };
        r.bytes_added += file_size(&change.after);
        r.bytes_removed += file_size(&change.before);
    }
    rollups.sort_by(|a, b| a.path.cmp(&b.path));
    (kept, rollups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::EntryState;

    fn file(size: u64) -> Option<EntryState> {
        Some(EntryState {
            kind: Kind::File,
            mode: 0o644,
            size,
            content: None,
            target: None,
            rdev: 0,
        })
    }

    fn change(path: &str, change: ChangeKind, before: u64, after: u64) -> Change {
        Change {
            path: VaultPath::parse_str(path).unwrap(),
            change,
            before: if before > 0 { file(before) } else { None },
            after: if after > 0 { file(after) } else { None },
        }
    }

    #[test]
    fn rolls_up_each_named_directory_once_at_any_depth() {
        let changes = vec![
            change("/a/node_modules/x/index.js", ChangeKind::Added, 0, 10),
            change(
                "/a/node_modules/x/node_modules/y.js",
                ChangeKind::Added,
                0,
                5,
            ),
            change("/a/src/main.js", ChangeKind::Modified, 3, 4),
            change("/repo/.git/objects/ab/cd", ChangeKind::Deleted, 7, 0),
            change("/repo/.git/HEAD", ChangeKind::Modified, 1, 1),
            change("/target", ChangeKind::Deleted, 0, 0),
            change("/target/debug/app", ChangeKind::Deleted, 100, 0),
        ];
        let (kept, rollups) = roll_up(&changes, &dirs(None));
        let kept: Vec<String> = kept.iter().map(|c| c.path.to_string()).collect();
        assert_eq!(kept, ["/a/src/main.js", "/repo/.git/HEAD"]);
        let shown: Vec<(String, u64, u64, u64, u64)> = rollups
            .iter()
            .map(|r| {
                (
                    r.path.to_string(),
                    r.added,
                    r.deleted,
                    r.bytes_added,
                    r.bytes_removed,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("/a/node_modules".into(), 2, 0, 15, 0),
                ("/repo/.git/objects".into(), 0, 1, 0, 7),
                ("/target".into(), 0, 2, 0, 100),
            ]
        );
        assert_eq!(rollups.iter().map(Rollup::total).sum::<u64>(), 5);
    }

    #[test]
    fn the_policy_list_replaces_the_defaults() {
        let changes = vec![
            change("/target/x", ChangeKind::Added, 0, 1),
            change("/build/y", ChangeKind::Added, 0, 1),
        ];
        let policy = [RollupDir::try_from("build".to_string()).unwrap()];
        let (kept, rollups) = roll_up(&changes, &dirs(Some(&policy)));
        assert_eq!(kept.len(), 1);
        assert_eq!(rollups[0].path.to_string(), "/build");
        assert!(RollupDir::try_from("../x".to_string()).is_err());
        assert!(RollupDir::try_from("/abs".to_string()).is_err());
    }
}
