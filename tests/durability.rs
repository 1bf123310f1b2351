//! Concurrency and crash safety through the real binary: several processes
//! writing one vault at once lose nothing and never report "database is
//! locked"; a writer SIGKILLed at any point leaves an integrity-clean store
//! with every acknowledged write intact and no half-written file.

mod common;
use common::*;
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::Duration;

#[test]
fn concurrent_writers_lose_nothing() {
    let a = Avfs::with_vault();
    a.ok(["write", "/log", ""]);
    const WRITERS: usize = 6;
    const ROUNDS: usize = 15;
    let threads: Vec<_> = (0..WRITERS + 2)
        .map(|w| {
            let home = a.home.path().to_path_buf();
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for r in 0..ROUNDS {
                    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_avfs"));
                    cmd.env_clear()
                        .env("AVFS_HOME", &home)
                        .env("AVFS_VAULT", "main");
                    if w < WRITERS {
                        // Appends to one shared file interleave but never overwrite each other.
                        cmd.args(["write", "--append", "/log", &format!("w{w}r{r}\n")]);
                    } else {
                        // Checkpoints freeze the top layer under the writers' feet.
                        cmd.args(["checkpoint", "save", &format!("c{w}-{r}")]);
                    }
                    let out = cmd.stdin(Stdio::null()).output().unwrap();
                    if !out.status.success() {
                        failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "writers failed: {failures:?}");
    let log = String::from_utf8(a.cat("/log")).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort();
    let mut expected: Vec<String> = (0..WRITERS)
        .flat_map(|w| (0..ROUNDS).map(move |r| format!("w{w}r{r}")))
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
    let list: CheckpointList = a.json(["checkpoint", "list"]);
    assert_eq!(list.checkpoints.len(), 2 * ROUNDS);
}

/// A deterministic pseudo-random sequence (no seed files, same run every time).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

fn integrity(store: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn sigkill_mid_write_keeps_the_store_clean_and_acknowledged_writes_intact() {
    let a = Avfs::with_vault();
    let mut rng = Lcg(42);
    let mut acked: Vec<(String, Vec<u8>)> = Vec::new();
    let mut killed: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..40 {
        let path = format!("/f{i}");
        // Sizes from one chunk to several, so kills land inside chunk writes and commits.
        let data = payload(i, [3_000, 300_000, 3_000_000][i % 3]);
        let mut child: Child = a
            .command()
            .args(["write", &path])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feed = {
            let data = data.clone();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            })
        };
        std::thread::sleep(Duration::from_millis(rng.next(60)));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let _ = feed.join();
        if status.success() {
            acked.push((path, data));
        } else {
            killed.push((path, data));
        }
        assert_eq!(integrity(&a.store_path()), "ok", "after kill #{i}");
    }
    assert!(
        !killed.is_empty(),
        "the test must actually kill some writers"
    );
    for (path, data) in &acked {
        assert_eq!(&a.cat(path), data, "acknowledged write {path} intact");
    }
    // A killed write is all or nothing: never a truncated file.
    for (path, data) in &killed {
        let run = a.run(["cat", path]);
        assert!(
            run.status == 3 || run.stdout == *data,
            "{path} is half-written ({} bytes)",
            run.stdout.len()
        );
    }
    // And the store keeps working after all that.
    a.ok(["write", "/after", "fine"]);
    a.ok(["checkpoint", "save", "after-crashes"]);
}

#[test]
fn sigkill_during_import_leaves_nothing_partial() {
    let a = Avfs::with_vault();
    let host = tempfile::tempdir().unwrap();
    for i in 0..400 {
        host_file(
            host.path(),
            &format!("d{}/f{i}", i % 20),
            &payload(i, 20_000),
        );
    }
    let mut rng = Lcg(7);
    for round in 0..8 {
        let dest = format!("/imp{round}");
        let mut child = a
            .command()
            .args(["import".as_ref(), host.path().as_os_str(), dest.as_ref()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.next(200)));
        let _ = child.kill();
        let ok = child.wait().unwrap().success();
        assert_eq!(integrity(&a.store_path()), "ok");
        let listing = a.run(["--json", "tree", &dest]);
        // A kill after the commit but before exit lands the import unacknowledged:
        // all or nothing, and all whenever it was acknowledged.
        if ok || listing.status == 0 {
            let doc: EntriesDoc = parse_one(&listing.stdout);
            assert_eq!(doc.entries.len(), 1 + 20 + 400, "{dest} is complete");
        } else {
            assert_eq!(listing.status, 3, "{dest}: {}", listing.stdout_str());
        }
    }
}

/// A tmpfs of a fixed size, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .expect("mounting a tmpfs needs root (the test suite runs as root in CI)");
        Self(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.0.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// An avfs whose store is on a small disk of its own.
struct OnSmallDisk {
    disk: SmallDisk,
    a: Avfs,
    home: std::path::PathBuf,
}

impl OnSmallDisk {
    fn new(size: &str) -> Self {
        let disk = SmallDisk::new(size);
        let home = disk.0.path().join("home");
        Self {
            disk,
            a: Avfs::new(),
            home,
        }
    }

    /// Runs avfs on this store with `input` on its stdin.
    fn run(&self, args: &[&str], input: &[u8]) -> std::process::Output {
        let mut child = self
            .a
            .command()
            .env("AVFS_HOME", &self.home)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let feed = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        let _ = feed.join();
        out
    }

    /// Bytes free for an unprivileged writer on the disk.
    fn free_bytes(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(self.disk.0.path()).unwrap();
        st.blocks_available() as u64 * st.fragment_size() as u64
    }

    /// Asserts that the disk has `before` free bytes again, within 1 MiB
    /// (the WAL and its index may have grown): what `what` took is back.
    fn assert_free_again(&self, before: u64, what: &str) {
        let after = self.free_bytes();
        assert!(
            after + (1 << 20) >= before,
            "{what} left {} of {before} free bytes taken",
            before.saturating_sub(after)
        );
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    let store = OnSmallDisk::new("2m");
    let run = |args: &[&str], input: &[u8]| store.run(args, input);
    assert!(run(&["vault", "create", "main"], b"").status.success());
    assert!(run(&["write", "/small", "kept"], b"").status.success());
    let big = payload(1, 8 << 20);
    let out = run(&["--json", "write", "/big"], &big);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = parse_one(&out.stdout);
    assert_eq!(doc["error"]["code"], "disk_full", "{doc}");
    let cat = run(&["cat", "/small"], b"");
    assert_eq!(
        cat.stdout,
        b"kept",
        "earlier data survives: {}",
        String::from_utf8_lossy(&cat.stderr)
    );
    assert_eq!(
        run(&["cat", "/big"], b"").status.code(),
        Some(3),
        "nothing of the failed write landed"
    );
    assert_eq!(integrity(&store.home.join("store.db")), "ok");
}

#[test]
fn a_write_the_disk_has_no_room_for_gives_back_the_space_it_took() {
    let store = OnSmallDisk::new("24m");
    let run = |args: &[&str], input: &[u8]| store.run(args, input);
    assert!(run(&["vault", "create", "main"], b"").status.success());
    let before = store.free_bytes();
    // Larger than the disk: its chunks fill it before the write fails.
    let big = noise(7, 40 << 20);
    let out = run(&["--json", "write", "/big"], &big);
    let doc: serde_json::Value = parse_one(&out.stdout);
    assert_eq!(doc["error"]["code"], "disk_full", "{doc}");
    store.assert_free_again(before, "the failed write");
    let small = run(&["--json", "write", "/small", "room again"], b"");
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stdout)
    );
    assert_eq!(run(&["cat", "/small"], b"").stdout, b"room again");
    assert_eq!(integrity(&store.home.join("store.db")), "ok");
}

#[test]
fn a_run_that_fills_the_disk_reports_what_it_lost_and_gives_the_space_back() {
    if !common::fuse::fuse_available() {
        return;
    }
    let store = OnSmallDisk::new("24m");
    let run = |args: &[&str], input: &[u8]| store.run(args, input);
    assert!(run(&["vault", "create", "main"], b"").status.success());
    let before = store.free_bytes();
    let script = "echo first > first; head -c 40000000 /dev/urandom > big; echo $? > status; echo after > after";
    let out = run(&["--json", "proxy", "exec", "--shell", script], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "--json wrote to stderr: {stderr}");
    let doc: serde_json::Value = parse_one(&out.stdout);
    assert_eq!(
        doc["exit_code"], 0,
        "the run is reported, not an error: {doc}"
    );
    let errors = doc["mount_errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("No space left on device")),
        "{doc}"
    );
    // The writes of a batch that failed to commit may be lost, as a crash
    // may lose what was not fsynced; whatever was stored is whole.
    let changed: Vec<&str> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        changed
            .iter()
            .all(|p| ["/first", "/big", "/status", "/after"].contains(p)),
        "{changed:?}"
    );
    // What is there holds its own bytes (the write failed: status 1): after
    // a rolled-back batch, a new file once took an inode number the kernel
    // still held for a lost one, and got its cached pages ("1\nrst\n").
    for (path, bytes) in [
        ("/first", &b"first\n"[..]),
        ("/status", b"1\n"),
        ("/after", b"after\n"),
    ] {
        if changed.contains(&path) {
            assert_eq!(run(&["cat", path], b"").stdout, bytes, "{path}");
        }
    }
    store.assert_free_again(before, "the run");
    assert!(run(&["write", "/next", "room again"], b"").status.success());
    assert_eq!(integrity(&store.home.join("store.db")), "ok");
    let verify: serde_json::Value = parse_one(&run(&["--json", "verify"], b"").stdout);
    assert_eq!(verify["intact"], true, "{verify}");
}

/// Fills what is left of a file system with one file, down to the last page.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for block in [1 << 20, 64 << 10, 4 << 10, 512] {
        let bytes = vec![0x55u8; block];
        while file.write_all(&bytes).and_then(|_| file.flush()).is_ok() {}
    }
    let _ = file.sync_all();
    path
}

