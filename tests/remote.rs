//! Remotes against a real S3 server (Ceph RGW, started by scripts/test):
//! remote add/list/remove/check, push, clone, pull, the three-home hand-off,
//! refusal of stale pushes, the two-pushers race, forced pushes and
//! integrity of everything downloaded.

mod common;

use common::s3::{Home, S3};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RemoteDoc {
    name: String,
    url: String,
    endpoint: Option<String>,
    region: Option<String>,
    unsafe_single_writer: bool,
    conditional_writes: Option<bool>,
    created: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Added {
    remote: RemoteDoc,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Listed {
    remotes: Vec<RemoteDoc>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Checked {
    remote: String,
    url: String,
    reachable: bool,
    credentials: bool,
    conditional_writes: bool,
    unsafe_single_writer: bool,
    vaults: Vec<String>,
    requests: u64,
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Moved {
    layers: u64,
    chunks: u64,
    bytes: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Push {
    vault: String,
    remote: String,
    remote_vault: String,
    generation: u64,
    up_to_date: bool,
    forced: bool,
    kept_as: Option<String>,
    uploaded: Moved,
    checkpoints_pushed: Vec<String>,
    checkpoints_skipped: Vec<String>,
    requests: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PushDoc {
    push: Push,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Clone {
    vault: String,
    remote: String,
    remote_vault: String,
    generation: u64,
    lazy: bool,
    downloaded: Moved,
    checkpoints: Vec<String>,
    requests: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct CloneDoc {
    clone: Clone,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Pull {
    vault: String,
    remote: String,
    remote_vault: String,
    generation: u64,
    status: String,
    downloaded: Moved,
    checkpoints_added: Vec<String>,
    requests: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PullDoc {
    pull: Pull,
}

/// The server, or None when the remote tests are explicitly skipped.
fn server() -> Option<S3> {
    S3::from_env()
}

/// Pseudo-random bytes (no two chunks alike), different per seed.
fn big(seed: u8, len: usize) -> Vec<u8> {
    common::noise(0x9E37_79B9_7F4A_7C15u64 ^ seed as u64, len)
}

#[test]
fn remote_add_list_remove_check_and_their_errors() {
    let Some(s3) = server() else { return };
    let home = Home::new(&s3);
    let prefix = s3.unique_prefix("config");
    let url = format!("s3://{}/{prefix}", s3.bucket);
    let added: Added = home.json([
        "remote",
        "add",
        "origin",
        &url,
        "--endpoint",
        &s3.endpoint,
        "--region",
        "us-east-1",
    ]);
    assert_eq!(added.remote.name, "origin");
    assert_eq!(added.remote.url, url);
    assert_eq!(added.remote.endpoint.as_deref(), Some(s3.endpoint.as_str()));
    assert_eq!(added.remote.region.as_deref(), Some("us-east-1"));
    assert!(!added.remote.unsafe_single_writer);
    assert_eq!(added.remote.conditional_writes, None);
    assert!(!added.remote.created.is_empty());
    let (err, status) = home.fails(["remote", "add", "origin", &url]);
    assert_eq!((err.code.as_str(), status), ("remote_exists", 4));
    for bad in ["http://x/y", "s3://B/x", "s3://ok/../x"] {
        let (err, status) = home.fails(["remote", "add", "bad", bad]);
        assert_eq!((err.code.as_str(), status), ("invalid_remote", 2), "{bad}");
    }
    let (err, _) = home.fails(["remote", "add", "bad", &url, "--endpoint", "ftp://x"]);
    assert_eq!(err.code, "invalid_remote");

    let checked: Checked = home.json(["remote", "check", "origin"]);
    assert_eq!(checked.remote, "origin");
    assert_eq!(checked.url, url);
    assert!(checked.reachable && checked.credentials);
    assert!(
        checked.conditional_writes,
        "Ceph RGW has atomic conditional writes"
    );
    assert!(!checked.unsafe_single_writer);
    assert!(checked.vaults.is_empty());
    assert!(checked.requests >= 4);
    assert!(s3.list(&prefix).is_empty(), "the probe object is removed");

    // Credentials are never shown, stored or journaled.
    let listed = home.run(["--json", "remote", "list"]);
    let human = home.run(["remote", "list"]);
    let journal = home.run(["--json", "audit"]);
    let store = std::fs::read(home.avfs.store_path()).unwrap();
    for out in [&listed.stdout, &human.stdout, &journal.stdout, &store] {
        let text = String::from_utf8_lossy(out);
        assert!(!text.contains(&s3.secret_key) && !text.contains(&s3.access_key));
    }
    let doc: Listed = common::parse_one(&listed.stdout);
    assert_eq!(doc.remotes.len(), 1);
    assert_eq!(doc.remotes[0].conditional_writes, Some(true));

    // Failures name what to fix.
    let no_creds = home.avfs.run(["--json", "remote", "check", "origin"]);
    let doc: common::ErrorDoc = common::parse_one(&no_creds.stdout);
    assert_eq!(
        (doc.error.code.as_str(), no_creds.status),
        ("remote_auth", 5)
    );
    let wrong = home
        .command()
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["--json", "remote", "check", "origin"])
        .output()
        .unwrap();
    let doc: common::ErrorDoc = common::parse_one(&wrong.stdout);
    assert_eq!(doc.error.code, "remote_auth");
    home.ok([
        "remote",
        "add",
        "nowhere",
        "s3://bucket/x",
        "--endpoint",
        "http://127.0.0.1:9",
    ]);
    let (err, status) = home.fails(["remote", "check", "nowhere"]);
    assert_eq!((err.code.as_str(), status), ("remote_unreachable", 5));
    let (err, _) = home.fails(["remote", "check", "missing"]);
    assert_eq!(err.code, "remote_not_found");
    home.ok(["remote", "remove", "nowhere"]);
    let (err, _) = home.fails(["remote", "remove", "nowhere"]);
    assert_eq!(err.code, "remote_not_found");
    let doc: Listed = home.json(["remote", "list"]);
    assert_eq!(doc.remotes.len(), 1);
}

/// A run of `avfs proxy exec --shell` in `home`'s vault (materialize mode:
/// the hand-off must not depend on FUSE being available).
fn proxy_shell(home: &Home, vault: &str, script: &str) {
    let run = home.run([
        "--json",
        "--vault",
        vault,
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--shell",
        script,
    ]);
    assert_eq!(run.status, 0, "proxy run failed: {}", run.stdout_str());
}

#[test]
fn three_homes_hand_a_vault_off_byte_for_byte() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("handoff");
    let data = big(1, 3 * 256 * 1024 + 1234);
    let notes_a;
    {
        // Home A: create, a run writes notes, checkpoint, push; then A is gone.
        let a = Home::new(&s3);
        a.add_origin(&prefix);
        a.ok(["vault", "create", "work"]);
        let w = a.run_stdin_checked(["--vault", "work", "write", "/data.bin"], &data);
        assert_eq!(w, 0);
        proxy_shell(
            &a,
            "work",
            "mkdir -p notes && echo 'run 1 on A' > notes/a.txt && ln -s a.txt notes/latest",
        );
        a.ok([
            "--vault",
            "work",
            "checkpoint",
            "save",
            "on-a",
            "-m",
            "taken on A",
        ]);
        let pushed: PushDoc = a.json(["--vault", "work", "push", "--checkpoints"]);
        let p = pushed.push;
        assert_eq!(
            (p.vault.as_str(), p.remote.as_str(), p.remote_vault.as_str()),
            ("work", "origin", "work")
        );
        assert_eq!(p.generation, 1);
        assert!(!p.up_to_date && !p.forced && p.kept_as.is_none());
        assert_eq!(p.uploaded.chunks, 4, "3 full chunks and a tail");
        assert!(p.uploaded.layers >= 1 && p.uploaded.bytes > data.len() as u64);
        // The named checkpoint and the run's automatic one both travel.
        assert_eq!(p.checkpoints_pushed.len(), 2);
        assert!(p.checkpoints_pushed.contains(&"on-a".to_string()));
        assert!(p.checkpoints_pushed.iter().any(|c| c.starts_with("run-")));
        assert!(p.checkpoints_skipped.is_empty());
        assert!(p.requests > 0);
        // Nothing changed: a second push writes nothing.
        let again: PushDoc = a.json(["--vault", "work", "push", "--checkpoints"]);
        assert!(again.push.up_to_date);
        assert_eq!(again.push.generation, 1);
        notes_a = a.cat("work", "/notes/a.txt");
    }
    assert_eq!(notes_a, b"run 1 on A\n");

    // Home B: clone, a run continues the work, push.
    let b = Home::new(&s3);
    b.add_origin(&prefix);
    let cloned: CloneDoc = b.json(["clone", "origin", "work"]);
    let c = &cloned.clone;
    assert_eq!(
        (c.vault.as_str(), c.remote.as_str(), c.remote_vault.as_str()),
        ("work", "origin", "work")
    );
    assert_eq!(c.generation, 1);
    assert!(!c.lazy);
    assert_eq!(c.downloaded.chunks, 4);
    assert!(c.downloaded.layers >= 1 && c.requests > 0);
    assert_eq!(c.checkpoints.len(), 2);
    assert_eq!(c.checkpoints[0], "on-a");
    assert!(b.cat("work", "/data.bin") == data);
    proxy_shell(
        &b,
        "work",
        "echo 'run 2 on B' >> notes/a.txt && echo b > notes/b.txt && env > run-env.txt",
    );
    // The run saw no remote credentials (avfs had them in its environment).
    let env = b.cat("work", "/run-env.txt");
    let env = String::from_utf8_lossy(&env);
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains(&s3.secret_key) && !env.contains(&s3.access_key));
    b.ok(["--vault", "work", "rm", "/run-env.txt"]);
    b.ok([
        "--vault",
        "work",
        "write",
        "/new-on-b",
        "created after the clone",
    ]);
    let pushed: PushDoc = b.json(["--vault", "work", "push"]);
    assert_eq!(pushed.push.generation, 2);
    assert_eq!(pushed.push.uploaded.chunks, 0, "only small files changed");
    assert_no_credentials(&b);

    // Home C: lazy clone, sees both runs, restores A's checkpoint.
    let c = Home::new(&s3);
    c.add_origin(&prefix);
    let cloned: CloneDoc = c.json(["clone", "origin", "work", "mine", "--lazy"]);
    assert!(cloned.clone.lazy);
    assert_eq!(cloned.clone.vault, "mine");
    assert_eq!(
        cloned.clone.downloaded.chunks, 0,
        "lazy: no chunk bytes yet"
    );
    assert_eq!(c.cat("mine", "/notes/a.txt"), b"run 1 on A\nrun 2 on B\n");
    assert_eq!(c.cat("mine", "/notes/b.txt"), b"b\n");
    assert_eq!(c.cat("mine", "/new-on-b"), b"created after the clone");
    assert!(c.cat("mine", "/data.bin") == data, "fetched on first read");
    let link = c.ok(["--json", "--vault", "mine", "stat", "/notes/latest"]);
    assert!(link.contains("\"symlink\""), "{link}");
    c.ok(["--vault", "mine", "checkpoint", "restore", "on-a"]);
    assert_eq!(c.cat("mine", "/notes/a.txt"), b"run 1 on A\n");
    assert!(c.run(["--vault", "mine", "cat", "/notes/b.txt"]).status != 0);
    // The bytes fetched on first read are kept: it reads with no credentials.
    assert!(c.avfs.run(["--vault", "mine", "cat", "/data.bin"]).stdout == data);

    assert_no_credentials(&c);

    // C's state since the restore does not contain the remote head.
    c.ok(["--vault", "mine", "write", "/from-c", "c"]);
    let (err, _) = c.fails(["--vault", "mine", "push"]);
    assert_eq!(err.code, "remote_diverged", "C restored an older state");
}

/// The S3 keys are nowhere in what a home shows or keeps: `remote list`
/// (JSON and human), the journal, the store file and its WAL.
fn assert_no_credentials(home: &Home) {
    let mut seen = vec![
        home.run(["--json", "remote", "list"]).stdout,
        home.run(["remote", "list"]).stdout,
        home.run(["--json", "audit"]).stdout,
        home.run(["audit"]).stdout,
    ];
    let store = home.avfs.store_path();
    seen.push(std::fs::read(&store).unwrap());
    let mut wal = store.into_os_string();
    wal.push("-wal");
    seen.extend(std::fs::read(wal).ok());
    for bytes in seen {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&home.s3.secret_key) && !text.contains(&home.s3.access_key),
            "credentials leaked"
        );
    }
}

impl Home {
    fn run_stdin_checked<I, S>(&self, args: I, input: &[u8]) -> i32
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait().unwrap().code().unwrap_or(-1)
    }
}

#[test]
fn pull_fast_forwards_and_refuses_to_lose_local_changes() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("pull");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    a.ok(["--vault", "v", "write", "/f", "1"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let b = Home::new(&s3);
    b.add_origin(&prefix);
    b.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    let up: PullDoc = b.json(["--vault", "v", "pull"]);
    assert_eq!(up.pull.status, "up_to_date");
    a.ok(["--vault", "v", "write", "/f", "2"]);
    a.ok(["--vault", "v", "checkpoint", "save", "two"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push", "--checkpoints"]);
    let ff: PullDoc = b.json(["--vault", "v", "pull"]);
    let p = &ff.pull;
    assert_eq!(
        (p.vault.as_str(), p.remote.as_str(), p.remote_vault.as_str()),
        ("v", "origin", "v")
    );
    assert_eq!((p.status.as_str(), p.generation), ("fast_forward", 2));
    assert!(p.downloaded.layers >= 1 && p.requests > 0);
    assert_eq!(p.downloaded.chunks, 0);
    assert_eq!(p.checkpoints_added, ["two"]);
    assert_eq!(b.cat("v", "/f"), b"2");
    // Local changes the remote lacks: pull refuses and changes nothing.
    b.ok(["--vault", "v", "write", "/g", "local"]);
    a.ok(["--vault", "v", "write", "/f", "3"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let (err, status) = b.fails(["--vault", "v", "pull"]);
    assert_eq!((err.code.as_str(), status), ("remote_diverged", 4));
    assert_eq!(b.cat("v", "/f"), b"2");
    assert_eq!(b.cat("v", "/g"), b"local");
    // A vault the remote lacks, and a clone onto an existing name.
    let (err, status) = b.fails(["clone", "origin", "nope"]);
    assert_eq!((err.code.as_str(), status), ("remote_vault_not_found", 3));
    let (err, _) = b.fails(["clone", "origin", "v"]);
    assert_eq!(err.code, "vault_exists");
}

#[test]
fn a_stale_push_is_refused_and_force_keeps_the_replaced_head() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("stale");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    a.ok(["--vault", "v", "write", "/f", "base"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let b = Home::new(&s3);
    b.add_origin(&prefix);
    b.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    b.ok(["--vault", "v", "write", "/f", "from b"]);
    b.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let head_before = s3.get(&format!("{prefix}/vaults/v/head")).unwrap();

    a.ok(["--vault", "v", "write", "/f", "from a"]);
    let (err, status) = a.fails(["--vault", "v", "push"]);
    assert_eq!((err.code.as_str(), status), ("remote_diverged", 4));
    assert!(err.hint.is_some());
    assert_eq!(
        s3.get(&format!("{prefix}/vaults/v/head")).unwrap(),
        head_before,
        "a refused push changes nothing"
    );

    let forced: PushDoc = a.json(["--vault", "v", "push", "--force"]);
    assert!(forced.push.forced);
    assert_eq!(forced.push.generation, 3);
    let kept = forced.push.kept_as.clone().unwrap();
    assert_eq!(kept, "overwritten-2");
    // The overwritten state is still on the remote, under that checkpoint.
    let c = Home::new(&s3);
    c.add_origin(&prefix);
    let cloned: CloneDoc = c.json(["clone", "origin", "v"]);
    assert_eq!(cloned.clone.checkpoints, std::slice::from_ref(&kept));
    assert_eq!(c.cat("v", "/f"), b"from a");
    c.ok(["--vault", "v", "checkpoint", "restore", &kept]);
    assert_eq!(c.cat("v", "/f"), b"from b");
}

#[test]
fn two_pushers_from_the_same_base_exactly_one_wins_every_round() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("race");
    let base = Home::new(&s3);
    base.add_origin(&prefix);
    base.ok(["vault", "create", "v"]);
    base.ok(["--vault", "v", "write", "/f", "base"]);
    base.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let homes: Vec<Home> = (0..2)
        .map(|_| {
            let h = Home::new(&s3);
            h.add_origin(&prefix);
            h.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
            h
        })
        .collect();
    for round in 0..6 {
        // Both start from the current remote head.
        for (i, h) in homes.iter().enumerate() {
            if round > 0 {
                h.ok(["vault", "delete", "v"]);
                h.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
            }
            h.ok([
                "--vault",
                "v",
                "write",
                "/f",
                &format!("round {round} home {i}"),
            ]);
        }
        let children: Vec<_> = homes
            .iter()
            .map(|h| {
                h.command()
                    .args(["--json", "--vault", "v", "push"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one push wins");
        let loser = 1 - winners[0];
        let doc: common::ErrorDoc = common::parse_one(&outs[loser].stdout);
        assert_eq!(doc.error.code, "remote_diverged", "round {round}");
        // Nothing is lost: the loser still has its change, and pull brings the winner.
        assert_eq!(
            homes[loser].cat("v", "/f"),
            format!("round {round} home {loser}").as_bytes()
        );
        let pulled: PullDoc = base.json(["--vault", "v", "pull"]);
        assert_eq!(pulled.pull.status, "fast_forward");
        assert_eq!(
            base.cat("v", "/f"),
            format!("round {round} home {}", winners[0]).as_bytes()
        );
    }
}

#[test]
fn corrupt_remote_objects_are_detected_and_nothing_corrupt_enters_the_store() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("corrupt");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    let data = big(7, 2 * 256 * 1024);
    assert_eq!(
        a.run_stdin_checked(["--vault", "v", "write", "/big"], &data),
        0
    );
    a.ok(["--vault", "v", "write", "/small", "hello"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let chunks: Vec<String> = s3.list(&format!("{prefix}/chunks/"));
    let layers: Vec<String> = s3.list(&format!("{prefix}/layers/"));
    assert_eq!(chunks.len(), 2);
    assert!(!layers.is_empty());

    let flip = |key: &str| {
        let mut bytes = s3.get(key).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        s3.put(key, &bytes);
        bytes
    };
    let restore = |key: &str, mut bytes: Vec<u8>| {
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        s3.put(key, &bytes);
    };
    let vaults_of = |h: &Home| -> usize {
        let run = h.run(["--json", "vault", "list"]);
        let v: serde_json::Value = common::parse_one(&run.stdout);
        v["vaults"].as_array().unwrap().len()
    };

    // A flipped byte in a chunk: a full clone refuses, and makes no vault.
    let b = Home::new(&s3);
    b.add_origin(&prefix);
    let bad = flip(&chunks[0]);
    let (err, status) = b.fails(["clone", "origin", "v"]);
    assert_eq!((err.code.as_str(), status), ("remote_corrupt", 5));
    assert_eq!(vaults_of(&b), 0);
    // A lazy clone gets the layers, and the read of that chunk fails.
    b.json::<CloneDoc, _, _>(["clone", "origin", "v", "--lazy"]);
    assert_eq!(b.cat("v", "/small"), b"hello");
    let (err, _) = b.fails(["--vault", "v", "cat", "/big"]);
    assert_eq!(err.code, "remote_corrupt");
    restore(&chunks[0], bad);
    assert!(
        b.cat("v", "/big") == data,
        "the good bytes arrive once the object is repaired"
    );

    // A flipped byte in a layer, and a head that is not a head.
    for layer in &layers {
        let c = Home::new(&s3);
        c.add_origin(&prefix);
        let bad = flip(layer);
        let (err, _) = c.fails(["clone", "origin", "v"]);
        assert_eq!(err.code, "remote_corrupt", "{layer}");
        assert_eq!(vaults_of(&c), 0);
        restore(layer, bad);
    }
    let head_key = format!("{prefix}/vaults/v/head");
    let head = s3.get(&head_key).unwrap();
    s3.put(&head_key, b"{ not a head");
    let c = Home::new(&s3);
    c.add_origin(&prefix);
    let (err, _) = c.fails(["clone", "origin", "v"]);
    assert_eq!(err.code, "remote_corrupt");
    // A head naming a chain its layers do not form.
    let mut doc: serde_json::Value = serde_json::from_slice(&head).unwrap();
    doc["chain"] = serde_json::json!([doc["chain"][0].clone(), "00".repeat(32)]);
    if doc["chain"].as_array().unwrap().len() > 1 {
        s3.put(&head_key, doc.to_string().as_bytes());
        let (err, _) = c.fails(["clone", "origin", "v"]);
        assert_eq!(err.code, "remote_corrupt");
    }
    s3.put(&head_key, &head);
    c.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    assert!(c.cat("v", "/big") == data);
}

#[test]
fn a_lazy_clone_fetches_content_on_first_read_through_a_mount() {
    let Some(s3) = server() else { return };
    if !common::fuse::fuse_available() {
        return;
    }
    let prefix = s3.unique_prefix("lazymount");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    let data = big(3, 5 * 256 * 1024 + 77);
    assert_eq!(
        a.run_stdin_checked(["--vault", "v", "write", "-p", "/dir/big"], &data),
        0
    );
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);

    let c = Home::new(&s3);
    c.add_origin(&prefix);
    let cloned: CloneDoc = c.json(["clone", "origin", "v", "--lazy"]);
    assert_eq!(cloned.clone.downloaded.chunks, 0);
    let creds = [
        ("AWS_ACCESS_KEY_ID", s3.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.as_str()),
    ];
    let mounted = common::fuse::Mounted::with_env(&c.avfs, "v", &[], &creds);
    let read = std::fs::read(mounted.join("dir/big")).unwrap();
    assert!(read == data, "bytes fetched through the mount");
    mounted.unmount();
    // Kept locally: readable with no credentials at all.
    assert!(c.avfs.run(["--vault", "v", "cat", "/dir/big"]).stdout == data);
}

#[test]
fn a_sigkilled_push_leaves_a_complete_earlier_head_and_the_next_push_completes() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("sigkill");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    a.ok(["--vault", "v", "write", "/f", "generation 1"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut generation = 1u64;
    let mut states: Vec<(u64, Vec<u8>)> = vec![(1, b"generation 1".to_vec())];
    for round in 0..20u8 {
        // A new large change: 16 chunks of fresh bytes.
        let data = big(round.wrapping_add(10), 16 * 256 * 1024);
        assert_eq!(
            a.run_stdin_checked(["--vault", "v", "write", "/big"], &data),
            0
        );
        a.ok(["--vault", "v", "write", "/f", &format!("round {round}")]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = std::time::Duration::from_millis(rng % 300);
        let mut child = a
            .command()
            .args(["--json", "--vault", "v", "push"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let killed = child.wait().unwrap();

        // The remote head is a complete state: a fresh clone reads it whole.
        let check = Home::new(&s3);
        check.add_origin(&prefix);
        let cloned: CloneDoc = check.json(["clone", "origin", "v"]);
        let got = check.cat("v", "/f");
        let known = states
            .iter()
            .any(|(g, f)| *g == cloned.clone.generation && *f == got);
        let landed =
            cloned.clone.generation == generation + 1 && got == format!("round {round}").as_bytes();
        assert!(
            known || landed,
            "round {round}: head generation {} holds {:?} (killed: {killed:?})",
            cloned.clone.generation,
            String::from_utf8_lossy(&got)
        );
        if landed {
            assert!(check.cat("v", "/big") == data);
        }
        // The next push completes, uploading only what is still missing.
        let pushed: PushDoc = a.json(["--vault", "v", "push"]);
        generation = pushed.push.generation;
        states.push((generation, format!("round {round}").into_bytes()));
        let again = Home::new(&s3);
        again.add_origin(&prefix);
        again.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
        assert!(again.cat("v", "/big") == data, "round {round}");
    }
}

/// One OSD of the Ceph cluster stopped for the length of a test, restarted
/// on drop (also when the test fails).
struct OsdDown {
    script: std::path::PathBuf,
    dir: String,
    osd: &'static str,
}

impl OsdDown {
    fn stop(osd: &'static str) -> Option<OsdDown> {
        let dir = std::env::var("AVFS_TEST_CEPH_DIR")
            .ok()
            .filter(|d| !d.is_empty());
        let Some(dir) = dir else {
            assert_eq!(
                std::env::var("AVFS_SKIP_REMOTE_TESTS").as_deref(),
                Ok("1"),
                "the node-loss test needs the Ceph cluster of scripts/s3-server (AVFS_TEST_CEPH_DIR)"
            );
            return None;
        };
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-server");
        let down = OsdDown { script, dir, osd };
        down.run("kill-osd");
        Some(down)
    }

    fn run(&self, action: &str) {
        let status = std::process::Command::new(&self.script)
            .args(["ceph", action, self.osd])
            .env("AVFS_CEPH_DIR", &self.dir)
            .status()
            .expect("run scripts/s3-server");
        assert!(status.success(), "s3-server ceph {action} {}", self.osd);
    }
}

impl Drop for OsdDown {
    fn drop(&mut self) {
        self.run("start-osd");
    }
}

#[test]
fn with_one_of_three_osds_down_push_pull_and_clone_still_work() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("nodeloss");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    a.ok(["--vault", "v", "write", "/f", "before"]);
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let b = Home::new(&s3);
    b.add_origin(&prefix);
    b.json::<CloneDoc, _, _>(["clone", "origin", "v"]);

    let Some(down) = OsdDown::stop("2") else {
        return;
    };
    let data = big(9, 3 * 256 * 1024);
    assert_eq!(
        a.run_stdin_checked(["--vault", "v", "write", "/big"], &data),
        0
    );
    a.ok(["--vault", "v", "write", "/f", "during"]);
    let pushed: PushDoc = a.json(["--vault", "v", "push"]);
    assert_eq!(pushed.push.generation, 2);
    let pulled: PullDoc = b.json(["--vault", "v", "pull"]);
    assert_eq!(pulled.pull.status, "fast_forward");
    assert_eq!(b.cat("v", "/f"), b"during");
    let c = Home::new(&s3);
    c.add_origin(&prefix);
    c.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    assert!(c.cat("v", "/big") == data);
    // A stale push is still refused: conditional writes hold with a node down.
    b.ok(["--vault", "v", "write", "/f", "b"]);
    a.ok(["--vault", "v", "write", "/f", "a"]);
    b.json::<PushDoc, _, _>(["--vault", "v", "push"]);
    let (err, _) = a.fails(["--vault", "v", "push"]);
    assert_eq!(err.code, "remote_diverged");
    drop(down);
}

#[test]
fn runs_push_by_flag_or_policy_and_vault_list_shows_the_remote() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("runpush");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    let listed: serde_json::Value = a.json(["vault", "list", "--remote", "origin"]);
    assert_eq!(
        listed,
        serde_json::json!({"remote": "origin", "vaults": []})
    );

    // --push: the run's changes and its checkpoint are on the remote after it.
    let run = a.run([
        "--json",
        "--vault",
        "v",
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--push",
        "--shell",
        "echo one > notes.txt",
    ]);
    assert_eq!(run.status, 0, "{}", run.stdout_str());
    let doc: serde_json::Value = common::parse_one(&run.stdout);
    assert_eq!(doc["push"]["generation"], 1, "{doc}");
    assert_eq!(doc["push"]["remote"], "origin");
    assert_eq!(
        doc["push"]["checkpoints_pushed"].as_array().unwrap().len(),
        1
    );

    // The policy's remote: pushed after every run, without the flag.
    let policy = a.avfs.home.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"remote": {"name": "origin", "push": "after_run"}}"#,
    )
    .unwrap();
    a.ok(["--vault", "v", "policy", "set", policy.to_str().unwrap()]);
    let run = a.run([
        "--json",
        "--vault",
        "v",
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--shell",
        "echo two >> notes.txt",
    ]);
    let doc: serde_json::Value = common::parse_one(&run.stdout);
    assert_eq!(doc["push"]["generation"], 2, "{doc}");
    // A push that fails does not fail the run: the command's status stands.
    a.ok(["remote", "remove", "origin"]);
    let run = a.run([
        "--json",
        "--vault",
        "v",
        "proxy",
        "exec",
        "--mode",
        "materialize",
        "--shell",
        "echo three >> notes.txt; exit 3",
    ]);
    assert_eq!(run.status, 3);
    let doc: serde_json::Value = common::parse_one(&run.stdout);
    assert_eq!(doc["push"]["error"]["code"], "remote_not_found", "{doc}");
    a.add_origin(&prefix);

    let b = Home::new(&s3);
    b.add_origin(&prefix);
    let listed: serde_json::Value = b.json(["vault", "list", "--remote", "origin"]);
    let vaults = listed["vaults"].as_array().unwrap();
    assert_eq!(vaults.len(), 1);
    assert_eq!(vaults[0]["name"], "v");
    assert_eq!(vaults[0]["generation"], 2);
    assert_eq!(vaults[0]["checkpoints"].as_array().unwrap().len(), 2);
    b.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    assert_eq!(b.cat("v", "/notes.txt"), b"one\ntwo\n");
}

#[test]
fn remote_gc_deletes_only_unreachable_objects_older_than_the_grace_period() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("rgc");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    let first = big(21, 2 * 256 * 1024);
    assert_eq!(
        a.run_stdin_checked(["--vault", "v", "write", "/big"], &first),
        0
    );
    a.ok(["--vault", "v", "checkpoint", "save", "first"]);
    let second = big(22, 256 * 1024 + 5);
    assert_eq!(
        a.run_stdin_checked(["--vault", "v", "write", "/big"], &second),
        0
    );
    a.json::<PushDoc, _, _>(["--vault", "v", "push", "--checkpoints"]);
    // What an abandoned push leaves behind: objects no head names.
    let orphan_chunk = format!("{prefix}/chunks/{}", "ab".repeat(32));
    let orphan_layer = format!("{prefix}/layers/{}", "cd".repeat(32));
    s3.put(&orphan_chunk, b"orphan chunk");
    s3.put(&orphan_layer, b"orphan layer");
    let objects_before = s3.list(&format!("{prefix}/")).len();

    let young: serde_json::Value = a.json(["remote", "gc", "origin"]);
    assert_eq!(young["kept_young"], 2, "{young}");
    assert_eq!(young["deleted"]["chunks"], 0);
    assert_eq!(
        young["reachable"]["chunks"], 4,
        "both states' chunks: {young}"
    );
    let dry: serde_json::Value = a.json(["remote", "gc", "origin", "--grace", "0s", "--dry-run"]);
    assert_eq!(dry["deleted"]["chunks"], 1, "{dry}");
    assert_eq!(dry["deleted"]["layers"], 1);
    assert_eq!(s3.list(&format!("{prefix}/")).len(), objects_before);
    let done: serde_json::Value = a.json(["remote", "gc", "origin", "--grace", "0s"]);
    assert_eq!(done["deleted"]["chunks"], 1, "{done}");
    assert_eq!(done["deleted"]["bytes"], 24);
    assert!(s3.get(&orphan_chunk).is_none() && s3.get(&orphan_layer).is_none());
    assert_eq!(s3.list(&format!("{prefix}/")).len(), objects_before - 2);

    // Everything reachable survived: head and checkpoint restore byte-for-byte.
    let b = Home::new(&s3);
    b.add_origin(&prefix);
    b.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    assert!(b.cat("v", "/big") == second);
    b.ok(["--vault", "v", "checkpoint", "restore", "first"]);
    assert!(b.cat("v", "/big") == first);

    // A damaged reachable layer stops gc before it deletes anything.
    s3.put(&orphan_chunk, b"orphan chunk");
    let layers = s3.list(&format!("{prefix}/layers/"));
    let saved = s3.get(&layers[0]).unwrap();
    s3.put(&layers[0], b"damaged");
    let (err, _) = a.fails(["remote", "gc", "origin", "--grace", "0s"]);
    assert_eq!(err.code, "remote_corrupt");
    assert!(s3.get(&orphan_chunk).is_some());
    s3.put(&layers[0], &saved);
}

#[test]
fn a_lazy_clone_pushes_its_changes_back_without_fetching_what_it_never_read() {
    let Some(s3) = server() else { return };
    let prefix = s3.unique_prefix("lazypush");
    let a = Home::new(&s3);
    a.add_origin(&prefix);
    a.ok(["vault", "create", "v"]);
    let data = big(31, 3 * 256 * 1024);
    assert_eq!(
        a.run_stdin_checked(["--vault", "v", "write", "/big"], &data),
        0
    );
    a.json::<PushDoc, _, _>(["--vault", "v", "push"]);

    let c = Home::new(&s3);
    c.add_origin(&prefix);
    c.json::<CloneDoc, _, _>(["clone", "origin", "v", "--lazy"]);
    // A copy shares the content (chunks not fetched), plus a new small file.
    c.ok(["--vault", "v", "cp", "/big", "/copy"]);
    c.ok(["--vault", "v", "write", "/note", "from the lazy clone"]);
    let pushed: PushDoc = c.json(["--vault", "v", "push"]);
    assert_eq!(pushed.push.generation, 2);
    assert_eq!(
        pushed.push.uploaded.chunks, 0,
        "nothing of /big was fetched or sent"
    );

    let d = Home::new(&s3);
    d.add_origin(&prefix);
    d.json::<CloneDoc, _, _>(["clone", "origin", "v"]);
    assert!(d.cat("v", "/copy") == data);
    assert_eq!(d.cat("v", "/note"), b"from the lazy clone");
}

/// The Garage server (no conditional PutObject), or None when the remote
/// tests are explicitly skipped.
fn garage() -> Option<S3> {
    S3::garage_from_env()
}

/// `avfs remote add NAME s3://bucket/prefix --endpoint ... --region ...`, plus `extra`.
fn add_remote(home: &Home, name: &str, prefix: &str, extra: &[&str]) -> Added {
    let url = format!("s3://{}/{prefix}", home.s3.bucket);
    let mut args = vec![
        "remote",
        "add",
        name,
        &url,
        "--endpoint",
        &home.s3.endpoint,
        "--region",
        &home.s3.region,
    ];
    args.extend_from_slice(extra);
    home.json(args)
}

#[test]
fn garage_has_no_conditional_writes_so_pushes_refuse_unless_unsafe_single_writer() {
    let Some(s3) = garage() else { return };
    let prefix = s3.unique_prefix("garage");
    let a = Home::new(&s3);
    add_remote(&a, "origin", &prefix, &[]);
    let checked: Checked = a.json(["remote", "check", "origin"]);
    assert!(checked.reachable && checked.credentials);
    assert!(
        !checked.conditional_writes,
        "Garage's PutObject ignores If-None-Match and If-Match"
    );
    assert!(!checked.unsafe_single_writer);
    assert!(s3.list(&prefix).is_empty(), "the probe object is removed");
    let listed: Listed = a.json(["remote", "list"]);
    assert_eq!(listed.remotes[0].conditional_writes, Some(false));

    // Without the unsafe mode a push refuses and writes nothing: after a
    // check, and on a remote never checked (the push probes first).
    a.ok(["vault", "create", "v"]);
    a.ok(["--vault", "v", "write", "/f", "from a"]);
    a.ok(["--vault", "v", "checkpoint", "save", "on-a"]);
    a.ok(["--vault", "v", "write", "/f", "from a, later"]);
    let (err, status) = a.fails(["--vault", "v", "push"]);
    assert_eq!(
        (err.code.as_str(), status),
        ("remote_no_conditional_writes", 4)
    );
    assert!(s3.list(&prefix).is_empty(), "a refused push writes nothing");
    add_remote(&a, "unchecked", &prefix, &[]);
    let (err, _) = a.fails(["--vault", "v", "push", "--remote", "unchecked"]);
    assert_eq!(err.code, "remote_no_conditional_writes");
    assert!(s3.list(&prefix).is_empty());
    let listed: Listed = a.json(["remote", "list"]);
    assert!(
        listed
            .remotes
            .iter()
            .all(|r| r.conditional_writes == Some(false)),
        "the push's probe is recorded: {listed:?}"
    );
    let text = a.run(["--vault", "v", "push"]);
    assert!(
        text.stderr.contains("--unsafe-single-writer"),
        "the refusal names the way out: {}",
        text.stderr
    );

    // The documented single-writer mode pushes with plain writes.
    let added = add_remote(&a, "single", &prefix, &["--unsafe-single-writer"]);
    assert!(added.remote.unsafe_single_writer);
    let checked: Checked = a.json(["remote", "check", "single"]);
    assert!(!checked.conditional_writes && checked.unsafe_single_writer);
    let pushed: PushDoc = a.json([
        "--vault",
        "v",
        "push",
        "--remote",
        "single",
        "--checkpoints",
    ]);
    assert_eq!(pushed.push.generation, 1);
    assert_eq!(pushed.push.checkpoints_pushed, ["on-a"]);

    // Home B clones (reading needs no conditional writes), works, pushes.
    let b = Home::new(&s3);
    add_remote(&b, "origin", &prefix, &["--unsafe-single-writer"]);
    let cloned: CloneDoc = b.json(["clone", "origin", "v"]);
    assert_eq!(cloned.clone.generation, 1);
    assert_eq!(b.cat("v", "/f"), b"from a, later");
    b.ok(["--vault", "v", "write", "/f", "from b"]);
    let pushed: PushDoc = b.json(["--vault", "v", "push"]);
    assert_eq!(pushed.push.generation, 2);

    // One push after another still cannot lose work: a push from a stale
    // base is refused by the head it reads (only truly concurrent pushes can
    // lose one, which is what the mode's name warns about).
    a.ok(["--vault", "v", "write", "/g", "a's unpushed work"]);
    let (err, _) = a.fails(["--vault", "v", "push", "--remote", "single"]);
    assert_eq!(err.code, "remote_diverged");
    assert_eq!(a.cat("v", "/g"), b"a's unpushed work");

    // A lazy clone on C reads B's state and restores A's checkpoint.
    let c = Home::new(&s3);
    add_remote(&c, "origin", &prefix, &[]);
    let cloned: CloneDoc = c.json(["clone", "origin", "v", "--lazy"]);
    assert_eq!(cloned.clone.generation, 2);
    assert_eq!(c.cat("v", "/f"), b"from b");
    c.ok(["--vault", "v", "checkpoint", "restore", "on-a"]);
    assert_eq!(c.cat("v", "/f"), b"from a");
    // C's remote is not in the unsafe mode: its push refuses.
    c.ok(["--vault", "v", "write", "/h", "c"]);
    let (err, _) = c.fails(["--vault", "v", "push", "--force"]);
    assert_eq!(err.code, "remote_no_conditional_writes");
}

#[test]
fn aws_credentials_never_reach_a_run_whatever_asks_for_them() {
    // No server needed: this is about what avfs hands a run.
    let avfs = common::Avfs::new();
    avfs.ok(["vault", "create", "v"]);
    let secret = "run-must-not-see-this-secret";
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIARUNMUSTNOTSEE"),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_SESSION_TOKEN", "run-must-not-see-this-token"),
        ("AWS_PROFILE", "run-must-not-see-this-profile"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/run-must-not-see/credentials",
        ),
        ("AWS_CONFIG_FILE", "/run-must-not-see/config"),
        ("AWS_REGION", "eu-west-3"),
    ];
    let run_env = |policy: Option<&std::path::Path>| -> String {
        let mut cmd = avfs.command();
        cmd.args([
            "--json",
            "--vault",
            "v",
            "proxy",
            "exec",
            "--mode",
            "materialize",
        ]);
        if let Some(p) = policy {
            cmd.arg("--policy").arg(p);
        }
        cmd.args(["--shell", "env > env.txt"]);
        for (k, v) in creds {
            cmd.env(k, v);
        }
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let env = avfs.run(["--vault", "v", "cat", "/env.txt"]).stdout;
        String::from_utf8(env).unwrap()
    };
    let leaked = |env: &str| -> Vec<String> {
        env.lines()
            .filter(|l| l.starts_with("AWS_") && !l.starts_with("AWS_REGION="))
            .map(str::to_string)
            .chain(env.contains(secret).then(|| "the secret".to_string()))
            .collect()
    };

    // The default environment: none of them.
    let env = run_env(None);
    assert!(env.contains("PATH="), "{env}");
    assert_eq!(leaked(&env), Vec::<String>::new());
    assert!(
        !env.contains("AWS_REGION"),
        "not in the default list either"
    );

    // A policy may pass the region, never a credential; asking is an error
    // that names the field, at `policy set` and at `--policy`.
    let ok_policy = avfs.home.path().join("region.json");
    std::fs::write(&ok_policy, r#"{"env": {"pass": ["PATH", "AWS_REGION"]}}"#).unwrap();
    let env = run_env(Some(&ok_policy));
    assert!(env.contains("AWS_REGION=eu-west-3"), "{env}");
    assert_eq!(leaked(&env), Vec::<String>::new());
    for (doc, field) in [
        (
            r#"{"env": {"pass": ["PATH", "AWS_SECRET_ACCESS_KEY"]}}"#,
            "env.pass[1]",
        ),
        (r#"{"env": {"pass": ["aws_profile"]}}"#, "env.pass[0]"),
        (
            r#"{"env": {"set": {"AWS_ACCESS_KEY_ID": "AKIA"}}}"#,
            "env.set.AWS_ACCESS_KEY_ID",
        ),
    ] {
        let bad = avfs.home.path().join("bad.json");
        std::fs::write(&bad, doc).unwrap();
        let (err, status) = avfs.fails(["--vault", "v", "policy", "set", bad.to_str().unwrap()]);
        assert_eq!((err.code.as_str(), status), ("invalid_policy", 2), "{doc}");
        assert!(err.message.contains(field), "{doc}: {}", err.message);
        let (err, _) = avfs.fails([
            "--vault",
            "v",
            "proxy",
            "exec",
            "--policy",
            bad.to_str().unwrap(),
            "--",
            "true",
        ]);
        assert_eq!(err.code, "invalid_policy", "{doc}");
    }
    // --env with a credential is refused before anything runs.
    for pair in [
        "AWS_SECRET_ACCESS_KEY=x",
        "AWS_PROFILE=prod",
        "AWS_WEB_IDENTITY_TOKEN_FILE=/t",
    ] {
        let (err, status) = avfs.fails([
            "--vault",
            "v",
            "proxy",
            "exec",
            "--env",
            pair,
            "--",
            "sh",
            "-c",
            "echo ran > ran.txt",
        ]);
        assert_eq!((err.code.as_str(), status), ("usage_error", 2), "{pair}");
        assert!(
            err.message.contains("never passed into a run"),
            "{}",
            err.message
        );
    }
    assert_ne!(avfs.run(["--vault", "v", "cat", "/ran.txt"]).status, 0);
    let env = run_env(None);
    assert_eq!(leaked(&env), Vec::<String>::new());
}
