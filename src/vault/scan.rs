//! `find` and `grep` over one state of a vault: a depth-first walk that never
//! follows symlinks, and a streaming line search that skips binary files.

use super::error::Result;
use super::path::VaultPath;
use super::tree::{Attr, Kind, Tree};
use std::io::{BufRead, BufReader};

/// A file whose first this-many bytes hold a NUL is binary (as git and ripgrep decide).
const BINARY_PROBE: usize = 8000;
/// Longest line text a match carries; the rest is cut (the match itself still counts).
const LINE_TEXT_MAX: usize = 4096;
/// Longest part of one line that is searched: a file with no newline (minified,
/// generated) must not be loaded whole into memory.
const LINE_SEARCH_MAX: usize = 1024 * 1024;

/// Reads one line into `line` (without its newline), keeping at most
/// [`LINE_SEARCH_MAX`] bytes of it and skipping the rest; false at the end.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(any);
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = LINE_SEARCH_MAX.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(true);
        }
    }
}

/// Which entries `find` keeps; every condition must hold.
pub struct FindQuery<'a> {
    /// The entry's name must match this glob.
    pub name: Option<&'a globset::GlobMatcher>,
    /// Only entries of this kind.
    pub kind: Option<Kind>,
    /// Files of at least this many bytes (non-files never pass a size test).
    pub min_size: Option<u64>,
    /// Files of at most this many bytes.
    pub max_size: Option<u64>,
    /// How far below the start to go (0: the start only).
    pub max_depth: Option<usize>,
}

impl FindQuery<'_> {
    fn keeps(&self, path: &VaultPath, attr: &Attr) -> bool {
        let sized = self.min_size.is_some() || self.max_size.is_some();
        let name_ok = self.name.is_none_or(|g| {
            let name = path.file_name().unwrap_or(b"/");
            g.is_match(String::from_utf8_lossy(name).as_ref())
        });
        name_ok
            && self.kind.is_none_or(|k| k == attr.kind)
            && (!sized || attr.kind == Kind::File)
            && self.min_size.is_none_or(|m| attr.size >= m)
            && self.max_size.is_none_or(|m| attr.size <= m)
    }
}

/// Every entry at or below `start` (depth-first, parents first, names in byte
/// order) that `query` keeps.
pub fn find(
    tree: &Tree<'_>,
    start: &VaultPath,
    query: &FindQuery<'_>,
) -> Result<Vec<(VaultPath, Attr)>> {
    let root = tree.stat(start)?;
    let mut out = Vec::new();
    let mut stack = vec![(start.clone(), root, 0usize)];
    while let Some((path, attr, depth)) = stack.pop() {
        if attr.kind == Kind::Dir && query.max_depth.is_none_or(|m| depth < m) {
            for entry in tree.read_dir(attr.ino)?.into_iter().rev() {
                stack.push((path.join(&entry.name), entry.attr, depth + 1));
            }
        }
        if query.keeps(&path, &attr) {
            out.push((path, attr));
        }
    }
    Ok(out)
}

/// One matching line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineMatch {
    /// The file.
    pub path: VaultPath,
    /// 1-based line number.
    pub line: u64,
    /// The line without its newline, cut at 4 KiB.
    pub text: Vec<u8>,
}

/// What `grep` found.
#[derive(Clone, Debug, Default)]
pub struct GrepResult {
    /// Matching lines, in walk order then line order (empty with `files_only`).
    pub matches: Vec<LineMatch>,
    /// Files with at least one match, in walk order.
    pub files: Vec<VaultPath>,
    /// Files skipped because they look binary.
    pub binary_skipped: u64,
}

/// Searches every file at or below `start` for lines matching `regex`. With
/// `files_only`, stops reading a file at its first match.
pub fn grep(
    tree: &Tree<'_>,
    start: &VaultPath,
    regex: &regex::bytes::Regex,
    files_only: bool,
) -> Result<GrepResult> {
    let query = FindQuery {
        name: None,
        kind: Some(Kind::File),
        min_size: None,
        max_size: None,
        max_depth: None,
    };
    let mut out = GrepResult::default();
    for (path, attr) in find(tree, start, &query)? {
        let mut reader = BufReader::with_capacity(64 * 1024, tree.open(&attr)?);
        if reader
            .fill_buf()?
            .iter()
            .take(BINARY_PROBE)
            .any(|b| *b == 0)
        {
            out.binary_skipped += 1;
            continue;
        }
        let mut found = false;
        let mut line = Vec::new();
        let mut number = 0u64;
        while read_line_bounded(&mut reader, &mut line)? {
            number += 1;
            if !regex.is_match(&line) {
                continue;
            }
            found = true;
            if files_only {
                break;
            }
            line.truncate(LINE_TEXT_MAX);
            out.matches.push(LineMatch {
                path: path.clone(),
                line: number,
                text: line.clone(),
            });
        }
        if found {
            out.files.push(path);
        }
    }
    Ok(out)
}
