//! Remote benchmark against a real S3 server (loopback), in-process:
//!
//! - **full push / clone** of a vault of `files` files holding `bytes` bytes of
//!   unique content, against the raw upload / download of the same chunk
//!   bytes with the same client (`object_store`, same parallelism);
//! - **incremental push** of a 10-file change in vaults of 1,000 / 10,000 /
//!   100,000 files: objects uploaded, requests, milliseconds;
//! - **hand-off**: from a push done on A to the first command done on B
//!   (a lazy clone, then reading one file).
//!
//! The server comes from `AVFS_TEST_S3_ENDPOINT`, `AVFS_TEST_S3_ACCESS_KEY`,
//! `AVFS_TEST_S3_SECRET_KEY`, `AVFS_TEST_S3_BUCKET` (`scripts/s3-server ceph
//! start` prints them). Figures are medians; markdown to stdout, progress to
//! stderr. Run: `scripts/bench-remote`; `AVFS_BENCH_QUICK=1` for smaller sizes.
//! Without `--bench` (as `cargo test --benches` does) it smoke-tests tiny sizes.

use avfs::remote::spec::RemoteSpec;
use avfs::remote::transfer::read_head;
use avfs::remote::{Client, Credentials, PushOptions};
use avfs::vault::remotes::RemoteRow;
use avfs::vault::{Op, Owner, StateRef, Store, VaultPath};
use bytes::Bytes;
use futures::StreamExt;
use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

struct Config {
    files: usize,
    bytes: usize,
    full_reps: usize,
    incremental_sizes: Vec<usize>,
    incremental_reps: usize,
}

struct Server {
    endpoint: String,
    bucket: String,
    credentials: Credentials,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1048576.0 / d.as_secs_f64()
}

fn prng(seed: u64) -> impl FnMut() -> u8 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
    }
}

/// A store at `dir` with vault `v`: `files` files of `size` bytes, unique.
fn build(dir: &Path, files: usize, size: usize, seed: u64) -> BenchResult<Store> {
    let mut store = Store::open(&dir.join("store.db"), Owner::default())?;
    store.create_vault("v")?;
    let mut next = prng(seed);
    for start in (0..files).step_by(1000) {
        let end = (start + 1000).min(files);
        store.write("v", Op::new("bench", "build"), |w| {
            w.mkdir(
                &VaultPath::parse_str(&format!("/d{}", start / 1000))?,
                true,
                0o755,
            )?;
            for i in start..end {
                let data: Vec<u8> = (0..size).map(|_| next()).collect();
                let p = VaultPath::parse_str(&format!("/d{}/f{i}", i / 1000))?;
                w.write_file(&p, &data[..], false, 0o644)?;
            }
            Ok(())
        })?;
    }
    Ok(store)
}

fn add_remote(
    store: &mut Store,
    server: &Server,
    prefix: &str,
) -> BenchResult<(RemoteSpec, Client)> {
    let row = RemoteRow {
        name: "origin".into(),
        url: format!("s3://{}/{prefix}", server.bucket),
        endpoint: Some(server.endpoint.clone()),
        region: None,
        unsafe_single_writer: false,
        conditional_writes: Some(true),
        created_ns: avfs::vault::now_ns(),
    };
    store.add_remote(&row)?;
    let spec = RemoteSpec::from_row(&row)?;
    let client = Client::new(&spec, &server.credentials)?;
    Ok((spec, client))
}

fn prefix(name: &str) -> String {
    format!(
        "bench-{name}-{}-{}",
        std::process::id(),
        avfs::vault::now_ns()
    )
}

