//! End to end: real tools run unchanged inside a mounted vault — git, cargo,
//! a Python venv, the sqlite3 shell, tar, editors' atomic save, and git over a
//! 10,000-file tree.
//!
//! Every test mounts its own private store. A tool missing from the machine
//! fails the test and names the tool and its Debian package; set
//! `AVFS_SKIP_FUSE_TESTS=1` to skip FUSE tests explicitly.

mod common;

use common::fuse::{Mounted, fuse_available};
use common::{Avfs, EntriesDoc};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

// ----- running tools -----

/// The absolute path of `name` on PATH; fails naming the package that provides it.
fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if let Ok(meta) = candidate.metadata()
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return candidate;
        }
    }
    panic!(
        "required tool `{name}` is missing from PATH; install it \
         (Debian/Ubuntu package: {package})"
    );
}

fn show(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with no stdin and fails the test, showing its output, unless it succeeds.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed\n{}", show(&out));
    out
}

/// Runs `cmd` with `input` on stdin; fails the test unless it succeeds.
fn run_input(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // Write from a thread so a chatty child cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for child");
    let written = writer.join().expect("stdin writer");
    assert!(out.status.success(), "{cmd:?} failed\n{}", show(&out));
    written.unwrap_or_else(|e| panic!("writing stdin of {cmd:?}: {e}"));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// git with no global or system configuration and a fixed identity.
struct Git {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Git {
    fn new() -> Self {
        let home = tempfile::tempdir().expect("git home");
        // A private "global" config: a default identity that a repository's own
        // `user.*` overrides, and no background gc that would keep files in the
        // mount open after git returns.
        write(
            &home.path().join(".gitconfig"),
            "[user]\n\tname = Default Tester\n\temail = default@example.com\n\
             [gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n",
        );
        Self {
            bin: tool("git", "git"),
            home,
        }
    }

    fn cmd(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(dir)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        cmd
    }

    /// Runs git in `dir`; returns stdout.
    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        stdout(&run(self.cmd(dir).args(args)))
    }

    /// `git status --porcelain` must print nothing.
    fn assert_clean(&self, dir: &Path) {
        let status = self.ok(dir, &["status", "--porcelain", "--untracked-files=all"]);
        assert!(
            status.is_empty(),
            "{}: git status is not clean:\n{status}",
            dir.display()
        );
    }

    /// `git fsck --full` must succeed and report nothing.
    fn assert_fsck(&self, dir: &Path) {
        let out = run(self.cmd(dir).args([
            "fsck",
            "--full",
            "--strict",
            "--no-dangling",
            "--no-progress",
        ]));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.trim().is_empty(),
            "{}: git fsck reported problems:\n{text}",
            dir.display()
        );
    }

    /// Commit subjects, newest first.
    fn subjects(&self, dir: &Path) -> Vec<String> {
        self.ok(dir, &["log", "--format=%s"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Copies a host tree (files and directories), skipping `target`.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest)
                .unwrap_or_else(|e| panic!("copy to {}: {e}", dest.display()));
        }
    }
}

/// Elapsed time for the report in the test output.
fn took(what: &str, start: Instant) {
    eprintln!("{what}: {:.2?}", start.elapsed());
}

// ----- 1. git -----

