//! A compiled policy and its decisions on commands and path operations.

use super::error::PolicyError;
use super::model::{CommandGlob, Op, PolicySpec};
use globset::GlobMatcher;
use std::ffi::OsString;
use std::path::Path;

/// A validated policy with its globs compiled. `Policy::default()` allows everything.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    spec: PolicySpec,
    allow: Option<Vec<CommandRule>>,
    deny: Vec<CommandRule>,
    paths: Option<Vec<(String, GlobMatcher)>>,
}

/// Whether a command may run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandDecision {
    /// The command may run.
    pub allowed: bool,
    /// The glob that decided, if one did (the deny glob, or the allow glob).
    pub rule: Option<String>,
    /// One sentence explaining the decision.
    pub reason: String,
}

/// The path rule that decided a path operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRuleRef {
    /// Index of the rule in `paths`.
    pub index: usize,
    /// The rule's glob.
    pub glob: String,
}

/// Whether an operation on a vault path is allowed, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathDecision {
    /// The operation is allowed.
    pub allowed: bool,
    /// The rule that decided; `None` when no rule matched (or there are no path rules).
    pub rule: Option<PathRuleRef>,
}

/// One compiled command glob.
#[derive(Debug, Clone)]
struct CommandRule {
    text: String,
    matcher: GlobMatcher,
    /// For `PROGRAM ARGS *`, the same without ` *`: `git push *` must also catch
    /// a bare `git push` (a deny rule that missed it would let the default push through).
    bare: Option<GlobMatcher>,
}

impl CommandRule {
    fn is_match(&self, candidate: &str) -> bool {
        self.matcher.is_match(candidate)
            || self.bare.as_ref().is_some_and(|b| b.is_match(candidate))
    }
}

fn compile_all(globs: &[CommandGlob], field: &str) -> Result<Vec<CommandRule>, PolicyError> {
    globs
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let at = |m| PolicyError::new(format!("{field}[{i}]"), m);
            let matcher = g.compile().map_err(at)?.compile_matcher();
            let bare = match g.0.strip_suffix(" *").filter(|b| !b.is_empty()) {
                Some(b) => Some(
                    CommandGlob(b.to_string())
                        .compile()
                        .map_err(at)?
                        .compile_matcher(),
                ),
                None => None,
            };
            Ok(CommandRule {
                text: g.0.clone(),
                matcher,
                bare,
            })
        })
        .collect()
}

