//! The store file on disk. A missing store is built whole beside its final
//! name and then linked into place, so no process ever opens a half-made one;
//! an existing path that is not an avfs store (empty, garbage, a directory, a
//! foreign database) is refused as corrupt and never written to.

use super::error::{Result, VaultError};
use super::schema;
use rusqlite::{Connection, OpenFlags};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// An SQLite database file is never shorter than its 100-byte header.
const SQLITE_HEADER_LEN: u64 = 100;

/// Opens the store at `path`, creating it only if nothing exists there.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    // Two attempts: if another process creates the store between our look and
    // our link, the second look finds its store.
    for _ in 0..2 {
        match std::fs::symlink_metadata(path) {
            Ok(_) => return open_existing(path),
            Err(e) if e.kind() == ErrorKind::NotFound => create(path)?,
            Err(e) => return Err(e.into()),
        }
    }
    open_existing(path)
}

/// Makes every transaction committed to `conn`'s store durable: syncs its
/// WAL, opened anew so that the file synced is the one SQLite writes now, and,
/// with `dir`, the directory too (SQLite syncs a new WAL's name only at its
/// first checkpoint). A store in memory or without a WAL has nothing unsynced.
/// Returns whether there was a WAL to sync.
pub(crate) fn sync_wal(conn: &Connection, dir: bool) -> Result<bool> {
    let Some(db) = conn.path().filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let wal = PathBuf::from(format!("{db}-wal"));
    match std::fs::File::open(&wal) {
        Ok(file) => file.sync_data()?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    if dir {
        let parent = wal.parent().filter(|p| !p.as_os_str().is_empty());
        std::fs::File::open(parent.unwrap_or(Path::new(".")))?.sync_all()?;
    }
    Ok(true)
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> VaultError {
    VaultError::Corrupt(format!("{} is not an avfs store: {why}", path.display()))
}

/// Opens a store file that exists, after checking (read-only) that it is one.
fn open_existing(path: &Path) -> Result<Connection> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => corrupt(path, "a symlink to nothing"),
        _ => e.into(),
    })?;
    if !meta.is_file() {
        return Err(corrupt(path, "not a regular file"));
    }
    if meta.len() < SQLITE_HEADER_LEN {
        return Err(corrupt(path, format_args!("{} bytes long", meta.len())));
    }
    let mut head = [0u8; 16];
    std::fs::File::open(path)?.read_exact(&mut head)?;
    if &head != SQLITE_HEADER {
        return Err(corrupt(path, "no SQLite header"));
    }
    // No CREATE flag: SQLite must never make a file here.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| unreadable(path, e))?;
    // Read-only probes first: configuring or migrating would write.
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| unreadable(path, e))?;
    let has_meta: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| unreadable(path, e))?;
    if version < 1 || !has_meta {
        return Err(corrupt(path, "an SQLite database without avfs tables"));
    }
    schema::configure(&mut conn)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

/// An SQLite error on opening: garbage after a valid header, or a damaged
/// schema, is corruption.
fn unreadable(path: &Path, err: rusqlite::Error) -> VaultError {
    let err = VaultError::from(err);
    if err.is_corruption() {
        VaultError::Corrupt(format!(
            "{} cannot be read as a store: {err}",
            path.display()
        ))
    } else {
        err
    }
}

/// Builds a new store under a private name, then links it to `path` unless
/// something appeared there meanwhile (then that is the store to open).
fn create(path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store.db".into());
    let tmp = path.with_file_name(format!(
        ".{name}.new-{}-{}",
        std::process::id(),
        super::store::now_ns()
    ));
    let built = build(&tmp);
    let linked = built.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    });
    for leftover in [tmp.clone(), sibling(&tmp, "-wal"), sibling(&tmp, "-shm")] {
        let _ = std::fs::remove_file(leftover);
    }
    linked
}

/// Creates, migrates and closes a fresh store at `tmp` (closing checkpoints
/// the WAL into the file, so the file alone is the whole store).
fn build(tmp: &Path) -> Result<()> {
    let mut conn = Connection::open(tmp)?;
    schema::configure(&mut conn)?;
    schema::migrate(&mut conn)?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut os = path.as_os_str().to_os_string();
    os.push(suffix);
    PathBuf::from(os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_missing_store_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        drop(open(&path).unwrap());
        drop(open(&path).unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(names.is_empty(), "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_sync_syncs_the_wal_and_leaves_the_database_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let conn = open(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        conn.execute("INSERT INTO meta(key, value) VALUES ('synced', 'yes')", [])
            .unwrap();
        assert!(sync_wal(&conn, true).unwrap(), "the store has a WAL");
        // No checkpoint: that would copy the commit's pages into store.db.
        assert_eq!(std::fs::read(&path).unwrap(), before);
        drop(conn);
        let value: String = open(&path)
            .unwrap()
            .query_row("SELECT value FROM meta WHERE key = 'synced'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(value, "yes");
        // A store in memory has nothing to sync.
        assert!(!sync_wal(&Connection::open_in_memory().unwrap(), true).unwrap());
    }

    #[test]
    fn refuses_what_is_not_a_store_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut garbage = SQLITE_HEADER.to_vec();
        garbage.extend(std::iter::repeat_n(0xA5u8, 8192));
        for bytes in [&b""[..], b"not a store", &garbage] {
            std::fs::write(&path, bytes).unwrap();
            let err = open(&path).expect_err("refused");
            assert!(matches!(err, VaultError::Corrupt(_)), "{err}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(open(&path), Err(VaultError::Corrupt(_))));
    }
}
