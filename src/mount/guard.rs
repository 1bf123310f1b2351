//! Path rules inside a mount: an operation the policy does not grant fails
//! with `EACCES` and is remembered as a [`Violation`] for whoever asked for the
//! rules (the proxy puts them in its result).

use crate::policy::{Op, Policy};
use crate::vault::VaultPath;
use fuser::Errno;
use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct violations kept per session; the rest are only counted as "more".
pub const MAX_VIOLATIONS: usize = 1000;

/// One operation the path rules refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The vault path it was refused on.
    pub path: VaultPath,
    /// What was attempted.
    pub op: Op,
    /// The glob of the deny rule that refused it; `None` when no rule granted it.
    pub rule: Option<String>,
}

#[derive(Default)]
struct Record {
    seen: HashSet<(VaultPath, Op)>,
    list: Vec<Violation>,
    truncated: bool,
}

/// A policy's path rules, checked by the mount on every operation.
pub struct PathGuard {
    policy: Policy,
    record: Mutex<Record>,
}

impl PathGuard {
    /// Guards with `policy`'s path rules (a policy without them allows everything).
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            record: Mutex::default(),
        }
    }

    /// Grants reading and nothing else, everywhere (a read-only run).
    pub fn read_only() -> Self {
        let policy = Policy::parse(r#"{"paths": [{"glob": "**", "ops": ["read"]}]}"#)
            .expect("a valid built-in policy");
        Self::new(policy)
    }

    /// True when the policy has path rules at all.
    pub fn is_active(&self) -> bool {
        self.policy.spec().paths.is_some()
    }

    /// True when the rules grant `op` on `path` (records nothing).
    pub fn allows(&self, path: &VaultPath, op: Op) -> bool {
        self.policy.decide_path(&path.display_lossy(), op).allowed
    }

    /// Allows `op` on `path`, or records a violation and answers `EACCES`.
    pub fn check(&self, path: &VaultPath, op: Op) -> Result<(), Errno> {
        let decision = self.policy.decide_path(&path.display_lossy(), op);
        if decision.allowed {
            return Ok(());
        }
        self.record(Violation {
            path: path.clone(),
            op,
            rule: decision.rule.map(|r| r.glob),
        });
        Err(Errno::EACCES)
    }

    /// Allows linking the file at `path` to a new name when the rules let the
    /// caller read it (a link would otherwise carry a denied file out, e.g.
    /// through `export`); else records a `link` violation and answers `EACCES`.
    pub fn check_link(&self, path: &VaultPath) -> Result<(), Errno> {
        let decision = self.policy.decide_path(&path.display_lossy(), Op::Read);
        if decision.allowed {
            return Ok(());
        }
        self.record(Violation {
            path: path.clone(),
            op: Op::Link,
            rule: decision.rule.map(|r| r.glob),
        });
        Err(Errno::EACCES)
    }

    /// Adds violations found elsewhere (another guard's), as if refused here.
    pub fn record_all(&self, violations: Vec<Violation>) {
        for v in violations {
            self.record(v);
        }
    }

    fn record(&self, violation: Violation) {
        let mut record = self.record.lock().unwrap_or_else(|p| p.into_inner());
        let key = (violation.path.clone(), violation.op);
        if record.seen.contains(&key) {
            return;
        }
        if record.list.len() < MAX_VIOLATIONS {
            record.list.push(violation);
            record.seen.insert(key);
        } else {
            record.truncated = true;
        }
    }

    /// The violations so far, in order, and whether more were refused than kept.
    pub fn violations(&self) -> (Vec<Violation>, bool) {
        let record = self.record.lock().unwrap_or_else(|p| p.into_inner());
        (record.list.clone(), record.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> PathGuard {
        PathGuard::new(
            Policy::parse(
                r#"{"paths": [
                    {"glob": "**", "ops": ["read"]},
                    {"glob": "src/**", "ops": ["read", "write", "create", "delete"]},
                    {"glob": "secrets/**", "ops": [], "deny": true}]}"#,
            )
            .unwrap(),
        )
    }

    fn path(p: &str) -> VaultPath {
        VaultPath::parse_str(p).unwrap()
    }

    #[test]
    fn guard_allows_what_rules_grant_and_records_each_refusal_once() {
        let g = guard();
        assert!(g.check(&path("/src/a.rs"), Op::Write).is_ok());
        assert!(g.check(&path("/README"), Op::Read).is_ok());
        assert_eq!(g.check(&path("/README"), Op::Write), Err(Errno::EACCES));
        assert_eq!(g.check(&path("/README"), Op::Write), Err(Errno::EACCES));
        assert_eq!(g.check(&path("/secrets/key"), Op::Read), Err(Errno::EACCES));
        let (list, truncated) = g.violations();
        assert!(!truncated);
        assert_eq!(
            list,
            vec![
                Violation {
                    path: path("/README"),
                    op: Op::Write,
                    rule: None
                },
                Violation {
                    path: path("/secrets/key"),
                    op: Op::Read,
                    rule: Some("secrets/**".into())
                },
            ]
        );
    }

    #[test]
    fn guard_keeps_a_bounded_number_of_violations() {
        let g = guard();
        for i in 0..MAX_VIOLATIONS + 5 {
            let _ = g.check(&path(&format!("/x{i}")), Op::Create);
        }
        let (list, truncated) = g.violations();
        assert_eq!(list.len(), MAX_VIOLATIONS);
        assert!(truncated);
    }

    #[test]
    fn a_policy_without_path_rules_is_inactive_and_allows_everything() {
        let g = PathGuard::new(Policy::parse(r#"{"commands": {"deny": ["curl"]}}"#).unwrap());
        assert!(!g.is_active());
        assert!(g.check(&path("/anything"), Op::Delete).is_ok());
    }
}
