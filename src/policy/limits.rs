//! Bounds on a policy document and its strict reading: a policy is small (at
//! most [`MAX_POLICY_BYTES`], [`MAX_RULES`] entries per list, globs of at most
//! [`MAX_GLOB_BYTES`]), and a JSON object that names a key twice is refused
//! rather than letting the last one silently win.

use super::error::PolicyError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Largest policy document, in bytes. Callers reading a file read at most one
/// byte more, so an endless source (`/dev/zero`) costs no more than this.
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// Most entries in any one list of a policy (command allow or deny globs, path
/// rules, environment variables passed or set).
pub const MAX_RULES: usize = 1000;
/// Longest glob, in bytes (a vault path is at most 4096 bytes).
pub const MAX_GLOB_BYTES: usize = 4096;

/// Parses JSON text into a value, refusing duplicate object keys; the error
/// names the object holding the duplicate.
pub fn parse_strict(text: &str) -> Result<Value, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(too_large());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: Result<Strict, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if !inner.starts_with("duplicate key") {
            // A syntax error's line and column say where it is.
            return PolicyError::new("", format!("not valid JSON: {inner}"));
        }
        // The path is that of the object holding the repeated key.
        let path = if path == "." { String::new() } else { path };
        PolicyError::new(path, inner)
    })?;
    de.end()
        .map_err(|e| PolicyError::new("", format!("not valid JSON: {e}")))?;
    Ok(value.0)
}

/// The error for a document over [`MAX_POLICY_BYTES`].
pub fn too_large() -> PolicyError {
    PolicyError::new(
        "",
        format!(
            "a policy is at most {MAX_POLICY_BYTES} bytes ({} KiB)",
            MAX_POLICY_BYTES >> 10
        ),
    )
}

/// Checks the length of every list before any glob is compiled.
pub fn check_counts(value: &Value) -> Result<(), PolicyError> {
    let lists = [
        ("commands.allow", value.pointer("/commands/allow")),
        ("commands.deny", value.pointer("/commands/deny")),
        ("paths", value.get("paths")),
        ("env.pass", value.pointer("/env/pass")),
        ("env.set", value.pointer("/env/set")),
    ];
    for (field, list) in lists {
        let len = match list {
            Some(Value::Array(items)) => items.len(),
            Some(Value::Object(items)) => items.len(),
            _ => 0,
        };
        if len > MAX_RULES {
            return Err(PolicyError::new(
                field,
                format!("{len} entries; a policy list holds at most {MAX_RULES}"),
            ));
        }
    }
    Ok(())
}

/// A JSON value read without accepting a repeated object key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_where_they_are() {
        let err = parse_strict(r#"{"timeout": "1s", "timeout": "2s"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"duplicate key "timeout" at line 1 column 27"#
        );
        let err = parse_strict(r#"{"env": {"set": {"A": "1", "A": "2"}}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"env.set: duplicate key "A" at line 1 column 30"#
        );
        assert_eq!(
            parse_strict(r#"{"a": [1, {"b": null}], "c": true}"#).unwrap(),
            serde_json::json!({"a": [1, {"b": null}], "c": true})
        );
        assert!(
            parse_strict("{} x")
                .unwrap_err()
                .message
                .starts_with("not valid JSON")
        );
    }
}
