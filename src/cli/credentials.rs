//! S3 credentials from the standard AWS environment variables, else the
//! shared credentials file (`AWS_PROFILE`, default `default`). Read at the
//! edge, handed to `src/remote` as values, and never stored or printed.

use super::env;
use crate::remote::Credentials;
use std::path::PathBuf;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The credentials to use, if any are configured.
pub fn lookup() -> Option<Credentials> {
    if let (Some(access_key_id), Some(secret_access_key)) =
        (var(env::AWS_ACCESS_KEY_ID), var(env::AWS_SECRET_ACCESS_KEY))
    {
        return Some(Credentials {
            access_key_id,
            secret_access_key,
            session_token: var(env::AWS_SESSION_TOKEN),
        });
    }
    let file = var(env::AWS_SHARED_CREDENTIALS_FILE)
        .map(PathBuf::from)
        .or_else(|| var(env::HOME).map(|h| PathBuf::from(h).join(".aws/credentials")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let profile = var(env::AWS_PROFILE).unwrap_or_else(|| "default".into());
    from_profile(&text, &profile)
}

/// The credentials of one `[profile]` section of a shared credentials file.
fn from_profile(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_section = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == profile;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            match k.trim() {
                "aws_access_key_id" => key = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: key?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// The default region for new remotes: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
pub fn default_region() -> Option<String> {
    var(env::AWS_REGION).or_else(|| var(env::AWS_DEFAULT_REGION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_section_is_read_and_others_are_not() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[other]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=T\n";
        let d = from_profile(text, "default").unwrap();
        assert_eq!(
            (d.access_key_id.as_str(), d.secret_access_key.as_str()),
            ("A", "B")
        );
        let o = from_profile(text, "other").unwrap();
        assert_eq!(o.session_token.as_deref(), Some("T"));
        assert!(from_profile(text, "missing").is_none());
        assert!(from_profile("[default]\naws_access_key_id = A\n", "default").is_none());
    }
}
