//! FUSE end to end: a shared `avfs mount` while other processes change its
//! vault through the store. The kernel caches the mount's names (missing
//! ones too), attributes, file pages and directory listings for long;
//! another process's commit must make it forget them at once, so the mount
//! never shows an old state for longer than a moment, and must not take a
//! process's current directory away (names that exist are expired, not
//! unhashed). A known limit, as before: with the writeback cache the kernel
//! keeps its own size of a regular file while it holds the inode, so the
//! rewrites here keep their sizes.

mod common;

use common::Avfs;
use common::fuse::{Mounted, fuse_available, wait_for};
use std::fs;
use std::time::Duration;

/// Far below the kernel's TTL for what a shared mount invalidates (a
/// minute) and the one it had before invalidation (a second): only an
/// invalidation explains a fresh answer within it.
const FRESH_WITHIN: Duration = Duration::from_millis(500);

/// Polls `check` until it holds; fails once [`FRESH_WITHIN`] has passed.
#[track_caller]
fn becomes(what: &str, check: impl FnMut() -> bool) {
    wait_for(what, FRESH_WITHIN, check);
}

#[test]
fn another_writer_s_changes_show_in_a_shared_mount_at_once() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    a.ok(["write", "/a", "x"]);
    a.ok(["write", "/gone", "going"]);
    a.ok(["write", "/old", "moving"]);
    a.ok(["mkdir", "/d"]);
    a.ok(["write", "/same-size", "first"]);
    let m = Mounted::new(&a, "main", &[]);
    // The kernel learns every name, attribute and listing, and that /new
    // and /d/inner do not exist.
    assert_eq!(fs::read(m.join("a")).unwrap(), b"x");
    assert!(m.join("gone").exists() && m.join("old").exists());
    assert!(!m.join("new").exists());
    assert!(!m.join("d/inner").exists());
    assert_eq!(fs::read_dir(m.path()).unwrap().count(), 5);
    assert_eq!(fs::read_dir(m.join("d")).unwrap().count(), 0);
    // The same answers twice: now they come from the kernel's cache (pages
    // and listings too, from the second open on).
    assert_eq!(fs::metadata(m.join("a")).unwrap().len(), 1);
    assert!(!m.join("new").exists());
    for _ in 0..2 {
        assert_eq!(fs::read(m.join("same-size")).unwrap(), b"first");
        assert_eq!(fs::read_dir(m.join("d")).unwrap().count(), 0);
    }

    // Same size: with the writeback cache the kernel keeps its own size of
    // a regular file while it holds the inode (a known limit, below).
    a.ok(["write", "/a", "y"]);
    a.ok(["rm", "/gone"]);
    a.ok(["write", "/new", "hello"]);
    a.ok(["write", "/d/inner", "deep"]);
    a.ok(["mv", "/old", "/moved"]);
    a.ok(["write", "/same-size", "again"]);

    becomes("a's new content", || {
        fs::read(m.join("a")).is_ok_and(|b| b == b"y")
    });
    becomes("gone removed", || !m.join("gone").exists());
    becomes("new created", || {
        fs::read(m.join("new")).is_ok_and(|b| b == b"hello")
    });
    becomes("a file in a cached directory", || {
        fs::read(m.join("d/inner")).is_ok_and(|b| b == b"deep")
    });
    becomes("old moved", || {
        !m.join("old").exists() && m.join("moved").exists()
    });
    becomes("new bytes of the same size", || {
        fs::read(m.join("same-size")).is_ok_and(|b| b == b"again")
    });
    becomes("a cached listing", || {
        fs::read_dir(m.join("d")).is_ok_and(|d| d.count() == 1)
    });
    let mut names: Vec<String> = fs::read_dir(m.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "d", "moved", "new", "same-size"]);

    // A process whose current directory is in the mount keeps it through
    // another writer's commit (an invalidated entry would be unhashed, and
    // getcwd would fail). Nothing may look the directory up by name between
    // the commit and the getcwd: a lookup would hash its entry again. So the
    // process waits on its stdin, and the commit is seen through another name.
    // (Python's getcwd is the system call; a shell's pwd may fall back on $PWD.)
    let mut in_d = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, sys; print('ready', flush=True); sys.stdin.readline(); print(os.getcwd())",
        ])
        .current_dir(m.join("d"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(in_d.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    a.ok(["write", "/elsewhere", "x"]);
    becomes("a name the commit made", || m.join("elsewhere").exists());
    // The same take expires the directory's name; let it finish.
    std::thread::sleep(Duration::from_millis(100));
    std::io::Write::write_all(in_d.stdin.as_mut().unwrap(), b"go\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let out = in_d.wait_with_output().unwrap();
    assert!(
        out.status.success() && line.trim_end() == m.join("d").to_str().unwrap(),
        "getcwd in the mount after a foreign commit: {line:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The mount's own writes still show to the store at once (close-to-open).
    fs::write(m.join("from-mount"), b"mine").unwrap();
    assert_eq!(a.cat("/from-mount"), b"mine");
    m.unmount();
}