fn full(server: &Server, config: &Config) -> BenchResult<()> {
    let size = config.bytes / config.files;
    eprintln!("building {} files of {} bytes", config.files, size);
    let dir = tempfile::tempdir()?;
    let mut a = build(dir.path(), config.files, size, 1)?;
    let (mut push_t, mut clone_t, mut raw_up_t, mut raw_down_t) = (vec![], vec![], vec![], vec![]);
    let mut requests = 0;
    for rep in 0..config.full_reps {
        let p = prefix("full");
        let name = format!("origin{rep}");
        let row = RemoteRow {
            name: name.clone(),
            url: format!("s3://{}/{p}", server.bucket),
            endpoint: Some(server.endpoint.clone()),
            region: None,
            unsafe_single_writer: false,
            conditional_writes: Some(true),
            created_ns: avfs::vault::now_ns(),
        };
        a.add_remote(&row)?;
        let spec = RemoteSpec::from_row(&row)?;
        let client = Client::new(&spec, &server.credentials)?;
        let t = Instant::now();
        let r = avfs::remote::push(&mut a, &client, &spec, "v", "v", PushOptions::default())?;
        push_t.push(t.elapsed());
        requests = r.requests;
        eprintln!("push {rep}: {:?}, {} chunks", t.elapsed(), r.moved.chunks);

        let bdir = tempfile::tempdir()?;
        let mut b = Store::open(&bdir.path().join("store.db"), Owner::default())?;
        b.add_remote(&row)?;
        let client_b = Client::new(&spec, &server.credentials)?;
        let t = Instant::now();
        avfs::remote::clone(&mut b, &client_b, &spec, "v", "v", false)?;
        clone_t.push(t.elapsed());
        eprintln!("clone {rep}: {:?}", t.elapsed());

        // The same chunk bytes, raw, with the same client and parallelism.
        let top = a.vault_info("v")?.top_layer;
        let mut chunks = Vec::new();
        for l in a.layer_chain(top)? {
            chunks.extend(a.layer_chunks(l)?);
        }
        let raw = Client::new(
            &RemoteSpec {
                prefix: format!("{p}-raw"),
                ..spec.clone()
            },
            &server.credentials,
        )?;
        let mut bodies = Vec::new();
        for c in &chunks {
            bodies.push((
                hex_key(&c.hash),
                Bytes::from(a.chunk_bytes(&c.hash)?.unwrap_or_default()),
            ));
        }
        let t = Instant::now();
        for batch in bodies.chunks(32) {
            let done = raw.block_on(
                futures::stream::iter(batch.iter().cloned().map(|(k, b)| {
                    let raw = &raw;
                    async move { raw.put_new(&k, b).await }
                }))
                .buffer_unordered(avfs::remote::client::PARALLEL)
                .collect::<Vec<_>>(),
            );
            for d in done {
                d?;
            }
        }
        raw_up_t.push(t.elapsed());
        let t = Instant::now();
        for batch in bodies.chunks(32) {
            let done = raw.block_on(
                futures::stream::iter(batch.iter().map(|(k, _)| {
                    let raw = &raw;
                    async move { raw.get(k).await }
                }))
                .buffered(avfs::remote::client::PARALLEL)
                .collect::<Vec<_>>(),
            );
            for d in done {
                d?;
            }
        }
        raw_down_t.push(t.elapsed());
        wipe(&client)?;
        wipe(&raw)?;
    }
    let total = config.bytes;
    let (push, clone, up, down) = (
        median(push_t),
        median(clone_t),
        median(raw_up_t),
        median(raw_down_t),
    );
    println!(
        "### Full push and clone: {} files, {} MiB of unique content\n",
        config.files,
        total / 1048576
    );
    println!("| operation | median | MiB/s | raw transfer of the same bytes (MiB/s) | ratio |");
    println!("|---|---|---|---|---|");
    println!(
        "| push | {:.2} s | {:.1} | {:.1} | {:.2} |",
        push.as_secs_f64(),
        mib_s(total, push),
        mib_s(total, up),
        mib_s(total, push) / mib_s(total, up)
    );
    println!(
        "| clone | {:.2} s | {:.1} | {:.1} | {:.2} |",
        clone.as_secs_f64(),
        mib_s(total, clone),
        mib_s(total, down),
        mib_s(total, clone) / mib_s(total, down)
    );
    println!(
        "\nRequests of one full push: {requests} ({} repetitions)\n",
        config.full_reps
    );
    Ok(())
}

/// Deletes every object under a client's prefix (the cluster's disks are small).
fn wipe(client: &Client) -> BenchResult<()> {
    let keys: Vec<String> = client
        .block_on(client.list(""))?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let done = client.block_on(
        futures::stream::iter(keys.iter().map(|k| client.delete(k)))
            .buffer_unordered(avfs::remote::client::PARALLEL)
            .collect::<Vec<_>>(),
    );
    for d in done {
        d?;
    }
    Ok(())
}

