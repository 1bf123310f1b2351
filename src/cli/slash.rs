//! A path argument that ends in `/` (or `/.`) says "this is a directory", as
//! POSIX reads it: `rm f/`, `cat f/` and `write f/` on a file, or `write new/`
//! creating a file, are `not_a_directory`, never quietly done on `f`.
//! `VaultPath` normalizes the slash away, so the commands check it here.

use crate::vault::{Kind, Tree, VaultError, VaultPath};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// True when `raw` ends in `/` or `/.`, naming something other than the root.
pub fn names_dir(raw: &OsStr) -> bool {
    let bytes = raw.as_bytes();
    let slashed = bytes.ends_with(b"/") || bytes.ends_with(b"/.");
    slashed && bytes.iter().any(|b| *b != b'/' && *b != b'.')
}

fn not_a_directory(path: &VaultPath) -> VaultError {
    VaultError::NotADirectory(format!("{path}/"))
}

/// For a path that must exist: refuses a slashed one that names a non-directory.
pub fn check_existing(t: &Tree<'_>, raw: &OsStr, path: &VaultPath) -> Result<(), VaultError> {
    if names_dir(raw)
        && let Some(attr) = t.resolve(path)?
        && attr.kind != Kind::Dir
    {
        return Err(not_a_directory(path));
    }
    Ok(())
}

/// For a path a command writes (creating it if missing): a slashed one must
/// be an existing directory, or be missing while the command makes a
/// directory there (`creates_dir`).
pub fn check_target(
    t: &Tree<'_>,
    raw: &OsStr,
    path: &VaultPath,
    creates_dir: bool,
) -> Result<(), VaultError> {
    if !names_dir(raw) {
        return Ok(());
    }
    match t.resolve(path)? {
        Some(attr) if attr.kind == Kind::Dir => Ok(()),
        None if creates_dir => Ok(()),
        _ => Err(not_a_directory(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_a_trailing_slash() {
        for yes in ["/f/", "f/", "/a/b//", "/f/.", "./d/"] {
            assert!(names_dir(OsStr::new(yes)), "{yes}");
        }
        for no in ["/f", "f", "/", "//", "/.", ".", "/a/.b", "/a/b..", "/f/ "] {
            assert!(!names_dir(OsStr::new(no)), "{no}");
        }
    }
}
