//! The error a policy document can fail with: always names the bad field.

/// An invalid policy: `path` is the field at fault (`paths[2].ops[0]`), empty
/// when the document as a whole is wrong (not JSON, not an object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(.path, .message))]
pub struct PolicyError {
    /// The field path, e.g. `paths[2].ops[0]` or `timeout`; empty for the whole document.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

fn display(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

impl PolicyError {
    /// An error at a field path.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}
