//! The policy document: serde structs, value types (durations, sizes, globs,
//! ops) and parsing with errors that name the bad field.

use super::error::PolicyError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A policy document as written; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Policy")]
pub struct PolicySpec {
    /// Which programs may run; absent allows every command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<CommandRules>,
    /// Which vault paths may be touched, and how; absent allows everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<PathRule>>,
    /// The environment a command sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvRules>,
    /// How long a command may run before it is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<DurationSpec>,
    /// How long a stopped command gets between SIGTERM and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub grace: Option<DurationSpec>,
    /// When to checkpoint around a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointMode>,
    /// How much of a command's output is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub output_limit: Option<ByteSize>,
    /// Directories a summarized run reports once each (`proxy exec --changes
    /// summary`): names or name paths such as `node_modules` or `.git/objects`,
    /// matched at any depth [default: node_modules, target, .venv, __pycache__, .git/objects].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<String>>")]
    pub rollup: Option<Vec<RollupDir>>,
    /// What a run's merge does with paths the vault changed differently meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<ConflictPolicy>,
    /// The absolute path the vault appears at inside a run (default `/workspace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Which remote the vault is pushed to around runs, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteRule>,
    /// Runs isolated from the host (as `proxy exec --isolate`), and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationRule>,
}

/// An isolated run: the host read-only except the workspace, a private
/// `/tmp` and `$HOME`, chosen host paths hidden, and the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsolationRule {
    /// The run's network [default: none].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkMode>,
    /// Host paths the run cannot see (absolute, or `~/` for the run's `$HOME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide: Option<Vec<String>>,
}

/// The network an isolated run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// Its own network namespace with only loopback up.
    None,
    /// The host's.
    Host,
}

/// A remote to push the vault to after each run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteRule {
    /// The remote's name (`avfs remote add NAME ...`).
    pub name: String,
    /// When to push.
    pub push: PushWhen,
}

/// When a run pushes its vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushWhen {
    /// After every run that was allowed to start.
    AfterRun,
    /// Never by itself (`proxy exec --push` still pushes).
    Never,
}

/// Command allow and deny globs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRules {
    /// Globs a command must match (one of them); absent allows every command not denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<String>>")]
    pub allow: Option<Vec<CommandGlob>>,
    /// Globs that refuse a command, whatever `allow` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub deny: Vec<CommandGlob>,
}

/// One path rule: a vault-relative glob and the operations it allows (or a denial).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    /// Vault-relative glob (`src/**`); a leading `/` is dropped.
    #[schemars(with = "String")]
    pub glob: PathGlob,
    /// Operations this rule allows.
    #[serde(default)]
    #[schemars(with = "Vec<OpName>")]
    pub ops: Vec<Op>,
    /// Refuses every operation on matching paths, whatever other rules say.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Environment pass-through and fixed variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvRules {
    /// Variables passed through from the caller's environment.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub pass: Vec<EnvName>,
    /// Variables set to fixed values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

/// When to checkpoint around a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointMode {
    /// Checkpoint before every run that may write (not read-only ones).
    Auto,
    /// Checkpoint before every run, read-only ones too.
    Always,
    /// Keep no checkpoint (a temporary one still anchors the run's diff).
    Never,
}

/// An operation's name, as the policy schema shows it.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum OpName {
    Read,
    Write,
    Create,
    Delete,
}

/// What a run's merge does with conflicting paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    /// Apply nothing of the run; keep its changes as a fork named after it.
    Keep,
    /// Conflicting paths keep the vault's version.
    Ours,
    /// Conflicting paths take the run's version.
    Theirs,
}

/// An operation on a vault path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Op {
    /// Reading a file or listing a directory.
    Read,
    /// Changing an existing file.
    Write,
    /// Creating a new path.
    Create,
    /// Removing a path.
    Delete,
    /// Giving an existing file another name (a hard link). Not an operation a
    /// rule grants: it needs the rights of reading the file linked, and is
    /// only named in violations.
    Link,
}

