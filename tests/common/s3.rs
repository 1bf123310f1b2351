//! The real S3 servers the remote tests use, started once by `scripts/test`
//! (`scripts/s3-server ceph start`, `scripts/s3-server garage start`) and
//! named by environment variables. A test that needs one fails with a clear
//! message when it is missing, unless `AVFS_SKIP_REMOTE_TESTS=1` skips the
//! remote tests explicitly.

use super::{Avfs, ErrorDoc, Run, parse_one};
use serde::de::DeserializeOwned;
use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// Where the test server is and how to sign for it.
#[derive(Clone, Debug)]
pub struct S3 {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
    /// The region requests are signed for.
    pub region: String,
}

impl S3 {
    /// The Ceph RGW server from the environment; None (skip) only when explicitly asked.
    pub fn from_env() -> Option<S3> {
        Self::named("S3", "ceph")
    }

    /// The Garage server (no conditional writes) from the environment; None
    /// (skip) only when explicitly asked.
    pub fn garage_from_env() -> Option<S3> {
        Self::named("GARAGE", "garage")
    }

    fn named(var_part: &str, server: &str) -> Option<S3> {
        let var = |k: &str| {
            std::env::var(format!("AVFS_TEST_{var_part}_{k}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        match (var("ENDPOINT"), var("ACCESS_KEY"), var("SECRET_KEY")) {
            (Some(endpoint), Some(access_key), Some(secret_key)) => Some(S3 {
                endpoint,
                access_key,
                secret_key,
                bucket: var("BUCKET").unwrap_or_else(|| "avfs-test".into()),
                region: var("REGION").unwrap_or_else(|| "us-east-1".into()),
            }),
            _ if std::env::var("AVFS_SKIP_REMOTE_TESTS").as_deref() == Ok("1") => {
                eprintln!("remote test skipped: AVFS_SKIP_REMOTE_TESTS=1");
                None
            }
            _ => panic!(
                "the remote tests need a real S3 server: run them through scripts/test, or start one with \
                 `export $(scripts/s3-server {server} start | xargs)` (it sets AVFS_TEST_{var_part}_ENDPOINT, \
                 AVFS_TEST_{var_part}_ACCESS_KEY, AVFS_TEST_{var_part}_SECRET_KEY); AVFS_SKIP_REMOTE_TESTS=1 skips them"
            ),
        }
    }

    /// A prefix no other test (or run) uses.
    pub fn unique_prefix(&self, test: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{test}-{}-{nanos}", std::process::id())
    }

    fn curl(&self) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "-H",
            "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            "--aws-sigv4",
        ])
        .arg(format!("aws:amz:{}:s3", self.region))
        .arg("--user")
        .arg(format!("{}:{}", self.access_key, self.secret_key));
        cmd
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.endpoint, self.bucket)
    }

    /// An object's bytes, straight from the server (not through avfs).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self
            .curl()
            .args(["-f", "-o", "-"])
            .arg(self.url(key))
            .output()
            .expect("run curl");
        out.status.success().then_some(out.stdout)
    }

    /// Replaces an object's bytes, straight on the server.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let mut child = self
            .curl()
            .args(["-f", "-X", "PUT", "--data-binary", "@-"])
            .arg(self.url(key))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run curl");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        assert!(child.wait().unwrap().success(), "curl PUT {key}");
    }

    /// Keys under a prefix.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let out = self
            .curl()
            .arg("-f")
            // One query parameter: curl's SigV4 signs several in an order RGW rejects.
            .arg(format!(
                "{}/{}?prefix={}",
                self.endpoint,
                self.bucket,
                prefix.replace('/', "%2F")
            ))
            .output()
            .expect("run curl");
        assert!(out.status.success(), "curl list {prefix}");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

/// One machine's avfs home that talks to the S3 server.
pub struct Home {
    pub avfs: Avfs,
    pub s3: S3,
}

impl Home {
    pub fn new(s3: &S3) -> Self {
        Self {
            avfs: Avfs::new(),
            s3: s3.clone(),
        }
    }

    /// A command with the S3 credentials in its environment.
    pub fn command(&self) -> Command {
        let mut cmd = self.avfs.command();
        cmd.env("AWS_ACCESS_KEY_ID", &self.s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.s3.secret_key);
        cmd
    }

    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn avfs");
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let run = self.run(&args);
        assert_eq!(run.status, 0, "avfs {args:?} failed: {}", run.stderr);
        run.stdout_str()
    }

    pub fn json<T: DeserializeOwned, I, S>(&self, args: I) -> T
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let run = self.run(&all);
        assert_eq!(run.status, 0, "avfs {all:?} failed: {}", run.stdout_str());
        assert!(
            run.stderr.is_empty(),
            "--json wrote to stderr: {}",
            run.stderr
        );
        parse_one(&run.stdout)
    }

    pub fn fails<I, S>(&self, args: I) -> (super::ErrorBody, i32)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let run = self.run(&all);
        assert_ne!(run.status, 0, "avfs {all:?} should have failed");
        let doc: ErrorDoc = parse_one(&run.stdout);
        assert_eq!(doc.error.exit_status, run.status);
        (doc.error, run.status)
    }

    /// `avfs remote add origin s3://bucket/prefix --endpoint ...`
    pub fn add_origin(&self, prefix: &str) {
        self.ok([
            "remote",
            "add",
            "origin",
            &format!("s3://{}/{prefix}", self.s3.bucket),
            "--endpoint",
            &self.s3.endpoint,
            "--region",
            &self.s3.region,
        ]);
    }

    pub fn cat(&self, vault: &str, path: &str) -> Vec<u8> {
        let run = self.run(["--vault", vault, "cat", path]);
        assert_eq!(run.status, 0, "cat {path}: {}", run.stderr);
        run.stdout
    }
}