#[test]
fn on_a_full_disk_rm_and_gc_still_free_space_through_the_reserve() {
    let store = OnSmallDisk::new("40m");
    let run = |args: &[&str], input: &[u8]| store.run(args, input);
    let code = |out: &std::process::Output| -> Option<String> {
        let doc: serde_json::Value = parse_one(&out.stdout);
        doc["error"]["code"].as_str().map(str::to_string)
    };
    assert!(run(&["vault", "create", "main"], b"").status.success());
    let reserve = store.home.join("store.db.reserve");
    assert_eq!(
        std::fs::metadata(&reserve).unwrap().len(),
        8 << 20,
        "the store keeps its reserve"
    );
    let mut written = 0;
    loop {
        assert!(written < 20, "the disk never filled");
        let out = run(
            &["--json", "write", &format!("/f{written}")],
            &payload(written, 4 << 20),
        );
        if !out.status.success() {
            assert_eq!(code(&out).as_deref(), Some("disk_full"));
            break;
        }
        written += 1;
    }
    assert!(written >= 2, "only {written} files fit");
    // Whatever avfs left free, something else takes.
    let filler = fill(store.disk.0.path());
    let out = run(&["--json", "write", "/tiny", "x"], b"");
    assert_eq!(
        code(&out).as_deref(),
        Some("disk_full"),
        "the disk is full: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        reserve.exists(),
        "an ordinary write leaves the reserve alone"
    );

    let out = run(&["--json", "rm", "/f0"], b"");
    assert!(
        out.status.success(),
        "rm on a full disk: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !reserve.exists(),
        "rm hit the full disk, released the reserve and tried again"
    );
    // /f0's history still holds its bytes: prune drops that version, gc frees it.
    let out = run(&["--json", "prune", "--keep-versions", "1"], b"");
    assert!(
        out.status.success(),
        "prune on a full disk: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["--json", "gc"], b"");
    assert!(
        out.status.success(),
        "gc on a full disk: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = parse_one(&out.stdout);
    assert!(
        doc["freed"]["bytes"].as_u64().unwrap() >= 4 << 20,
        "gc freed /f0's chunks: {doc}"
    );
    // The freed pages take new data although the disk is still full.
    let out = run(&["--json", "write", "/after"], &payload(99, 1 << 20));
    assert!(
        out.status.success(),
        "a write into the freed space: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(run(&["cat", "/f1"], b"").stdout, payload(1, 4 << 20));
    assert_eq!(run(&["cat", "/after"], b"").stdout, payload(99, 1 << 20));
    assert_eq!(integrity(&store.home.join("store.db")), "ok");

    // Once there is room again, the next command puts the reserve back.
    std::fs::remove_file(filler).unwrap();
    assert!(run(&["vault", "list"], b"").status.success());
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 8 << 20);
}

/// `avfs --json write PATH` fed from a pipe that stays open; returns the child
/// once the store holds more than `appended` bytes of it.
fn writer_past(a: &Avfs, path: &str, appended: u64) -> (Child, std::process::ChildStdin) {
    let before = a.store_disk_bytes();
    let mut child = spawned(a.command(), &["--json", "write", path], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let mut i = 0;
    while a.store_disk_bytes() < before + appended {
        stdin.write_all(&payload(i, 1 << 20)).unwrap();
        i += 1;
        assert!(i < 4096, "4 GiB fed and the store did not grow");
    }
    (child, stdin)
}

/// Waits until avfs catches its stop signals (`SigCgt` in its status has
/// SIGHUP, SIGINT and SIGTERM): a signal before that gets the default action.
fn watching(child: &Child) {
    let wanted = (1u64 << 0) | (1 << 1) | (1 << 14);
    for _ in 0..1000 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        if caught & wanted == wanted {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("avfs never started catching its stop signals");
}

/// Starts avfs with `args`, its stdout and stderr piped, and `stdin`.
fn spawned(mut cmd: std::process::Command, args: &[&str], stdin: Stdio) -> Child {
    cmd.args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Asserts that stdout holds the one `interrupted` document for exit status
/// `expected`, which is also the status, and that stderr is empty.
fn assert_interrupted((status, stdout, stderr): (i32, Vec<u8>, String), expected: i32) {
    let err: ErrorDoc = parse_one(&stdout);
    assert_eq!(
        (err.error.code.as_str(), err.error.exit_status, status),
        ("interrupted", expected, expected),
        "{err:?}"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

/// Asserts that a stopped command left nothing at `path` and gave back the
/// space it took: the store is within 4 MiB of the `empty` one it was.
fn assert_rolled_back(a: &Avfs, path: &str, empty: u64) {
    let (gone, _) = a.fails(["stat", path]);
    assert_eq!(gone.code, "path_not_found");
    let left = a.store_disk_bytes();
    assert!(
        left < empty + (4 << 20),
        "{left} bytes of store after {path} was stopped (empty: {empty})"
    );
    assert_eq!(integrity(&a.store_path()), "ok");
}

/// Sends `signal` to `child`, then returns its exit status, stdout and stderr.
fn stop(child: Child, signal: nix::sys::signal::Signal) -> (i32, Vec<u8>, String) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let out = child.wait_with_output().unwrap();
    let status = out.status.code().unwrap_or(-1);
    (
        status,
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn ctrl_c_stops_a_write_with_a_document_and_gives_its_space_back() {
    use nix::sys::signal::Signal;
    let a = Avfs::with_vault();
    let empty = a.store_disk_bytes();
    // The pipe stays open but goes quiet once the store holds 24 MiB of it:
    // the write waits on stdin with that much appended, and Ctrl-C must end
    // the wait for the write to roll back (not leave it for the grace period).
    let (child, stdin) = writer_past(&a, "/big.bin", 24 << 20);
    let mut size = a.store_disk_bytes();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = a.store_disk_bytes();
        if now == size {
            break;
        }
        size = now;
    }
    assert_interrupted(stop(child, Signal::SIGINT), 130);
    drop(stdin);
    // Before, the signal's default action left the space to `avfs gc`.
    assert_rolled_back(&a, "/big.bin", empty);
    a.ok(["write", "/after", "fine"]);
}

#[test]
fn a_write_waiting_on_a_silent_stdin_answers_sigterm_all_the_same() {
    use nix::sys::signal::Signal;
    let a = Avfs::with_vault();
    // Nothing ever arrives: the write waits on stdin, not in the store, and
    // stops waiting at the signal.
    let mut child = spawned(a.command(), &["--json", "write", "/quiet"], Stdio::piped());
    // Held open until avfs is gone: EOF would end the write.
    let stdin = child.stdin.take();
    watching(&child);
    assert_interrupted(stop(child, Signal::SIGTERM), 143);
    drop(stdin);
    a.fails(["stat", "/quiet"]);
    // Without --json the message goes to stderr, and stdout stays empty.
    let mut child = spawned(a.command(), &["write", "/quiet"], Stdio::piped());
    let stdin = child.stdin.take();
    watching(&child);
    let (status, stdout, stderr) = stop(child, Signal::SIGHUP);
    drop(stdin);
    assert_eq!((status, stdout.len()), (129, 0), "{stderr}");
    assert!(stderr.contains("interrupted by SIGHUP"), "{stderr}");
}

#[test]
fn a_push_to_a_server_that_never_answers_is_left_after_the_grace_period() {
    use nix::sys::signal::Signal;
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "x"]);
    // A server that accepts connections and never answers: the push waits on
    // the network, where no signal can stop it, so avfs answers for it.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", server.local_addr().unwrap());
    let (first, connected) = std::sync::mpsc::channel();
    let accepted = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in server.incoming().take(64) {
            held.push(conn);
            let _ = first.send(());
        }
    });
    a.ok([
        "remote",
        "add",
        "silent",
        "s3://bucket/p",
        "--endpoint",
        &endpoint,
    ]);
    let mut cmd = a.command();
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let child = spawned(
        cmd,
        &["--json", "push", "--remote", "silent"],
        Stdio::null(),
    );
    // Stopped once it waits on the server, not while it reads the store.
    connected.recv_timeout(Duration::from_secs(120)).unwrap();
    assert_interrupted(stop(child, Signal::SIGINT), 130);
    drop(accepted);
    assert_eq!(integrity(&a.store_path()), "ok");
    a.ok(["write", "/after", "fine"]);
}

#[test]
fn ctrl_c_stops_an_import_between_its_statements() {
    use nix::sys::signal::Signal;
    let a = Avfs::with_vault();
    let empty = a.store_disk_bytes();
    let src = tempfile::tempdir().unwrap();
    for i in 0..128 {
        std::fs::write(src.path().join(format!("f{i}")), payload(i, 1 << 20)).unwrap();
    }
    let before = a.store_disk_bytes();
    let source = src.path().to_str().unwrap();
    let args = ["--json", "import", source, "/imported"];
    let child = spawned(a.command(), &args, Stdio::null());
    // Stopped part way: it reads host files, not stdin, so only the store's
    // statements can notice the signal.
    while a.store_disk_bytes() < before + (16 << 20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_interrupted(stop(child, Signal::SIGINT), 130);
    assert_rolled_back(&a, "/imported", empty);
}

#[test]
fn a_sigalrm_that_no_stop_signal_armed_changes_nothing() {
    use nix::sys::signal::Signal;
    let a = Avfs::with_vault();
    // SIGALRM carries the grace period; one from elsewhere must neither end
    // the command nor keep it from answering.
    let mut child = spawned(a.command(), &["--json", "write", "/alarm"], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    watching(&child);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGALRM).unwrap();
    stdin.write_all(b"still here\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _: EntryDoc = parse_one(&out.stdout);
    assert_eq!(a.cat("/alarm"), b"still here\n");
}

#[test]
fn a_write_waiting_for_another_writer_s_lock_answers_ctrl_c() {
    use nix::sys::signal::Signal;
    let a = Avfs::with_vault();
    // Another writer holds the store's lock for as long as the test likes.
    let holder = rusqlite::Connection::open(a.store_path()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let child = spawned(
        a.command(),
        &["--json", "write", "/locked", "x"],
        Stdio::null(),
    );
    watching(&child);
    assert_interrupted(stop(child, Signal::SIGINT), 130);
    holder.execute_batch("ROLLBACK").unwrap();
    let (gone, _) = a.fails(["stat", "/locked"]);
    assert_eq!(gone.code, "path_not_found");
}
