//! `avfs schema [DOCUMENT] [--write DIR]`: the JSON Schema of every `--json`
//! document, derived from the wire types (`wire`, `wire_docs`) with schemars.
//!
//! Adding a document: give it a type in `wire_docs`, add a row to `DOCUMENTS`,
//! then regenerate the checked-in copies with `scripts/schema` (which runs
//! `avfs schema --write docs/schema`); tests/cli_schema.rs fails until then.

use super::args_eco::SchemaArgs;
use super::error::{CliError, CliResult, ExitStatus};
use super::wire_docs as d;
use super::wire_remote as r;
use super::{Ctx, Output};
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde::Serialize;
use std::path::Path;

/// The command that regenerates the checked-in schemas.
pub const REGENERATE: &str = "scripts/schema";

/// One document: its name (and file `NAME.json`), the commands that print it,
/// and its schema.
pub struct Document {
    /// File stem and the name `avfs schema NAME` takes.
    pub name: &'static str,
    /// Commands (words after `avfs`) whose `--json` output is this document.
    pub commands: &'static [&'static str],
    /// Builds the schema.
    pub schema: fn() -> Schema,
}

/// The schema of a document avfs prints: every field it always writes is
/// required (nullable ones too), and no other field is allowed, so a field
/// added or renamed in the code without regenerating fails the pin test and
/// the wrappers' validation.
fn of<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(seal))
        .into_generator()
        .into_root_schema_for::<T>()
}

/// The schema of an input avfs reads (the policy file): what it accepts.
fn input<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// Closes an object schema to fields it does not list.
fn seal(schema: &mut Schema) {
    if schema.get("properties").is_some() && schema.get("additionalProperties").is_none() {
        schema.insert("additionalProperties".into(), false.into());
    }
}

macro_rules! doc {
    ($name:literal, [$($cmd:literal),*], $ty:ty) => {
        Document { name: $name, commands: &[$($cmd),*], schema: of::<$ty> }
    };
    ($name:literal, input, $ty:ty) => {
        Document { name: $name, commands: &[], schema: input::<$ty> }
    };
}

/// Every document avfs prints, in the order `avfs schema` lists them.
pub const DOCUMENTS: &[Document] = &[
    doc!("error", [], d::ErrorDoc),
    doc!(
        "vault",
        ["vault create", "vault info", "vault fork"],
        d::VaultDoc
    ),
    doc!("vault_list", ["vault list"], d::VaultListDoc),
    doc!("merge", ["vault merge"], d::MergeDoc),
    doc!("vault_use", ["vault use"], d::VaultUseDoc),
    doc!("vault_delete", ["vault delete"], d::VaultDeleteDoc),
    doc!("entries", ["mkdir"], d::EntriesDoc),
    doc!("entry", ["write", "stat", "cp"], d::EntryDoc),
    doc!("move", ["mv"], d::MoveDoc),
    doc!("file_content", ["cat"], d::FileContentDoc),
    doc!("listing", ["ls", "tree", "find"], d::ListingDoc),
    doc!("removed", ["rm"], d::RemovedDoc),
    doc!("import", ["import"], d::ImportDoc),
    doc!("export", ["export"], d::ExportDoc),
    doc!(
        "checkpoint",
        ["checkpoint save", "checkpoint info"],
        d::CheckpointDoc
    ),
    doc!("checkpoint_list", ["checkpoint list"], d::CheckpointListDoc),
    doc!(
        "checkpoint_restore",
        ["checkpoint restore"],
        d::CheckpointRestoreDoc
    ),
    doc!(
        "checkpoint_delete",
        ["checkpoint delete"],
        d::CheckpointDeleteDoc
    ),
    doc!("diff", ["diff"], d::DiffDoc),
    doc!("version_diff", ["diff"], d::VersionDiffDoc),
    doc!("log", ["log"], d::LogDoc),
    doc!("checkout", ["checkout"], d::CheckoutDoc),
    doc!("revert", ["revert"], d::RevertDoc),
    doc!("search", ["search"], d::SearchDoc),
    doc!(
        "quota",
        ["quota set", "quota show", "quota clear"],
        d::QuotaDoc
    ),
    doc!("prune", ["prune"], d::PruneDoc),
    doc!("retention", ["retention"], d::RetentionDoc),
    doc!("compact", ["compact"], d::CompactDoc),
    doc!("gc", ["gc"], d::GcDoc),
    doc!("mount", ["mount"], d::MountDoc),
    doc!("unmount", ["unmount"], d::UnmountDoc),
    doc!("mounts", ["mounts"], d::MountsDoc),
    doc!("policy", ["policy set", "policy show"], d::PolicyDoc),
    doc!("policy_check", ["policy check"], d::PolicyCheckDoc),
    doc!("policy_file", input, crate::policy::PolicySpec),
    doc!("audit", ["audit"], d::AuditDoc),
    doc!("audit_verify", ["audit verify"], d::AuditVerifyDoc),
    doc!("grep", ["grep"], d::GrepDoc),
    doc!("stats", ["stats"], d::StatsDoc),
    doc!("verify", ["verify"], d::VerifyDoc),
    doc!("run", ["proxy exec"], d::RunDoc),
    doc!("remote", ["remote add"], r::RemoteDoc),
    doc!("remote_list", ["remote list"], r::RemoteListDoc),
    doc!("remote_remove", ["remote remove"], r::RemoteRemoveDoc),
    doc!("remote_check", ["remote check"], r::RemoteCheckDoc),
    doc!("remote_gc", ["remote gc"], r::RemoteGcDoc),
    doc!("push", ["push"], r::PushDoc),
    doc!("pull", ["pull"], r::PullDoc),
    doc!("clone", ["clone"], r::CloneDoc),
    doc!("remote_vault_list", ["vault list"], r::RemoteVaultListDoc),
    doc!("schema_index", ["schema"], SchemaIndex),
    doc!("written", ["schema", "man"], WrittenDoc),
    doc!(
        "completions",
        ["completions"],
        super::cmd_completions::CompletionsDoc
    ),
    doc!("man", ["man"], super::cmd_completions::ManDoc),
];

