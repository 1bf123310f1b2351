//! The file commands through the real binary: success paths, whole outputs,
//! and every bad input with its stable code and exit status.

mod common;
use common::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

#[test]
fn write_cat_append_and_stdin() {
    let a = Avfs::with_vault();
    a.ok(["mkdir", "-p", "/src"]);
    let doc: EntryDoc = a.json(["write", "/src/main.py", "print('hello')"]);
    assert_eq!(doc.entry.path, "/src/main.py");
    assert_eq!(doc.entry.kind, "file");
    assert_eq!(doc.entry.mode, "0644");
    assert_eq!(doc.entry.size, 14);
    assert_eq!(a.cat("/src/main.py"), b"print('hello')");

    let run = a.run_stdin(["write", "/src/main.py", "--append"], b"\nprint('more')");
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(a.cat("/src/main.py"), b"print('hello')\nprint('more')");

    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let run = a.run_stdin(["write", "/bin.dat"], &binary);
    assert_eq!(run.status, 0);
    assert_eq!(a.cat("/bin.dat"), binary);

    // Without -p a missing parent is an error; with -p it is created.
    let (err, status) = a.fails(["write", "/deep/er/file", "x"]);
    assert_eq!((err.code.as_str(), status), ("path_not_found", 3));
    a.ok(["write", "-p", "/deep/er/file", "x"]);
    assert_eq!(a.cat("/deep/er/file"), b"x");
}

#[test]
fn cat_json_embeds_text_or_base64() {
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct CatDoc {
        path: String,
        size: usize,
        encoding: String,
        content: String,
    }
    let a = Avfs::with_vault();
    a.ok(["write", "/t.txt", "héllo"]);
    let doc: CatDoc = a.json(["cat", "/t.txt"]);
    assert_eq!(
        (
            doc.path.as_str(),
            doc.size,
            doc.encoding.as_str(),
            doc.content.as_str()
        ),
        ("/t.txt", 6, "utf-8", "héllo")
    );
    a.run_stdin(["write", "/b.bin"], &[0xff, 0x00, 0xfe]);
    let doc: CatDoc = a.json(["cat", "/b.bin"]);
    assert_eq!(
        (doc.size, doc.encoding.as_str(), doc.content.as_str()),
        (3, "base64", "/wD+")
    );
}

#[test]
fn ls_tree_and_stat_show_the_tree() {
    let a = Avfs::with_vault();
    a.ok(["mkdir", "-p", "/src/util", "/docs"]);
    a.ok(["write", "/src/main.rs", "fn main() {}"]);
    a.ok(["write", "/src/util/mod.rs", ""]);
    a.ok(["write", "/README", "hi"]);
    assert_eq!(a.ok(["ls"]), "README\ndocs/\nsrc/\n");
    assert_eq!(a.ok(["ls", "/src"]), "main.rs\nutil/\n");
    assert_eq!(
        a.ok(["tree"]),
        "/\n├── README\n├── docs/\n└── src/\n    ├── main.rs\n    └── util/\n        └── mod.rs\n\n3 directories, 3 files\n"
    );
    let long = a.ok(["ls", "-l", "/src"]);
    let first: Vec<&str> = long.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        (first[0], first[1], first[4]),
        ("-rw-r--r--", "12", "main.rs")
    );

    let listing: EntriesDoc = a.json(["ls", "/src"]);
    let names: Vec<_> = listing
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(names, [("/src/main.rs", "file"), ("/src/util", "dir")]);
    let tree: EntriesDoc = a.json(["tree", "/src"]);
    let paths: Vec<_> = tree.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/src", "/src/main.rs", "/src/util", "/src/util/mod.rs"]
    );

    let st: EntryDoc = a.json(["stat", "/src/main.rs"]);
    assert_eq!(st.entry.size, 12);
    assert_eq!(st.entry.nlink, 1);
    assert_eq!(st.entry.hash.as_ref().map(String::len), Some(64));
    let dir: EntryDoc = a.json(["stat", "/src"]);
    assert_eq!(
        (
            dir.entry.kind.as_str(),
            dir.entry.mode.as_str(),
            dir.entry.hash.clone()
        ),
        ("dir", "0755", None)
    );
}

