//! Vault paths: normalized, rooted, and checked before anything touches the store.
//!
//! Names are byte strings (as on Linux): non-UTF-8 names are stored faithfully
//! and the JSON edge encodes them. What is rejected is what could escape the
//! root or could never be a file name: `..` above the root, NUL bytes, names
//! over 255 bytes, and paths over 4096 bytes.

use super::error::{Result, VaultError};
use std::fmt;

/// Longest single name, as `NAME_MAX` on Linux.
pub const NAME_MAX: usize = 255;
/// Longest whole path, as `PATH_MAX` on Linux.
pub const PATH_MAX: usize = 4096;

/// A normalized absolute path inside a vault; the empty component list is the root.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct VaultPath {
    components: Vec<Vec<u8>>,
}

/// Checks one directory-entry name; used for every name the store writes.
pub fn validate_name(name: &[u8]) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty name")
    } else if name == b"." || name == b".." {
        Some("'.' and '..' are not names")
    } else if name.contains(&0) {
        Some("contains a NUL byte")
    } else if name.contains(&b'/') {
        Some("contains '/'")
    } else if name.len() > NAME_MAX {
        return Err(too_long(name, "a name is longer than 255 bytes"));
    } else {
        None
    };
    match reason {
        Some(reason) => Err(VaultError::InvalidPath {
            path: String::from_utf8_lossy(name).into_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The error for an over-long name or path; the path is shown cut to its
/// first 100 bytes, so the message stays readable.
pub fn too_long(raw: &[u8], reason: &'static str) -> VaultError {
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(100)]).into_owned();
    let path = if raw.len() > 100 {
        format!("{shown}… ({} bytes)", raw.len())
    } else {
        shown
    };
    VaultError::PathTooLong { path, reason }
}

impl VaultPath {
    /// The vault root, `/`.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses and normalizes a path; relative paths are taken from the root.
    pub fn parse(raw: &[u8]) -> Result<Self> {
        let invalid = |reason| VaultError::InvalidPath {
            path: String::from_utf8_lossy(raw).into_owned(),
            reason,
        };
        if raw.is_empty() {
            return Err(invalid("empty path"));
        }
        if raw.contains(&0) {
            return Err(invalid("contains a NUL byte"));
        }
        if raw.len() > PATH_MAX {
            return Err(too_long(raw, "longer than 4096 bytes"));
        }
        let mut components: Vec<Vec<u8>> = Vec::new();
        for part in raw.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if components.pop().is_none() {
                        return Err(invalid("'..' escapes the vault root"));
                    }
                }
                name => {
                    if name.len() > NAME_MAX {
                        return Err(too_long(raw, "a name is longer than 255 bytes"));
                    }
                    components.push(name.to_vec());
                }
            }
        }
        Ok(Self { components })
    }

    /// Parses a path given as a string.
    pub fn parse_str(raw: &str) -> Result<Self> {
        Self::parse(raw.as_bytes())
    }

    /// The names from the root down.
    pub fn components(&self) -> &[Vec<u8>] {
        &self.components
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The last name, or `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.components.last().map(Vec::as_slice)
    }

    /// The containing directory, or `None` for the root.
    pub fn parent(&self) -> Option<VaultPath> {
        let n = self.components.len();
        (n > 0).then(|| VaultPath {
            components: self.components[..n - 1].to_vec(),
        })
    }

    /// This path with one more name appended (the name must already be valid).
    pub fn join(&self, name: &[u8]) -> VaultPath {
        let mut components = self.components.clone();
        components.push(name.to_vec());
        VaultPath { components }
    }

    /// True if `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &VaultPath) -> bool {
        self.components.starts_with(&other.components)
    }

    /// The path as bytes, always starting with `/`.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.components.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for c in &self.components {
            out.push(b'/');
            out.extend_from_slice(c);
        }
        out
    }

    /// The path for display; non-UTF-8 bytes become U+FFFD.
    pub fn display_lossy(&self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }
}

impl fmt::Display for VaultPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        VaultPath::parse_str(s).unwrap().to_string()
    }

    #[test]
    fn normalizes() {
        assert_eq!(p("/"), "/");
        assert_eq!(p("a//b/./c/"), "/a/b/c");
        assert_eq!(p("/a/b/../c"), "/a/c");
        assert_eq!(p("/a/.."), "/");
    }

    #[test]
    fn rejects_escapes_and_bad_bytes() {
        for bad in ["", "/..", "a/../..", "a\0b"] {
            assert!(VaultPath::parse_str(bad).is_err(), "{bad:?} accepted");
        }
        let long = "x".repeat(256);
        assert!(VaultPath::parse_str(&long).is_err());
        assert!(VaultPath::parse_str(&"x".repeat(255)).is_ok());
        assert!(VaultPath::parse(&vec![b'a'; 5000]).is_err());
    }

    #[test]
    fn keeps_non_utf8_bytes() {
        let path = VaultPath::parse(b"/caf\xe9").unwrap();
        assert_eq!(path.file_name().unwrap(), b"caf\xe9");
        assert_eq!(path.to_bytes(), b"/caf\xe9");
    }

    #[test]
    fn validates_names() {
        assert!(validate_name(b"ok").is_ok());
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(validate_name(bad).is_err());
        }
    }
}
