//! `avfs verify`: checks the whole store (chunk hashes, content lists,
//! references, SQLite's integrity check, the journal) and reports every fault
//! with the vault paths it reaches. A damaged store is an answer, not an
//! error: the report is printed and avfs exits 5 (`store_corrupt`).

use super::error::{CliResult, ExitStatus};
use super::human;
use super::wire::WirePath;
use super::wire_docs::{VerifyChecked, VerifyDoc, VerifyFault, VerifyPath, to_json};
use super::{Ctx, Output};
use crate::vault::verify::{AffectedPath, Fault};

fn wire_path(p: &AffectedPath) -> VerifyPath {
    VerifyPath {
        vault: p.vault.clone(),
        checkpoint: p.checkpoint.clone(),
        path: WirePath::from_path(&p.path),
        version: p.version,
    }
}

fn wire_fault(f: &Fault) -> VerifyFault {
    VerifyFault {
        kind: f.kind.as_str(),
        message: f.message.clone(),
        chunk: f.chunk,
        content: f.content.map(|c| c.to_hex()),
        paths: f.paths.iter().map(wire_path).collect(),
    }
}

fn path_line(p: &AffectedPath) -> String {
    let at = match &p.checkpoint {
        Some(c) => format!("{}@{c}", p.vault),
        None => p.vault.clone(),
    };
    match p.version {
        Some(v) => format!("    {at}:{} (version {v})", p.path),
        None => format!("    {at}:{}", p.path),
    }
}

/// `avfs verify`
pub fn run(ctx: &mut Ctx) -> CliResult<Output> {
    let report = ctx.store()?.verify()?;
    let intact = report.intact();
    let doc = to_json(&VerifyDoc {
        intact,
        code: if intact { None } else { Some("store_corrupt") },
        checked: VerifyChecked {
            chunks: report.chunks,
            bytes: report.bytes,
            contents: report.contents,
            layers: report.layers,
        },
        faults: report.faults.iter().map(wire_fault).collect(),
    });
    let mut lines = vec![format!(
        "checked {} chunks ({}), {} contents, {} layers",
        report.chunks,
        human::size(report.bytes),
        report.contents,
        report.layers
    )];
    if intact {
        lines.push("store intact".into());
        return Ok(Output::doc(doc, lines.join("\n")));
    }
    for fault in &report.faults {
        lines.push(format!("{}: {}", fault.kind.as_str(), fault.message));
        lines.extend(fault.paths.iter().map(path_line));
    }
    lines.push(format!("store corrupt: {} faults", report.faults.len()));
    Ok(Output::DocWithStatus {
        json: doc,
        human: lines.join("\n"),
        status: ExitStatus::Storage as u8,
    })
}