#[test]
fn git_repository_lifecycle_and_clones() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let git = Git::new();
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let repo = m.join("repo");
    fs::create_dir(&repo).unwrap();

    git.ok(&repo, &["init", "-q", "-b", "main"]);
    git.ok(&repo, &["config", "user.name", "Vault Tester"]);
    git.ok(&repo, &["config", "user.email", "tester@example.com"]);
    assert_eq!(
        git.ok(&repo, &["config", "user.name"]).trim(),
        "Vault Tester"
    );

    write(&repo.join("README.md"), "# demo\n");
    write(&repo.join("src/lib.rs"), "pub fn one() -> u32 { 1 }\n");
    write(&repo.join("run.sh"), "#!/bin/sh\necho run\n");
    chmod(&repo.join("run.sh"), 0o755);
    git.ok(&repo, &["add", "-A"]);
    git.ok(&repo, &["commit", "-q", "-m", "first"]);
    git.assert_clean(&repo);
    let files = git.ok(&repo, &["ls-files", "-s"]);
    assert!(
        files.contains("100755") && files.contains("run.sh"),
        "the executable bit is committed:\n{files}"
    );

    // A branch, a commit on it, and back.
    git.ok(&repo, &["checkout", "-q", "-b", "feature"]);
    write(&repo.join("README.md"), "# demo\n\nfeature text\n");
    write(&repo.join("src/feature.rs"), "pub fn two() -> u32 { 2 }\n");
    git.ok(&repo, &["add", "-A"]);
    git.ok(&repo, &["commit", "-q", "-m", "feature work"]);
    git.assert_clean(&repo);
    let branches = git.ok(&repo, &["branch", "--list"]);
    assert_eq!(branches, "* feature\n  main\n");

    git.ok(&repo, &["checkout", "-q", "main"]);
    assert_eq!(read(&repo.join("README.md")), "# demo\n");
    assert!(
        !repo.join("src/feature.rs").exists(),
        "checkout of main removes the feature file"
    );
    git.assert_clean(&repo);
    git.ok(&repo, &["checkout", "-q", "feature"]);
    assert_eq!(read(&repo.join("README.md")), "# demo\n\nfeature text\n");
    assert_eq!(
        read(&repo.join("src/feature.rs")),
        "pub fn two() -> u32 { 2 }\n"
    );
    git.ok(&repo, &["checkout", "-q", "main"]);
    git.ok(&repo, &["merge", "-q", "--ff-only", "feature"]);
    assert_eq!(read(&repo.join("README.md")), "# demo\n\nfeature text\n");

    // More commits: modify, rename, delete.
    for i in 0..3 {
        write(&repo.join(format!("notes/{i}.txt")), format!("note {i}\n"));
        write(
            &repo.join("src/lib.rs"),
            format!("pub fn one() -> u32 {{ {} }}\n", i + 10),
        );
        git.ok(&repo, &["add", "-A"]);
        git.ok(&repo, &["commit", "-q", "-m", &format!("more {i}")]);
    }
    git.ok(&repo, &["mv", "notes/0.txt", "notes/zero.txt"]);
    git.ok(&repo, &["rm", "-q", "notes/1.txt"]);
    git.ok(&repo, &["commit", "-q", "-m", "rename and remove"]);
    git.assert_clean(&repo);
    assert_eq!(
        git.subjects(&repo),
        [
            "rename and remove",
            "more 2",
            "more 1",
            "more 0",
            "feature work",
            "first"
        ]
    );
    let author = git.ok(&repo, &["log", "-1", "--format=%an <%ae>"]);
    assert_eq!(author.trim(), "Vault Tester <tester@example.com>");
    // Repack into a pack file, then verify everything.
    git.ok(&repo, &["gc", "-q"]);
    git.assert_fsck(&repo);
    git.assert_clean(&repo);

    // A clone of a host repository into the mount (across file systems git copies).
    let host = tempfile::tempdir().unwrap();
    let upstream = host.path().join("upstream");
    fs::create_dir(&upstream).unwrap();
    git.ok(&upstream, &["init", "-q", "-b", "main"]);
    for i in 0..4 {
        write(
            &upstream.join(format!("dir{}/file{i}.txt", i % 2)),
            format!("upstream {i}\n").repeat(100),
        );
        write(&upstream.join("big.bin"), noise(200_000, i));
        git.ok(&upstream, &["add", "-A"]);
        git.ok(&upstream, &["commit", "-q", "-m", &format!("upstream {i}")]);
    }
    let clone = m.join("clone");
    git.ok(
        m.path(),
        &[
            "clone",
            "-q",
            upstream.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert_eq!(git.subjects(&clone), git.subjects(&upstream));
    assert_eq!(fs::read(clone.join("big.bin")).unwrap(), noise(200_000, 3));
    git.assert_fsck(&clone);
    git.assert_clean(&clone);

    // A local clone inside the mount: git hard-links the object files
    // (`--local` makes a failed link an error instead of a silent copy).
    let clone2 = m.join("clone2");
    git.ok(
        m.path(),
        &[
            "clone",
            "-q",
            "--local",
            repo.to_str().unwrap(),
            clone2.to_str().unwrap(),
        ],
    );
    let packs: Vec<PathBuf> = fs::read_dir(clone2.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    assert!(!packs.is_empty(), "the clone has the pack of the source");
    for pack in &packs {
        let nlink = fs::metadata(pack).unwrap().nlink();
        assert!(
            nlink >= 2,
            "{} is hard-linked (nlink {nlink})",
            pack.display()
        );
    }
    assert_eq!(git.subjects(&clone2), git.subjects(&repo));
    git.assert_fsck(&clone2);
    git.assert_clean(&clone2);
    // A commit in the clone must not show through the shared hard links.
    write(&clone2.join("README.md"), "changed in clone2\n");
    git.ok(&clone2, &["commit", "-q", "-am", "in clone2"]);
    git.assert_fsck(&clone2);
    git.assert_fsck(&repo);
    git.assert_clean(&repo);
    assert_eq!(read(&repo.join("README.md")), "# demo\n\nfeature text\n");

    m.unmount();
    assert_eq!(avfs.cat("/repo/README.md"), b"# demo\n\nfeature text\n");
    assert_eq!(avfs.cat("/clone/big.bin"), noise(200_000, 3));
    took("git", start);
}

// ----- 2. cargo -----

/// cargo in `dir`, without the variables the outer cargo set for this test.
fn cargo(dir: &Path) -> Command {
    let mut cmd = Command::new(tool("cargo", "cargo (or a rustup toolchain)"));
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        let outer = (key_str.starts_with("CARGO") || key_str.starts_with("__CARGO"))
            && key_str != "CARGO_HOME";
        if outer || key_str == "RUSTC" || key_str == "RUSTDOC" {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(dir).env("CARGO_TERM_COLOR", "never");
    cmd
}

#[test]
fn cargo_build_and_test_survive_a_remount() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let proj = m.join("hello-crate");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello-crate"),
        &proj,
    );

    run(cargo(&proj).args(["build", "--offline"]));
    assert!(
        proj.join("target/debug/libhello_crate.rlib").is_file(),
        "cargo build leaves its library in the mount's target dir"
    );
    let out = run(cargo(&proj).args(["test", "--offline"]));
    assert!(
        stdout(&out).contains("test tests::greets ... ok"),
        "the crate's test ran:\n{}",
        show(&out)
    );
    m.unmount();

    // Remounted (at another path): the build is still fresh and still passes.
    let m = Mounted::new(&avfs, "main", &[]);
    let proj = m.join("hello-crate");
    let out = run(cargo(&proj).args(["test", "--offline", "-v"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout(&out).contains("test tests::greets ... ok"),
        "tests pass after a remount:\n{}",
        show(&out)
    );
    assert!(
        err.contains("Fresh hello-crate") && !err.contains("Compiling hello-crate"),
        "after a remount cargo reuses its build (fingerprints and mtimes survived):\n{}",
        show(&out)
    );

    // An edit is picked up incrementally.
    let lib = proj.join("src/lib.rs");
    let mut source = read(&lib);
    source.push_str(
        "\n#[cfg(test)]\nmod more {\n    #[test]\n    fn greets_vault() {\n        \
         assert_eq!(super::greet(\"vault\"), \"hello, vault\");\n    }\n}\n",
    );
    write(&lib, source);
    let out = run(cargo(&proj).args(["test", "--offline"]));
    let text = stdout(&out);
    assert!(
        text.contains("test more::greets_vault ... ok")
            && text.contains("test tests::greets ... ok"),
        "the edited crate is rebuilt and both tests pass:\n{}",
        show(&out)
    );
    m.unmount();
    took("cargo", start);
}

// ----- 3. Python venv -----

#[test]
fn python_venv_runs_a_script_that_writes_a_file() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let python = tool("python3", "python3, python3-venv");
    let probe = Command::new(&python)
        .args(["-c", "import venv, ensurepip"])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "python3 lacks the venv/ensurepip modules; install the Debian package \
         python3-venv\n{}",
        show(&probe)
    );
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let venv = m.join("venv");
    let clean = |cmd: &mut Command| {
        for key in [
            "PYTHONHOME",
            "PYTHONPATH",
            "VIRTUAL_ENV",
            "PYTHONSTARTUP",
            "PYTHONDONTWRITEBYTECODE",
        ] {
            cmd.env_remove(key);
        }
    };

    let mut create = Command::new(&python);
    clean(&mut create);
    run(create.arg("-m").arg("venv").arg(&venv));
    let venv_python = venv.join("bin/python");
    assert!(
        venv_python.exists(),
        "the venv has bin/python: {:?}",
        fs::read_dir(venv.join("bin")).map(|d| d.count())
    );
    let mut pip = Command::new(&venv_python);
    clean(&mut pip);
    let pip = run(pip.args(["-m", "pip", "--version"]));
    assert!(
        stdout(&pip).contains(venv.to_str().unwrap()),
        "pip is the venv's own:\n{}",
        show(&pip)
    );

    write(
        &m.join("app/helper.py"),
        "def shout(word):\n    return word.upper() + '!'\n",
    );
    write(
        &m.join("app/main.py"),
        r#"import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helper
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out.txt")
with open(out, "w", encoding="utf-8") as f:
    for i in range(1000):
        f.write(f"{i} {helper.shout(sys.argv[1])}\n")
with open(out, encoding="utf-8") as f:
    lines = f.read().splitlines()
print(json.dumps({"prefix": sys.prefix, "base": sys.base_prefix, "lines": len(lines), "last": lines[-1]}))
"#,
    );
    let mut script = Command::new(&venv_python);
    clean(&mut script);
    let out = run(script.arg(m.join("app/main.py")).arg("vault"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("script output is JSON ({e}):\n{}", show(&out)));
    assert_eq!(doc["prefix"], venv.to_str().unwrap(), "runs in the venv");
    assert_ne!(
        doc["prefix"], doc["base"],
        "the venv is not the base install"
    );
    assert_eq!(doc["lines"], 1000);
    assert_eq!(doc["last"], "999 VAULT!");
    assert!(
        m.join("app/__pycache__").is_dir(),
        "python cached the imported module's bytecode in the mount"
    );
    let expected: String = (0..1000).map(|i| format!("{i} VAULT!\n")).collect();
    assert_eq!(read(&m.join("app/out.txt")), expected);

    m.unmount();
    assert_eq!(
        String::from_utf8(avfs.cat("/app/out.txt")).unwrap(),
        expected
    );
    took("python venv", start);
}

// ----- 4. sqlite3 -----

/// SQL inserting rows `first..first + count` in one transaction.
fn insert_batch(first: u64, count: u64) -> String {
    let mut sql = String::from("BEGIN;\n");
    for id in first..first + count {
        sql.push_str(&format!(
            "INSERT INTO t(id, name, payload) VALUES ({id}, 'row-{id}', randomblob({}));\n",
            100 + id % 300
        ));
    }
    sql.push_str("COMMIT;\n");
    sql
}

#[test]
fn sqlite3_databases_in_wal_and_rollback_modes_survive_a_remount() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let sqlite3 = tool("sqlite3", "sqlite3");
    let sql = |db: &Path, input: &str| -> String {
        stdout(&run_input(
            Command::new(&sqlite3).arg("-bail").arg(db),
            input.as_bytes(),
        ))
    };
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    fs::create_dir(m.join("db")).unwrap();
    let modes = [("wal.db", "wal"), ("rollback.db", "delete")];

    for (name, mode) in modes {
        let db = m.join("db").join(name);
        let set = sql(
            &db,
            &format!(
                "PRAGMA journal_mode={mode};\n\
                 CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload BLOB);\n\
                 CREATE INDEX t_name ON t(name);\n"
            ),
        );
        assert_eq!(set.trim(), mode, "{name}: journal mode set");
        // 10,000 rows in 10 transactions, from 5 separate sqlite3 processes.
        for process in 0..5u64 {
            let mut input = String::from("PRAGMA journal_mode;\n");
            for tx in 0..2 {
                input.push_str(&insert_batch(1 + (process * 2 + tx) * 1000, 1000));
            }
            input.push_str("SELECT count(*) FROM t;\n");
            let out = sql(&db, &input);
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(
                lines,
                [mode, &((process + 1) * 2000).to_string()],
                "{name}: process {process}"
            );
        }
        // Rewrites and deletes in place, then a vacuum for the rollback database.
        let out = sql(
            &db,
            "UPDATE t SET payload = zeroblob(50) WHERE id % 7 = 0;\n\
             DELETE FROM t WHERE id > 10000;\n\
             SELECT count(*) FROM t WHERE length(payload) = 50;\n",
        );
        assert_eq!(
            out.trim(),
            "1428",
            "{name}: the update touched every 7th row"
        );
        if mode == "delete" {
            sql(&db, "VACUUM;\n");
        }
    }
    m.unmount();

    let m = Mounted::new(&avfs, "main", &[]);
    for (name, mode) in modes {
        let db = m.join("db").join(name);
        let out = sql(
            &db,
            "PRAGMA integrity_check;\n\
             PRAGMA journal_mode;\n\
             SELECT count(*), sum(id), count(DISTINCT name) FROM t;\n\
             SELECT name FROM t WHERE id = 7777;\n",
        );
        assert_eq!(
            out,
            format!("ok\n{mode}\n10000|50005000|10000\nrow-7777\n"),
            "{name} after a remount"
        );
    }
    m.unmount();
    took("sqlite3", start);
}

// ----- 5. tar -----

#[derive(Debug, PartialEq, Eq)]
struct ManifestEntry {
    kind: &'static str,
    mode: u32,
    /// BLAKE3 of a file's content, or a symlink's target.
    content: String,
    /// Seconds of the mtime (what a tar archive keeps); files and dirs only.
    mtime: Option<i64>,
    /// For a file with several links: its link count and the first of its paths.
    links: Option<(u64, String)>,
}

/// Every entry under `root` (not `root` itself), by relative path.
fn manifest(root: &Path) -> BTreeMap<String, ManifestEntry> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, fs::Metadata)>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let is_dir = meta.is_dir();
            out.push((rel, path.clone(), meta));
            if is_dir {
                walk(root, &path, out);
            }
        }
    }
    let mut all = Vec::new();
    walk(root, root, &mut all);
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut first_of: HashMap<(u64, u64), String> = HashMap::new();
    let mut result = BTreeMap::new();
    for (rel, path, meta) in all {
        let mode = meta.mode() & 0o7777;
        let entry = if meta.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            ManifestEntry {
                kind: "symlink",
                mode: 0,
                content: target.to_string_lossy().into_owned(),
                mtime: None,
                links: None,
            }
        } else if meta.is_dir() {
            ManifestEntry {
                kind: "dir",
                mode,
                content: String::new(),
                mtime: Some(meta.mtime()),
                links: None,
            }
        } else {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let first = first_of
                .entry((meta.dev(), meta.ino()))
                .or_insert_with(|| rel.clone())
                .clone();
            ManifestEntry {
                kind: "file",
                mode,
                content: blake3::hash(&bytes).to_hex().to_string(),
                mtime: Some(meta.mtime()),
                links: (meta.nlink() > 1).then_some((meta.nlink(), first)),
            }
        };
        result.insert(rel, entry);
    }
    result
}