#[test]
fn cp_mv_rm() {
    let a = Avfs::with_vault();
    a.ok(["mkdir", "-p", "/src/sub"]);
    a.ok(["write", "/src/a", "A"]);
    a.ok(["write", "/src/sub/b", "B"]);

    a.ok(["cp", "-r", "/src", "/src2"]);
    assert_eq!(a.cat("/src2/sub/b"), b"B");
    // Copies share content: same hash, different inode.
    let orig: EntryDoc = a.json(["stat", "/src/a"]);
    let copy: EntryDoc = a.json(["stat", "/src2/a"]);
    assert_eq!(orig.entry.hash, copy.entry.hash);
    assert_ne!(orig.entry.ino, copy.entry.ino);
    // Writing the copy leaves the original alone.
    a.ok(["write", "/src2/a", "changed"]);
    assert_eq!(a.cat("/src/a"), b"A");

    a.ok(["mv", "/src2", "/old"]);
    assert_eq!(a.cat("/old/sub/b"), b"B");
    assert_eq!(a.fails(["stat", "/src2"]).0.code, "path_not_found");
    // Into an existing directory, as mv and cp do.
    a.ok(["mv", "/old/a", "/src/sub"]);
    assert_eq!(a.cat("/src/sub/a"), b"changed");
    a.ok(["cp", "/src/a", "/old"]);
    assert_eq!(a.cat("/old/a"), b"A");

    a.ok(["rm", "-r", "/old"]);
    assert_eq!(a.ok(["ls"]), "src/\n");
    a.ok(["rm", "/src/a"]);
    let removed: serde_json::Value = a.json(["rm", "-f", "/nope", "/src/sub/a"]);
    assert_eq!(
        removed,
        serde_json::json!({ "removed": [{ "path": "/src/sub/a" }] })
    );
}