/// `schema` without a document: which documents exist and who prints them
/// (also written as `index.json`).
#[derive(Serialize, JsonSchema, Debug)]
pub struct SchemaIndex {
    /// How to regenerate the checked-in files.
    pub regenerate: &'static str,
    /// Every document.
    pub documents: Vec<IndexEntry>,
}

/// One document in the index.
#[derive(Serialize, JsonSchema, Debug)]
pub struct IndexEntry {
    /// Its name (`avfs schema NAME`).
    pub name: &'static str,
    /// Its file in docs/schema.
    pub file: String,
    /// Commands whose `--json` output it is (none: the error document,
    /// printed by any command that fails, and the policy file, an input).
    pub commands: Vec<&'static str>,
}

/// The index document.
pub fn index() -> SchemaIndex {
    SchemaIndex {
        regenerate: REGENERATE,
        documents: DOCUMENTS
            .iter()
            .map(|d| IndexEntry {
                name: d.name,
                file: format!("{}.json", d.name),
                commands: d.commands.to_vec(),
            })
            .collect(),
    }
}

/// A schema as its checked-in file holds it: pretty JSON and a newline.
pub fn render(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("schemas serialize");
    text.push('\n');
    text
}

/// Every file `--write` produces: `(file name, content)`.
pub fn files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = DOCUMENTS
        .iter()
        .map(|d| (format!("{}.json", d.name), render(&(d.schema)())))
        .collect();
    let mut index = serde_json::to_string_pretty(&index()).expect("index serializes");
    index.push('\n');
    out.push(("index.json".into(), index));
    out
}

/// Runs `schema`.
pub fn run(ctx: &mut Ctx, args: SchemaArgs) -> CliResult<Output> {
    if let Some(dir) = &args.write {
        return write(dir);
    }
    match &args.document {
        Some(name) => {
            let doc = DOCUMENTS.iter().find(|d| d.name == name).ok_or_else(|| {
                CliError::new(
                    "document_not_found",
                    ExitStatus::NotFound,
                    format!("no JSON document is called '{name}'"),
                )
                .hint("`avfs schema` lists them")
            })?;
            let schema = (doc.schema)();
            let human = render(&schema);
            Ok(Output::doc(schema.to_value(), human))
        }
        None => {
            let index = index();
            let mut text = vec![format!("{:<20} commands", "document")];
            for e in &index.documents {
                let commands = if e.commands.is_empty() {
                    "(any failing command)".to_string()
                } else {
                    e.commands.join(", ")
                };
                let commands = if e.name == "policy_file" {
                    "(the input of policy set / --policy)".to_string()
                } else {
                    commands
                };
                text.push(format!("{:<20} {commands}", e.name));
            }
            let _ = ctx;
            Ok(Output::doc(d::to_json(&index), text.join("\n")))
        }
    }
}

/// Writes every schema and `index.json` into `dir`, removing stale `.json` files.
fn write(dir: &Path) -> CliResult<Output> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::host_io(dir, e))?;
    let files = files();
    let keep: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let listing = std::fs::read_dir(dir).map_err(|e| CliError::host_io(dir, e))?;
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !keep.contains(&name.as_str()) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| CliError::host_io(&path, e))?;
        }
    }
    for (name, content) in &files {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|e| CliError::host_io(&path, e))?;
    }
    let written: Vec<String> = files
        .iter()
        .map(|(n, _)| dir.join(n).to_string_lossy().into_owned())
        .collect();
    let human = format!("wrote {} schema files to {}", written.len(), dir.display());
    Ok(Output::doc(d::to_json(&WrittenDoc { written }), human))
}

/// `schema --write DIR` and `man --write DIR`: the files written.
#[derive(Serialize, JsonSchema, Debug)]
pub struct WrittenDoc {
    /// Their paths.
    pub written: Vec<String>,
}