/// Gives every file and directory under `root` its own whole-second mtime far
/// in the past (what a tar archive keeps), contents before their directories.
fn set_distinct_mtimes(root: &Path) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, out);
            }
            if !meta.is_symlink() {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(root, &mut paths);
    for (i, path) in paths.iter().enumerate() {
        let when = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(1_000_000_000 + 86_400 * i as u64);
        fs::File::open(path)
            .and_then(|f| f.set_modified(when))
            .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
    }
}

fn assert_same_manifest(
    want: &BTreeMap<String, ManifestEntry>,
    got: &BTreeMap<String, ManifestEntry>,
    what: &str,
) {
    let mut problems = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => problems.push(format!("missing: {path}")),
            Some(g) if g != w => problems.push(format!("{path}:\n  want {w:?}\n  got  {g:?}")),
            Some(_) => {}
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        problems.push(format!("unexpected: {path}"));
    }
    assert!(
        problems.is_empty(),
        "{what}: {} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Archives a host tree, extracts it into the mount and compares both trees
/// (modes, contents, symlinks, hard links and the mtimes tar restores with
/// `futimens` before `close`): in the mount, after a remount, and once more
/// after archiving it back out of the mount.
#[test]
fn tar_extraction_matches_the_source_tree() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let tar = tool("tar", "tar");
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("src");
    write(&src.join("données/naïve.txt"), "naïve café\n");
    write(&src.join("日本語.md"), "# 日本語\n");
    write(&src.join("a/b/c/d/deep.txt"), "deep\n");
    write(&src.join("a/b/sibling.txt"), "sibling\n");
    write(&src.join("empty"), "");
    write(
        &src.join("blobs/three-mb.bin"),
        noise(3 * 1024 * 1024 + 123, 7),
    );
    write(&src.join("secret/key"), "do not share\n");
    chmod(&src.join("secret/key"), 0o600);
    chmod(&src.join("secret"), 0o700);
    write(
        &src.join("bin/hello.sh"),
        "#!/bin/sh\necho \"hello from $(basename \"$0\") in the vault\"\n",
    );
    chmod(&src.join("bin/hello.sh"), 0o755);
    write(&src.join("bin/readonly.txt"), "read only\n");
    chmod(&src.join("bin/readonly.txt"), 0o444);
    // Hard links: a group of three across directories, one of them executable.
    write(&src.join("a/hard1"), "shared by three names\n");
    fs::hard_link(src.join("a/hard1"), src.join("a/b/hard2")).unwrap();
    fs::hard_link(src.join("a/hard1"), src.join("données/hard3")).unwrap();
    fs::hard_link(src.join("bin/hello.sh"), src.join("bin/hello-again.sh")).unwrap();
    // Relative symlinks: to a file, up the tree, to a directory, dangling.
    symlink("données/naïve.txt", src.join("link-to-naive")).unwrap();
    symlink("../../日本語.md", src.join("a/b/up")).unwrap();
    symlink("bin", src.join("bin-dir")).unwrap();
    symlink("does/not/exist", src.join("a/dangling")).unwrap();
    set_distinct_mtimes(&src);
    let archive = host.path().join("src.tar");
    run(Command::new(&tar)
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .arg("."));
    let want = manifest(&src);
    assert!(want.len() >= 25, "the source tree is complete: {want:#?}");

    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let dest = m.join("x");
    fs::create_dir(&dest).unwrap();
    run(Command::new(&tar)
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&dest));
    assert_same_manifest(&want, &manifest(&dest), "extracted into the mount");

    let out = run(&mut Command::new(dest.join("bin/hello.sh")));
    assert_eq!(stdout(&out), "hello from hello.sh in the vault\n");
    let out = run(&mut Command::new(dest.join("bin-dir/hello-again.sh")));
    assert_eq!(stdout(&out), "hello from hello-again.sh in the vault\n");
    assert_eq!(read(&dest.join("link-to-naive")), "naïve café\n");
    assert_eq!(read(&dest.join("a/b/up")), "# 日本語\n");

    // `tar -c` from the mount reproduces the tree too.
    let again = host.path().join("again.tar");
    run(Command::new(&tar)
        .arg("-cf")
        .arg(&again)
        .arg("-C")
        .arg(&dest)
        .arg("."));
    m.unmount();

    let m = Mounted::new(&avfs, "main", &[]);
    assert_same_manifest(&want, &manifest(&m.join("x")), "after a remount");
    m.unmount();
    let back = host.path().join("back");
    fs::create_dir(&back).unwrap();
    run(Command::new(&tar)
        .arg("-xf")
        .arg(&again)
        .arg("-C")
        .arg(&back));
    assert_same_manifest(&want, &manifest(&back), "re-archived from the mount");
    took("tar", start);
}

