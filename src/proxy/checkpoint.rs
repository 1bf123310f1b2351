//! The checkpoint a run takes before it starts: a name unique even for many
//! runs a second (and for runs racing in other processes), and a retention
//! rule so that they do not pile up forever.

use crate::vault::{Checkpoint, Result, Store, VaultError};

/// Prefix of every run checkpoint's name.
pub const PREFIX: &str = "run-";
/// Automatic run checkpoints kept per vault unless configured otherwise.
pub const DEFAULT_KEEP: usize = 100;

/// The name for a run starting at `now_ns`: `run-<UTC to the microsecond>Z`.
pub fn name_at(now_ns: i64) -> String {
    let ts =
        jiff::Timestamp::from_nanosecond(i128::from(now_ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{PREFIX}{}", ts.strftime("%Y%m%dT%H%M%S.%6fZ"))
}

/// Saves an automatic checkpoint for a run, under `name_at(now)` or, if that
/// is taken, the first free `-2`, `-3`, … suffix.
pub fn take(store: &mut Store, vault: &str, message: &str) -> Result<Checkpoint> {
    let base = name_at(crate::vault::now_ns());
    let mut n = 1u32;
    loop {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        match store.checkpoint_save_auto(vault, &name, Some(message)) {
            Err(VaultError::CheckpointExists(_)) if n < 10_000 => n += 1,
            other => return other,
        }
    }
}

/// Deletes the vault's oldest automatic run checkpoints so that at most
/// `keep` remain (named checkpoints are never touched). Returns the deleted names.
pub fn prune(store: &mut Store, vault: &str, keep: usize) -> Result<Vec<String>> {
    let runs: Vec<Checkpoint> = store
        .checkpoints(vault)?
        .into_iter()
        .filter(|c| c.auto && c.name.starts_with(PREFIX))
        .collect();
    let excess = runs.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for old in runs.into_iter().take(excess) {
        match store.checkpoint_delete(vault, &old.name) {
            // Another run may have pruned it first.
            Ok(()) | Err(VaultError::CheckpointNotFound(_)) => deleted.push(old.name),
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::Owner;

    #[test]
    fn run_checkpoint_names_are_valid_labels_and_sort_by_time() {
        let a = name_at(1_795_274_377_822_533_934);
        assert_eq!(a, "run-20261121T151937.822533Z");
        crate::vault::validate_label(&a).unwrap();
        assert!(name_at(1_795_274_377_822_534_934) > a);
    }

    #[test]
    fn runs_in_the_same_microsecond_get_distinct_names_and_old_ones_are_pruned() {
        let mut store = Store::open_in_memory(Owner::default()).unwrap();
        store.create_vault("v").unwrap();
        store.checkpoint_save("v", "named", None).unwrap();
        let names: Vec<String> = (0..20)
            .map(|_| take(&mut store, "v", "true").unwrap().name)
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 20);
        let deleted = prune(&mut store, "v", 5).unwrap();
        assert_eq!(deleted, names[..15].to_vec());
        let left: Vec<String> = store
            .checkpoints("v")
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(left[0], "named");
        assert_eq!(left[1..], names[15..]);
    }
}