#[test]
fn bad_inputs_fail_clearly_and_change_nothing() {
    let a = Avfs::with_vault();
    a.ok(["mkdir", "/d"]);
    a.ok(["write", "/d/f", "data"]);
    let before = a.ok(["tree"]);
    let long = "x".repeat(256);
    let cases: Vec<(Vec<OsString>, &str, i32)> = vec![
        (args(&["write", "/../escape", "x"]), "invalid_path", 2),
        (args(&["write", "", "x"]), "invalid_path", 2),
        (
            args(&["write", &format!("/{long}"), "x"]),
            "path_too_long",
            2,
        ),
        (args(&["mkdir", "/d"]), "path_exists", 4),
        (args(&["mkdir", "/d/f/g"]), "not_a_directory", 4),
        (args(&["mkdir", "/missing/x"]), "path_not_found", 3),
        (args(&["write", "/d", "x"]), "is_a_directory", 4),
        (args(&["cat", "/d"]), "is_a_directory", 4),
        (args(&["cat", "/nope"]), "path_not_found", 3),
        (args(&["rm", "/d"]), "is_a_directory", 4),
        (args(&["rm", "/nope"]), "path_not_found", 3),
        (args(&["rm", "-r", "/"]), "invalid_path", 2),
        (args(&["cp", "/d", "/e"]), "is_a_directory", 4),
        (args(&["cp", "-r", "/d", "/d/inside"]), "invalid_move", 2),
        (args(&["mv", "/d", "/d/inside"]), "invalid_move", 2),
        (args(&["mv", "/nope", "/x"]), "path_not_found", 3),
        (args(&["ls", "/d/f/x"]), "not_a_directory", 4),
        (args(&["mkdir", "--mode", "999", "/m"]), "usage_error", 2),
        (args(&["frobnicate"]), "usage_error", 2),
    ];
    for (argv, code, status) in cases {
        let (err, got) = a.fails(&argv);
        assert_eq!(
            (err.code.as_str(), got),
            (code, status),
            "for {argv:?}: {}",
            err.message
        );
        assert!(!err.message.is_empty());
    }
    // rm with several paths is all-or-nothing.
    let (err, _) = a.fails(["rm", "/d/f", "/nope"]);
    assert_eq!(err.code, "path_not_found");
    assert_eq!(a.ok(["tree"]), before, "failed commands changed nothing");
    // Human mode: message on stderr, hint where useful, nothing on stdout.
    let run = a.run(["rm", "/d"]);
    assert_eq!((run.status, run.stdout.len()), (4, 0));
    assert_eq!(
        run.stderr,
        "avfs: error: is a directory: /d\nhint: use -r for directories\n"
    );
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn non_utf8_names_are_kept_exactly() {
    let a = Avfs::with_vault();
    let name = OsString::from_vec(b"/caf\xe9.txt".to_vec());
    let run = a.run([
        OsString::from("write"),
        name.clone(),
        OsString::from("bytes"),
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let listing: EntriesDoc = a.json(["ls"]);
    let entry = &listing.entries[0];
    assert_eq!(entry.path, "/caf\u{fffd}.txt");
    assert_eq!(
        entry.path_b64.as_deref(),
        Some("L2NhZukudHh0"),
        "exact bytes, base64"
    );
    let run = a.run([OsString::from("cat"), name]);
    assert_eq!(run.stdout, b"bytes");
}

#[test]
fn one_gib_streams_through_the_cli_in_bounded_memory() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    const SIZE: u64 = 1 << 30;
    let a = Avfs::with_vault();
    // A pattern that never repeats within a chunk, so dedup cannot hide a copy.
    let block = |i: u64| -> Vec<u8> {
        let mut b = vec![0u8; 1 << 20];
        for (j, chunk) in b.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(i * 131_072 + j as u64).to_le_bytes());
        }
        b
    };
    let mut child = a
        .command()
        .args(["write", "/big"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut expected = blake3::Hasher::new();
    for i in 0..SIZE >> 20 {
        let b = block(i);
        expected.update(&b);
        stdin.write_all(&b).unwrap();
    }
    drop(stdin);
    let (status, write_rss) = wait_with_rss(child);
    assert_eq!(status, 0);

    let mut child = a
        .command()
        .args(["cat", "/big"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        got.update(&buf[..n]);
    }
    let (status, cat_rss) = wait_with_rss(child);
    assert_eq!((status, total), (0, SIZE));
    assert_eq!(
        got.finalize(),
        expected.finalize(),
        "1 GiB read back byte-exact"
    );
    // Peak resident memory, not time: bounded means far below the file size.
    for (what, rss) in [("write", write_rss), ("cat", cat_rss)] {
        assert!(
            rss < 200 << 20,
            "{what} peaked at {} MiB resident for a 1 GiB file",
            rss >> 20
        );
    }
}

/// Waits for a child and returns its exit code and peak resident set in bytes.
fn wait_with_rss(child: std::process::Child) -> (i32, u64) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut status = 0;
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 fills the two out-pointers we own; the pid is our child.
    let r = unsafe { nix::libc::wait4(pid.as_raw(), &mut status, 0, &mut usage) };
    assert_eq!(r, pid.as_raw());
    std::mem::forget(child);
    let code = if nix::libc::WIFEXITED(status) {
        nix::libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_trailing_slash_on_a_non_directory_is_not_a_directory_in_every_command() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "data"]);
    a.ok(["mkdir", "/d"]);
    a.ok(["write", "/d/g", "gee"]);
    a.ok(["checkpoint", "save", "c0"]);
    let host = tempfile::tempdir().unwrap();
    let host_out = host.path().join("out");
    let host_in = host.path().join("in");
    std::fs::create_dir(&host_in).unwrap();
    std::fs::write(host_in.join("h"), "h").unwrap();
    let (out, inp) = (
        host_out.to_str().unwrap().to_string(),
        host_in.to_str().unwrap().to_string(),
    );
    let refused: Vec<Vec<&str>> = vec![
        vec!["write", "/f/", "x"],
        vec!["write", "/f/.", "x"],
        vec!["write", "/new/", "x"],
        vec!["write", "-p", "/d/new/", "x"],
        vec!["rm", "/f/"],
        vec!["rm", "-f", "/f/"],
        vec!["rm", "/d/g/"],
        vec!["cat", "/f/"],
        vec!["cat", "/f/", "-v", "1"],
        vec!["stat", "/f/"],
        vec!["ls", "/f/"],
        vec!["tree", "/f/"],
        vec!["mv", "/f/", "/g"],
        vec!["mv", "/f", "/new/"],
        vec!["mv", "/d/g", "/f/"],
        vec!["cp", "/f/", "/g"],
        vec!["cp", "/f", "/new/"],
        vec!["log", "/f/"],
        vec!["checkout", "/f/", "-v", "1"],
        vec!["revert", "/f/"],
        vec!["diff", "/f/", "--v1", "1"],
        vec!["diff", "--from", "c0", "/f/"],
        vec!["grep", "data", "/f/"],
        vec!["find", "/f/"],
        vec!["export", "/f/", &out],
        vec!["import", &inp, "/f/"],
    ];
    for args in &refused {
        let (err, status) = a.fails(args);
        assert_eq!(
            (err.code.as_str(), status),
            ("not_a_directory", 4),
            "{args:?}: {}",
            err.message
        );
    }
    assert_eq!(a.cat("/f"), b"data", "nothing happened to /f");
    assert_eq!(a.cat("/d/g"), b"gee");
    let (err, _) = a.fails(["stat", "/new"]);
    assert_eq!(err.code, "path_not_found");
    assert!(!host_out.exists());
    let log: LogDoc = a.json(["log", "/f"]);
    assert_eq!(log.versions.len(), 1);

    // On directories a trailing slash is just a directory.
    let listed: EntriesDoc = a.json(["ls", "/d/"]);
    assert_eq!(listed.entries.len(), 1);
    let stat: EntryDoc = a.json(["stat", "/d/."]);
    assert_eq!(stat.entry.kind, "dir");
    a.ok(["mkdir", "/m/"]);
    a.ok(["mv", "/d/", "/e/"]);
    a.ok(["cp", "-r", "/e/", "/e2/"]);
    a.ok(["write", "/e2/x", "x"]);
    a.ok(["rm", "-r", "/e2/"]);
    let listed: EntriesDoc = a.json(["ls", "/"]);
    let names: Vec<_> = listed.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["/e", "/f", "/m"]);
    // A slashed path that names a directory is not written as a file.
    let (err, _) = a.fails(["write", "/e/", "x"]);
    assert_eq!(err.code, "is_a_directory");
}