/// `cp -a` (as `cp -p`, and `mv` from another file system) gives a copy
/// its mode by setting the copy's access ACL, not with chmod: every mode
/// must survive that, special bits included, in the mount and after a
/// remount.
#[test]
fn cp_a_keeps_the_modes_it_sets_through_an_acl() {
    if !fuse_available() {
        return;
    }
    let cp = tool("cp", "coreutils");
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("src");
    let modes = [0o755, 0o444, 0o600, 0o2750, 0o4711, 0o1777];
    for mode in modes {
        let path = src.join(format!("f{mode:o}"));
        write(&path, "x\n");
        chmod(&path, mode);
    }
    fs::create_dir(src.join("dir")).unwrap();
    chmod(&src.join("dir"), 0o751);
    let want: Vec<(String, u32)> = modes
        .iter()
        .map(|m| (format!("f{m:o}"), *m))
        .chain([("dir".to_string(), 0o751)])
        .collect();
    let modes_in = |dir: &Path| -> Vec<(String, u32)> {
        want.iter()
            .map(|(name, _)| {
                let mode = fs::symlink_metadata(dir.join(name)).unwrap().mode() & 0o7777;
                (name.clone(), mode)
            })
            .collect()
    };
    assert_eq!(modes_in(&src), want, "the host keeps them");

    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    run(Command::new(&cp).arg("-a").arg(&src).arg(m.join("copy")));
    assert_eq!(modes_in(&m.join("copy")), want, "copied into the mount");
    m.unmount();
    let m = Mounted::new(&avfs, "main", &[]);
    assert_eq!(modes_in(&m.join("copy")), want, "after a remount");
    m.unmount();
}

