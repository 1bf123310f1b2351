//! `avfs proxy exec` end to end, through the real binary: the `Run` document,
//! change detection in both modes (FUSE and materialize), timeouts that leave
//! no process and no mount behind, policies (commands and paths), checkpoints
//! and their retention, output bounds, the environment, and Ctrl-C.

mod common;

use common::fuse::fuse_available;
use common::{Avfs, Change, Checkpoint, CheckpointList, Summary};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Decision {
    allowed: bool,
    rule: Option<String>,
    reason: String,
    policy: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Violation {
    path: String,
    path_b64: Option<String>,
    op: String,
    rule: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RunDoc {
    vault: String,
    command: Vec<String>,
    shell: Option<String>,
    cwd: String,
    cwd_b64: Option<String>,
    mode: String,
    path_rules: String,
    decision: Decision,
    checkpoint: Option<Checkpoint>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    interrupted: Option<String>,
    exec_error: Option<String>,
    duration_ms: u64,
    stdout: String,
    stdout_b64: Option<String>,
    stdout_truncated: bool,
    stdout_bytes: u64,
    stderr: String,
    stderr_b64: Option<String>,
    stderr_truncated: bool,
    stderr_bytes: u64,
    changes_mode: String,
    changes: Vec<Change>,
    rollups: Vec<serde_json::Value>,
    summary: Summary,
    violations: Vec<Violation>,
    violations_truncated: bool,
    mount_errors: Vec<String>,
    merge: Option<String>,
    on_conflict: String,
    conflicts: Vec<common::Conflict>,
    fork: Option<String>,
    workdir: Option<String>,
    isolation: Option<IsolationDoc>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct IsolationDoc {
    network: String,
    hide: Vec<String>,
}

impl RunDoc {
    fn pairs(&self) -> Vec<(String, String)> {
        self.changes
            .iter()
            .map(|c| (c.change.clone(), c.path.clone()))
            .collect()
    }
}

/// Runs `proxy exec` with `flags` and `-- command`; returns the document and exit status.
fn exec(a: &Avfs, flags: &[&str], command: &[&str]) -> (RunDoc, i32) {
    let mut args = vec!["--json", "proxy", "exec"];
    args.extend_from_slice(flags);
    args.push("--");
    args.extend_from_slice(command);
    let run = a.run(&args);
    assert!(
        run.stderr.is_empty(),
        "--json wrote to stderr: {}",
        run.stderr
    );
    (common::parse_one(&run.stdout), run.status)
}

/// Runs a shell script through `--shell`.
fn shell(a: &Avfs, flags: &[&str], script: &str) -> (RunDoc, i32) {
    let mut args = vec!["--json", "proxy", "exec", "--shell", script];
    args.extend_from_slice(flags);
    let run = a.run(&args);
    assert!(
        run.stderr.is_empty(),
        "--json wrote to stderr: {}",
        run.stderr
    );
    (common::parse_one(&run.stdout), run.status)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    common::pairs(list)
}

/// No avfs mount is left in this namespace under the store's run directory.
fn assert_no_run_mount(a: &Avfs) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let home = a.home.path().to_string_lossy().into_owned();
    assert!(
        !mounts.lines().any(|l| l.contains(&home)),
        "a mount was left behind: {mounts}"
    );
    let runs = a.home.path().join("runs");
    if runs.exists() {
        assert_eq!(
            std::fs::read_dir(&runs).unwrap().count(),
            0,
            "a run directory was left behind"
        );
    }
}

/// Processes whose command line starts with `marker` (so not avfs itself,
/// whose arguments may contain it).
fn processes_with(marker: &str) -> Vec<String> {
    processes_where(|line| line.starts_with(marker))
}

/// Processes whose command line (arguments joined by spaces) passes `test`.
fn processes_where(test: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if test(&line) {
                found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A vault with a small, varied tree.
fn seeded() -> Avfs {
    let a = Avfs::with_vault();
    a.ok(["mkdir", "-p", "/src/old", "/docs"]);
    a.ok(["write", "/src/lib.rs", "pub fn one() -> u32 { 1 }\n"]);
    a.ok(["write", "/src/old/gone.rs", "// old\n"]);
    a.ok(["write", "/docs/readme.md", "# hello\n"]);
    a.ok(["write", "/run.sh", "echo run\n"]);
    a.ok(["write", "/keep.txt", "same\n"]);
    a
}

/// The same edits in either mode show up exactly as `avfs diff` would show them.
fn changes_are_reported_exactly(mode: &str) {
    let a = seeded();
    let script = "set -e
        echo added > new.txt
        echo more >> src/lib.rs
        rm docs/readme.md
        mv src/old src/renamed
        chmod 755 run.sh
        ln -s lib.rs src/link
        mkdir -p deep/er
        echo x > deep/er/file
        printf same'\\n' > keep.txt";
    let (doc, status) = shell(&a, &["--mode", mode], script);
    assert_eq!(status, 0, "{doc:?}");
    assert_eq!(doc.mode, mode);
    assert_eq!(doc.exit_code, Some(0));
    assert_eq!(
        doc.pairs(),
        pairs(&[
            ("added", "/deep"),
            ("added", "/deep/er"),
            ("added", "/deep/er/file"),
            ("deleted", "/docs/readme.md"),
            ("added", "/new.txt"),
            ("modified", "/run.sh"),
            ("modified", "/src/lib.rs"),
            ("added", "/src/link"),
            ("deleted", "/src/old"),
            ("deleted", "/src/old/gone.rs"),
            ("added", "/src/renamed"),
            ("added", "/src/renamed/gone.rs"),
        ])
    );
    let by_path: BTreeMap<_, _> = doc.changes.iter().map(|c| (c.path.as_str(), c)).collect();
    let chmod = by_path["/run.sh"];
    assert_eq!(chmod.before.as_ref().unwrap().mode, "0644");
    assert_eq!(chmod.after.as_ref().unwrap().mode, "0755");
    assert_eq!(
        chmod.before.as_ref().unwrap().hash,
        chmod.after.as_ref().unwrap().hash
    );
    let link = by_path["/src/link"];
    assert_eq!(link.kind, "symlink");
    assert_eq!(
        link.after.as_ref().unwrap().target.as_deref(),
        Some("lib.rs")
    );
    assert_eq!(
        doc.summary,
        Summary {
            added: 7,
            modified: 2,
            deleted: 3,
            type_changed: 0,
            total: 12
        }
    );
    // The vault holds exactly what the command left, and the report agrees with `avfs diff`.
    assert_eq!(a.cat("/src/lib.rs"), b"pub fn one() -> u32 { 1 }\nmore\n");
    assert_eq!(a.cat("/src/renamed/gone.rs"), b"// old\n");
    let cp = doc.checkpoint.as_ref().expect("a checkpoint");
    let diff: common::DiffDoc = a.json(["diff", "--from", &cp.name]);
    assert_eq!(diff.changes, doc.changes);

    // A type change, then a run that changes nothing reports nothing.
    let (doc, _) = shell(&a, &["--mode", mode], "rm new.txt && mkdir new.txt");
    assert_eq!(doc.pairs(), pairs(&[("type_changed", "/new.txt")]));
    let (doc, status) = exec(&a, &["--mode", mode], &["cat", "src/lib.rs"]);
    assert_eq!(status, 0);
    assert_eq!(doc.stdout, "pub fn one() -> u32 { 1 }\nmore\n");
    assert!(doc.changes.is_empty(), "{:?}", doc.changes);
    assert_eq!(doc.summary.total, 0);
    assert_no_run_mount(&a);
}

#[test]
fn fuse_runs_report_every_kind_of_change_exactly() {
    if !fuse_available() {
        return;
    }
    changes_are_reported_exactly("fuse");
}

#[test]
fn materialized_runs_report_every_kind_of_change_exactly() {
    changes_are_reported_exactly("materialize");
}

#[test]
fn the_run_document_describes_the_command_and_its_output() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    let (doc, status) = shell(&a, &["--cwd", "/src"], "pwd >&2; ls; exit 3");
    assert_eq!(status, 3);
    assert_eq!(doc.exit_code, Some(3));
    assert_eq!(doc.signal, None);
    assert!(!doc.timed_out);
    assert_eq!(doc.vault, "main");
    assert_eq!(doc.shell.as_deref(), Some("pwd >&2; ls; exit 3"));
    assert_eq!(doc.command, ["sh", "-c", "pwd >&2; ls; exit 3"]);
    assert_eq!(doc.cwd, "/src");
    assert_eq!(doc.stdout, "lib.rs\nold\n");
    assert!(doc.stderr.ends_with("/src\n"), "{}", doc.stderr);
    assert_eq!(doc.stdout_bytes, 11);
    assert!(!doc.stdout_truncated && !doc.stderr_truncated);
    assert_eq!(doc.path_rules, "none");
    assert!(doc.decision.allowed);
    assert_eq!(doc.decision.policy, "none");
    let cp = doc.checkpoint.unwrap();
    assert!(cp.auto && cp.name.starts_with("run-"), "{cp:?}");
    assert_eq!(cp.message.as_deref(), Some("sh -c pwd >&2; ls; exit 3"));
    assert!(doc.mount_errors.is_empty(), "{:?}", doc.mount_errors);

    // A command killed by a signal: no exit code, 128 + N.
    let (doc, status) = shell(&a, &[], "kill -9 $$");
    assert_eq!((doc.exit_code, doc.signal, status), (None, Some(9), 137));

    // Not found and not executable, as a shell reports them.
    let (doc, status) = exec(&a, &[], &["no-such-program-xyz"]);
    assert_eq!(status, 127);
    assert_eq!(doc.exit_code, None);
    assert!(doc.exec_error.unwrap().contains("not found"));
    let (doc, status) = exec(&a, &[], &["./run.sh"]);
    assert_eq!(status, 126);
    assert!(doc.exec_error.unwrap().contains("not executable"));

    // A directory that is not there is an avfs error, before anything runs.
    let (err, status) = a.fails(["proxy", "exec", "--cwd", "/nope", "--", "true"]);
    assert_eq!((err.code.as_str(), status), ("path_not_found", 3));
    let (err, status) = a.fails(["--vault", "ghost", "proxy", "exec", "--", "true"]);
    assert_eq!((err.code.as_str(), status), ("vault_not_found", 3));
    let (err, status) = a.fails(["proxy", "exec"]);
    assert_eq!((err.code.as_str(), status), ("usage_error", 2));
    assert!(err.message.contains("--shell"), "{}", err.message);
}

/// What a run's mount logs goes into the document (`shell` checks that
/// `--json` leaves stderr empty), and the rest of the run goes on.
#[test]
fn a_request_that_fails_inside_the_mount_is_in_the_document_not_on_stderr() {
    if !fuse_available() || !cfg!(debug_assertions) {
        // The fault trigger exists in debug builds only (`mount::fault`).
        return;
    }
    let a = seeded();
    let (doc, status) = shell(
        &a,
        &[],
        "touch avfs-debug-panic 2>/dev/null; echo $? > touched; echo kept > after",
    );
    assert_eq!(status, 0);
    assert_eq!(doc.mount_errors.len(), 1, "{:?}", doc.mount_errors);
    assert!(
        doc.mount_errors[0].contains("panicked: fault injected"),
        "{:?}",
        doc.mount_errors
    );
    assert_eq!(a.cat("/touched"), b"1\n");
    assert_eq!(a.cat("/after"), b"kept\n");
    assert!(
        !doc.changes.iter().any(|c| c.path == "/avfs-debug-panic"),
        "{:?}",
        doc.changes
    );
}

#[test]
fn output_is_bounded_and_binary_output_comes_as_base64() {
    let a = Avfs::with_vault();
    let (doc, _) = shell(
        &a,
        &["--output-limit", "1KiB", "--mode", "materialize"],
        "head -c 100000 /dev/zero | tr '\\0' a; printf '\\377\\376' >&2",
    );
    assert!(doc.stdout_truncated);
    assert_eq!(doc.stdout_bytes, 100_000);
    assert!(doc.stdout.starts_with(&"a".repeat(512)));
    assert!(doc.stdout.ends_with(&"a".repeat(512)));
    assert!(
        doc.stdout.contains("[… 98976 bytes omitted …]"),
        "{}",
        doc.stdout
    );
    assert!(!doc.stderr_truncated);
    assert_eq!(doc.stderr_bytes, 2);
    assert_eq!(doc.stderr_b64.as_deref(), Some("//4="));
    assert_eq!(doc.stdout_b64, None);
}

/// avfs tells a run's init the command in a memory file, not in a socket
/// packet: a command line and environment larger than a packet (212,992
/// bytes by default) reach the command whole, in every mode.
#[test]
fn a_command_line_larger_than_a_packet_reaches_the_command_whole() {
    let a = Avfs::with_vault();
    let big = "x".repeat(100_000);
    let env = format!("BIG={big}");
    for mode in ["fuse", "materialize"] {
        let (doc, status) = exec(
            &a,
            &["--mode", mode, "--env", &env],
            &[
                "sh",
                "-c",
                r#"printf %s "$1$2$BIG" | wc -c"#,
                "sh",
                &big,
                &big,
            ],
        );
        assert_eq!(
            (status, doc.stdout.trim()),
            (0, "300000"),
            "{mode}: {:?}",
            doc.exec_error
        );
    }
}

/// PID 1 of a run's namespace is a fork of avfs: it forgets avfs's own
/// environment, in memory too, so that the command finds no secret of it in
/// `/proc/1/environ` (only the curated environment is the command's). As
/// root only: a user's PID 1 made its user namespace, which leaves it not
/// dumpable, so a user's command cannot read that file at all.
#[test]
fn a_run_reads_nothing_of_avfs_environment_from_its_pid_1() {
    let a = Avfs::with_vault();
    for mode in ["fuse", "materialize"] {
        let out = a
            .command()
            .env("SECRET_TOKEN", "leak-7731")
            .args(["--json", "proxy", "exec", "--mode", mode, "--shell"])
            .arg("tr '\\0' '\\n' < /proc/1/environ; echo read")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let doc: RunDoc = common::parse_one(&out.stdout);
        if doc.workdir.is_none() {
            return; // no namespace here: PID 1 is the machine's
        }
        assert_eq!(doc.exit_code, Some(0), "{mode}: {doc:?}");
        assert!(doc.stdout.ends_with("read\n"), "{mode}: {doc:?}");
        assert!(!doc.stdout.contains("leak-7731"), "{mode}: {}", doc.stdout);
    }
}

/// A run exits without checkpointing the WAL, and the next process to open
/// the store reads every frame since the WAL last restarted: a run's own
/// commits checkpoint it past 100 pages, so runs keep it short (SQLite's
/// default lets it reach 1,000 pages, about 4 MB, first).
#[test]
fn runs_leave_the_wal_short() {
    let a = Avfs::with_vault();
    for _ in 0..60 {
        let (doc, status) = exec(&a, &[], &["true"]);
        assert_eq!(status, 0, "{doc:?}");
    }
    let wal = std::fs::metadata(format!("{}-wal", a.store_path().display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(wal < 1 << 20, "the WAL grew to {wal} bytes");
}

/// The init `avfs proxy exec` forks as it starts is gone with avfs when no
/// run takes it (here the vault does not exist).
#[test]
fn an_init_that_no_run_took_is_gone_with_avfs() {
    let a = Avfs::with_vault();
    let marker = "no-such-vault-5150";
    let run = a.run(["--json", "proxy", "exec", "--vault", marker, "--", "true"]);
    assert_ne!(run.status, 0, "{}", run.stdout_str());
    let naming = || processes_where(|line| line.contains(marker));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !naming().is_empty() {
        assert!(Instant::now() < deadline, "left running: {:?}", naming());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_environment_is_curated() {
    let a = Avfs::with_vault();
    let mut cmd = a.command();
    cmd.env("SECRET_TOKEN", "leak")
        .env("LANG", "C.UTF-8")
        .args([
            "--json",
            "proxy",
            "exec",
            "--mode",
            "materialize",
            "--env",
            "EXTRA=1",
            "--",
            "env",
        ]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let doc: RunDoc = common::parse_one(&out.stdout);
    let mut names: Vec<&str> = doc
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    names.sort();
    // The harness passes only PATH, AVFS_HOME and NO_COLOR: of those the
    // default list keeps PATH; LANG passes; secrets and avfs's own do not.
    // A run in its own namespace (as root) also learns its AVFS_WORKSPACE.
    names.retain(|n| !(*n == "AVFS_WORKSPACE" && doc.workdir.is_some()));
    assert_eq!(names, ["EXTRA", "LANG", "PATH"]);

    let policy = a.home.path().join("env.json");
    std::fs::write(
        &policy,
        r#"{"env": {"pass": ["SECRET_TOKEN"], "set": {"CI": "1"}}}"#,
    )
    .unwrap();
    let mut cmd = a.command();
    cmd.env("SECRET_TOKEN", "passed").args([
        "--json",
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--policy",
    ]);
    cmd.arg(&policy).args(["--", "/usr/bin/env"]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let doc: RunDoc = common::parse_one(&out.stdout);
    let mut lines: Vec<&str> = doc.stdout.lines().collect();
    lines.retain(|l| !(doc.workdir.is_some() && l.starts_with("AVFS_WORKSPACE=")));
    lines.sort();
    assert_eq!(lines, ["CI=1", "SECRET_TOKEN=passed"]);
}

#[test]
fn a_timeout_stops_the_whole_tree_and_unmounts() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let started = Instant::now();
    let (doc, status) = exec(
        &a,
        &["--timeout", "1s", "--grace", "1s"],
        &[
            "sh",
            "-c",
            "echo before; sleep 30701 & sleep 30801; echo never",
        ],
    );
    assert_eq!(status, 124);
    assert!(doc.timed_out);
    assert_eq!(doc.exit_code, None);
    assert_eq!(doc.signal, Some(15));
    assert_eq!(doc.stdout, "before\n");
    assert!(doc.duration_ms >= 1000, "{}", doc.duration_ms);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(processes_with("sleep 30701"), Vec::<String>::new());
    assert_eq!(processes_with("sleep 30801"), Vec::<String>::new());
    assert_no_run_mount(&a);

    // A process that ignores SIGTERM and leaves the process group is killed too.
    let (doc, status) = shell(
        &a,
        &["--timeout", "1s", "--grace", "500ms"],
        "trap '' TERM; setsid sh -c 'trap \"\" TERM; sleep 30901' & sleep 31001",
    );
    assert_eq!(status, 124);
    assert_eq!(doc.signal, Some(9));
    assert_eq!(processes_with("sleep 30901"), Vec::<String>::new());
    assert_eq!(processes_with("sleep 31001"), Vec::<String>::new());
    assert_no_run_mount(&a);
}

#[test]
fn what_a_finished_command_leaves_running_is_stopped() {
    let a = Avfs::with_vault();
    let (doc, status) = shell(&a, &["--mode", "materialize"], "sleep 31101 & echo bye");
    assert_eq!(status, 0);
    assert_eq!(doc.stdout, "bye\n");
    assert!(!doc.timed_out);
    assert_eq!(processes_with("sleep 31101"), Vec::<String>::new());
}

/// Starts `avfs --json proxy exec -- sh -c SCRIPT` with `command` and waits
/// until a process whose command line has `running` exists.
fn start_run(mut command: Command, script: &str, running: &str) -> std::process::Child {
    let child = command
        .args(["--json", "proxy", "exec", "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(running).is_empty() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A command named without a slash is found on the run's own PATH and sees
/// the name it was given as its `argv[0]`; a script there without a `#!`
/// line runs under /bin/sh, as `execvp` would run it.
#[test]
fn a_command_on_the_run_s_path_keeps_its_name_and_a_script_without_a_shebang_runs() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let (doc, _) = shell(
        &a,
        &[],
        "mkdir bin && printf 'echo ran \"$0\"\\n' > bin/tool && chmod +x bin/tool",
    );
    assert_eq!(doc.exit_code, Some(0), "{doc:?}");
    let path = ["--env", "PATH=/workspace/bin:/usr/bin:/bin"];
    let (doc, status) = exec(&a, &path, &["tool"]);
    assert_eq!(status, 0, "{doc:?}");
    assert_eq!(doc.stdout, "ran /workspace/bin/tool\n");
    let (doc, status) = exec(&a, &path, &["sh", "-c", "echo $0"]);
    assert_eq!((status, doc.stdout.as_str()), (0, "sh\n"), "{doc:?}");
}

/// As root the run's init is PID 1 of the run's namespace itself, avfs's
/// own child: no process stands between them.
#[test]
fn as_root_the_run_s_init_is_pid_1_and_a_child_of_avfs() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = seeded();
    // This test process's own sleep, whatever another run leaves.
    let marker = format!("sleep 30603.{}", std::process::id());
    let child = start_run(a.command(), &format!("exec {marker}"), &marker);
    let sleep: i32 = processes_with(&marker)[0]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let status = |pid: i32, field: &str| -> String {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = text.lines().find(|l| l.starts_with(field)).unwrap();
        line[field.len()..].trim().to_string()
    };
    let init: i32 = status(sleep, "PPid:").parse().unwrap();
    let (init_parent, init_pids) = (status(init, "PPid:"), status(init, "NSpid:"));
    // Stopped before the checks, so that a failing one leaves nothing running.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let avfs = child.id().to_string();
    interrupted_by_sigint(child);
    assert_eq!(init_parent, avfs);
    assert_eq!(init_pids.split_whitespace().last(), Some("1"));
}

/// A run's private mount is served through io_uring queues (threads named
/// `avfs-ring-*` in avfs) wherever root has enabled FUSE over io_uring in the
/// kernel, unless `AVFS_FUSE_URING=off`; either way the run works.
#[test]
fn a_run_s_mount_takes_io_uring_wherever_the_kernel_offers_it() {
    if !fuse_available() {
        return;
    }
    let offered = std::fs::read_to_string("/sys/module/fuse/parameters/enable_uring")
        .is_ok_and(|v| v.trim() == "Y");
    let a = seeded();
    for (switch, want) in [(None, offered), (Some("off"), false)] {
        let marker = format!("sleep 30607.{}", std::process::id());
        let mut command = a.command();
        command.env_remove("AVFS_FUSE_URING");
        if let Some(value) = switch {
            command.env("AVFS_FUSE_URING", value);
        }
        let child = start_run(command, &format!("cat keep.txt; exec {marker}"), &marker);
        let rings = std::fs::read_dir(format!("/proc/{}/task", child.id()))
            .unwrap()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .filter(|name| name.starts_with("avfs-ring-"))
            .count();
        // Stopped before the checks, so that a failing one leaves nothing running.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let doc = interrupted_by_sigint(child);
        assert_eq!(doc.stdout, "same\n", "AVFS_FUSE_URING={switch:?}");
        assert_eq!(
            rings > 0,
            want,
            "AVFS_FUSE_URING={switch:?}: {rings} ring threads"
        );
    }
}

/// The document of a run that SIGINT stopped, which exits 130.
fn interrupted_by_sigint(child: std::process::Child) -> RunDoc {
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let doc: RunDoc = common::parse_one(&out.stdout);
    assert_eq!(doc.interrupted.as_deref(), Some("SIGINT"));
    doc
}

#[test]
fn ctrl_c_of_avfs_stops_the_command_unmounts_and_still_reports() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    let child = start_run(
        a.command(),
        "echo started > marker; echo go; exec sleep 31201",
        "sleep 31201",
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let doc = interrupted_by_sigint(child);
    assert_eq!(doc.stdout, "go\n");
    assert_eq!(doc.pairs(), pairs(&[("added", "/marker")]));
    assert_eq!(processes_with("sleep 31201"), Vec::<String>::new());
    assert_no_run_mount(&a);
}

/// A terminal's Ctrl-C goes to avfs's whole process group: the run's
/// processes are in a group of their own (the init made it as it was
/// forked), so only avfs gets it, and avfs stops the command (SIGTERM) and
/// reports.
#[test]
fn a_terminal_s_ctrl_c_reaches_avfs_and_not_the_run() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    let mut command = a.command();
    // A group of its own, as a terminal's foreground job has.
    command.process_group(0);
    let child = start_run(command, "echo go; exec sleep 31202", "sleep 31202");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let doc = interrupted_by_sigint(child);
    assert_eq!(
        doc.signal,
        Some(15),
        "stopped by avfs, not by the terminal: {doc:?}"
    );
    assert_eq!(processes_with("sleep 31202"), Vec::<String>::new());
    assert_no_run_mount(&a);
}

const POLICY: &str = r#"{
  "commands": { "allow": ["sh *", "cat *", "true"], "deny": ["curl *", "sh -c *curl*"] },
  "paths": [
    { "glob": "**",          "ops": ["read"] },
    { "glob": "src/**",      "ops": ["read", "write", "create", "delete"] },
    { "glob": "secrets/**",  "ops": [], "deny": true }
  ]
}"#;

fn with_policy() -> Avfs {
    let a = seeded();
    a.ok(["mkdir", "/secrets"]);
    a.ok(["write", "/secrets/key", "hunter2\n"]);
    std::fs::write(a.home.path().join("policy.json"), POLICY).unwrap();
    a.ok([
        "policy",
        "set",
        a.home.path().join("policy.json").to_str().unwrap(),
    ]);
    a
}

#[test]
fn a_denied_command_runs_nothing_and_exits_126() {
    let a = with_policy();
    let before: CheckpointList = a.json(["checkpoint", "list"]);
    let (doc, status) = exec(&a, &[], &["curl", "http://example.com"]);
    assert_eq!(status, 126);
    assert!(!doc.decision.allowed);
    assert_eq!(doc.decision.rule.as_deref(), Some("curl *"));
    assert_eq!(doc.decision.policy, "vault");
    assert!(doc.decision.reason.contains("deny rule"));
    assert_eq!((doc.exit_code, doc.checkpoint.is_none()), (None, true));
    assert!(doc.changes.is_empty());
    let (doc, status) = exec(&a, &[], &["python3", "-c", "print(1)"]);
    assert_eq!(status, 126);
    assert_eq!(doc.decision.rule, None);
    let after: CheckpointList = a.json(["checkpoint", "list"]);
    assert_eq!(before.checkpoints.len(), after.checkpoints.len());
}

fn path_rules_hold(mode: &str) {
    let a = with_policy();
    let script = "cat secrets/key; echo ok > src/new.rs; echo no > top.txt; \
                  echo no >> docs/readme.md; rm keep.txt; mv src/lib.rs src/moved.rs; \
                  touch \"$(printf 'bad\\377')\"; true";
    let (doc, status) = shell(&a, &["--mode", mode], script);
    assert_eq!(status, 0, "{doc:?}");
    assert!(
        !doc.stdout.contains("hunter2"),
        "a secret leaked: {}",
        doc.stdout
    );
    assert_eq!(
        doc.pairs(),
        pairs(&[
            ("deleted", "/src/lib.rs"),
            ("added", "/src/moved.rs"),
            ("added", "/src/new.rs"),
        ])
    );
    let (odd, plain): (Vec<_>, Vec<_>) = doc.violations.iter().partition(|v| v.path_b64.is_some());
    assert_eq!(odd.len(), 1, "{odd:?}");
    assert_eq!(odd[0].path_b64.as_deref(), Some("L2JhZP8="));
    assert_eq!(odd[0].op, "create");
    let refused: Vec<(String, String, Option<String>)> = plain
        .iter()
        .map(|v| (v.op.clone(), v.path.clone(), v.rule.clone()))
        .collect();
    let mut expected = vec![
        ("create".to_string(), "/top.txt".to_string(), None),
        ("write".to_string(), "/docs/readme.md".to_string(), None),
        ("delete".to_string(), "/keep.txt".to_string(), None),
    ];
    if mode == "fuse" {
        assert_eq!(doc.path_rules, "enforced");
        // Refused at once, in the order tried; the secret was refused too.
        expected.insert(
            0,
            (
                "read".to_string(),
                "/secrets/key".to_string(),
                Some("secrets/**".to_string()),
            ),
        );
        assert!(doc.stderr.contains("Permission denied"), "{}", doc.stderr);
        assert_eq!(refused, expected);
    } else {
        // Refused when written back; the secret was never copied out.
        assert_eq!(doc.path_rules, "write_back");
        let mut sorted = refused.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
    }
    assert!(!doc.violations_truncated);
    assert_eq!(doc.changes_mode, "full");
    assert!(doc.rollups.is_empty());
    assert_eq!(a.cat("/keep.txt"), b"same\n");
    assert_eq!(a.cat("/docs/readme.md"), b"# hello\n");
    assert_eq!(a.cat("/secrets/key"), b"hunter2\n");
    assert_eq!(a.cat("/src/new.rs"), b"ok\n");
    assert_no_run_mount(&a);
}

#[test]
fn fuse_path_rules_refuse_with_eacces_and_list_violations() {
    if !fuse_available() {
        return;
    }
    path_rules_hold("fuse");
}

#[test]
fn materialized_path_rules_refuse_at_write_back() {
    path_rules_hold("materialize");
}

#[test]
fn fifty_runs_in_a_second_make_fifty_checkpoints_and_retention_prunes_them() {
    let a = Avfs::with_vault();
    a.ok(["checkpoint", "save", "named"]);
    let started = Instant::now();
    let mut names = Vec::new();
    for _ in 0..50 {
        let (doc, status) = exec(&a, &["--mode", "materialize"], &["true"]);
        assert_eq!(status, 0);
        names.push(doc.checkpoint.unwrap().name);
    }
    eprintln!("50 runs took {:?}", started.elapsed());
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    let list: CheckpointList = a.json(["checkpoint", "list"]);
    assert_eq!(list.checkpoints.len(), 51);

    // Keep 10: the oldest run checkpoints go, the named one stays.
    let run = a
        .command()
        .env("AVFS_RUN_CHECKPOINTS", "10")
        .args([
            "--json",
            "proxy",
            "exec",
            "--mode",
            "materialize",
            "--",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let list: CheckpointList = a.json(["checkpoint", "list"]);
    let left: Vec<&str> = list.checkpoints.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(left.len(), 11);
    assert_eq!(left[0], "named");
    assert_eq!(
        left[1..10],
        names[41..].iter().map(String::as_str).collect::<Vec<_>>()[..]
    );

    // never: no checkpoint kept, changes still reported.
    let before = list.checkpoints.len();
    let (doc, _) = exec(
        &a,
        &["--checkpoint", "never", "--mode", "materialize"],
        &["touch", "t"],
    );
    assert!(doc.checkpoint.is_none());
    assert_eq!(doc.pairs(), pairs(&[("added", "/t")]));
    let list: CheckpointList = a.json(["checkpoint", "list"]);
    assert_eq!(list.checkpoints.len(), before);
}

/// A run's own mount groups its commits, but a write over the quota must
/// still fail the close(2) or fsync(2) that writes it back, and leave
/// nothing partial.
#[test]
fn a_write_over_the_quota_fails_its_close_in_a_run_and_stores_nothing_partial() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    a.ok(["quota", "set", "--max-bytes", "1M"]);
    // With the writeback cache, write(2) only fills the page cache; the
    // kernel writes the pages back at close(2) (which reports any failure
    // there as EIO) or fsync(2) (which reports the server's own error).
    let script = r#"
import errno, os
def attempt(name, end):
    f = open(name, 'wb', buffering=0)
    try:
        f.write(b'x' * (1536 * 1024))
        if end == 'fsync':
            os.fsync(f.fileno())
    except OSError as e:
        print(name, errno.errorcode[e.errno])
        try:
            f.close()
        except OSError:
            pass
        return
    try:
        f.close()
        print(name, 'stored')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
attempt('closed', 'close')
attempt('synced', 'fsync')
open('small', 'w').write('fits')
"#;
    let (doc, status) = exec(&a, &[], &["python3", "-c", script]);
    assert_eq!(status, 0, "{}", doc.stderr);
    let lines: Vec<&str> = doc.stdout.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| *l == "closed EIO" || *l == "closed EDQUOT"),
        "{lines:?} {}",
        doc.stderr
    );
    assert_eq!(lines.get(1), Some(&"synced EDQUOT"), "{lines:?}");
    for name in ["/closed", "/synced"] {
        let change = doc.changes.iter().find(|c| c.path == name);
        assert!(
            change.is_none_or(|c| c.after.as_ref().is_none_or(|a| a.size == 0)),
            "nothing partial of {name}: {:?}",
            doc.changes
        );
    }
    assert_eq!(a.cat("/small"), b"fits");
}

#[test]
fn readonly_runs_change_nothing() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    let (doc, status) = shell(&a, &["--readonly"], "echo x > src/lib.rs");
    assert_ne!(status, 0);
    assert!(
        doc.stderr.contains("Read-only file system"),
        "{}",
        doc.stderr
    );
    assert!(doc.checkpoint.is_none());
    assert!(doc.changes.is_empty());
    let (doc, _) = shell(&a, &["--readonly", "--checkpoint", "always"], "true");
    assert!(doc.checkpoint.is_some());
}

#[test]
fn readonly_materialized_runs_write_nothing_back_and_say_what_they_dropped() {
    let a = seeded();
    let (doc, status) = shell(
        &a,
        &["--readonly", "--mode", "materialize"],
        "echo x > src/lib.rs; touch new; rm keep.txt",
    );
    assert_eq!(status, 0);
    assert!(doc.changes.is_empty(), "{:?}", doc.pairs());
    let mut refused: Vec<(String, String, Option<String>)> = doc
        .violations
        .iter()
        .map(|v| (v.op.clone(), v.path.clone(), v.rule.clone()))
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("create".to_string(), "/new".to_string(), None),
            ("delete".to_string(), "/keep.txt".to_string(), None),
            ("write".to_string(), "/src/lib.rs".to_string(), None),
        ]
    );
    assert_eq!(a.cat("/src/lib.rs"), b"pub fn one() -> u32 { 1 }\n");
    assert_eq!(a.cat("/keep.txt"), b"same\n");
}

#[test]
fn a_non_utf8_cwd_comes_with_its_exact_bytes() {
    let a = Avfs::with_vault();
    let name = std::ffi::OsStr::from_bytes(b"/d\xff");
    let mut args: Vec<&std::ffi::OsStr> = vec!["mkdir".as_ref(), name];
    assert_eq!(a.run(&args).status, 0);
    args = ["--json", "proxy", "exec", "--mode", "materialize", "--cwd"]
        .iter()
        .map(|s| s.as_ref())
        .collect();
    args.push(name);
    args.extend(
        ["--", "pwd"]
            .iter()
            .map(|s| -> &std::ffi::OsStr { s.as_ref() }),
    );
    let run = a.run(&args);
    let doc: RunDoc = common::parse_one(&run.stdout);
    assert_eq!(doc.cwd, "/d\u{fffd}");
    assert_eq!(doc.cwd_b64.as_deref(), Some("L2T/"));
}

#[test]
fn keep_mount_leaves_the_mount_for_the_next_run() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    let dir = tempfile::tempdir().unwrap();
    let dir_s = dir.path().to_str().unwrap();
    let (doc, status) = shell(&a, &["--keep-mount", dir_s], "echo 1 > one; pwd; echo $$");
    assert_eq!(status, 0, "{doc:?}");
    assert_eq!(doc.pairs(), pairs(&[("added", "/one")]));
    if is_root() {
        // A shared mount's run has its namespaces too: the mount at the workdir, PID 2.
        assert_eq!(doc.stdout, "/workspace\n2\n");
        assert_eq!(doc.workdir.as_deref(), Some("/workspace"));
    }
    assert!(dir.path().join("one").exists(), "still mounted");
    let (doc, _) = shell(&a, &["--keep-mount", dir_s], "mkdir two && rm one");
    assert_eq!(
        doc.pairs(),
        pairs(&[("deleted", "/one"), ("added", "/two")])
    );
    a.ok(["unmount", dir_s]);
    // Path rules need a mount of the run's own.
    let (err, status) = a.fails([
        "proxy",
        "exec",
        "--keep-mount",
        dir_s,
        "--policy",
        a.home.path().join("nope.json").to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!((err.code.as_str(), status), ("io_error", 5));
    std::fs::write(a.home.path().join("p.json"), POLICY).unwrap();
    let (err, status) = a.fails([
        "proxy",
        "exec",
        "--keep-mount",
        dir_s,
        "--policy",
        a.home.path().join("p.json").to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!((err.code.as_str(), status), ("invalid_argument", 2));
}

/// Writes a tiny crate with one passing test into the vault.
fn small_crate(a: &Avfs) {
    a.ok(["mkdir", "-p", "/app/src"]);
    a.ok([
        "write",
        "/app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    ]);
    a.ok([
        "write",
        "/app/src/lib.rs",
        "pub fn add(a: u32, b: u32) -> u32 { a + b }\n\
         #[cfg(test)]\nmod tests { #[test] fn adds() { assert_eq!(super::add(1, 2), 3); } }\n",
    ]);
}

/// Every file of the vault with its content, through `avfs export`.
fn snapshot(a: &Avfs) -> BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x");
    a.ok(["export", "/", target.to_str().unwrap()]);
    let mut files = BTreeMap::new();
    let mut stack = vec![target.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(&target)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
                files.insert(rel, b"<dir>".to_vec());
            } else if meta.is_file() {
                files.insert(rel, std::fs::read(&p).unwrap());
            } else {
                files.insert(
                    rel,
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            }
        }
    }
    files
}

fn cargo_test_in_a_vault(mode: &str) {
    let a = Avfs::with_vault();
    small_crate(&a);
    let before = snapshot(&a);
    let mut cmd = a.command();
    for var in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    let out = cmd
        .args([
            "--json",
            "proxy",
            "exec",
            "--mode",
            mode,
            "--cwd",
            "/app",
            "--timeout",
            "5m",
        ])
        .args(["--", "cargo", "test", "--offline"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let doc: RunDoc = common::parse_one(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", doc.stderr);
    assert!(
        doc.stdout.contains("test tests::adds ... ok"),
        "{}",
        doc.stdout
    );
    let paths: Vec<&str> = doc.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&"/app/Cargo.lock"), "{paths:?}");
    assert!(paths.contains(&"/app/target"), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/app/target/debug/deps/app-")),
        "{paths:?}"
    );
    assert!(doc.changes.iter().all(|c| c.change == "added"));
    // Restoring the run's checkpoint brings the vault back byte for byte.
    let cp = doc.checkpoint.unwrap().name;
    a.ok(["checkpoint", "restore", &cp]);
    assert_eq!(snapshot(&a), before);
    assert_no_run_mount(&a);
}

#[test]
fn cargo_test_through_the_proxy_lists_what_cargo_wrote_and_restores() {
    if !fuse_available() {
        return;
    }
    cargo_test_in_a_vault("fuse");
}

#[test]
fn cargo_test_materialized_lists_what_cargo_wrote_and_restores() {
    cargo_test_in_a_vault("materialize");
}

#[test]
fn every_run_is_journaled() {
    let a = with_policy();
    exec(&a, &["--mode", "materialize"], &["true"]);
    exec(&a, &[], &["curl", "x"]);
    assert_eq!(journaled_runs(&a.store_path()), 2);
}

/// Counts `proxy.exec` journal rows with the sqlite3 tool (the store is plain SQLite).
fn journaled_runs(db: &Path) -> usize {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg("SELECT count(*) FROM journal WHERE op = 'proxy.exec'")
        .output()
        .expect("sqlite3 is installed by scripts/test");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn two_agents_run_in_one_vault_at_once_and_lose_nothing() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    let spawn = |prefix: &str| {
        a.command()
            .args(["--json", "proxy", "exec", "--shell"])
            .arg(format!(
                "for i in $(seq 40); do echo $i > {prefix}$i; mkdir -p d{prefix}/$i; done"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn("a"), spawn("b"));
    for (child, prefix) in [(first, "a"), (second, "b")] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let doc: RunDoc = common::parse_one(&out.stdout);
        let own: Vec<&Change> = doc
            .changes
            .iter()
            .filter(|c| {
                c.path.starts_with(&format!("/{prefix}"))
                    || c.path.starts_with(&format!("/d{prefix}"))
            })
            .collect();
        // Each run works in its own attempt: it lists its own 40 files
        // (and 41 directories), never the other's.
        assert_eq!(own.len(), 81, "{:?}", doc.pairs());
        assert_eq!(doc.changes.len(), 81, "{:?}", doc.pairs());
    }
    for prefix in ["a", "b"] {
        for i in 1..=40 {
            assert_eq!(a.cat(&format!("/{prefix}{i}")), format!("{i}\n").as_bytes());
        }
    }
    assert_no_run_mount(&a);
}

#[test]
fn a_killed_avfs_leaves_nothing_the_next_run_does_not_clean_up() {
    let fuse = fuse_available();
    let a = seeded();
    for (mode, marker) in [("materialize", "sleep 31301"), ("fuse", "sleep 31302")] {
        if mode == "fuse" && !fuse {
            continue;
        }
        let mut child = a
            .command()
            .args(["--json", "proxy", "exec", "--mode", mode, "--", "sleep"])
            .arg(&marker[6..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while processes_with(marker).is_empty() {
            assert!(Instant::now() < deadline, "the command never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The command dies with avfs (with its PID namespace, or as avfs's
        // direct child where there are no namespaces).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_with(marker).is_empty() {
            assert!(Instant::now() < deadline, "{marker} outlived avfs");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (doc, status) = exec(&a, &["--mode", mode], &["cat", "keep.txt"]);
        assert_eq!((status, doc.stdout.as_str()), (0, "same\n"));
        assert_no_run_mount(&a);
    }
}

// ---------------------------------------------------------------------------
// Runs at once: each in its own attempt, merged back (docs/json.md, "Proxy runs")
// ---------------------------------------------------------------------------

/// Races per scenario.
const RACES: usize = 20;

/// The start of script `i` (0 or 1) of two that must overlap: it marks
/// itself under way in `sync`, then waits for the other's mark.
fn meet(sync: &Path, i: usize) -> String {
    let mark = |i: usize| sync.join(i.to_string()).display().to_string();
    format!(
        "touch '{}'; while [ ! -e '{}' ]; do sleep 0.01; done; ",
        mark(i),
        mark(1 - i)
    )
}

/// Runs two scripts at once in the vault. Each first waits (through marker
/// files on the host) until the other has started, so both attempts are
/// forked from the same head and the second merge is always a three-way one.
fn race(a: &Avfs, flags: &[&str], scripts: [&str; 2]) -> [(RunDoc, i32); 2] {
    let sync = tempfile::tempdir().unwrap();
    let wrapped = |i: usize| format!("{}{}", meet(sync.path(), i), scripts[i]);
    let (s0, s1) = (wrapped(0), wrapped(1));
    std::thread::scope(|scope| {
        let first = scope.spawn(|| shell(a, flags, &s0));
        let second = scope.spawn(|| shell(a, flags, &s1));
        [first.join().unwrap(), second.join().unwrap()]
    })
}

/// The visible vaults, by name.
fn vault_names(a: &Avfs) -> Vec<String> {
    let list: serde_json::Value = a.json(["vault", "list"]);
    list["vaults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn concurrent_appends_to_one_file_keep_both() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    a.ok(["write", "/ap.txt", "base\n"]);
    let mut want = vec!["base".to_string()];
    for i in 0..RACES {
        let scripts = [
            format!("exec 3>>ap.txt; echo A{i} >&3"),
            format!("exec 3>>ap.txt; echo B{i} >&3"),
        ];
        let runs = race(&a, &[], [&scripts[0], &scripts[1]]);
        let mut merges = Vec::new();
        for (doc, status) in &runs {
            assert_eq!(*status, 0, "{doc:?}");
            assert_eq!(doc.pairs(), pairs(&[("modified", "/ap.txt")]));
            assert!(doc.conflicts.is_empty() && doc.fork.is_none(), "{doc:?}");
            merges.push(doc.merge.clone().unwrap());
        }
        merges.sort();
        assert_eq!(merges, ["fast_forward", "merged"], "race {i}");
        want.extend([format!("A{i}"), format!("B{i}")]);
    }
    let text = String::from_utf8(a.cat("/ap.txt")).unwrap();
    let mut got: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(got[0], "base");
    got.sort();
    want.sort();
    assert_eq!(got, want, "no append is lost");
    assert_eq!(vault_names(&a), ["main"]);
    assert_no_run_mount(&a);
}

#[test]
fn concurrent_overwrites_of_one_file_merge_one_and_keep_the_other_as_a_fork() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    a.ok(["write", "/ow.txt", "base\n"]);
    for i in 0..RACES {
        let scripts = [format!("echo A{i} > ow.txt"), format!("echo B{i} > ow.txt")];
        let runs = race(&a, &[], [&scripts[0], &scripts[1]]);
        let (won, lost): (Vec<_>, Vec<_>) = runs.iter().partition(|(_, status)| *status == 0);
        assert_eq!((won.len(), lost.len()), (1, 1), "race {i}: {runs:?}");
        let (winner, (loser, status)) = (&won[0].0, lost[0]);
        assert_eq!(*status, 4, "a conflict exits 4: {loser:?}");
        assert_eq!(winner.merge.as_deref(), Some("fast_forward"));
        assert_eq!(loser.merge.as_deref(), Some("conflict"));
        assert_eq!(loser.on_conflict, "keep");
        assert!(
            loser.checkpoint.is_none(),
            "nothing applied, nothing to undo"
        );
        assert_eq!(loser.pairs(), pairs(&[("modified", "/ow.txt")]));
        let conflict = &loser.conflicts[..];
        assert_eq!(conflict.len(), 1, "{conflict:?}");
        assert_eq!(
            (conflict[0].path.as_str(), conflict[0].kind.as_str()),
            ("/ow.txt", "content")
        );
        let side = |s: &Option<common::Side>| s.as_ref().and_then(|s| s.hash.clone());
        assert_eq!(side(&conflict[0].ours), side(&winner.changes[0].after));
        assert_eq!(side(&conflict[0].theirs), side(&loser.changes[0].after));
        assert_eq!(side(&conflict[0].base), side(&loser.changes[0].before));
        // Nothing is lost: the winner's bytes are in the vault, the loser's in its fork.
        let won_text = if winner.shell.as_deref().unwrap().ends_with(&scripts[0]) {
            "A"
        } else {
            "B"
        };
        let lost_text = if won_text == "A" { "B" } else { "A" };
        assert_eq!(a.cat("/ow.txt"), format!("{won_text}{i}\n").as_bytes());
        let fork = loser.fork.clone().expect("the attempt is kept");
        assert!(fork.starts_with("run-"), "{fork}");
        assert_eq!(
            a.ok(["--vault", &fork, "cat", "/ow.txt"]),
            format!("{lost_text}{i}\n")
        );
        // Reset the base for the next race: the fork goes, the file goes back.
        a.ok(["vault", "delete", &fork]);
        a.ok(["write", "/ow.txt", "base\n"]);
    }
    assert_eq!(vault_names(&a), ["main"]);
    assert_no_run_mount(&a);
}

#[test]
fn concurrent_creates_of_one_file_never_fail_with_eexist() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    for i in 0..RACES {
        let script = format!("echo A > e{i}.txt");
        let runs = race(&a, &[], [&script, &script]);
        for (doc, status) in &runs {
            assert_eq!(*status, 0, "{doc:?}");
            assert_eq!(doc.stderr, "", "race {i}");
            assert_eq!(doc.pairs(), pairs(&[("added", &format!("/e{i}.txt"))]));
            assert!(doc.conflicts.is_empty(), "the same bytes meet: {doc:?}");
        }
        assert_eq!(a.cat(&format!("/e{i}.txt")), b"A\n");
    }
    assert_eq!(vault_names(&a), ["main"]);
}

#[test]
fn concurrent_runs_list_only_their_own_files_and_restoring_one_undoes_only_it() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    for i in 0..RACES {
        let scripts = [format!("echo a > a{i}.txt"), format!("echo b > b{i}.txt")];
        let runs = race(&a, &[], [&scripts[0], &scripts[1]]);
        for ((doc, status), own) in runs
            .iter()
            .zip([format!("/a{i}.txt"), format!("/b{i}.txt")])
        {
            assert_eq!(*status, 0, "{doc:?}");
            assert_eq!(doc.pairs(), pairs(&[("added", &own)]));
        }
        if i + 1 < RACES {
            continue;
        }
        // The run merged second has the checkpoint of the vault with the
        // first run's file and without its own: restoring it undoes it alone.
        let (later, earlier, later_file, earlier_file) =
            if runs[1].0.merge.as_deref() == Some("merged") {
                (
                    &runs[1].0,
                    &runs[0].0,
                    format!("/b{i}.txt"),
                    format!("/a{i}.txt"),
                )
            } else {
                (
                    &runs[0].0,
                    &runs[1].0,
                    format!("/a{i}.txt"),
                    format!("/b{i}.txt"),
                )
            };
        assert_eq!(later.merge.as_deref(), Some("merged"));
        assert_eq!(earlier.merge.as_deref(), Some("fast_forward"));
        let name = later.checkpoint.as_ref().unwrap().name.clone();
        a.ok(["checkpoint", "restore", &name]);
        let earlier_text = if earlier_file.starts_with("/a") {
            "a\n"
        } else {
            "b\n"
        };
        assert_eq!(a.cat(&earlier_file), earlier_text.as_bytes());
        let (err, _) = a.fails(["cat", &later_file]);
        assert_eq!(err.code, "path_not_found");
        for j in 0..i {
            assert_eq!(a.cat(&format!("/a{j}.txt")), b"a\n");
            assert_eq!(a.cat(&format!("/b{j}.txt")), b"b\n");
        }
        // The earlier run's checkpoint is the vault before it: restoring it
        // undoes it and what was merged after it.
        let name = earlier.checkpoint.as_ref().unwrap().name.clone();
        a.ok(["checkpoint", "restore", &name]);
        assert_eq!(a.fails(["cat", &earlier_file]).0.code, "path_not_found");
        assert_eq!(a.cat(&format!("/a{}.txt", i - 1)), b"a\n");
    }
    assert_no_run_mount(&a);
}

#[test]
fn a_killed_runs_changes_are_kept_as_a_fork_by_the_next_run() {
    if !fuse_available() {
        return;
    }
    let a = seeded();
    let sync = tempfile::tempdir().unwrap();
    let started = sync.path().join("started");
    let mut child = a
        .command()
        .args(["--json", "proxy", "exec", "--shell"])
        .arg(format!(
            "echo kept > k.txt && sync k.txt && touch '{}' && exec sleep 31303",
            started.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The command dies with avfs (its PID namespace goes with the run's init);
    // a survivor would hold the run's namespace, and its mounts, forever.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with("sleep 31303").is_empty() {
        assert!(Instant::now() < deadline, "the command outlived avfs");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The vault never got the write; the next run finds the dead attempt and keeps it.
    assert_eq!(a.fails(["cat", "/k.txt"]).0.code, "path_not_found");
    let (doc, status) = exec(&a, &[], &["true"]);
    assert_eq!((status, doc.merge.as_deref()), (0, Some("up_to_date")));
    let forks: Vec<String> = vault_names(&a)
        .into_iter()
        .filter(|n| n != "main")
        .collect();
    assert_eq!(forks.len(), 1, "{forks:?}");
    assert!(forks[0].starts_with("run-"), "{forks:?}");
    assert_eq!(a.ok(["--vault", &forks[0], "cat", "/k.txt"]), "kept\n");
    let merged: serde_json::Value = a.json(["vault", "merge", &forks[0]]);
    assert_eq!(merged["status"], "fast_forward");
    assert_eq!(a.cat("/k.txt"), b"kept\n");
    assert_no_run_mount(&a);
}

// ---------------------------------------------------------------------------
// The run's mount namespace: one stable workspace path, the store hidden
// ---------------------------------------------------------------------------

/// True when the tests run as root (the namespace is entered without a user namespace).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

#[test]
fn runs_see_their_own_vault_at_one_stable_workspace_path() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = seeded();
    a.ok(["vault", "create", "other"]);
    a.ok(["--vault", "other", "write", "/only-other.txt", "o\n"]);
    let (doc, status) = shell(
        &a,
        &["--cwd", "/src"],
        "pwd; echo \"$AVFS_WORKSPACE\"; echo x > made.txt",
    );
    assert_eq!(status, 0, "{doc:?}");
    assert_eq!(doc.stdout, "/workspace/src\n/workspace\n");
    assert_eq!(doc.workdir.as_deref(), Some("/workspace"));
    assert_eq!(doc.pairs(), pairs(&[("added", "/src/made.txt")]));
    // Nothing is mounted on the host's /workspace.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(" /workspace "), "{mounts}");

    // Two runs at once, of two vaults: each sees its own at /workspace.
    let sync = tempfile::tempdir().unwrap();
    let script = |i: usize| format!("{}ls /workspace", meet(sync.path(), i));
    let (s0, s1) = (script(0), script(1));
    let [(main, _), (other, _)] = std::thread::scope(|scope| {
        let first = scope.spawn(|| shell(&a, &[], &s0));
        let second = scope.spawn(|| shell(&a, &["--vault", "other"], &s1));
        [first.join().unwrap(), second.join().unwrap()]
    });
    assert!(
        main.stdout.contains("keep.txt") && !main.stdout.contains("only-other"),
        "{main:?}"
    );
    assert_eq!(other.stdout, "only-other.txt\n");

    // --workdir and the policy's workdir choose the path; bad ones are refused.
    let (doc, _) = shell(&a, &["--workdir", "/tmp/avfs-test-wd"], "pwd");
    assert_eq!(
        (doc.stdout.as_str(), doc.workdir.as_deref()),
        ("/tmp/avfs-test-wd\n", Some("/tmp/avfs-test-wd"))
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, r#"{"workdir": "/tmp/avfs-test-wd2"}"#).unwrap();
    let (doc, _) = shell(&a, &["--policy", policy.to_str().unwrap()], "pwd");
    assert_eq!(doc.stdout, "/tmp/avfs-test-wd2\n");
    // Paths the run's own set-up needs or covers: over /proc the set-up
    // waited for the mount it was making until the timeout, under /proc the
    // command ran in the kernel's /proc/sys, in an isolated run's /tmp its
    // writes went to the run's private /tmp.
    let isolate = ["--isolate"].as_slice();
    for (bad, extra) in [
        ("relative", [].as_slice()),
        ("/", &[]),
        ("/tmp/../x", &[]),
        ("/proc", &[]),
        ("/proc/sys", &[]),
        ("/sys", &[]),
        ("/dev", &[]),
        ("/usr", &[]),
        ("/tmp/avfs-test-wd3", isolate),
    ] {
        let mut args = vec!["proxy", "exec", "--timeout", "20s", "--workdir", bad];
        args.extend(extra);
        args.extend(["--", "sh", "-c", "echo x > f"]);
        let (err, status) = a.fails(args);
        assert_eq!(
            (err.code.as_str(), status),
            ("invalid_argument", 2),
            "{bad}"
        );
    }
    assert!(!Path::new("/tmp/avfs-test-wd3").exists());
    // avfs made the two workdirs, empty, on the host; nothing is mounted there.
    for made in ["/tmp/avfs-test-wd", "/tmp/avfs-test-wd2"] {
        std::fs::remove_dir(made).unwrap();
    }
    let inside = a.home.path().join("wd");
    let (err, _) = a.fails([
        "proxy",
        "exec",
        "--workdir",
        inside.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(err.code, "invalid_argument");
    assert_no_run_mount(&a);
}

#[test]
fn the_store_is_out_of_reach_of_a_run() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = seeded();
    a.ok(["write", "-p", "/secrets/token.txt", "secret\n"]);
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.json");
    std::fs::write(
        &policy,
        r#"{"paths": [{"glob": "**", "ops": ["read", "write", "create", "delete"]}, {"glob": "secrets/**", "ops": [], "deny": true}]}"#,
    )
    .unwrap();
    let home = std::fs::canonicalize(a.home.path()).unwrap();
    let store = home.join("store.db");
    let journal_before = a.ok(["audit", "--limit", "1000"]);
    let avfs_bin = env!("CARGO_BIN_EXE_avfs");
    let script = format!(
        "cat ../../store.db; cat '{store}'; ls '{home}'; \
         AVFS_HOME='{home}' '{avfs_bin}' write /secrets/token.txt X; echo done",
        store = store.display(),
        home = home.display()
    );
    let (doc, status) = shell(&a, &["--policy", policy.to_str().unwrap()], &script);
    assert_eq!(status, 0, "{doc:?}");
    assert_eq!(
        doc.stdout, "done\n",
        "nothing of the store is readable: {doc:?}"
    );
    assert!(doc.stderr.contains("No such file"), "{}", doc.stderr);
    assert!(doc.changes.is_empty(), "{:?}", doc.pairs());
    assert_eq!(a.cat("/secrets/token.txt"), b"secret\n");
    // No write reached the store; the run's own entries are its only change.
    let journal_after = a.ok(["audit", "--limit", "1000"]);
    let writes = |j: &str| {
        j.lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("write"))
            .count()
    };
    assert_eq!(
        writes(&journal_after),
        writes(&journal_before),
        "{journal_after}"
    );
    assert!(journal_after.lines().count() > journal_before.lines().count());
    assert_no_run_mount(&a);
}

/// Tar restores each file's mode, owner and times while the file is still
/// open; in a run's private mount those wait with the file's writes and
/// commit with them. The next run finds every one of them in the vault.
#[test]
fn tar_in_a_run_restores_modes_owners_and_times_into_the_vault() {
    if !fuse_available() || !is_root() {
        return;
    }
    use std::os::unix::fs::{PermissionsExt, chown};
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    let files: [(&str, u32, u32, i64); 5] = [
        ("a", 0o751, 1234, 1_000_000_000),
        ("b", 0o4755, 0, 1_100_000_000),
        ("c", 0o600, 4321, 1_200_000_000),
        ("d/e", 0o444, 7, 1_300_000_000),
        ("d", 0o700, 8, 1_400_000_000),
    ];
    for (name, mode, owner, mtime) in files {
        let path = src.join(name);
        if name != "d" {
            std::fs::write(&path, format!("{name}\n").repeat(3000)).unwrap();
        }
        // After the chown, which drops setuid.
        chown(&path, Some(owner), Some(owner + 1)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime as u64);
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    let archive = host.path().join("src.tar");
    let tarred = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .args(["a", "b", "c", "d"])
        .status()
        .unwrap();
    assert!(tarred.success());
    let a = Avfs::with_vault();
    let script = format!("mkdir x && tar -xf {} -C x", archive.display());
    let (doc, status) = shell(&a, &[], &script);
    assert_eq!(status, 0, "{doc:?}");
    let names = ["a", "b", "c", "d/e", "d"];
    let stat = |dir: &str| -> Vec<String> { names.iter().map(|n| format!("{dir}/{n}")).collect() };
    let format = ["-c", "%a %u %g %Y"];
    let host_stat = Command::new("stat")
        .args(format)
        .args(stat(&src.display().to_string()))
        .output()
        .unwrap();
    let want: Vec<String> = String::from_utf8(host_stat.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(want.len(), names.len(), "{want:?}");
    let mut command = vec!["stat"];
    command.extend(format);
    let paths = stat("x");
    command.extend(paths.iter().map(String::as_str));
    let (doc, status) = exec(&a, &[], &command);
    assert_eq!(status, 0, "{doc:?}");
    let got: Vec<&str> = doc.stdout.lines().collect();
    assert_eq!(got, want, "mode, owner, group and mtime in the vault");
    assert!(want[1].starts_with("4755 "), "{want:?}");
    assert_no_run_mount(&a);
}

#[test]
fn a_venv_made_in_one_run_works_in_the_next_in_a_fork_and_after_a_restore() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = Avfs::with_vault();
    let (doc, status) = shell(&a, &["--timeout", "5m"], "python3 -m venv .venv");
    assert_eq!(status, 0, "{doc:?}");
    let name = doc.checkpoint.as_ref().unwrap().name.clone();
    a.ok(["checkpoint", "save", "with-venv"]);
    let pip = |a: &Avfs, flags: &[&str]| {
        let (doc, status) = exec(a, flags, &[".venv/bin/pip", "--version"]);
        assert_eq!(status, 0, "{doc:?}");
        assert!(doc.stdout.starts_with("pip "), "{doc:?}");
        assert!(doc.stdout.contains("/workspace/.venv/"), "{doc:?}");
    };
    pip(&a, &[]);
    a.ok(["vault", "fork", "main", "fork"]);
    pip(&a, &["--vault", "fork"]);
    a.ok(["checkpoint", "restore", &name]);
    a.ok(["checkpoint", "restore", "with-venv"]);
    pip(&a, &[]);
    assert_no_run_mount(&a);
}

#[test]
fn a_cargo_build_in_one_run_is_fresh_in_the_next() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = Avfs::with_vault();
    small_crate(&a);
    let build = |a: &Avfs| {
        let mut cmd = a.command();
        for var in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        let out = cmd
            .args([
                "--json",
                "proxy",
                "exec",
                "--cwd",
                "/app",
                "--timeout",
                "5m",
            ])
            .args(["--", "cargo", "build", "--offline", "-v"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let doc: RunDoc = common::parse_one(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}", doc.stderr);
        assert_eq!(doc.workdir.as_deref(), Some("/workspace"));
        doc
    };
    let first = build(&a);
    assert!(first.stderr.contains("Compiling app"), "{}", first.stderr);
    // The dep-info files hold /workspace/app/...: the same path in the next run.
    let second = build(&a);
    assert!(second.stderr.contains("Fresh app"), "{}", second.stderr);
    assert!(
        !second.stderr.contains("Compiling app"),
        "{}",
        second.stderr
    );
    assert_no_run_mount(&a);
}

/// A run's namespace does not hold on to other FUSE mounts: a mount made on
/// the host before a run starts can be unmounted (and its server exits) while
/// the run is still going.
#[test]
fn a_running_run_does_not_keep_another_mount_alive() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = seeded();
    let m = common::fuse::Mounted::new(&a, "main", &[]);
    let sync = tempfile::tempdir().unwrap();
    let started = sync.path().join("started");
    let mut run = a
        .command()
        .args(["--json", "proxy", "exec", "--mode", "fuse", "--shell"])
        .arg(format!("touch '{}' && exec sleep 31304", started.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // `unmount` waits for the server to exit, which it cannot while any
    // namespace still holds a copy of its mount.
    m.unmount();
    let still_running = run.try_wait().unwrap().is_none();
    run.kill().unwrap();
    run.wait().unwrap();
    assert!(still_running, "the unmount had to wait for the run to end");
}

/// Every `avfs:VAULT` mount in any process's namespace on the machine.
fn mounts_of_anyone(fsname: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(info) = std::fs::read_to_string(entry.path().join("mountinfo")) {
            found.extend(
                info.lines()
                    .filter(|l| {
                        l.split(" - ")
                            .nth(1)
                            .is_some_and(|t| t.split(' ').nth(1) == Some(fsname))
                    })
                    .map(|l| format!("{}: {l}", entry.file_name().to_string_lossy())),
            );
        }
    }
    found
}

/// SIGKILL of avfs mid-run takes the whole run with it, through its PID
/// namespace: children that left the process group (setsid) and ignore
/// SIGTERM die too, and the run's mount, which exists only in its namespace,
/// is gone everywhere; the store stays intact and the next run works.
#[test]
fn sigkill_of_avfs_leaves_no_process_and_no_mount() {
    if !fuse_available() || !is_root() {
        return;
    }
    let a = seeded();
    sigkill_leaves_nothing(&|| a.command(), &["fuse", "materialize"], 313100);
    let verify: serde_json::Value = a.json(["verify"]);
    assert_eq!(verify["intact"], true, "{verify}");
    let (doc, status) = exec(&a, &["--vault", "killed-run"], &["cat", "keep.txt"]);
    assert_eq!((status, doc.stdout.as_str()), (0, "same\n"), "{doc:?}");
    assert_no_run_mount(&a);
}

/// Twenty runs of vault `killed-run` (forked from `main` here), alternating
/// `modes`, each SIGKILLed (avfs, from `command`) once its two setsid,
/// SIGTERM-ignoring children run; none of them, and no mount of the vault
/// in any namespace on the machine, may be left.
fn sigkill_leaves_nothing(command: &dyn Fn() -> Command, modes: &[&str], base: u32) {
    let forked = command()
        .args(["vault", "fork", "main", "killed-run"])
        .output()
        .unwrap();
    assert!(forked.status.success(), "{forked:?}");
    let sync = tempfile::tempdir().unwrap();
    make_world_writable(sync.path());
    for i in 0..20 {
        let marker = format!("sleep {}", base + i);
        let started = sync.path().join(i.to_string());
        let mut run = command()
            .args(["--json", "proxy", "exec", "--vault", "killed-run"])
            .args(["--mode", modes[i as usize % modes.len()]])
            .arg("--shell")
            .arg(format!(
                "echo {i} > n.txt; \
                 setsid sh -c 'trap \"\" TERM; exec {marker}' & \
                 setsid sh -c 'trap \"\" TERM; {marker}; :' & \
                 touch '{}'; wait",
                started.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !started.exists() || processes_with(&marker).len() < 2 {
            assert!(Instant::now() < deadline, "run {i} never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        run.kill().unwrap();
        run.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_with(&marker);
            let mounts = mounts_of_anyone("avfs:killed-run");
            if left.is_empty() && mounts.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "run {i} left {left:?} and mounts {mounts:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn make_world_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
}

/// The run sees only its own processes, and its first process is its init.
#[test]
fn a_run_has_its_own_pid_namespace() {
    if !is_root() {
        return;
    }
    let a = seeded();
    for mode in ["fuse", "materialize"] {
        if mode == "fuse" && !fuse_available() {
            continue;
        }
        let (doc, status) = shell(
            &a,
            &["--mode", mode],
            "echo $$; ls /proc | grep -c '^[0-9]'; sleep 0.1 & exit 3",
        );
        assert_eq!(status, 3, "{doc:?}");
        assert_eq!(doc.exit_code, Some(3));
        let lines: Vec<&str> = doc.stdout.lines().collect();
        // The shell is the init's first child; it, the init and `ls`'s
        // pipeline are all the run has.
        assert_eq!(lines[0], "2", "{doc:?}");
        assert!(lines[1].parse::<u32>().unwrap() <= 5, "{doc:?}");
        // A program that does not exist is still a shell's 127.
        let (doc, status) = exec(&a, &["--mode", mode], &["no-such-program-x"]);
        assert_eq!(status, 127, "{doc:?}");
        assert!(doc.exec_error.unwrap().contains("not found"));
    }
}

// ---------------------------------------------------------------------------
// The same namespaces for another user, through a user namespace
// ---------------------------------------------------------------------------

/// The unprivileged user the tests run avfs as (through `setpriv`).
const USER: u32 = 1000;

/// A store owned by [`USER`], and avfs run as that user.
struct Unprivileged {
    a: Avfs,
}

impl Unprivileged {
    /// `None` unless the tests run as root with `setpriv` at hand (and the
    /// kernel lets users make user namespaces).
    fn new() -> Option<Self> {
        let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .is_ok_and(|n| n.trim() != "0");
        let setpriv = Command::new("setpriv").arg("--version").output();
        if !is_root() || !userns || !setpriv.is_ok_and(|o| o.status.success()) {
            return None;
        }
        let a = Avfs::new();
        std::os::unix::fs::chown(a.home.path(), Some(USER), Some(USER)).unwrap();
        let me = Self { a };
        let made = me
            .command()
            .args(["vault", "create", "main"])
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        Some(me)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", &USER.to_string(), "--regid", &USER.to_string()])
            .args(["--clear-groups", env!("CARGO_BIN_EXE_avfs")])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AVFS_HOME", self.a.home.path())
            .env("NO_COLOR", "1");
        cmd
    }

    /// `proxy exec` as the user; the document and exit status.
    fn shell(&self, flags: &[&str], script: &str) -> (RunDoc, i32) {
        let out = self
            .command()
            .args(["--json", "proxy", "exec", "--shell", script])
            .args(flags)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "--json wrote to stderr: {stderr}");
        (common::parse_one(&out.stdout), out.status.code().unwrap())
    }

    /// The modes the user can run in: FUSE too where /dev/fuse is theirs to open.
    fn modes(&self) -> Vec<&'static str> {
        let fuse = self.command().arg("--version").output().is_ok()
            && Command::new("setpriv")
                .args(["--reuid", &USER.to_string(), "--regid", &USER.to_string()])
                .args([
                    "--clear-groups",
                    "test",
                    "-r",
                    "/dev/fuse",
                    "-a",
                    "-w",
                    "/dev/fuse",
                ])
                .status()
                .is_ok_and(|s| s.success());
        if fuse {
            vec!["materialize", "fuse"]
        } else {
            vec!["materialize"]
        }
    }
}

#[test]
fn a_non_root_run_gets_its_namespaces_through_a_user_namespace() {
    let Some(u) = Unprivileged::new() else {
        return;
    };
    let home = std::fs::canonicalize(u.a.home.path()).unwrap();
    for mode in u.modes() {
        let (doc, status) = u.shell(
            &["--mode", mode],
            &format!(
                "pwd; echo \"$AVFS_WORKSPACE\"; id -u; echo $$; ls -A '{home}' | wc -l; \
                 cat '{home}/store.db' 2>/dev/null || echo hidden; echo {mode} > {mode}.txt; exit 7",
                home = home.display()
            ),
        );
        assert_eq!(status, 7, "{doc:?}");
        assert_eq!(
            doc.stdout,
            format!("/workspace\n/workspace\n{USER}\n2\n0\nhidden\n"),
            "{mode}: {doc:?}"
        );
        assert_eq!(
            (doc.mode.as_str(), doc.workdir.as_deref()),
            (mode, Some("/workspace"))
        );
        assert_eq!(doc.pairs(), pairs(&[("added", &format!("/{mode}.txt"))]));
    }
    let (doc, status) = u.shell(&[], "cat fuse.txt materialize.txt 2>/dev/null; true");
    assert_eq!(status, 0, "{doc:?}");
    assert!(doc.stdout.contains("materialize\n"), "{doc:?}");
    assert_no_run_mount(&u.a);
}

#[test]
fn sigkill_of_a_non_root_avfs_leaves_no_process_and_no_mount() {
    let Some(u) = Unprivileged::new() else {
        return;
    };
    sigkill_leaves_nothing(&|| u.command(), &u.modes(), 313200);
    let verify = u.command().args(["--json", "verify"]).output().unwrap();
    let verify: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(verify["intact"], true, "{verify}");
    let (doc, status) = u.shell(&["--vault", "killed-run"], "cat n.txt 2>/dev/null; echo ok");
    assert_eq!((status, doc.stdout.as_str()), (0, "ok\n"), "{doc:?}");
    assert_no_run_mount(&u.a);
}

// ---------------------------------------------------------------------------
// --isolate and the policy's "isolation"
// ---------------------------------------------------------------------------

/// An isolated run, by `command` (avfs as some user, whose `owner` owns the
/// test's $HOME): /tmp and $HOME writes stay in the run, the host is
/// read-only, a hidden path cannot be read, the network is loopback only
/// (or the host's with "network": "host"), and `changes` are exact.
fn isolation_holds(command: &dyn Fn() -> Command, owner: u32) {
    // Not under /tmp, which the run's private /tmp covers.
    let home = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/id"), "secret\n").unwrap();
    for p in [
        home.path().to_path_buf(),
        home.path().join(".ssh"),
        home.path().join(".ssh/id"),
    ] {
        std::os::unix::fs::chown(&p, Some(owner), Some(owner)).unwrap();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let host_tmp = format!("/tmp/avfs-isolated-{}", std::process::id());
    let policies = tempfile::tempdir().unwrap();
    make_world_writable(policies.path());
    let script = format!(
        "echo x > {host_tmp}; cat {host_tmp}; echo h > \"$HOME/x\"; cat \"$HOME/x\"; \
         cat ~/.ssh/id 2>/dev/null || echo hidden; \
         python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=5)' \
           2>/dev/null && echo connected || echo refused; \
         touch /usr/avfs-isolated 2>/dev/null || echo read-only; echo w > w.txt"
    );
    for (network, connects) in [("none", false), ("host", true)] {
        let policy = policies.path().join(format!("{network}.json"));
        std::fs::write(
            &policy,
            format!(r#"{{"isolation": {{"network": "{network}", "hide": ["~/.ssh"]}}}}"#),
        )
        .unwrap();
        let out = command()
            .env("HOME", home.path())
            .args(["--json", "proxy", "exec", "--policy"])
            .arg(&policy)
            .args(["--shell", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let doc: RunDoc = common::parse_one(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{doc:?}");
        let net = if connects { "connected" } else { "refused" };
        assert_eq!(
            doc.stdout,
            format!("x\nh\nhidden\n{net}\nread-only\n"),
            "{doc:?}"
        );
        assert_eq!(doc.pairs(), pairs(&[("added", "/w.txt")]));
        let hidden = home.path().join(".ssh").display().to_string();
        assert_eq!(
            doc.isolation,
            Some(IsolationDoc {
                network: network.into(),
                hide: vec![hidden]
            })
        );
        assert!(!Path::new(&host_tmp).exists(), "/tmp reached the host");
        assert!(!home.path().join("x").exists(), "$HOME reached the host");
        assert!(!Path::new("/usr/avfs-isolated").exists());
        assert_eq!(
            std::fs::read_to_string(home.path().join(".ssh/id")).unwrap(),
            "secret\n"
        );
        let removed = command().args(["rm", "/w.txt"]).output().unwrap();
        assert!(removed.status.success(), "{removed:?}");
    }
    // --isolate alone: no network, and the document says so.
    let out = command()
        .env("HOME", home.path())
        .args(["--json", "proxy", "exec", "--isolate", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let doc: RunDoc = common::parse_one(&out.stdout);
    assert_eq!(
        doc.isolation,
        Some(IsolationDoc {
            network: "none".into(),
            hide: vec![]
        })
    );
    drop(listener);
}

#[test]
fn isolated_runs_leave_the_host_unchanged_and_offline() {
    if !is_root() {
        return;
    }
    let a = Avfs::with_vault();
    isolation_holds(&|| a.command(), 0);
    assert_no_run_mount(&a);
}

#[test]
fn isolated_runs_of_another_user_hold_the_same() {
    let Some(u) = Unprivileged::new() else {
        return;
    };
    isolation_holds(&|| u.command(), USER);
    assert_no_run_mount(&u.a);
}

/// The workspace tests for another user: a venv made in one run works in
/// the next, two runs at once each see their own vault at /workspace, and
/// neither the store file nor the avfs CLI gets around a denied path.
#[test]
fn a_non_root_caller_keeps_venvs_runs_in_parallel_and_cannot_reach_the_store() {
    let Some(u) = Unprivileged::new() else {
        return;
    };
    let (doc, status) = u.shell(&["--timeout", "5m"], "python3 -m venv .venv");
    assert_eq!(status, 0, "{doc:?}");
    let (doc, status) = u.shell(&[], ".venv/bin/pip --version");
    assert_eq!(status, 0, "{doc:?}");
    assert!(doc.stdout.contains("/workspace/.venv/"), "{doc:?}");

    let made = u
        .command()
        .args(["vault", "create", "other"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let wrote = u
        .command()
        .args(["--vault", "other", "write", "/only-other.txt", "o\n"])
        .output()
        .unwrap();
    assert!(wrote.status.success(), "{wrote:?}");
    let sync = tempfile::tempdir().unwrap();
    make_world_writable(sync.path());
    let script = |i: usize| format!("{}ls -A /workspace", meet(sync.path(), i));
    let (s0, s1) = (script(0), script(1));
    let [(main, _), (other, _)] = std::thread::scope(|scope| {
        let first = scope.spawn(|| u.shell(&[], &s0));
        let second = scope.spawn(|| u.shell(&["--vault", "other"], &s1));
        [first.join().unwrap(), second.join().unwrap()]
    });
    assert!(
        main.stdout.contains(".venv") && !main.stdout.contains("only-other"),
        "{main:?}"
    );
    assert_eq!(other.stdout, "only-other.txt\n");

    let secret = u
        .command()
        .args(["write", "-p", "/secrets/token.txt", "secret\n"])
        .output()
        .unwrap();
    assert!(secret.status.success(), "{secret:?}");
    let policies = tempfile::tempdir().unwrap();
    make_world_writable(policies.path());
    let policy = policies.path().join("p.json");
    std::fs::write(
        &policy,
        r#"{"paths": [{"glob": "**", "ops": ["read", "write", "create", "delete"]}, {"glob": "secrets/**", "ops": [], "deny": true}]}"#,
    )
    .unwrap();
    let home = std::fs::canonicalize(u.a.home.path()).unwrap();
    let script = format!(
        "cat '{home}/store.db' 2>/dev/null; AVFS_HOME='{home}' '{bin}' write /secrets/token.txt X 2>/dev/null; echo done",
        home = home.display(),
        bin = env!("CARGO_BIN_EXE_avfs"),
    );
    let (doc, status) = u.shell(&["--policy", policy.to_str().unwrap()], &script);
    assert_eq!((status, doc.stdout.as_str()), (0, "done\n"), "{doc:?}");
    assert!(doc.changes.is_empty(), "{:?}", doc.pairs());
    let token = u
        .command()
        .args(["cat", "/secrets/token.txt"])
        .output()
        .unwrap();
    assert_eq!(token.stdout, b"secret\n");
    assert_no_run_mount(&u.a);
}

/// A run's private mount and a shared `avfs mount` of the same vault write at
/// once, small files and large ones (whose chunks go to segments): the run
/// reports exactly its own changes, each side then sees the other's files,
/// and the store verifies.
#[test]
fn a_private_run_and_a_shared_mount_of_one_vault_at_once_keep_the_store_consistent() {
    if !fuse_available() {
        return;
    }
    let a = Avfs::with_vault();
    a.ok(["write", "/seed.txt", "seed"]);
    let shared = common::fuse::Mounted::new(&a, "main", &[]);
    let big: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // Each side waits for the other to be under way, so that they overlap.
    let sync = tempfile::tempdir().unwrap();
    let (run_started, shared_started) = (sync.path().join("run"), sync.path().join("shared"));
    let script = format!(
        "touch '{}'; while [ ! -e '{}' ]; do sleep 0.01; done; \
         for i in $(seq 0 99); do echo run $i > r$i.txt; done; \
         head -c 3145728 /dev/urandom > run-big.bin; cat seed.txt > seen.txt",
        run_started.display(),
        shared_started.display()
    );
    let (doc, status) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..100 {
                if i == 50 {
                    std::fs::write(&shared_started, b"").unwrap();
                    common::fuse::wait_for("the run to start", Duration::from_secs(30), || {
                        run_started.exists()
                    });
                }
                std::fs::write(shared.join(&format!("s{i}.txt")), format!("shared {i}")).unwrap();
            }
            std::fs::write(shared.join("shared-big.bin"), &big).unwrap();
        });
        let run = shell(&a, &[], &script);
        writer.join().unwrap();
        run
    });
    assert_eq!(status, 0, "{doc:?}");
    let mut want: Vec<(String, String)> = (0..100)
        .map(|i| ("added".to_string(), format!("/r{i}.txt")))
        .collect();
    want.push(("added".into(), "/run-big.bin".into()));
    want.push(("added".into(), "/seen.txt".into()));
    let mut got = doc.pairs();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "the run's changes are its own, none of the shared mount's"
    );

    // The store has both sides' files, and the shared mount shows the run's.
    assert_eq!(a.cat("/r42.txt"), b"run 42\n");
    assert_eq!(a.cat("/s42.txt"), b"shared 42");
    assert!(a.cat("/shared-big.bin") == big);
    let run_big = a.cat("/run-big.bin");
    assert_eq!(run_big.len(), 3 << 20);
    common::fuse::wait_for(
        "the shared mount to show the run's files",
        Duration::from_secs(10),
        || std::fs::read(shared.join("run-big.bin")).is_ok_and(|b| b == run_big),
    );
    assert_eq!(std::fs::read(shared.join("seen.txt")).unwrap(), b"seed");
    shared.unmount();
    let verify = a.run(["--json", "verify"]);
    assert_eq!(verify.status, 0, "{}", verify.stdout_str());
    let segments = std::fs::read_dir(format!("{}-segments", a.store_path().display()))
        .unwrap()
        .count();
    assert!(
        segments >= 2,
        "both processes wrote large chunks to segments: {segments}"
    );
    assert_no_run_mount(&a);
}
