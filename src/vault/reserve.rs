//! A reserve of disk space beside the store, so that avfs can still free
//! space on a full disk: deleting and gc write too (whiteouts, journal
//! entries, WAL frames), and on a disk with no byte left they would fail like
//! everything else. The reserve is an allocated (not sparse) file; a command
//! that frees space and hits a full disk releases it and tries once more, and
//! it is allocated again when a later command finds room for it.

use std::io;
use std::path::{Path, PathBuf};

/// The reserve file of a store, and how large it is kept.
pub struct Reserve {
    path: PathBuf,
    size: u64,
}

impl Reserve {
    /// The reserve beside the store file `store` (`store.db.reserve`), of `size` bytes (0: none).
    pub fn beside(store: &Path, size: u64) -> Self {
        let mut name = store.as_os_str().to_os_string();
        name.push(".reserve");
        Self {
            path: PathBuf::from(name),
            size,
        }
    }

    /// Where the reserve lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the reserve is in place at its full size.
    pub fn is_held(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= self.size && self.size > 0)
    }

    /// Frees the reserve's space; true if there was a reserve to free.
    pub fn release(&self) -> bool {
        std::fs::remove_file(&self.path).is_ok()
    }

    /// Allocates the reserve if it is missing and there is room for all of it;
    /// returns whether it is held afterwards. Never leaves a partial reserve.
    pub fn replenish(&self) -> io::Result<bool> {
        if self.size == 0 {
            return Ok(false);
        }
        if self.is_held() {
            return Ok(true);
        }
        match self.allocate() {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                if e.raw_os_error() == Some(nix::libc::ENOSPC) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Builds the reserve under a temporary name and renames it into place, so
    /// a crash never leaves a short file that looks like a whole reserve.
    fn allocate(&self) -> io::Result<()> {
        let mut tmp = self.path.as_os_str().to_os_string();
        tmp.push(format!(".new-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let file = std::fs::File::create(&tmp)?;
            allocate_blocks(&file, self.size)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Gives `file` `size` bytes of real blocks: `fallocate`, or zeros written
/// where the file system does not support it.
fn allocate_blocks(file: &std::fs::File, size: u64) -> io::Result<()> {
    use std::io::Write;
    match nix::fcntl::posix_fallocate(file, 0, size as nix::libc::off_t) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EOPNOTSUPP) | Err(nix::errno::Errno::EINVAL) => {
            let block = vec![0u8; 64 * 1024];
            let mut left = size;
            let mut out = file;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                out.write_all(&block[..n])?;
                left -= n as u64;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_allocated_released_and_allocated_again() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::beside(&dir.path().join("store.db"), 1 << 20);
        assert!(!reserve.is_held());
        assert!(reserve.replenish().unwrap());
        let meta = std::fs::metadata(reserve.path()).unwrap();
        assert_eq!(meta.len(), 1 << 20);
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 >= 1 << 20, "real blocks, not a hole");
        assert!(reserve.release());
        assert!(!reserve.release(), "released once");
        assert!(reserve.replenish().unwrap());
        let none = Reserve::beside(&dir.path().join("other.db"), 0);
        assert!(!none.replenish().unwrap());
        assert!(!none.path().exists());
    }
}