impl Op {
    /// Every operation a rule can grant.
    pub const ALL: [Op; 4] = [Op::Read, Op::Write, Op::Create, Op::Delete];

    /// The operation's name in a policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Create => "create",
            Op::Delete => "delete",
            Op::Link => "link",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Op::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| format!("unknown op {s:?} (expected read, write, create or delete)"))
    }
}

impl TryFrom<String> for Op {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Op> for String {
    fn from(op: Op) -> String {
        op.as_str().to_string()
    }
}

/// A command glob (`git push *`), checked to compile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommandGlob(pub String);

impl CommandGlob {
    /// Compiles the glob; `*` also matches `/`.
    pub fn compile(&self) -> Result<globset::Glob, String> {
        compile_glob(&self.0, false)
    }
}

impl TryFrom<String> for CommandGlob {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        compile_glob(&s, false)?;
        Ok(Self(s))
    }
}

impl From<CommandGlob> for String {
    fn from(g: CommandGlob) -> String {
        g.0
    }
}

/// A vault-relative path glob (`src/**`), checked to compile, leading `/` dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathGlob(pub String);

impl PathGlob {
    /// Compiles the glob; `*` stays within one path component, `**` crosses them.
    pub fn compile(&self) -> Result<globset::Glob, String> {
        compile_glob(&self.0, true)
    }
}

impl TryFrom<String> for PathGlob {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let trimmed = s.trim_start_matches('/');
        let normalized = if trimmed.is_empty() && !s.is_empty() {
            "**".to_string()
        } else {
            trimmed.to_string()
        };
        compile_glob(&normalized, true)?;
        if let Some(why) = never_matches(&normalized) {
            return Err(format!("glob {s:?} can never match: {why}"));
        }
        Ok(Self(normalized))
    }
}

impl From<PathGlob> for String {
    fn from(g: PathGlob) -> String {
        g.0
    }
}

/// Longest name in a vault path (the store's `NAME_MAX`, as on Linux).
const NAME_MAX: usize = 255;

/// Why a vault-path glob (leading `/` already dropped) can match no path, if
/// it cannot: vault paths are normalized (no empty, `.` or `..` components),
/// never leave the vault, hold no NUL and have names of at most 255 bytes.
fn never_matches(glob: &str) -> Option<&'static str> {
    for component in glob.split('/') {
        match component {
            "" => return Some("vault paths have no empty components (no '//', no trailing '/')"),
            "." | ".." => {
                return Some(
                    "vault paths are normalized: no '.' or '..', nothing outside the vault",
                );
            }
            c if c.len() > NAME_MAX && !c.contains(['*', '?', '[', '{']) => {
                return Some("a name is longer than 255 bytes");
            }
            _ => {}
        }
    }
    None
}

fn compile_glob(s: &str, literal_separator: bool) -> Result<globset::Glob, String> {
    if s.is_empty() {
        return Err("empty glob".to_string());
    }
    if s.len() > super::limits::MAX_GLOB_BYTES {
        return Err(format!(
            "a glob of {} bytes; at most {} are allowed",
            s.len(),
            super::limits::MAX_GLOB_BYTES
        ));
    }
    if s.contains('\0') {
        return Err("a glob with a NUL byte can never match".to_string());
    }
    globset::GlobBuilder::new(s)
        .literal_separator(literal_separator)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("invalid glob {s:?}: {}", e.kind()))
}

/// An environment variable name: non-empty, no `=` and no NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvName(pub String);

fn check_env_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.contains('=') || s.contains('\0') {
        Err(format!("invalid environment variable name {s:?}"))
    } else {
        Ok(())
    }
}

impl TryFrom<String> for EnvName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        check_env_name(&s)?;
        Ok(Self(s))
    }
}

impl From<EnvName> for String {
    fn from(n: EnvName) -> String {
        n.0
    }
}

