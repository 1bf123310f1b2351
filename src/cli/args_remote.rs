//! clap definitions of the remote commands: `remote`, `push`, `pull`, `clone`.

use clap::{Args, Subcommand};

/// `avfs remote ...`
#[derive(Subcommand, Debug)]
pub enum RemoteCommand {
    /// Add a remote: an S3-compatible bucket and prefix (credentials come from
    /// the AWS environment variables or profile files, never from avfs).
    Add {
        /// Its name, e.g. origin.
        name: String,
        /// s3://BUCKET/PREFIX
        url: String,
        /// The S3 endpoint URL (MinIO, Ceph RGW, Garage, R2...) [default: AWS].
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The region [default: $AWS_REGION, else us-east-1].
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// UNSAFE: push without conditional writes, for servers that have none
        /// (e.g. Garage). Only correct while exactly one machine ever pushes each
        /// vault: two pushers at once can lose a push.
        #[arg(long)]
        unsafe_single_writer: bool,
    },
    /// List remotes (never credentials).
    List,
    /// Forget a remote (nothing on the remote changes).
    Remove {
        /// The remote.
        name: String,
    },
    /// Delete the remote's objects that no head or checkpoint reaches and that
    /// are older than the grace period (younger ones may belong to a push in progress).
    Gc {
        /// The remote.
        name: String,
        /// Keep unreachable objects younger than this (e.g. 24h; under 2h is
        /// unsafe while others push).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        grace: crate::policy::DurationSpec,
        /// Report only; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check that a remote is reachable, accepts the credentials and has
    /// atomic conditional writes; lists its vaults.
    Check {
        /// The remote.
        name: String,
    },
}

/// `avfs push`
#[derive(Args, Debug)]
pub struct PushArgs {
    /// The remote [default: the vault's upstream, else origin].
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// The vault's name on the remote [default: its upstream's, else its own].
    #[arg(long = "as", value_name = "VAULT")]
    pub remote_vault: Option<String>,
    /// Also push the vault's checkpoints.
    #[arg(long)]
    pub checkpoints: bool,
    /// Replace a remote head this vault's history does not contain; the
    /// replaced head stays on the remote as checkpoint overwritten-N.
    #[arg(long)]
    pub force: bool,
}

/// `avfs pull`
#[derive(Args, Debug)]
pub struct PullArgs {
    /// The remote [default: the vault's upstream, else origin].
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// The vault's name on the remote [default: its upstream's, else its own].
    #[arg(long = "from", value_name = "VAULT")]
    pub remote_vault: Option<String>,
}

/// `avfs clone REMOTE VAULT [LOCAL_NAME]`
#[derive(Args, Debug)]
pub struct CloneArgs {
    /// The remote.
    pub remote: String,
    /// The vault on the remote.
    #[arg(value_name = "VAULT")]
    pub remote_vault: String,
    /// The local vault's name [default: VAULT].
    pub local_name: Option<String>,
    /// Fetch layers only; chunk bytes are fetched on first read and then kept.
    #[arg(long)]
    pub lazy: bool,
    /// Make the clone the current vault.
    #[arg(long = "use")]
    pub use_it: bool,
}
