//! `avfs quota`: limits on bytes, files and file size, enforced on CLI writes.

mod common;
use common::*;

fn quota(a: &Avfs) -> QuotaDoc {
    a.json(["quota", "show"])
}

#[test]
fn quota_set_show_clear_with_usage() {
    let a = Avfs::with_vault();
    a.ok(["write", "-p", "/d/f", "12345"]);
    a.ok(["write", "/g", "1"]);
    let doc = quota(&a);
    assert_eq!(doc.vault, "main");
    assert_eq!(
        doc.quota,
        QuotaLimits {
            max_bytes: None,
            max_files: None,
            max_file_size: None
        }
    );
    assert_eq!(doc.usage, QuotaUsage { bytes: 6, files: 3 });
    let doc: QuotaDoc = a.json(["quota", "set", "--max-bytes", "1K", "--max-files", "10"]);
    assert_eq!(
        doc.quota,
        QuotaLimits {
            max_bytes: Some(1024),
            max_files: Some(10),
            max_file_size: None
        }
    );
    let doc: QuotaDoc = a.json(["quota", "set", "--max-file-size", "100"]);
    assert_eq!(
        doc.quota,
        QuotaLimits {
            max_bytes: Some(1024),
            max_files: Some(10),
            max_file_size: Some(100)
        }
    );
    let doc: QuotaDoc = a.json(["quota", "clear"]);
    assert_eq!(
        doc.quota,
        QuotaLimits {
            max_bytes: None,
            max_files: None,
            max_file_size: None
        }
    );
    // The journal says what changed in plain words.
    let audit: AuditDoc = a.json(["audit"]);
    let quota_ops: Vec<(String, String)> = audit
        .entries
        .iter()
        .filter(|e| e.op.starts_with("quota."))
        .map(|e| (e.op.clone(), e.detail.clone()))
        .collect();
    assert_eq!(
        quota_ops,
        pairs(&[
            (
                "quota.set",
                "max_bytes=1024 max_files=10 max_file_size=none"
            ),
            ("quota.set", "max_bytes=1024 max_files=10 max_file_size=100"),
            ("quota.clear", ""),
        ])
    );
    let (err, _) = a.fails(["quota", "set", "--max-bytes", "lots"]);
    assert_eq!(err.code, "usage_error");
    let (err, status) = a.fails(["quota", "set"]);
    assert_eq!((err.code.as_str(), status), ("invalid_argument", 2));
}

#[test]
fn writes_past_the_quota_fail_and_change_nothing() {
    let a = Avfs::with_vault();
    a.ok([
        "quota",
        "set",
        "--max-bytes",
        "10",
        "--max-files",
        "3",
        "--max-file-size",
        "8",
    ]);
    a.ok(["write", "/a", "12345"]);
    let (err, status) = a.fails(["write", "/b", "123456"]);
    assert_eq!((err.code.as_str(), status), ("quota_exceeded", 4));
    assert!(err.message.contains("bytes"), "{}", err.message);
    let (err, status) = a.fails(["write", "/a", "123456789"]);
    assert_eq!((err.code.as_str(), status), ("file_too_large", 4));
    let (err, _) = a.fails(["write", "--append", "/a", "6789"]);
    assert_eq!(err.code, "file_too_large");
    a.ok(["mkdir", "/d"]);
    a.ok(["write", "/d/x", "1"]);
    let (err, _) = a.fails(["mkdir", "/e"]);
    assert_eq!(err.code, "quota_exceeded");
    assert!(err.message.contains("files"), "{}", err.message);
    let (err, _) = a.fails(["cp", "/a", "/d/y"]);
    assert_eq!(err.code, "quota_exceeded");
    assert_eq!(quota(&a).usage, QuotaUsage { bytes: 6, files: 3 });
    assert_eq!(a.cat("/a"), b"12345");
    let tree: EntriesDoc = a.json(["tree"]);
    assert_eq!(tree.entries.len(), 4);
    // Shrinking is always allowed, and frees room.
    a.ok(["rm", "/d/x"]);
    a.ok(["write", "/b", "1234"]);
    assert_eq!(quota(&a).usage, QuotaUsage { bytes: 9, files: 3 });
}

#[test]
fn usage_follows_checkpoints_restores_and_forks() {
    let a = Avfs::with_vault();
    a.ok(["write", "/a", "1234"]);
    a.ok(["checkpoint", "save", "c1"]);
    a.ok(["write", "/b", "12345678"]);
    a.ok(["quota", "set", "--max-bytes", "12"]);
    a.ok(["vault", "fork", "main", "f"]);
    let fork: QuotaDoc = a.json(["--vault", "f", "quota", "show"]);
    assert_eq!(
        fork.quota.max_bytes,
        Some(12),
        "a fork keeps its source's quota"
    );
    assert_eq!(
        fork.usage,
        QuotaUsage {
            bytes: 12,
            files: 2
        }
    );
    let (err, _) = a.fails(["--vault", "f", "write", "/c", "x"]);
    assert_eq!(err.code, "quota_exceeded");
    a.ok(["checkpoint", "restore", "c1"]);
    assert_eq!(quota(&a).usage, QuotaUsage { bytes: 4, files: 1 });
    a.ok(["write", "/c", "12345678"]);
    let (err, _) = a.fails(["write", "/d", "x"]);
    assert_eq!(err.code, "quota_exceeded");
    // The counters agree with a full count.
    let stats: StatsDoc = a.json(["stats"]);
    let main = stats.vaults.iter().find(|v| v.name == "main").unwrap();
    assert_eq!(main.logical_bytes, quota(&a).usage.bytes);
}

#[test]
fn an_import_over_quota_imports_nothing() {
    let a = Avfs::with_vault();
    let host = tempfile::tempdir().unwrap();
    for i in 0..5 {
        host_file(host.path(), &format!("f{i}"), b"0123456789");
    }
    a.ok(["quota", "set", "--max-bytes", "45"]);
    let (err, _) = a.fails(["import".as_ref(), host.path().as_os_str()]);
    assert_eq!(err.code, "quota_exceeded");
    let tree: EntriesDoc = a.json(["tree"]);
    assert_eq!(tree.entries.len(), 1);
}
