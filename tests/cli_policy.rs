//! `avfs policy set|show|check`: storage round trip, decisions and their exit
//! statuses, and validation errors that name the bad field.

mod common;

use common::Avfs;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    vault: String,
    policy: Option<Value>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct CheckDoc {
    allowed: bool,
    command: Vec<String>,
    rule: Option<String>,
    reason: String,
    policy: String,
}

const EXAMPLE: &str = r#"{
  "commands": { "allow": ["cargo *", "git *", "python3 *", "ls"], "deny": ["git push *", "curl *"] },
  "paths": [
    { "glob": "**",          "ops": ["read"] },
    { "glob": "/src/**",     "ops": ["read", "write", "create", "delete"] },
    { "glob": "secrets/**",  "ops": [], "deny": true }
  ],
  "env": { "pass": ["PATH", "HOME"], "set": { "CI": "1" } },
  "timeout": "600s", "grace": "2s",
  "checkpoint": "auto",
  "output_limit": "1MiB"
}"#;

fn policy_file(a: &Avfs, name: &str, text: &str) -> PathBuf {
    let path = a.home.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `policy check` with `--json`; returns the document and the exit status.
fn check(a: &Avfs, extra: &[&str], command: &[&str]) -> (CheckDoc, i32) {
    let mut args = vec!["--json", "policy", "check"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    let run = a.run(&args);
    assert!(
        run.stderr.is_empty(),
        "--json wrote to stderr: {}",
        run.stderr
    );
    let doc: CheckDoc = common::parse_one(&run.stdout);
    assert_eq!(doc.command, command);
    assert_eq!(run.status, if doc.allowed { 0 } else { 126 });
    (doc, run.status)
}

#[test]
fn set_and_show_round_trip_the_normalized_policy() {
    let a = Avfs::with_vault();
    let shown: PolicyDoc = a.json(["policy", "show"]);
    assert_eq!(shown.vault, "main");
    assert_eq!(shown.policy, None);

    let file = policy_file(&a, "p.json", EXAMPLE);
    let set: PolicyDoc = a.json(["policy".as_ref(), "set".as_ref(), file.as_os_str()]);
    assert_eq!(set.vault, "main");
    let policy = set.policy.unwrap();
    assert_eq!(policy["timeout"], "10m", "durations are normalized");
    assert_eq!(policy["paths"][1]["glob"], "src/**", "leading / dropped");
    assert_eq!(policy["paths"][2]["deny"], true);
    assert_eq!(policy["env"]["set"], json!({"CI": "1"}));

    let shown: PolicyDoc = a.json(["policy", "show"]);
    assert_eq!(shown.policy.as_ref(), Some(&policy));
    assert!(a.ok(["policy", "show"]).contains("git push *"));

    // Setting again replaces it.
    let file = policy_file(&a, "q.json", r#"{"checkpoint": "never"}"#);
    a.json::<PolicyDoc, _, _>(["policy".as_ref(), "set".as_ref(), file.as_os_str()]);
    let shown: PolicyDoc = a.json(["policy", "show"]);
    assert_eq!(shown.policy, Some(json!({"checkpoint": "never"})));

    // Policies are per vault.
    a.ok(["vault", "create", "other"]);
    let shown: PolicyDoc = a.json(["--vault", "other", "policy", "show"]);
    assert_eq!(shown.policy, None);
}

#[test]
fn check_reports_allowed_and_denied_with_exit_status() {
    let a = Avfs::with_vault();
    let file = policy_file(&a, "p.json", EXAMPLE);
    a.ok(["policy".as_ref(), "set".as_ref(), file.as_os_str()]);

    let (d, status) = check(&a, &[], &["cargo", "build", "--release"]);
    assert!(d.allowed);
    assert_eq!(status, 0);
    assert_eq!(d.rule.as_deref(), Some("cargo *"));
    assert_eq!(d.policy, "vault");

    let (d, status) = check(&a, &[], &["curl", "https://example.com"]);
    assert!(!d.allowed);
    assert_eq!(status, 126);
    assert_eq!(d.rule.as_deref(), Some("curl *"));

    // Not in the allow list: denied, and no rule to blame.
    let (d, _) = check(&a, &[], &["rm", "-rf", "/"]);
    assert!(!d.allowed);
    assert_eq!(d.rule, None);
    assert!(d.reason.contains("no allow rule"), "{}", d.reason);

    // Human output explains in a line or two, with the same exit status.
    let run = a.run(["policy", "check", "--", "git", "push", "origin"]);
    assert_eq!(run.status, 126);
    let text = run.stdout_str();
    assert!(text.starts_with("denied: git push origin"), "{text}");
    assert!(text.contains("git push *"), "{text}");
    assert!(text.lines().count() <= 2, "{text}");
}

#[test]
fn check_deny_beats_allow() {
    let a = Avfs::with_vault();
    let file = policy_file(&a, "p.json", EXAMPLE);
    let file = file.to_str().unwrap();
    // `git *` allows it, `git push *` denies it: deny wins.
    let (d, status) = check(&a, &["--policy", file], &["git", "push", "origin", "main"]);
    assert!(!d.allowed);
    assert_eq!(status, 126);
    assert_eq!(d.rule.as_deref(), Some("git push *"));
    let (d, _) = check(&a, &["--policy", file], &["git", "pull"]);
    assert!(d.allowed);
    assert_eq!(d.rule.as_deref(), Some("git *"));
}

#[test]
fn check_matches_basename_and_full_line() {
    let a = Avfs::with_vault();
    let file = policy_file(&a, "p.json", EXAMPLE);
    let file = file.to_str().unwrap();
    // `ls` matches only the program's basename.
    let (d, _) = check(&a, &["--policy", file], &["/bin/ls", "-l"]);
    assert!(d.allowed);
    assert_eq!(d.rule.as_deref(), Some("ls"));
    assert!(d.reason.contains("program name"), "{}", d.reason);
    // `python3 *` matches the command with its arguments.
    let (d, _) = check(&a, &["--policy", file], &["python3", "-c", "print(1)"]);
    assert!(d.allowed);
    assert_eq!(d.rule.as_deref(), Some("python3 *"));
    // A full program path does not escape a deny rule.
    let (d, _) = check(&a, &["--policy", file], &["/usr/bin/git", "push", "origin"]);
    assert!(!d.allowed);
    // A glob ending in ` *` also matches the bare command: `git push *` denies
    // `git push`, and `python3 *` allows `python3`.
    let (d, status) = check(&a, &["--policy", file], &["git", "push"]);
    assert_eq!(
        (d.allowed, d.rule.as_deref(), status),
        (false, Some("git push *"), 126)
    );
    let (d, _) = check(&a, &["--policy", file], &["python3"]);
    assert!(d.allowed);
}

#[test]
fn check_policy_file_overrides_the_vault_policy() {
    let a = Avfs::with_vault();
    let strict = policy_file(&a, "strict.json", r#"{"commands": {"allow": []}}"#);
    a.ok(["policy".as_ref(), "set".as_ref(), strict.as_os_str()]);
    let (d, _) = check(&a, &[], &["ls"]);
    assert!(!d.allowed);
    assert_eq!(d.policy, "vault");

    let open = policy_file(&a, "open.json", r#"{"commands": {"deny": ["curl"]}}"#);
    let (d, status) = check(&a, &["--policy", open.to_str().unwrap()], &["ls"]);
    assert!(d.allowed);
    assert_eq!(status, 0);
    assert_eq!(d.policy, "file");
    assert_eq!(d.rule, None);
}

#[test]
fn check_without_policy_allows_everything() {
    let a = Avfs::with_vault();
    let (d, status) = check(&a, &[], &["curl", "https://example.com"]);
    assert!(d.allowed);
    assert_eq!(status, 0);
    assert_eq!(d.policy, "none");
    assert_eq!(d.rule, None);
    // No vault selected at all: still no policy, still allowed.
    let bare = Avfs::new();
    let (d, _) = check(&bare, &[], &["anything"]);
    assert!(d.allowed);
    assert_eq!(d.policy, "none");
    // A policy without command rules allows every command too.
    let file = policy_file(&a, "p.json", r#"{"timeout": "1s"}"#);
    let (d, _) = check(&a, &["--policy", file.to_str().unwrap()], &["curl"]);
    assert!(d.allowed);
}

#[test]
fn invalid_policies_name_the_field() {
    let a = Avfs::with_vault();
    let cases = [
        (r#"{"comands": {}}"#, "comands: unknown field"),
        (
            r#"{"paths": [{"glob": "a", "ops": []}, {"glob": "b", "ops": []}, {"glob": "c", "ops": ["exec"]}]}"#,
            r#"paths[2].ops[0]: unknown op "exec""#,
        ),
        (
            r#"{"timeout": "5 minutes"}"#,
            r#"timeout: invalid duration "5 minutes""#,
        ),
        (
            r#"{"output_limit": "lots"}"#,
            r#"output_limit: invalid size "lots""#,
        ),
        (
            r#"{"commands": {"deny": ["git [push"]}}"#,
            r#"commands.deny[0]: invalid glob "git [push""#,
        ),
        (
            r#"{"checkpoint": "sometimes"}"#,
            "checkpoint: unknown variant",
        ),
        ("not json", "not valid JSON"),
        (
            r#"{"env": {"set": {"A": "x\u0000y"}}}"#,
            "env.set.A: the value contains a NUL byte",
        ),
        (
            r#"{"timeout": "1s", "grace": "1s", "timeout": "2s"}"#,
            r#"duplicate key "timeout""#,
        ),
        (
            r#"{"env": {"set": {"CI": "1", "CI": "2"}}}"#,
            r#"env.set: duplicate key "CI""#,
        ),
        (
            r#"{"paths": [{"glob": "src/**", "ops": ["read"]}, {"glob": "../**", "ops": ["read"]}]}"#,
            r#"paths[1].glob: glob "../**" can never match"#,
        ),
        (
            r#"{"paths": [{"glob": "/src/../../etc/*", "ops": ["read"]}]}"#,
            "paths[0].glob: glob \"/src/../../etc/*\" can never match",
        ),
        (
            r#"{"paths": [{"glob": "src/", "ops": ["read"]}]}"#,
            "can never match: vault paths have no empty components",
        ),
        (
            r#"{"paths": [{"glob": "a/\u0000", "ops": ["read"]}]}"#,
            "paths[0].glob: a glob with a NUL byte can never match",
        ),
    ];
    for (text, expected) in cases {
        let file = policy_file(&a, "bad.json", text);
        for args in [
            vec!["policy".into(), "set".into(), file.clone().into_os_string()],
            vec![
                "policy".into(),
                "check".into(),
                "--policy".into(),
                file.clone().into_os_string(),
                "--".into(),
                "ls".into(),
            ],
        ] {
            let (err, status) = a.fails(&args);
            assert_eq!(err.code, "invalid_policy", "{text}");
            assert_eq!(status, 2);
            assert!(
                err.message.contains(expected),
                "{text}: {:?} should contain {expected:?}",
                err.message
            );
        }
    }
    // Nothing was stored.
    let shown: PolicyDoc = a.json(["policy", "show"]);
    assert_eq!(shown.policy, None);
}

#[test]
fn oversized_policies_fail_fast_naming_the_bound() {
    let a = Avfs::with_vault();
    // 400,000 globs: over the size bound long before any is compiled.
    let globs: Vec<String> = (0..400_000).map(|i| format!("\"g{i} *\"")).collect();
    let huge = policy_file(
        &a,
        "huge.json",
        &format!(r#"{{"commands": {{"deny": [{}]}}}}"#, globs.join(",")),
    );
    // Under the size bound, but over the rule count.
    let many = policy_file(
        &a,
        "many.json",
        &format!(
            r#"{{"commands": {{"deny": [{}]}}}}"#,
            globs[..1001].join(",")
        ),
    );
    let rules: Vec<String> = (0..1001)
        .map(|i| format!(r#"{{"glob": "d{i}/**", "ops": ["read"]}}"#))
        .collect();
    let many_paths = policy_file(
        &a,
        "many-paths.json",
        &format!(r#"{{"paths": [{}]}}"#, rules.join(",")),
    );
    let cases = [
        (Path::new("/dev/zero"), "a policy is at most 1048576 bytes"),
        (huge.as_path(), "a policy is at most 1048576 bytes"),
        (
            many.as_path(),
            "commands.deny: 1001 entries; a policy list holds at most 1000",
        ),
        (
            many_paths.as_path(),
            "paths: 1001 entries; a policy list holds at most 1000",
        ),
    ];
    for (file, expected) in cases {
        for args in [
            vec!["policy".into(), "set".into(), file.as_os_str().to_owned()],
            vec![
                "proxy".into(),
                "exec".into(),
                "--policy".into(),
                file.as_os_str().to_owned(),
                "--".into(),
                "true".into(),
            ],
        ] {
            let (err, status) = a.fails(&args);
            assert_eq!(
                (err.code.as_str(), status),
                ("invalid_policy", 2),
                "{file:?}"
            );
            assert!(
                err.message.contains(expected),
                "{file:?}: {:?} should contain {expected:?}",
                err.message
            );
        }
    }
    // Exactly at the bound is fine.
    let fits = policy_file(
        &a,
        "fits.json",
        &format!(
            r#"{{"commands": {{"deny": [{}]}}}}"#,
            globs[..1000].join(",")
        ),
    );
    a.ok(["policy".as_ref(), "set".as_ref(), fits.as_os_str()]);
}

#[test]
fn unreadable_policy_file_is_an_io_error() {
    let a = Avfs::with_vault();
    let missing = a.home.path().join("missing.json");
    let (err, status) = a.fails(["policy".as_ref(), "set".as_ref(), missing.as_os_str()]);
    assert_eq!(err.code, "io_error");
    assert_eq!(status, 5);
    assert!(err.message.contains("missing.json"), "{}", err.message);
}

#[test]
fn check_needs_a_command() {
    let a = Avfs::with_vault();
    let (err, status) = a.fails(["policy", "check"]);
    assert_eq!(err.code, "usage_error");
    assert_eq!(status, 2);
}

#[test]
fn a_fork_starts_with_its_source_policy_and_can_change_it_alone() {
    let a = Avfs::with_vault();
    let file = policy_file(&a, "p.json", EXAMPLE);
    a.ok(["policy".as_ref(), "set".as_ref(), file.as_os_str()]);
    a.ok(["vault", "fork", "main", "task", "--use"]);
    let (d, status) = check(&a, &[], &["curl", "x"]);
    assert_eq!(
        (d.allowed, status, d.policy.as_str()),
        (false, 126, "vault")
    );
    // A new policy on the fork leaves the source's alone.
    let open = policy_file(&a, "open.json", r#"{"commands": {"allow": ["*"]}}"#);
    a.ok(["policy".as_ref(), "set".as_ref(), open.as_os_str()]);
    assert!(check(&a, &[], &["curl", "x"]).0.allowed);
    let (d, _) = check(&a, &["--policy", file.to_str().unwrap()], &["curl", "x"]);
    assert!(!d.allowed, "the file still denies");
    a.ok(["vault", "use", "main"]);
    assert!(
        !check(&a, &[], &["curl", "x"]).0.allowed,
        "the source keeps its policy"
    );
}