// ----- 6. editors' atomic save -----

#[test]
fn editor_atomic_save_by_rename_keeps_content_and_mode() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let dir = m.join("docs");
    fs::create_dir(&dir).unwrap();
    let file = dir.join("file.txt");
    let tmp = dir.join("file.txt.tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&file)
            .unwrap();
        f.write_all(b"version 0\n").unwrap();
        f.set_permissions(fs::Permissions::from_mode(0o640))
            .unwrap();
    }
    assert_eq!(mode_of(&file), 0o640);

    // A reader that has the original open keeps seeing it after it is replaced.
    let mut reader = fs::File::open(&file).unwrap();
    let content = |i: usize| format!("version {i}\n{}", "line of text\n".repeat(i * 37));
    for i in 1..=50 {
        let original_mode = mode_of(&file);
        {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .unwrap();
            f.write_all(content(i).as_bytes()).unwrap();
            f.sync_all().unwrap();
            f.set_permissions(fs::Permissions::from_mode(original_mode))
                .unwrap();
        }
        fs::rename(&tmp, &file).unwrap();
        assert_eq!(read(&file), content(i), "iteration {i}: content");
        assert_eq!(mode_of(&file), 0o640, "iteration {i}: mode");
        assert!(!tmp.exists(), "iteration {i}: the temp file is gone");
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["file.txt"], "iteration {i}: directory listing");
    }
    let mut old = String::new();
    std::io::Read::read_to_string(&mut reader, &mut old).unwrap();
    assert_eq!(
        old, "version 0\n",
        "the replaced file stays readable while open"
    );
    drop(reader);
    m.unmount();

    assert_eq!(
        String::from_utf8(avfs.cat("/docs/file.txt")).unwrap(),
        content(50)
    );
    let listing: EntriesDoc = avfs.json(["ls", "/docs"]);
    let entries: Vec<(String, String)> = listing
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.mode.clone()))
        .collect();
    assert_eq!(
        entries,
        [("/docs/file.txt".to_string(), "0640".to_string())]
    );
    took("atomic save", start);
}

