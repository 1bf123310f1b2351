//! Where a remote is (`s3://bucket/prefix`, endpoint, region) and the
//! credentials to reach it. Credentials come in from the caller (the CLI reads
//! them from the standard AWS variables and files) and are never stored.

use super::error::{RemoteError, Result};
use crate::vault::remotes::RemoteRow;

/// A remote's location, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSpec {
    /// Its local name.
    pub name: String,
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside the bucket, without slashes at either end ("" for none).
    pub prefix: String,
    /// The S3 endpoint URL, when not AWS's.
    pub endpoint: Option<String>,
    /// The region [default: us-east-1].
    pub region: Option<String>,
    /// Pushes may go without conditional writes (one writer, on the user's word).
    pub unsafe_single_writer: bool,
}

/// S3 credentials (never stored, never journaled, never passed to a run).
#[derive(Clone)]
pub struct Credentials {
    /// AWS_ACCESS_KEY_ID.
    pub access_key_id: String,
    /// AWS_SECRET_ACCESS_KEY.
    pub secret_access_key: String,
    /// AWS_SESSION_TOKEN, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

/// Splits `s3://bucket[/prefix]` into bucket and prefix.
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        RemoteError::InvalidUrl(format!("'{url}' is not an s3://BUCKET/PREFIX URL"))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid_bucket {
        return Err(RemoteError::InvalidUrl(format!(
            "'{bucket}' is not a bucket name (3-63 of a-z, 0-9, '-', '.')"
        )));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|p| p == "." || p == "..")
        || prefix.contains("//")
        || prefix.chars().any(|c| c.is_control())
    {
        return Err(RemoteError::InvalidUrl(format!(
            "'{prefix}' is not a usable key prefix"
        )));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// Checks an endpoint URL.
pub fn check_endpoint(endpoint: &str) -> Result<()> {
    let ok = (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        && endpoint.len() > "https://".len();
    if ok {
        Ok(())
    } else {
        Err(RemoteError::InvalidUrl(format!(
            "'{endpoint}' is not an http(s):// endpoint URL"
        )))
    }
}

impl RemoteSpec {
    /// The spec of a configured remote.
    pub fn from_row(row: &RemoteRow) -> Result<Self> {
        let (bucket, prefix) = parse_url(&row.url)?;
        Ok(Self {
            name: row.name.clone(),
            bucket,
            prefix,
            endpoint: row.endpoint.clone(),
            region: row.region.clone(),
            unsafe_single_writer: row.unsafe_single_writer,
        })
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_url("s3://b-1/a/b/").unwrap(),
            ("b-1".into(), "a/b".into())
        );
        assert_eq!(
            parse_url("s3://bucket").unwrap(),
            ("bucket".into(), "".into())
        );
        for bad in [
            "http://x/y",
            "s3://",
            "s3://B",
            "s3://ok/../x",
            "s3://ok/a//b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
