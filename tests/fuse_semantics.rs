//! FUSE end to end: POSIX semantics the kernel expects of a file system —
//! fifos, sockets and device nodes; new inodes owned by the caller (with
//! setgid directories passing their group); atime as set; setuid/setgid
//! dropped by chown, truncate and writes of other users; directory link
//! counts; `--allow-other`; and hard links under path rules. Tests that act
//! as another user run commands through `setpriv` as uid/gid 65534 inside a
//! mount made with `--allow-other`, and check the result from the host side.

mod common;

use common::fuse::{Mounted, fuse_available};
use common::{Avfs, EntriesDoc, EntryDoc};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

const NOBODY: u32 = 65534;

/// Runs `sh -c script` in `dir` as uid/gid 65534 (no supplementary groups).
fn as_nobody(dir: &Path, script: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .current_dir(dir)
        .output()
        .expect("run setpriv")
}

#[track_caller]
fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sh(dir: &Path, script: &str) {
    ok(Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap());
}

#[test]
fn fifos_sockets_and_devices_are_stored_and_travel() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    sh(
        m.path(),
        "mkfifo -m 0640 pipe && mknod null c 1 3 && mknod disk b 7 0",
    );
    // A socket's name, made by bind(2).
    let sock = m.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    drop(listener);
    let meta = |name: &str| fs::symlink_metadata(m.join(name)).unwrap();
    assert!(meta("pipe").file_type().is_fifo());
    assert_eq!(meta("pipe").mode() & 0o7777, 0o640);
    assert!(meta("sock").file_type().is_socket());
    assert!(meta("null").file_type().is_char_device());
    assert_eq!(meta("null").rdev(), nix::sys::stat::makedev(1, 3));
    assert!(meta("disk").file_type().is_block_device());
    assert_eq!(meta("disk").rdev(), nix::sys::stat::makedev(7, 0));
    // A fifo carries bytes between two processes, as anywhere else.
    sh(
        m.path(),
        "(echo through > pipe &) ; read line < pipe; test \"$line\" = through",
    );
    avfs.ok(["checkpoint", "save", "nodes"]);
    m.unmount();

    let kind = |path: &str| -> String {
        let doc: EntryDoc = avfs.json(["stat", path]);
        doc.entry.kind
    };
    assert_eq!(kind("/pipe"), "fifo");
    assert_eq!(kind("/sock"), "socket");
    assert_eq!(kind("/null"), "char_device");
    assert_eq!(kind("/disk"), "block_device");
    let listing = avfs.ok(["ls", "-l", "/"]);
    assert!(listing.contains("prw-r-----"), "{listing}");
    assert!(listing.contains("null (1, 3)"), "{listing}");
    let err = avfs.fails(["cat", "/pipe"]).0;
    assert_eq!(err.code, "not_a_file");

    // Export recreates fifos and (as root) devices; a socket's name is skipped.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let doc: common::ExportDoc = avfs.json(["export", "/", target.to_str().unwrap()]);
    assert_eq!(doc.exported.special, 3, "{doc:?}");
    assert_eq!(doc.exported.skipped.len(), 1, "{doc:?}");
    assert!(
        fs::symlink_metadata(target.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        fs::symlink_metadata(target.join("null")).unwrap().rdev(),
        nix::sys::stat::makedev(1, 3)
    );
    // ...and import brings them back into another vault.
    avfs.ok(["vault", "create", "other"]);
    let doc: common::ImportDoc =
        avfs.json(["--vault", "other", "import", target.to_str().unwrap(), "/"]);
    assert_eq!(doc.imported.special, 3);
    let listed: EntriesDoc = avfs.json(["--vault", "other", "ls", "/"]);
    let kinds: Vec<(String, String)> = listed
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.kind.clone()))
        .collect();
    assert!(
        kinds.contains(&("/null".into(), "char_device".into())),
        "{kinds:?}"
    );

    // Removing them is a change like any other, and a restore brings them back.
    avfs.ok(["rm", "/pipe"]);
    let diff = avfs.ok(["diff", "--from", "nodes"]);
    assert!(diff.contains("/pipe"), "{diff}");
    avfs.ok(["checkpoint", "restore", "nodes"]);
    assert_eq!(kind("/pipe"), "fifo");
}

