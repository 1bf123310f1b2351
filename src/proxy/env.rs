//! The environment a run sees: only what the policy passes through (or a
//! short default list), then the policy's fixed values, then `--env`; never
//! a variable [`withheld_from_runs`] names (AWS credentials), whichever of
//! the three brings it.

use crate::policy::{EnvRules, withheld_from_runs};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// Passed through from the caller when the policy has no `env` section: what
/// shells, compilers and package managers need to find themselves, and no
/// credentials.
pub const DEFAULT_PASS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
];

/// The run's whole environment, sorted by name.
pub fn build(
    caller: impl IntoIterator<Item = (OsString, OsString)>,
    rules: Option<&EnvRules>,
    extra: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let caller: BTreeMap<OsString, OsString> = caller.into_iter().collect();
    let mut env = BTreeMap::new();
    let passed: Vec<&str> = match rules {
        Some(r) => r.pass.iter().map(|n| n.0.as_str()).collect(),
        None => DEFAULT_PASS.to_vec(),
    };
    for name in passed {
        if let Some(value) = caller.get(OsStr::new(name)) {
            env.insert(OsString::from(name), value.clone());
        }
    }
    for (k, v) in rules.map(|r| &r.set).into_iter().flatten() {
        env.insert(k.into(), v.into());
    }
    for (k, v) in extra {
        env.insert(k.into(), v.into());
    }
    // Validation refuses explicit requests for them; this holds for every
    // caller, a policy stored before that rule included.
    env.into_iter()
        .filter(|(k, _)| !k.to_str().is_some_and(withheld_from_runs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySpec;

    fn caller() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("AWS_SECRET", "x"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "eu-west-1"),
            ("CI", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect()
    }

    #[test]
    fn without_rules_only_the_default_list_passes() {
        let env = build(caller(), None, &[]);
        assert_eq!(names(&env), ["HOME=/root", "PATH=/bin"]);
    }

    #[test]
    fn rules_pass_and_set_and_flags_override_them() {
        let spec =
            PolicySpec::parse(r#"{"env": {"pass": ["PATH", "CI"], "set": {"CI": "1", "X": "y"}}}"#)
                .unwrap();
        let env = build(
            caller(),
            spec.env.as_ref(),
            &[("X".to_string(), "z".to_string())],
        );
        assert_eq!(names(&env), ["CI=1", "PATH=/bin", "X=z"]);
    }

    #[test]
    fn aws_credentials_never_pass_whatever_asks_for_them() {
        // Built by hand: validation refuses such a policy, a library caller may not validate.
        let rules = EnvRules {
            pass: vec![
                crate::policy::EnvName("AWS_SECRET_ACCESS_KEY".into()),
                crate::policy::EnvName("AWS_REGION".into()),
            ],
            set: [("AWS_PROFILE".to_string(), "prod".to_string())].into(),
        };
        let env = build(
            caller(),
            Some(&rules),
            &[("AWS_ACCESS_KEY_ID".to_string(), "AKIA".to_string())],
        );
        assert_eq!(names(&env), ["AWS_REGION=eu-west-1"]);
    }
}
