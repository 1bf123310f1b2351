//! Environment variables no run ever receives: the AWS credentials avfs reads
//! for remotes, and everything else that carries or points to AWS credentials.
//!
//! Invariant: a name for which [`withheld_from_runs`] holds is never in a
//! run's environment, whatever passes it (the caller's environment, a
//! policy's `env.pass` or `env.set`, `--env`). Explicit requests for one are
//! refused where they are made (policy validation, the CLI), so nobody is
//! left wondering why a variable they set is missing inside the run.

/// True for every `AWS_*` name (any case) except the two region variables:
/// keys, session tokens, profiles, credential and config files, web-identity
/// token files and container credential endpoints, and names AWS adds later.
pub fn withheld_from_runs(name: &str) -> bool {
    let aws = name.len() >= 4 && name[..4].eq_ignore_ascii_case("AWS_");
    aws && !matches!(name, "AWS_REGION" | "AWS_DEFAULT_REGION")
}

/// Why such a name is refused, for error messages.
pub const WITHHELD_REASON: &str = "AWS credentials (every AWS_* variable but AWS_REGION and \
     AWS_DEFAULT_REGION) are never passed into a run: avfs reads them for remotes only";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_profiles_and_files_are_withheld_regions_are_not() {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "aws_secret_access_key",
        ] {
            assert!(withheld_from_runs(name), "{name}");
        }
        for name in [
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS",
            "PATH",
            "MY_AWS_KEY",
            "",
        ] {
            assert!(!withheld_from_runs(name), "{name}");
        }
    }
}