/// A mode set through an access ACL (as `cp -a` sets one) holds for the
/// kernel's permission checks at once, while the file is still open. The
/// kernel keeps the mode the file was created with and, unlike a refusal,
/// never asks again before granting: the mount makes it ask before the
/// `fsetxattr` returns, so a file made private is private.
#[test]
fn a_mode_set_through_an_acl_holds_for_other_users_at_once() {
    if !fuse_available() {
        return;
    }
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &["--allow-other"]);
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(m.join("f"))
        .unwrap();
    ok(as_nobody(m.path(), "cat f"));
    // The owner rw-, the group ---, others ---: 0600.
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm) in [(0x01u16, 6u16), (0x04, 0), (0x20, 0)] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(u32::MAX.to_le_bytes());
    }
    let set = unsafe {
        nix::libc::fsetxattr(
            file.as_raw_fd(),
            c"system.posix_acl_access".as_ptr(),
            acl.as_ptr().cast(),
            acl.len(),
            0,
        )
    };
    assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
    let read = as_nobody(m.path(), "cat f");
    assert!(!read.status.success(), "0600: nobody may no longer read");
    drop(file);
    assert_eq!(fs::metadata(m.join("f")).unwrap().mode() & 0o7777, 0o600);
    m.unmount();
}

#[test]
fn new_inodes_belong_to_the_caller_and_setgid_directories_pass_their_group() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &["--allow-other"]);
    sh(
        m.path(),
        "mkdir -m 0777 open && mkdir -m 0777 shared && chgrp 1234 shared && chmod g+s shared",
    );
    ok(as_nobody(
        m.path(),
        "touch open/mine && mkdir open/dir && touch shared/f && mkdir shared/d",
    ));
    let meta = |rel: &str| fs::symlink_metadata(m.join(rel)).unwrap();
    assert_eq!(
        (meta("open/mine").uid(), meta("open/mine").gid()),
        (NOBODY, NOBODY)
    );
    assert_eq!(
        (meta("open/dir").uid(), meta("open/dir").gid()),
        (NOBODY, NOBODY)
    );
    assert_eq!(meta("shared/f").gid(), 1234, "the setgid directory's group");
    assert_eq!(meta("shared/d").gid(), 1234);
    assert_ne!(
        meta("shared/d").mode() & 0o2000,
        0,
        "subdirectories inherit setgid"
    );
    // Root's files are root's.
    sh(m.path(), "touch rootfile");
    assert_eq!(meta("rootfile").uid(), 0);
    // The kernel's permission checks stay on: nobody cannot write root's 0755 dir.
    let denied = as_nobody(m.path(), "touch denied 2>&1");
    assert!(!denied.status.success());
    m.unmount();
    let doc: EntryDoc = avfs.json(["stat", "/open/mine"]);
    assert_eq!(
        (doc.entry.uid, doc.entry.gid),
        (NOBODY, NOBODY),
        "kept in the store"
    );
}

#[test]
fn without_allow_other_other_users_are_kept_out() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    sh(m.path(), "chmod 0777 .");
    let out = as_nobody(
        m.path().parent().unwrap(),
        &format!("ls {}", m.path().display()),
    );
    assert!(
        !out.status.success(),
        "another user got in without --allow-other"
    );
}

#[test]
fn setuid_and_setgid_go_on_chown_truncate_and_foreign_writes() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &["--allow-other"]);
    let mode = |rel: &str| fs::symlink_metadata(m.join(rel)).unwrap().mode() & 0o7777;
    sh(
        m.path(),
        "chmod 0777 . && for f in chown trunc write keep; do echo x > $f; chmod 06777 $f; done",
    );
    sh(m.path(), "chown 65534 chown");
    assert_eq!(
        mode("chown"),
        0o0777,
        "chown drops setuid and (group-executable) setgid"
    );
    ok(as_nobody(m.path(), "truncate -s 1 trunc"));
    assert_eq!(
        mode("trunc") & 0o6000,
        0,
        "a truncate by another user drops them"
    );
    ok(as_nobody(m.path(), "echo more >> write"));
    assert_eq!(
        mode("write") & 0o6000,
        0,
        "a write by another user drops them"
    );
    sh(m.path(), "echo root >> keep && truncate -s 1 keep");
    assert_eq!(mode("keep"), 0o6777, "root (CAP_FSETID) keeps them");
}

