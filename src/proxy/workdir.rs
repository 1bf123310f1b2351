//! Where a run's vault may appear: the workdir (`--workdir`, the policy's
//! `workdir`). The run's namespace mounts the vault there, then mounts its
//! own things over the host's (its `/proc`, the hidden store, an isolated
//! run's `/tmp` and `$HOME`); a workdir that one of them covers, or that
//! covers what the run needs from the host, would hang the run's set-up,
//! run the command somewhere else than the vault, or lose its writes. Such a
//! workdir is refused before anything is made.

use super::error::ProxyError;
use super::namespace::Isolation;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Kernel file systems the run's set-up reads (its own `/proc` is mounted
/// over the host's, `/dev/fuse` is opened, the mount's writeback limit is
/// set under `/sys`): a workdir may not be in them.
const KERNEL: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Where the run's programs and their libraries come from: a workdir may
/// not be one of them nor contain one (`/usr` included).
const PROGRAMS: [&str; 12] = [
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
];

/// Host paths the run's namespace mounts over, each with what it is, as
/// given and as it resolves.
pub struct Covered(Vec<(PathBuf, &'static str)>);

impl Covered {
    /// What every run covers: the store's directory and avfs's home (`hidden`,
    /// resolved already), and for an isolated run its private `/tmp` and
    /// `$HOME` and the policy's hidden paths.
    pub fn new(hidden: &[PathBuf], isolation: Option<&Isolation>) -> Self {
        let mut covered: Vec<(PathBuf, &'static str)> = hidden
            .iter()
            .map(|h| (h.clone(), "every run hides the store and AVFS_HOME"))
            .collect();
        if let Some(isolation) = isolation {
            let mut add = |path: PathBuf, what: &'static str| {
                if let Ok(real) = std::fs::canonicalize(&path)
                    && real != path
                {
                    covered.push((real, what));
                }
                covered.push((path, what));
            };
            // (Its private /dev/shm is in /dev, which no run may use.)
            add("/tmp".into(), "the isolated run's private /tmp");
            if let Some(home) = &isolation.home {
                add(
                    OsStr::from_bytes(home).into(),
                    "the isolated run's private $HOME",
                );
            }
            for hide in &isolation.hide {
                add(
                    OsStr::from_bytes(hide).into(),
                    "a path the policy's isolation hides",
                );
            }
        }
        Self(covered)
    }
}

/// Checks a workdir: absolute, normalized, not `/`, not in a kernel file
/// system, not over the run's programs, neither in nor around anything the
/// run covers; makes it on the host if missing, empty, as the mount point
/// the run's namespace binds the vault on.
pub fn check(dir: &Path, covered: &Covered) -> Result<PathBuf, ProxyError> {
    let bad = |why: &str| ProxyError::InvalidWorkdir(format!("{}: {why}", dir.display()));
    if !dir.is_absolute() {
        return Err(bad("must be an absolute path"));
    }
    if dir
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(bad("must not contain '.' or '..'"));
    }
    if dir.parent().is_none() {
        return Err(bad("must not be /"));
    }
    if dir.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(bad("must not contain a NUL byte"));
    }
    // The path as given first: nothing is made inside /proc or around /usr.
    if let Some(why) = conflict(dir, covered) {
        return Err(bad(&why));
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Err(bad(&format!(
            "does not exist and cannot be made ({e}); make it once as root \
             (`sudo mkdir -m 0755 {}`: it stays empty, runs see the vault there \
             in their own namespace), or give another --workdir",
            dir.display()
        )));
    }
    // Then where it leads: a symbolic link may take it into any of them.
    let real = std::fs::canonicalize(dir)?;
    if real != dir
        && let Some(why) = conflict(&real, covered)
    {
        return Err(bad(&format!("leads to {}, which {why}", real.display())));
    }
    if !real.is_dir() {
        return Err(bad("is not a directory"));
    }
    Ok(dir.to_path_buf())
}

