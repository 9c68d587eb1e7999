//! The data folder's lock: one `monlab up` per folder.
//!
//! Prometheus locks its own TSDB, but nothing guarded the files `up` writes: a second `up` in
//! the same folder rewrote the first one's file_sd `targets.json` before it failed on a port,
//! and the first Prometheus then scraped targets that did not exist and paged. So `up` takes
//! this lock before it writes anything, and holds it until every child has stopped.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data folder.
pub(crate) const LOCK_FILE: &str = "up.lock";

/// Why the folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another `up` holds it.
    #[error(
        "another monlab up (PID {pid}) is using the data folder {dir}: stop it, or pass --data-dir to run a second one"
    )]
    Held {
        /// The folder.
        dir: PathBuf,
        /// The other process, as it wrote itself into the lock file.
        pid: String,
    },
    /// The folder or its lock file cannot be made.
    #[error("cannot lock the data folder {dir}: {source}")]
    Io {
        /// The folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// An exclusive lock on a data folder; released when dropped (or when the process dies, since
/// the kernel drops an flock with its last descriptor, so a killed `up` leaves no stale lock).
#[derive(Debug)]
pub(crate) struct DataLock {
    _file: File,
}

/// Creates `dir` if needed and locks it, writing this process's PID into the lock file.
pub(crate) fn acquire(dir: &Path) -> Result<DataLock, LockError> {
    let io = |source| LockError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                pid: if pid.is_empty() { "unknown" } else { pid }.to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DataLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_names_the_holder() {
        let dir = std::env::temp_dir().join(format!("monlab-lock-{}", std::process::id()));
        let first = acquire(&dir).expect("the first lock is taken");
        let err = acquire(&dir).expect_err("the second is refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("PID {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("--data-dir"), "{text}");
        drop(first);
        acquire(&dir).expect("free again once the first is dropped");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
