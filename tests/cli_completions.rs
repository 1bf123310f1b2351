//! Shell completions and man pages, drawn from the clap definitions.

mod common;
use common::*;
use std::process::Command;

#[test]
fn bash_completion_registers_for_avfs() {
    let a = Avfs::new();
    let script = a.ok(["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("avfs.bash");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {}; complete -p avfs", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.starts_with("complete ") && shown.trim_end().ends_with(" avfs"),
        "{shown}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(a.ok(["completions", shell]).contains("avfs"), "{shell}");
    }
    let (err, status) = a.fails(["completions", "tcsh"]);
    assert_eq!((err.code.as_str(), status), ("usage_error", 2));
}

#[test]
fn man_pages_render_with_man() {
    let a = Avfs::new();
    let dir = tempfile::tempdir().unwrap();
    a.ok(["man".as_ref(), "--write".as_ref(), dir.path().as_os_str()]);
    for page in [
        "avfs.1",
        "avfs-proxy-exec.1",
        "avfs-vault-create.1",
        "avfs-mcp.1",
        "avfs-verify.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page} not written");
    }
    let roff = a.ok(["man"]);
    assert!(roff.contains(".TH avfs 1"), "{roff}");
    // `man -l` renders the page as a reader sees it (groff underneath).
    let out = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("avfs.1"))
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .expect("man (apt-get install man-db groff-base) is needed to render man pages");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Durable, forkable workspaces"), "{text}");
    assert!(text.contains("proxy"), "{text}");
}