/// Why the run could not have its vault at `dir`, if it could not. Both
/// the path as given and where it resolves are checked, and the reserved
/// directories are listed in both forms (`/bin` and `/usr/bin`), so nothing
/// here needs a system call: a run pays for one `canonicalize`.
fn conflict(dir: &Path, covered: &Covered) -> Option<String> {
    if let Some(kernel) = KERNEL.iter().find(|k| dir.starts_with(k)) {
        return Some(format!(
            "is in {kernel}, which the run's set-up needs as the kernel shows it"
        ));
    }
    if let Some(programs) = PROGRAMS.iter().find(|p| Path::new(p).starts_with(dir)) {
        return Some(format!(
            "would hide {programs}, where the run's programs come from"
        ));
    }
    covered
        .0
        .iter()
        .find(|(path, _)| dir.starts_with(path) || path.starts_with(dir))
        .map(|(path, what)| {
            format!(
                "must be neither inside nor around {} ({what})",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(dir: &str, covered: &Covered) -> String {
        match check(Path::new(dir), covered) {
            Err(ProxyError::InvalidWorkdir(why)) => why,
            other => panic!("{dir}: {other:?}"),
        }
    }

    #[test]
    fn kernel_file_systems_and_program_directories_are_refused() {
        let none = Covered::new(&[], None);
        for dir in [
            "/proc",
            "/proc/sys",
            "/sys",
            "/sys/fs/x",
            "/dev",
            "/dev/shm/ws",
        ] {
            assert!(refused(dir, &none).contains("set-up needs"), "{dir}");
        }
        for dir in ["/usr", "/bin", "/lib", "/usr/bin", "/usr/lib"] {
            assert!(refused(dir, &none).contains("would hide"), "{dir}");
        }
        // Beside them is fine, and made on the host.
        let beside = tempfile::tempdir().unwrap();
        let dir = beside.path().join("ws");
        assert_eq!(check(&dir, &none).unwrap(), dir);
        assert!(dir.is_dir());
    }

    #[test]
    fn what_the_run_covers_is_refused_inside_and_around() {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let home = PathBuf::from("/home/avfs-unit-user");
        let isolation = Isolation {
            home: Some(home.as_os_str().as_bytes().to_vec()),
            hide: vec![b"/srv/secret".to_vec()],
            ..Isolation::default()
        };
        let plain = Covered::new(std::slice::from_ref(&store), None);
        let isolated = Covered::new(std::slice::from_ref(&store), Some(&isolation));
        for dir in [store.join("ws"), store.clone(), root.path().to_path_buf()] {
            let why = refused(dir.to_str().unwrap(), &plain);
            assert!(why.contains("hides the store"), "{why}");
        }
        // /tmp is the host's for a plain run, the run's own for an isolated one.
        assert!(check(Path::new("/tmp/avfs-unit-wd"), &plain).is_ok());
        std::fs::remove_dir("/tmp/avfs-unit-wd").unwrap();
        for (dir, what) in [
            ("/tmp/avfs-unit-wd", "private /tmp"),
            // (the test's store is in /tmp, and named first)
            ("/tmp", "nor around"),
            (home.join("ws").to_str().unwrap(), "private $HOME"),
            ("/srv/secret/ws", "hides"),
            ("/srv", "hides"),
        ] {
            let why = refused(dir, &isolated);
            assert!(why.contains(what), "{dir}: {why}");
        }
        assert!(!Path::new("/tmp/avfs-unit-wd").exists());
    }

    #[test]
    fn a_link_into_a_covered_path_is_refused_where_it_leads() {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let link = root.path().join("ws");
        std::os::unix::fs::symlink("/proc/sys", &link).unwrap();
        let why = refused(link.to_str().unwrap(), &Covered::new(&[], None));
        assert!(why.contains("leads to /proc/sys"), "{why}");
        let into_store = root.path().join("ws2");
        std::os::unix::fs::symlink(&store, &into_store).unwrap();
        let why = refused(into_store.to_str().unwrap(), &Covered::new(&[store], None));
        assert!(why.contains("leads to"), "{why}");
    }
}