// ----- 7. a 10,000-file tree -----

#[test]
fn git_over_ten_thousand_files() {
    if !fuse_available() {
        return;
    }
    let start = Instant::now();
    let git = Git::new();
    let avfs = Avfs::with_vault();
    let m = Mounted::new(&avfs, "main", &[]);
    let repo = m.join("many");
    for d in 0..100 {
        let dir = repo.join(format!("dir{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(
                dir.join(format!("file{f:03}.txt")),
                format!("dir {d} file {f}\n"),
            )
            .unwrap();
        }
    }
    took("10k files: create", start);
    let t = Instant::now();
    git.ok(&repo, &["init", "-q", "-b", "main"]);
    git.ok(&repo, &["add", "-A"]);
    took("10k files: git add", t);
    let t = Instant::now();
    git.ok(&repo, &["commit", "-q", "-m", "ten thousand files"]);
    took("10k files: git commit", t);
    let t = Instant::now();
    git.assert_clean(&repo);
    took("10k files: git status", t);
    let listed = git.ok(&repo, &["ls-files"]);
    assert_eq!(listed.lines().count(), 10_000, "every file is tracked");
    let tree = git.ok(&repo, &["ls-tree", "-r", "HEAD", "--name-only"]);
    assert_eq!(tree.lines().count(), 10_000, "every file is committed");
    assert_eq!(
        git.ok(&repo, &["show", "HEAD:dir042/file099.txt"]),
        "dir 42 file 99\n"
    );
    // Touch a few files: status sees exactly those.
    for d in [3, 50, 97] {
        fs::write(repo.join(format!("dir{d:03}/file007.txt")), "edited\n").unwrap();
    }
    let status = git.ok(&repo, &["status", "--porcelain"]);
    assert_eq!(
        status,
        " M dir003/file007.txt\n M dir050/file007.txt\n M dir097/file007.txt\n"
    );
    m.unmount();
    took("10k files: total", start);
}