#[test]
fn one_path_length_limit_of_4096_bytes_everywhere() {
    let a = Avfs::with_vault();
    // 16 names of 255 bytes: exactly 4096 bytes with their slashes.
    let dirs: Vec<String> = (0..15)
        .map(|i| format!("{i:x}").repeat(255).chars().take(255).collect())
        .collect();
    let deepest = format!("/{}", dirs.join("/"));
    let file = format!("{deepest}/{}", "f".repeat(255));
    assert_eq!(file.len(), 4096);
    a.ok(["mkdir", "-p", &deepest]);
    a.ok(["write", &file, "at the limit"]);
    assert_eq!(a.cat(&file), b"at the limit");
    let stat: EntryDoc = a.json(["stat", &file]);
    assert_eq!(stat.entry.path, file);

    let over = format!("{file}x");
    let cases: Vec<Vec<&str>> = vec![
        vec!["write", &over, "x"],
        vec!["cat", &over],
        vec!["stat", &over],
        vec!["mkdir", "-p", &over],
        vec!["rm", &over],
        vec!["mv", &file, &over],
    ];
    for args in &cases {
        let (err, status) = a.fails(args);
        assert_eq!(
            (err.code.as_str(), status),
            ("path_too_long", 2),
            "{:?}: {}",
            &args[0],
            err.message
        );
        assert!(err.message.contains("4096"), "{}", err.message);
        assert!(
            err.message.len() < 400,
            "the message stays short: {}",
            err.message
        );
    }
    let name = format!("/{}", "n".repeat(256));
    let (err, status) = a.fails(["write", &name, "x"]);
    assert_eq!((err.code.as_str(), status), ("path_too_long", 2));
    assert!(err.message.contains("255"), "{}", err.message);

    // An import that would reach past the limit is refused whole.
    let host = tempfile::tempdir().unwrap();
    host_file(host.path(), "short.txt", b"s");
    host_file(
        host.path(),
        &format!("{}/{}", "s".repeat(200), "t".repeat(200)),
        b"t",
    );
    let dest = deepest.as_str();
    let (err, status) = a.fails(["import".as_ref(), host.path().as_os_str(), dest.as_ref()]);
    assert_eq!(
        (err.code.as_str(), status),
        ("path_too_long", 2),
        "{}",
        err.message
    );
    let (err, _) = a.fails(["stat", &format!("{dest}/short.txt")]);
    assert_eq!(err.code, "path_not_found", "nothing was imported");
}
