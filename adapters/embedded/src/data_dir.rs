//! The local server's data folder: owner-only, and one process at a time.
//!
//! Two servers on one folder would share its SQLite file but not its queue: each poller takes
//! the other's messages for its own, so jobs run twice and events repeat. Opening the folder
//! therefore takes an exclusive lock on its `lock` file and holds it for the life of the
//! process; the kernel releases it when the process ends, `kill -9` included, so a crash never
//! leaves a stale lock behind.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The file whose lock marks the folder as in use.
pub const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data folder {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("data folder {path} is in use by another process (it holds {path}/{LOCK_FILE}): stop it, or give this one another --data-dir")]
    InUse { path: String },
}

/// An open data folder; the lock is held until this is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the folder if needed (owner-only) and locks it, or says who holds it.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let io_error = |source| DataDirError::Io {
            path: path.display().to_string(),
            source,
        };
        private_dir(path).map_err(io_error)?;
        let lock = private_file(&path.join(LOCK_FILE), false).map_err(io_error)?;
        match lock.try_lock() {
            Ok(()) => Ok(Self {
                path: path.to_owned(),
                _lock: lock,
            }),
            Err(TryLockError::WouldBlock) => Err(DataDirError::InUse {
                path: path.display().to_string(),
            }),
            Err(TryLockError::Error(e)) => Err(io_error(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file or folder inside it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

/// Creates `path` and its missing parents, each owner-only (`0700`). An existing folder keeps
/// the mode its owner gave it.
pub fn private_dir(path: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Opens `path` for reading and writing (appending if `append`), creating it owner-only
/// (`0600`) if it does not exist. Data files hold jobs' inputs and results: nobody else's to
/// read.
pub fn private_file(path: &Path, append: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).create(true);
    if append {
        options.append(true);
    } else {
        options.write(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_second_open_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let first = DataDir::open(&path).unwrap();
        let refused = DataDir::open(&path).unwrap_err();
        assert!(matches!(refused, DataDirError::InUse { .. }), "{refused}");
        assert!(refused.to_string().contains(&path.display().to_string()));
        drop(first);
        DataDir::open(&path).expect("free again once the holder is gone");
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_and_its_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("data");
        let data = DataDir::open(&path).unwrap();
        private_file(&data.join("events.jsonl"), true).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&dir.path().join("nested")), 0o700);
        assert_eq!(mode(&data.join(LOCK_FILE)), 0o600);
        assert_eq!(mode(&data.join("events.jsonl")), 0o600);
    }
}
