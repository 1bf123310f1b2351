//! The JSON Schema contract: docs/schema/ is exactly what `avfs schema
//! --write` derives from the wire types, and `avfs schema` serves it.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn checked_in_schemas_match_the_wire_types() {
    let a = Avfs::new();
    let out = tempfile::tempdir().unwrap();
    a.ok([
        "schema".as_ref(),
        "--write".as_ref(),
        out.path().as_os_str(),
    ]);
    let generated = files(out.path());
    let checked_in = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema"));
    let stale: Vec<_> = generated
        .iter()
        .filter(|(name, text)| checked_in.get(*name) != Some(text))
        .map(|(name, _)| name.as_str())
        .chain(
            checked_in
                .keys()
                .filter(|n| !generated.contains_key(*n))
                .map(String::as_str),
        )
        .collect();
    assert!(
        stale.is_empty(),
        "docs/schema is out of date with the wire types ({stale:?}): run `scripts/schema` \
         (cargo run -- schema --write docs/schema) and commit the result"
    );
}

#[test]
fn schema_prints_one_document_and_lists_them_all() {
    let a = Avfs::new();
    let index: serde_json::Value = a.json(["schema"]);
    let names: Vec<&str> = index["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for expected in ["error", "run", "diff", "vault", "stats", "policy_file"] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    let run: serde_json::Value = a.json(["schema", "run"]);
    assert_eq!(run["title"], "RunDoc");
    assert_eq!(run["additionalProperties"], false);
    let required: Vec<&str> = run["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Nullable fields are always written, so they are required; `_b64` ones are not.
    assert!(required.contains(&"exit_code") && required.contains(&"checkpoint"));
    assert!(!required.contains(&"stdout_b64"));
    let (err, status) = a.fails(["schema", "nope"]);
    assert_eq!((err.code.as_str(), status), ("document_not_found", 3));
}