impl Policy {
    /// Parses, validates and compiles a policy document.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        Self::new(PolicySpec::parse(text)?)
    }

    /// Compiles a validated document.
    pub fn new(spec: PolicySpec) -> Result<Self, PolicyError> {
        let (allow, deny) = match &spec.commands {
            None => (None, Vec::new()),
            Some(c) => (
                c.allow
                    .as_ref()
                    .map(|a| compile_all(a, "commands.allow"))
                    .transpose()?,
                compile_all(&c.deny, "commands.deny")?,
            ),
        };
        let paths = spec
            .paths
            .as_ref()
            .map(|rules| {
                rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        r.glob
                            .compile()
                            .map(|g| (r.glob.0.clone(), g.compile_matcher()))
                            .map_err(|m| PolicyError::new(format!("paths[{i}].glob"), m))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            spec,
            allow,
            deny,
            paths,
        })
    }

    /// The document this policy was compiled from.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// Decides whether `argv` (program first) may run. Globs are matched against
    /// the program's basename, the command line (arguments joined by spaces) and
    /// the command line with the program replaced by its basename, so that
    /// `/usr/bin/git push` cannot slip past `git push *`. Deny beats allow.
    pub fn decide_command(&self, argv: &[OsString]) -> CommandDecision {
        let args: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let program = args.first().map(String::as_str).unwrap_or("");
        let base = Path::new(program)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.to_string());
        let line = args.join(" ");
        let mut base_line = base.clone();
        for a in args.iter().skip(1) {
            base_line.push(' ');
            base_line.push_str(a);
        }
        let candidates = [
            (base.as_str(), "the program name"),
            (line.as_str(), "the command line"),
            (base_line.as_str(), "the command line"),
        ];
        let find = |rules: &[CommandRule]| {
            rules.iter().find_map(|rule| {
                candidates
                    .iter()
                    .find(|(c, _)| rule.is_match(c))
                    .map(|(_, what)| (rule.text.clone(), *what))
            })
        };
        if self.spec.commands.is_none() {
            return CommandDecision {
                allowed: true,
                rule: None,
                reason: "the policy has no command rules, so every command is allowed".into(),
            };
        }
        if let Some((rule, what)) = find(&self.deny) {
            return CommandDecision {
                allowed: false,
                reason: format!("deny rule {rule:?} matches {what}"),
                rule: Some(rule),
            };
        }
        match &self.allow {
            None => CommandDecision {
                allowed: true,
                rule: None,
                reason: "no deny rule matches and there is no allow list".into(),
            },
            Some(allow) => match find(allow) {
                Some((rule, what)) => CommandDecision {
                    allowed: true,
                    reason: format!("allow rule {rule:?} matches {what}"),
                    rule: Some(rule),
                },
                None => CommandDecision {
                    allowed: false,
                    rule: None,
                    reason: "no allow rule matches the program name or the command line".into(),
                },
            },
        }
    }

    /// Decides whether `op` may be done on a vault path (a leading `/` is
    /// ignored). A matching deny rule refuses; else a matching rule listing `op`
    /// allows; else refused. Everything is allowed when the policy has no path rules.
    pub fn decide_path(&self, path: &str, op: Op) -> PathDecision {
        let Some(matchers) = &self.paths else {
            return PathDecision {
                allowed: true,
                rule: None,
            };
        };
        let rules = self.spec.paths.as_deref().unwrap_or_default();
        let rel = path.trim_start_matches('/');
        let matching = || {
            matchers
                .iter()
                .zip(rules)
                .enumerate()
                .filter(|(_, ((_, m), _))| m.is_match(rel))
        };
        let pick = |found: Option<(usize, (&(String, GlobMatcher), _))>, allowed| {
            found.map(|(index, ((glob, _), _))| PathDecision {
                allowed,
                rule: Some(PathRuleRef {
                    index,
                    glob: glob.clone(),
                }),
            })
        };
        pick(matching().find(|(_, (_, r))| r.deny), false)
            .or_else(|| pick(matching().find(|(_, (_, r))| r.ops.contains(&op)), true))
            .unwrap_or(PathDecision {
                allowed: false,
                rule: None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    fn example() -> Policy {
        Policy::parse(
            r#"{
              "commands": { "allow": ["cargo *", "git *", "python3 *", "ls"], "deny": ["git push *", "curl *"] },
              "paths": [
                { "glob": "**", "ops": ["read"] },
                { "glob": "src/**", "ops": ["read", "write", "create", "delete"] },
                { "glob": "/secrets/**", "ops": [], "deny": true }
              ]
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn policy_command_allow_and_deny() {
        let p = example();
        let d = p.decide_command(&argv("cargo build --release"));
        assert!(d.allowed);
        assert_eq!(d.rule.as_deref(), Some("cargo *"));
        let d = p.decide_command(&argv("git status"));
        assert!(d.allowed);
        assert_eq!(d.rule.as_deref(), Some("git *"));
        // Deny beats allow: `git *` matches too.
        let d = p.decide_command(&argv("git push origin main"));
        assert!(!d.allowed);
        assert_eq!(d.rule.as_deref(), Some("git push *"));
        assert!(d.reason.contains("command line"), "{}", d.reason);
        // Nothing allows it.
        let d = p.decide_command(&argv("rm -rf /"));
        assert!(!d.allowed);
        assert_eq!(d.rule, None);
    }

    #[test]
    fn policy_command_basename_and_full_line() {
        let p = example();
        // `ls` matches the basename of a full program path.
        let d = p.decide_command(&argv("/bin/ls -l"));
        assert!(d.allowed);
        assert_eq!(d.rule.as_deref(), Some("ls"));
        assert!(d.reason.contains("program name"), "{}", d.reason);
        // A full path cannot dodge a deny rule written with the bare name.
        let d = p.decide_command(&argv("/usr/bin/git push origin"));
        assert!(!d.allowed);
        assert_eq!(d.rule.as_deref(), Some("git push *"));
        // `PROGRAM ARGS *` also catches the command with nothing after it.
        let d = p.decide_command(&argv("git push"));
        assert!(
            !d.allowed,
            "a bare `git push` must not slip past `git push *`"
        );
        assert_eq!(d.rule.as_deref(), Some("git push *"));
        assert!(p.decide_command(&argv("python3")).allowed);
        // ... but not a different word that merely starts the same way.
        assert_eq!(
            p.decide_command(&argv("git pushy")).rule.as_deref(),
            Some("git *")
        );
        // A basename-only deny glob catches every use of the program.
        let p = Policy::parse(r#"{"commands": {"deny": ["curl"]}}"#).unwrap();
        assert!(!p.decide_command(&argv("/usr/bin/curl https://x")).allowed);
        assert!(p.decide_command(&argv("wget https://x")).allowed);
    }

    #[test]
    fn policy_no_rules_allow_every_command() {
        for p in [
            Policy::default(),
            Policy::parse(r#"{"timeout": "1s"}"#).unwrap(),
        ] {
            let d = p.decide_command(&argv("curl evil"));
            assert!(d.allowed);
            assert_eq!(d.rule, None);
        }
        // An empty allow list allows nothing.
        let p = Policy::parse(r#"{"commands": {"allow": []}}"#).unwrap();
        assert!(!p.decide_command(&argv("ls")).allowed);
    }

    #[test]
    fn policy_path_decisions() {
        let p = example();
        let d = p.decide_path("/README.md", Op::Read);
        assert!(d.allowed);
        assert_eq!(
            d.rule,
            Some(PathRuleRef {
                index: 0,
                glob: "**".into()
            })
        );
        let d = p.decide_path("README.md", Op::Write);
        assert_eq!(
            d,
            PathDecision {
                allowed: false,
                rule: None
            }
        );
        let d = p.decide_path("/src/a/b.rs", Op::Delete);
        assert!(d.allowed);
        assert_eq!(d.rule.unwrap().index, 1);
        // Deny beats the `**` read rule.
        let d = p.decide_path("/secrets/key", Op::Read);
        assert!(!d.allowed);
        assert_eq!(
            d.rule,
            Some(PathRuleRef {
                index: 2,
                glob: "secrets/**".into()
            })
        );
        // `*` stays within one component.
        let p = Policy::parse(r#"{"paths": [{"glob": "src/*.rs", "ops": ["read"]}]}"#).unwrap();
        assert!(p.decide_path("src/a.rs", Op::Read).allowed);
        assert!(!p.decide_path("src/x/a.rs", Op::Read).allowed);
        // No path rules: everything goes.
        assert!(
            Policy::default()
                .decide_path("/anything", Op::Delete)
                .allowed
        );
        // Present but empty: nothing goes.
        let p = Policy::parse(r#"{"paths": []}"#).unwrap();
        assert!(!p.decide_path("/a", Op::Read).allowed);
    }
}