fn hex_key(hash: &[u8; 32]) -> String {
    let mut s = String::from("chunks/");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn incremental(server: &Server, config: &Config) -> BenchResult<()> {
    println!("### Incremental push of a 10-file change (each new content one 8 KiB chunk)\n");
    println!("| files in vault | objects uploaded | requests | median ms |");
    println!("|---|---|---|---|");
    for &files in &config.incremental_sizes {
        eprintln!("incremental: building {files} files");
        let dir = tempfile::tempdir()?;
        let mut a = build(dir.path(), files, 512, 7)?;
        let (spec, _) = add_remote(&mut a, server, &prefix("inc"))?;
        let client = Client::new(&spec, &server.credentials)?;
        avfs::remote::push(&mut a, &client, &spec, "v", "v", PushOptions::default())?;
        let mut times = Vec::new();
        let (mut objects, mut requests) = (0, 0);
        let mut next = prng(99);
        for rep in 0..config.incremental_reps {
            a.write("v", Op::new("bench", "change"), |w| {
                for i in 0..10 {
                    let data: Vec<u8> = (0..8192).map(|_| next()).collect();
                    let p = VaultPath::parse_str(&format!("/d0/f{}", rep * 10 + i))?;
                    w.write_file(&p, &data[..], false, 0o644)?;
                }
                Ok(())
            })?;
            let client = Client::new(&spec, &server.credentials)?;
            let t = Instant::now();
            let r = avfs::remote::push(&mut a, &client, &spec, "v", "v", PushOptions::default())?;
            times.push(t.elapsed());
            objects = r.moved.layers + r.moved.chunks;
            requests = r.requests;
        }
        println!(
            "| {files} | {objects} | {requests} | {:.0} |",
            median(times).as_secs_f64() * 1000.0
        );
    }
    println!();
    Ok(())
}

fn hand_off(server: &Server, config: &Config) -> BenchResult<()> {
    let size = config.bytes / config.files;
    let dir = tempfile::tempdir()?;
    let mut a = build(dir.path(), config.files, size, 3)?;
    let p = prefix("handoff");
    let (spec, client) = add_remote(&mut a, server, &p)?;
    avfs::remote::push(&mut a, &client, &spec, "v", "v", PushOptions::default())?;
    // Lazy reads ask this process's chunk source, which reads the remotes of
    // a store of its own.
    let source_dir = tempfile::tempdir()?;
    let source_path = source_dir.path().join("store.db");
    let mut source_store = Store::open(&source_path, Owner::default())?;
    add_remote(&mut source_store, server, &p)?;
    drop(source_store);
    let credentials = server.credentials.clone();
    avfs::vault::lazy::set_chunk_source(std::sync::Arc::new(
        avfs::remote::source::RemoteChunks::new(
            source_path,
            Box::new(move || Some(credentials.clone())),
        ),
    ));
    let mut lazy_t = Vec::new();
    let mut full_t = Vec::new();
    for lazy in [true, false] {
        for _ in 0..config.full_reps {
            let bdir = tempfile::tempdir()?;
            let path = bdir.path().join("store.db");
            let mut b = Store::open(&path, Owner::default())?;
            let (spec_b, _) = add_remote(&mut b, server, &p)?;
            let t = Instant::now();
            let client_b = Client::new(&spec_b, &server.credentials)?;
            read_head(&client_b, "v")?;
            avfs::remote::clone(&mut b, &client_b, &spec_b, "v", "v", lazy)?;
            let mut first = Vec::new();
            b.read(&StateRef::Head { vault: "v".into() }, |t| {
                use std::io::Read;
                let f = VaultPath::parse_str("/d0/f0")?;
                t.open(&t.stat(&f)?)?.read_to_end(&mut first)?;
                Ok(())
            })?;
            if lazy {
                lazy_t.push(t.elapsed());
            } else {
                full_t.push(t.elapsed());
            }
        }
    }
    wipe(&client)?;
    println!(
        "### Hand-off: push done on A → first command done on B ({} files, {} MiB)\n",
        config.files,
        config.bytes / 1048576
    );
    println!("| clone | median s |");
    println!("|---|---|");
    println!("| `--lazy` | {:.2} |", median(lazy_t).as_secs_f64());
    println!("| full | {:.2} |", median(full_t).as_secs_f64());
    println!();
    Ok(())
}

fn main() -> ExitCode {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("AVFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let config = match (bench_mode, quick) {
        (true, false) => Config {
            files: 10_000,
            bytes: 1 << 30,
            full_reps: 3,
            incremental_sizes: vec![1_000, 10_000, 100_000],
            incremental_reps: 5,
        },
        (true, true) => Config {
            files: 1_000,
            bytes: 256 << 20,
            full_reps: 1,
            incremental_sizes: vec![1_000, 10_000],
            incremental_reps: 3,
        },
        (false, _) => Config {
            files: 20,
            bytes: 2 << 20,
            full_reps: 1,
            incremental_sizes: vec![100],
            incremental_reps: 1,
        },
    };
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(key), Some(secret)) = (
        var("AVFS_TEST_S3_ENDPOINT"),
        var("AVFS_TEST_S3_ACCESS_KEY"),
        var("AVFS_TEST_S3_SECRET_KEY"),
    ) else {
        if !bench_mode {
            eprintln!("remote bench smoke test skipped: no AVFS_TEST_S3_ENDPOINT");
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "needs a real S3 server: eval $(scripts/s3-server ceph start) and export its variables"
        );
        return ExitCode::FAILURE;
    };
    let server = Server {
        endpoint,
        bucket: var("AVFS_TEST_S3_BUCKET").unwrap_or_else(|| "avfs-test".into()),
        credentials: Credentials {
            access_key_id: key,
            secret_access_key: secret,
            session_token: None,
        },
    };
    let started = Instant::now();
    let result = full(&server, &config)
        .and_then(|_| incremental(&server, &config))
        .and_then(|_| hand_off(&server, &config));
    eprintln!("remote bench: {:.0} s", started.elapsed().as_secs_f64());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remote bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
