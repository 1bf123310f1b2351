//! A run's attempt: the hidden fork it works in, its name, and what becomes
//! of it when it cannot be merged (kept as a visible fork named after the
//! run) or when the avfs that ran it died (swept by the next run).

use crate::mount::registry::pid_alive;
use crate::vault::{Result, Store, VaultError};

/// The hidden vault name of the attempt of run `run_name` by this process:
/// `.<run name>.<pid>`, so that a later run can tell whether its owner lives.
pub fn hidden_name(run_name: &str) -> String {
    format!(".{run_name}.{}", std::process::id())
}

/// The run name and owner pid a hidden attempt name holds.
fn parse_hidden(name: &str) -> Option<(&str, u32)> {
    let (run, pid) = name.strip_prefix('.')?.rsplit_once('.')?;
    Some((run, pid.parse().ok()?))
}

/// Ends an attempt that will not be merged: with `keep_changes` and changes
/// in it, it becomes a visible fork named after the run (`run-…`, or the
/// first free `-2`, `-3`… suffix) and its name is returned; otherwise it is
/// deleted.
pub fn set_aside(
    store: &mut Store,
    attempt: &str,
    run_name: &str,
    keep_changes: bool,
) -> Result<Option<String>> {
    if keep_changes && !store.fork_changes(attempt)?.is_empty() {
        let mut n = 1u32;
        loop {
            let name = if n == 1 {
                run_name.to_string()
            } else {
                format!("{run_name}-{n}")
            };
            match store.rename_vault(attempt, &name) {
                Err(VaultError::VaultExists(_)) if n < 10_000 => n += 1,
                other => return other.map(|v| Some(v.name)),
            }
        }
    }
    store.delete_vault(attempt)?;
    Ok(None)
}

/// Keeps the attempts of runs whose avfs died (SIGKILL) as visible forks, or
/// deletes them when they hold no change. Best effort: another run may be
/// sweeping the same ones.
pub fn sweep_dead(store: &mut Store) {
    let Ok(attempts) = store.attempts() else {
        return;
    };
    for info in attempts {
        if let Some((run, pid)) = parse_hidden(&info.name)
            && !pid_alive(pid)
        {
            let _ = set_aside(store, &info.name, run, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names_carry_the_run_and_the_owner() {
        let name = hidden_name("run-20261121T151937.822533Z");
        assert!(name.starts_with(".run-20261121T151937.822533Z."));
        assert_eq!(
            parse_hidden(&name),
            Some(("run-20261121T151937.822533Z", std::process::id()))
        );
        assert_eq!(parse_hidden("main"), None);
        assert_eq!(parse_hidden(".x.notapid"), None);
    }
}