/// A directory to roll up: one or more names joined by `/` (`node_modules`,
/// `.git/objects`), without `.`, `..`, empty names or a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RollupDir(pub String);

impl RollupDir {
    /// Its names, as path components.
    pub fn names(&self) -> Vec<Vec<u8>> {
        self.0.split('/').map(|n| n.as_bytes().to_vec()).collect()
    }
}

impl TryFrom<String> for RollupDir {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = s.is_empty()
            || s.contains('\0')
            || s.split('/').any(|n| n.is_empty() || n == "." || n == "..");
        if bad {
            return Err(format!(
                "invalid roll-up directory {s:?}: names joined by '/', like \"node_modules\" or \".git/objects\""
            ));
        }
        Ok(Self(s))
    }
}

impl From<RollupDir> for String {
    fn from(d: RollupDir) -> String {
        d.0
    }
}

/// A duration written as an integer and a unit: `500ms`, `30s`, `10m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DurationSpec(pub Duration);

impl FromStr for DurationSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid duration {s:?} (expected e.g. 500ms, 30s, 10m, 1h)");
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let ms_per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(ms_per).ok_or_else(bad)?;
        Ok(Self(Duration::from_millis(ms)))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (unit, per) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if ms != 0 && ms.is_multiple_of(per) {
                return write!(f, "{}{unit}", ms / per);
            }
        }
        if ms == 0 {
            f.write_str("0s")
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl TryFrom<String> for DurationSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DurationSpec> for String {
    fn from(d: DurationSpec) -> String {
        d.to_string()
    }
}

/// A size in bytes, written as an integer with an optional binary unit:
/// `512`, `512B`, `64KiB`, `1MiB`, `2GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid size {s:?} (expected e.g. 512, 64KiB, 1MiB, 1GiB)");
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let per = match unit {
            "" | "B" => 1,
            _ => SIZE_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, per)| *per)
                .ok_or_else(bad)?,
        };
        Ok(Self(n.checked_mul(per).ok_or_else(bad)?))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, per) in SIZE_UNITS {
            if self.0 != 0 && self.0.is_multiple_of(per) {
                return write!(f, "{}{unit}", self.0 / per);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl TryFrom<String> for ByteSize {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ByteSize> for String {
    fn from(b: ByteSize) -> String {
        b.to_string()
    }
}

impl PolicySpec {
    /// Parses and validates a policy document; errors name the bad field.
    /// Refuses documents over [`MAX_POLICY_BYTES`](super::limits::MAX_POLICY_BYTES)
    /// and objects with a repeated key.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        Self::from_value(super::limits::parse_strict(text)?)
    }

    /// Validates an already-parsed JSON value as a policy document.
    pub fn from_value(value: serde_json::Value) -> Result<Self, PolicyError> {
        if !value.is_object() {
            return Err(PolicyError::new("", "a policy must be a JSON object"));
        }
        super::limits::check_counts(&value)?;
        let spec: PolicySpec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            PolicyError::new(path, e.into_inner().to_string())
        })?;
        if let Some(env) = &spec.env {
            for (i, name) in env.pass.iter().enumerate() {
                if super::withheld_from_runs(&name.0) {
                    return Err(PolicyError::new(
                        format!("env.pass[{i}]"),
                        format!("{}: {}", name.0, super::WITHHELD_REASON),
                    ));
                }
            }
            for (key, value) in &env.set {
                if super::withheld_from_runs(key) {
                    return Err(PolicyError::new(
                        format!("env.set.{key}"),
                        super::WITHHELD_REASON,
                    ));
                }
                check_env_name(key).map_err(|m| PolicyError::new(format!("env.set.{key}"), m))?;
                if value.contains('\0') {
                    return Err(PolicyError::new(
                        format!("env.set.{key}"),
                        "the value contains a NUL byte, which no environment can hold",
                    ));
                }
            }
        }
        if let Some(hide) = spec.isolation.as_ref().and_then(|i| i.hide.as_ref()) {
            for (i, path) in hide.iter().enumerate() {
                let ok = (path.starts_with('/') || path.starts_with("~/"))
                    && !path.contains('\0')
                    && !path.split('/').any(|c| c == ".." || c == ".");
                if !ok {
                    return Err(PolicyError::new(
                        format!("isolation.hide[{i}]"),
                        format!(
                            "{path:?}: give an absolute path or one starting with ~/, without . or .."
                        ),
                    ));
                }
            }
        }
        Ok(spec)
    }

    /// The normalized document (canonical durations and sizes, globs without a leading `/`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a policy always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        PolicySpec::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn isolation_parses_and_hidden_paths_must_be_absolute_or_home_relative() {
        let spec = PolicySpec::parse(
            r#"{"isolation": {"network": "host", "hide": ["~/.ssh", "/etc/secret"]}}"#,
        )
        .unwrap();
        let isolation = spec.isolation.unwrap();
        assert_eq!(isolation.network, Some(NetworkMode::Host));
        assert_eq!(isolation.hide.unwrap(), ["~/.ssh", "/etc/secret"]);
        assert_eq!(
            PolicySpec::parse(r#"{"isolation": {}}"#).unwrap().isolation,
            Some(IsolationRule::default())
        );
        assert!(err(r#"{"isolation": {"hide": ["relative"]}}"#).contains("isolation.hide[0]"));
        assert!(err(r#"{"isolation": {"hide": ["/a", "/a/../b"]}}"#).contains("isolation.hide[1]"));
        assert!(err(r#"{"isolation": {"network": "wifi"}}"#).contains("isolation.network"));
        assert!(err(r#"{"isolation": {"net": "none"}}"#).contains("isolation"));
    }

    #[test]
    fn policy_parses_the_full_example() {
        let spec = PolicySpec::parse(
            r#"{
              "commands": { "allow": ["cargo *", "git *"], "deny": ["git push *"] },
              "paths": [
                { "glob": "**", "ops": ["read"] },
                { "glob": "/src/**", "ops": ["read", "write", "create", "delete"] },
                { "glob": "secrets/**", "ops": [], "deny": true }
              ],
              "env": { "pass": ["PATH", "HOME"], "set": { "CI": "1" } },
              "timeout": "10m", "grace": "2000ms",
              "checkpoint": "auto",
              "output_limit": "1024KiB"
            }"#,
        )
        .unwrap();
        assert_eq!(spec.paths.as_ref().unwrap()[1].glob.0, "src/**");
        assert!(spec.paths.as_ref().unwrap()[2].deny);
        assert_eq!(spec.timeout.unwrap().0, Duration::from_secs(600));
        assert_eq!(spec.checkpoint, Some(CheckpointMode::Auto));
        let json = spec.to_json();
        assert_eq!(json["grace"], "2s");
        assert_eq!(json["output_limit"], "1MiB");
        assert_eq!(json["paths"][1]["glob"], "src/**");
        assert!(json["paths"][0].get("deny").is_none());
        // The normalized form parses back to the same policy.
        assert_eq!(PolicySpec::from_value(json).unwrap(), spec);
    }

    #[test]
    fn policy_empty_document_is_valid() {
        assert_eq!(PolicySpec::parse("{}").unwrap(), PolicySpec::default());
        assert_eq!(PolicySpec::default().to_json(), serde_json::json!({}));
    }

    #[test]
    fn policy_errors_name_the_field() {
        assert!(err(r#"{"bogus": 1}"#).starts_with("bogus: unknown field `bogus`"));
        assert!(err(r#"{"commands": {"alow": []}}"#).starts_with("commands.alow: unknown field"));
        assert!(
            err(r#"{"paths": [{"glob": "a", "ops": []}, {"glob": "b", "ops": []}, {"glob": "c", "ops": ["read", "exec"]}]}"#)
                .starts_with(r#"paths[2].ops[1]: unknown op "exec""#)
        );
        assert!(
            err(r#"{"paths": [{"glob": "a", "ops": [], "when": 1}]}"#)
                .starts_with("paths[0].when: unknown field")
        );
        assert!(
            err(r#"{"timeout": "5 minutes"}"#)
                .starts_with(r#"timeout: invalid duration "5 minutes""#)
        );
        assert!(err(r#"{"grace": 5}"#).starts_with("grace: invalid type"));
        assert!(
            err(r#"{"output_limit": "1MB"}"#).starts_with(r#"output_limit: invalid size "1MB""#)
        );
        assert!(err(r#"{"checkpoint": "sometimes"}"#).starts_with("checkpoint: unknown variant"));
        assert!(
            err(r#"{"commands": {"deny": ["ok", "git [push"]}}"#)
                .starts_with(r#"commands.deny[1]: invalid glob "git [push""#)
        );
        assert!(
            err(r#"{"paths": [{"glob": "src/{a"}]}"#).starts_with("paths[0].glob: invalid glob")
        );
        assert!(
            err(r#"{"paths": [{"ops": ["read"]}]}"#).starts_with("paths[0]: missing field `glob`")
        );
        assert!(
            err(r#"{"env": {"pass": ["A=B"]}}"#)
                .starts_with("env.pass[0]: invalid environment variable name")
        );
        assert!(
            err(r#"{"env": {"set": {"A=B": "1"}}}"#)
                .starts_with("env.set.A=B: invalid environment variable name")
        );
        assert!(
            err(r#"{"env": {"pass": ["PATH", "AWS_SECRET_ACCESS_KEY"]}}"#)
                .starts_with("env.pass[1]: AWS_SECRET_ACCESS_KEY: AWS credentials")
        );
        assert!(
            err(r#"{"env": {"set": {"AWS_PROFILE": "prod"}}}"#)
                .starts_with("env.set.AWS_PROFILE: AWS credentials")
        );
        assert!(PolicySpec::parse(r#"{"env": {"pass": ["AWS_REGION"]}}"#).is_ok());
        assert!(err("[]").contains("must be a JSON object"));
        assert!(err("{").starts_with("not valid JSON"));
    }

    #[test]
    fn policy_durations() {
        let d = |s: &str| s.parse::<DurationSpec>().map(|d| d.0);
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(d("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(d("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(d("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "5",
            "s",
            "5 minutes",
            "1.5s",
            "-1s",
            "10M",
            "1d",
            "99999999999999999999h",
        ] {
            assert!(d(bad).is_err(), "{bad:?} should be refused");
        }
        let show = |s: &str| s.parse::<DurationSpec>().unwrap().to_string();
        assert_eq!(show("1500ms"), "1500ms");
        assert_eq!(show("120s"), "2m");
        assert_eq!(show("60m"), "1h");
        assert_eq!(show("0ms"), "0s");
    }

    #[test]
    fn policy_sizes() {
        let b = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(b("512"), Ok(512));
        assert_eq!(b("512B"), Ok(512));
        assert_eq!(b("64KiB"), Ok(64 << 10));
        assert_eq!(b("1MiB"), Ok(1 << 20));
        assert_eq!(b("2GiB"), Ok(2 << 30));
        for bad in [
            "",
            "MiB",
            "1 MiB",
            "1MB",
            "1.5MiB",
            "-1",
            "99999999999999999999GiB",
        ] {
            assert!(b(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(ByteSize(1536).to_string(), "1536");
        assert_eq!(ByteSize(2048).to_string(), "2KiB");
        assert_eq!(ByteSize(0).to_string(), "0");
    }

    #[test]
    fn policy_ops_parse() {
        assert_eq!("write".parse::<Op>(), Ok(Op::Write));
        assert!(
            "exec"
                .parse::<Op>()
                .unwrap_err()
                .starts_with(r#"unknown op "exec""#)
        );
    }
}
