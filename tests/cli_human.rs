//! Human output: mutating commands name the vault they changed, and a
//! `proxy exec` ends with a count line, cutting long change lists.

mod common;
use common::*;

#[test]
fn mutating_commands_name_their_vault() {
    let a = Avfs::with_vault();
    a.ok(["vault", "create", "crate"]);
    // `main` stays current: the output must say the write went there.
    assert_eq!(a.ok(["mkdir", "/d"]), "created /d/ in vault main\n");
    assert_eq!(
        a.ok(["write", "/d/f", "hi"]),
        "wrote /d/f in vault main (2 B)\n"
    );
    assert_eq!(
        a.ok(["--vault", "crate", "write", "/g", "x"]),
        "wrote /g in vault crate (1 B)\n"
    );
    assert_eq!(
        a.ok(["cp", "/d/f", "/c"]),
        "copied /d/f to /c in vault main\n"
    );
    assert_eq!(a.ok(["mv", "/c", "/m"]), "moved /c to /m in vault main\n");
    assert_eq!(a.ok(["rm", "/m"]), "removed /m from vault main\n");
    let host = tempfile::tempdir().unwrap();
    host_file(host.path(), "x.txt", b"x");
    let text = a.ok(["import".as_ref(), host.path().as_os_str(), "/imp".as_ref()]);
    assert!(
        text.starts_with("imported into /imp of vault main:"),
        "{text}"
    );
    assert!(a.ok(["checkpoint", "save", "c1"]).contains("of main"));
    a.ok(["write", "/d/f", "again"]);
    assert!(
        a.ok(["revert", "/d/f"])
            .starts_with("reverted /d/f in vault main")
    );
    // Merges name both vaults; retention, which is store-wide, says so.
    a.ok(["vault", "fork", "main", "task"]);
    a.ok(["--vault", "task", "write", "/t", "t"]);
    assert!(
        a.ok(["vault", "merge", "task"])
            .starts_with("merged task into main: fast forward"),
    );
    assert_eq!(
        a.ok(["retention", "--keep-versions", "5"]),
        "each file in every vault keeps its newest 5 versions\n"
    );
}

#[test]
fn proxy_exec_ends_with_a_count_line_and_cuts_long_lists() {
    let a = Avfs::with_vault();
    let run = a.run([
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--shell",
        "for i in $(seq 1 30); do echo $i > f$i; done",
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let text = run.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("30 changes: 30 added, 0 modified, 0 deleted, 0 type changed"),
        "{text}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("A  /f")).count(),
        20,
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("… 10 more (`avfs diff --from run-")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains("; vault main")), "{text}");
    // JSON stays complete.
    let doc: serde_json::Value =
        a.json(["proxy", "exec", "--mode", "materialize", "--shell", "true"]);
    assert_eq!(doc["summary"]["total"], 0);
}

#[test]
fn an_error_with_nobody_reading_stdout_goes_to_stderr_with_its_status() {
    let a = Avfs::with_vault();
    let (_, status) = a.fails(["cat", "/missing"]);
    // A pipe whose reader is gone: writing the JSON document fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = a
        .command()
        .args(["--json", "cat", "/missing"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{stderr}");
    assert!(stderr.starts_with("avfs: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