#[test]
fn atime_is_stored_as_set_and_directories_count_their_subdirectories() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    sh(
        m.path(),
        "echo x > f && touch -a -d @1000000000 f && touch -m -d @1500000000 f \
         && mkdir -p d/a d/b && touch d/file",
    );
    let f = fs::metadata(m.join("f")).unwrap();
    assert_eq!((f.atime(), f.mtime()), (1_000_000_000, 1_500_000_000));
    assert_eq!(
        fs::metadata(m.join("d")).unwrap().nlink(),
        4,
        "2 + two subdirectories"
    );
    sh(
        m.path(),
        "rmdir d/a && mv d/b b && mkdir d/c/ && mv d/c d/e",
    );
    assert_eq!(fs::metadata(m.join("d")).unwrap().nlink(), 3);
    // A rename changes the moved inode's ctime (pjdfstest rename/22).
    let before = fs::symlink_metadata(m.join("f")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::rename(m.join("f"), m.join("g")).unwrap();
    fs::rename(m.join("g"), m.join("f")).unwrap();
    let root_links = fs::metadata(m.path()).unwrap().nlink();
    assert_eq!(root_links, 4, "/ holds d and b");
    m.unmount();
    let m = Mounted::new(&avfs, "main", &[]);
    let f = fs::metadata(m.join("f")).unwrap();
    assert_eq!(f.atime(), 1_000_000_000, "atime survives a remount");
    // Read after a remount, so from the store and not the kernel's cache.
    assert!(
        (f.ctime(), f.ctime_nsec()) > (before.ctime(), before.ctime_nsec()),
        "rename moved ctime on"
    );
    assert_eq!(fs::metadata(m.join("d")).unwrap().nlink(), 3);
}

#[derive(serde::Deserialize, Debug)]
struct Violation {
    path: String,
    op: String,
}

#[derive(serde::Deserialize, Debug)]
struct RunDoc {
    exit_code: Option<i32>,
    violations: Vec<Violation>,
}

#[test]
fn linking_a_file_needs_the_right_to_read_it() {
    if !fuse_available() {
        return;
    }
    let avfs = Avfs::with_vault();
    avfs.ok(["mkdir", "/secrets"]);
    avfs.ok(["mkdir", "/src"]);
    avfs.ok(["write", "/secrets/token.txt", "hunter2"]);
    avfs.ok(["write", "/src/ok.txt", "fine"]);
    let policy = avfs.home.path().join("policy.json");
    fs::write(
        &policy,
        r#"{"paths": [
            {"glob": "**", "ops": ["read"]},
            {"glob": "src/**", "ops": ["read", "write", "create", "delete"]},
            {"glob": "secrets/**", "ops": [], "deny": true}]}"#,
    )
    .unwrap();
    let run = |script: &str| -> RunDoc {
        let out = avfs.run([
            "--json",
            "proxy",
            "exec",
            "--mode",
            "fuse",
            "--policy",
            policy.to_str().unwrap(),
            "--shell",
            script,
        ]);
        common::parse_one(&out.stdout)
    };
    let doc = run("ln secrets/token.txt src/h");
    assert_ne!(doc.exit_code, Some(0), "{doc:?}");
    let links: Vec<(&str, &str)> = doc
        .violations
        .iter()
        .map(|v| (v.op.as_str(), v.path.as_str()))
        .collect();
    assert_eq!(links, [("link", "/secrets/token.txt")]);
    assert!(avfs.fails(["cat", "/src/h"]).1 != 0, "no link was made");
    // Linking what the rules let the run read works, and removing it reports nothing.
    let doc = run("ln src/ok.txt src/again && rm src/again");
    assert_eq!(doc.exit_code, Some(0), "{doc:?}");
    assert!(doc.violations.is_empty(), "{doc:?}");
}
