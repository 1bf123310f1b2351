//! Text rendering for people: mode strings, sizes, times, colours.

use crate::vault::{Attr, ChangeKind, Kind};

/// A change's one-letter tag (`A`, `M`, `D`, `T`) and its ANSI colour code.
pub fn change_tag(kind: ChangeKind) -> (&'static str, &'static str) {
    match kind {
        ChangeKind::Added => ("A", "32"),
        ChangeKind::Modified => ("M", "33"),
        ChangeKind::Deleted => ("D", "31"),
        ChangeKind::TypeChanged => ("T", "35"),
    }
}

/// The line that ends a change list: `3 changes: 1 added, 2 modified, ...`.
pub fn count_line(s: &super::wire::WireSummary) -> String {
    format!(
        "{} {}: {} added, {} modified, {} deleted, {} type changed",
        s.total,
        if s.total == 1 { "change" } else { "changes" },
        s.added,
        s.modified,
        s.deleted,
        s.type_changed
    )
}

/// `drwxr-xr-x`-style mode string.
pub fn mode_string(attr: &Attr) -> String {
    let kind = match attr.kind {
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::File => '-',
        Kind::Fifo => 'p',
        Kind::Socket => 's',
        Kind::CharDevice => 'c',
        Kind::BlockDevice => 'b',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (attr.mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// A short local-independent time: `2026-11-21 15:04`.
pub fn short_time(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns as i128)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Sizes as people read them: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Wraps text in an ANSI colour when `on`.
pub fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A name for listings: directories get a trailing `/`, symlinks show their
/// target, device nodes their major and minor numbers.
pub fn entry_name(name: &str, attr: &Attr) -> String {
    match attr.kind {
        Kind::Dir => format!("{name}/"),
        Kind::Symlink => format!(
            "{name} -> {}",
            String::from_utf8_lossy(attr.target.as_deref().unwrap_or_default())
        ),
        Kind::CharDevice | Kind::BlockDevice => {
            format!(
                "{name} ({}, {})",
                nix::sys::stat::major(attr.rdev),
                nix::sys::stat::minor(attr.rdev)
            )
        }
        _ => name.to_string(),
    }
}
