//! `avfs completions SHELL` and `avfs man`: shell completion scripts
//! (clap_complete) and man pages (clap_mangen), both drawn from the clap
//! definitions so they never lag behind the commands.

use super::args::{CompletionsArgs, ManArgs};
use super::cmd_schema::WrittenDoc;
use super::error::{CliError, CliResult};
use super::wire_docs::to_json;
use super::{Ctx, Output};
use schemars::JsonSchema;
use serde::Serialize;

/// `completions --json`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CompletionsDoc {
    /// The shell.
    pub shell: String,
    /// The script, as printed without `--json`.
    pub script: String,
}

/// `man --json` without `--write`.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ManDoc {
    /// The page's file name (`avfs.1`).
    pub name: String,
    /// The page, in roff.
    pub roff: String,
}

/// `avfs completions SHELL`: the script (`--json`: `{"shell", "script"}`).
pub fn completions(_ctx: &mut Ctx, args: CompletionsArgs) -> CliResult<Output> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::args::full_command(),
        "avfs",
        &mut script,
    );
    let script = String::from_utf8_lossy(&script).into_owned();
    Ok(Output::doc(
        to_json(&CompletionsDoc {
            shell: args.shell.to_string(),
            script: script.clone(),
        }),
        script,
    ))
}

/// `avfs man [--write DIR]`: avfs(1) in roff, or every page written into DIR.
pub fn man(_ctx: &mut Ctx, args: ManArgs) -> CliResult<Output> {
    let command = super::args::full_command();
    if let Some(dir) = &args.write {
        std::fs::create_dir_all(dir).map_err(|e| CliError::host_io(dir, e))?;
        clap_mangen::generate_to(command, dir).map_err(|e| CliError::host_io(dir, e))?;
        let mut written: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| CliError::host_io(dir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "1"))
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        written.sort();
        let human = format!("wrote {} man pages to {}", written.len(), dir.display());
        return Ok(Output::doc(to_json(&WrittenDoc { written }), human));
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut roff)
        .map_err(|e| CliError::host_io(std::path::Path::new("stdout"), e))?;
    let roff = String::from_utf8_lossy(&roff).into_owned();
    Ok(Output::doc(
        to_json(&ManDoc {
            name: "avfs.1".into(),
            roff: roff.clone(),
        }),
        roff,
    ))
}
