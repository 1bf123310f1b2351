//! `avfs policy set|show|check`: store a vault's policy, print it, and explain
//! what it decides for a command without running anything.

use super::args::PolicyCommand;
use super::error::{CliError, CliResult, ExitStatus};
use super::wire_docs::{PolicyCheckDoc, PolicyDoc, to_json};
use super::{Ctx, Output};
use crate::policy::limits::MAX_POLICY_BYTES;
use crate::policy::{Policy, PolicyError, PolicySpec};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;

/// Exit status of `policy check` when the command would be refused (as a shell
/// reports a command found but not executable).
const DENIED: u8 = 126;

/// Reads and validates a policy file, reading at most one byte past the
/// largest policy (so `/dev/zero` or a huge file fails fast, in bounded memory).
fn load(file: &Path) -> CliResult<Policy> {
    let in_file = |e: PolicyError| {
        let mut err = CliError::from(e);
        err.message = format!("{} (in {})", err.message, file.display());
        err
    };
    let opened = std::fs::File::open(file).map_err(|e| CliError::host_io(file, e))?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_POLICY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::host_io(file, e))?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(in_file(crate::policy::limits::too_large()));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| in_file(PolicyError::new("", "not valid JSON: not UTF-8 text")))?;
    Policy::parse(&text).map_err(in_file)
}

/// The vault's stored policy document, if any.
fn stored(ctx: &mut Ctx, vault: &str) -> CliResult<Option<Value>> {
    let Some(text) = ctx.store()?.policy(vault)? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        CliError::new(
            "store_corrupt",
            ExitStatus::Storage,
            format!("the stored policy of {vault} is not JSON: {e}"),
        )
    })
}

/// Runs one `policy` subcommand.
pub fn run(ctx: &mut Ctx, cmd: PolicyCommand) -> CliResult<Output> {
    match cmd {
        PolicyCommand::Set { file } => {
            let vault = ctx.vault()?;
            let policy = load(&file)?;
            let normalized = policy.spec().to_json();
            ctx.store()?.set_policy(&vault, &normalized.to_string())?;
            Ok(Output::doc(
                to_json(&PolicyDoc {
                    vault: vault.clone(),
                    policy: Some(normalized),
                }),
                format!("set the policy of {vault} from {}", file.display()),
            ))
        }
        PolicyCommand::Show => {
            let vault = ctx.vault()?;
            let policy = stored(ctx, &vault)?;
            let text = match &policy {
                Some(p) => serde_json::to_string_pretty(p).expect("JSON value serializes"),
                None => format!("{vault} has no policy: every command is allowed"),
            };
            Ok(Output::doc(
                to_json(&PolicyDoc {
                    vault: vault.clone(),
                    policy,
                }),
                text,
            ))
        }
        PolicyCommand::Check { policy, command } => check(ctx, policy.as_deref(), &command),
    }
}

/// The policy that applies: `file` if given, else the vault's stored one,
/// else none; with where it came from ("file", "vault" or "none") and, for
/// people, which file or vault that is.
pub fn resolve(
    ctx: &mut Ctx,
    vault: Option<&str>,
    file: Option<&Path>,
) -> CliResult<(Option<Policy>, &'static str, String)> {
    if let Some(f) = file {
        return Ok((Some(load(f)?), "file", f.display().to_string()));
    }
    let Some(vault) = vault else {
        return Ok((None, "none", String::new()));
    };
    let Some(text) = ctx.store()?.policy(vault)? else {
        return Ok((None, "none", String::new()));
    };
    // Stored policies were validated when set; a failure here is corruption.
    let spec = PolicySpec::parse(&text).map_err(|e| {
        CliError::new(
            "store_corrupt",
            ExitStatus::Storage,
            format!("the stored policy of {vault} is invalid: {e}"),
        )
    })?;
    Ok((Some(Policy::new(spec)?), "vault", format!("vault {vault}")))
}

fn check(ctx: &mut Ctx, file: Option<&Path>, command: &[OsString]) -> CliResult<Output> {
    let vault = if file.is_some() {
        None
    } else {
        match ctx.vault() {
            Ok(vault) => Some(vault),
            // No vault selected at all: there is no stored policy to apply.
            Err(e) if e.code == "no_current_vault" => None,
            Err(e) => return Err(e),
        }
    };
    let (policy, source, from) = resolve(ctx, vault.as_deref(), file)?;
    let (allowed, rule, reason) = match &policy {
        Some(p) => {
            let d = p.decide_command(command);
            (d.allowed, d.rule, d.reason)
        }
        None => (
            true,
            None,
            "there is no policy, so every command is allowed".to_string(),
        ),
    };
    let argv: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut human = format!(
        "{}: {}\n{reason}",
        if allowed { "allowed" } else { "denied" },
        argv.join(" ")
    );
    if !from.is_empty() {
        human.push_str(&format!(" (policy of {from})"));
    }
    let doc = to_json(&PolicyCheckDoc {
        allowed,
        command: argv,
        rule,
        reason,
        policy: source,
    });
    Ok(if allowed {
        Output::doc(doc, human)
    } else {
        Output::DocWithStatus {
            json: doc,
            human,
            status: DENIED,
        }
    })
}
