//! Configured remotes and the remote vault each local vault tracks, as plain
//! rows: the store does not interpret them (`src/remote` does) and never
//! holds credentials.

use super::error::{Result, VaultError};
use super::journal::{self, Op};
use super::store::{Store, now_ns, validate_label, vault_row};
use rusqlite::{OptionalExtension, params};

/// One configured remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRow {
    /// Its local name (`origin`).
    pub name: String,
    /// `s3://bucket/prefix`.
    pub url: String,
    /// The S3 endpoint URL, when not AWS's.
    pub endpoint: Option<String>,
    /// The region, when given.
    pub region: Option<String>,
    /// Pushes allowed without conditional writes (one writer, on the user's word).
    pub unsafe_single_writer: bool,
    /// Whether the server's conditional writes work (None: not checked yet).
    pub conditional_writes: Option<bool>,
    /// When it was added.
    pub created_ns: i64,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RemoteRow> {
    Ok(RemoteRow {
        name: r.get(0)?,
        url: r.get(1)?,
        endpoint: r.get(2)?,
        region: r.get(3)?,
        unsafe_single_writer: r.get(4)?,
        conditional_writes: r.get(5)?,
        created_ns: r.get(6)?,
    })
}

const COLUMNS: &str =
    "name, url, endpoint, region, unsafe_single_writer, conditional_writes, created_ns";

impl Store {
    /// Adds a remote; its name must be new.
    pub fn add_remote(&mut self, remote: &RemoteRow) -> Result<()> {
        validate_label(&remote.name)?;
        let tx = self.begin_write()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM remotes WHERE name = ?1)",
            [&remote.name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(VaultError::RemoteExists(remote.name.clone()));
        }
        tx.execute(
            &format!("INSERT INTO remotes({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                remote.name,
                remote.url,
                remote.endpoint,
                remote.region,
                remote.unsafe_single_writer,
                remote.conditional_writes,
                remote.created_ns
            ],
        )?;
        journal::append(
            &tx,
            now_ns(),
            None,
            &Op::new("remote.add", format!("{} {}", remote.name, remote.url)),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every remote, by name.
    pub fn remotes(&self) -> Result<Vec<RemoteRow>> {
        let mut stmt = self
            .connection()
            .prepare(&format!("SELECT {COLUMNS} FROM remotes ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One remote.
    pub fn remote(&self, name: &str) -> Result<RemoteRow> {
        self.connection()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM remotes WHERE name = ?1"))?
            .query_row([name], from_row)
            .optional()?
            .ok_or_else(|| VaultError::RemoteNotFound(name.to_string()))
    }

    /// Removes a remote (nothing on the remote itself changes).
    pub fn remove_remote(&mut self, name: &str) -> Result<()> {
        let tx = self.begin_write()?;
        let gone = tx.execute("DELETE FROM remotes WHERE name = ?1", [name])?;
        if gone == 0 {
            return Err(VaultError::RemoteNotFound(name.to_string()));
        }
        tx.execute("DELETE FROM remote_tracking WHERE remote = ?1", [name])?;
        journal::append(&tx, now_ns(), None, &Op::new("remote.remove", name))?;
        tx.commit()?;
        Ok(())
    }

    /// Records what `remote check` found out about a remote's conditional writes.
    pub fn set_remote_conditional_writes(&mut self, name: &str, works: bool) -> Result<()> {
        let tx = self.begin_write()?;
        let n = tx.execute(
            "UPDATE remotes SET conditional_writes = ?2 WHERE name = ?1",
            params![name, works],
        )?;
        if n == 0 {
            return Err(VaultError::RemoteNotFound(name.to_string()));
        }
        tx.commit()?;
        Ok(())
    }

    /// The (remote, remote vault) a vault tracks, if any.
    pub fn upstream(&self, vault: &str) -> Result<Option<(String, String)>> {
        let row = vault_row(self.connection(), vault)?;
        Ok(self
            .connection()
            .prepare_cached("SELECT remote, remote_vault FROM remote_tracking WHERE vault_id = ?1")?
            .query_row([row.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Makes a vault track a remote vault.
    pub fn set_upstream(&mut self, vault: &str, remote: &str, remote_vault: &str) -> Result<()> {
        let tx = self.begin_write()?;
        let row = vault_row(&tx, vault)?;
        tx.execute(
            "INSERT OR REPLACE INTO remote_tracking(vault_id, remote, remote_vault) VALUES (?1, ?2, ?3)",
            params![row.id, remote, remote_vault],
        )?;
        tx.commit()?;
        Ok(())
    }
}
