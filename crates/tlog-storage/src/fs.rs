//! The file layer under the embedded driver: a small interface the engine does all its I/O
//! through, so tests can swap the operating system for a [`crate::simulated`] disk that loses
//! unsynced writes, fails `fsync` or runs out of space.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file opened for positional reads and writes.
#[allow(clippy::len_without_is_empty)] // a file's length is a position, not a collection size
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Current length in bytes.
    ///
    /// # Errors
    /// I/O failures.
    fn len(&self) -> io::Result<u64>;
    /// Fill `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    ///
    /// # Errors
    /// I/O failures.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Write all of `data` at `offset`, growing the file as needed.
    ///
    /// # Errors
    /// I/O failures, including `ENOSPC`.
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Make everything written so far durable (`fdatasync`).
    ///
    /// # Errors
    /// I/O failures (`EIO`): after one, what was written since the last successful sync may be
    /// lost, so callers stop writing.
    fn sync_data(&self) -> io::Result<()>;
    /// Truncate or zero-extend to `len`.
    ///
    /// # Errors
    /// I/O failures.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// A held directory lock; released when dropped.
pub trait DirLock: Send + Sync + fmt::Debug {}

/// Where the embedded driver keeps its files.
pub trait FileSystem: Send + Sync + fmt::Debug + 'static {
    /// Create `dir` and its parents durably.
    ///
    /// # Errors
    /// I/O failures.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Open `path` for reading and writing, creating it empty if it does not exist. A newly
    /// created name is durable only after [`FileSystem::sync_dir`] of its directory.
    ///
    /// # Errors
    /// I/O failures.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Whether `path` exists.
    ///
    /// # Errors
    /// I/O failures.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Remove `path` (missing is fine).
    ///
    /// # Errors
    /// I/O failures.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Make the entries of `dir` (creations, removals, renames) durable.
    ///
    /// # Errors
    /// I/O failures.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Take an exclusive lock on `dir`; `Ok(None)` when another holder has it.
    ///
    /// # Errors
    /// I/O failures.
    fn lock_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn DirLock>>>;
    /// The directory on the operating system's file system that stands for `dir`, for a
    /// component that does its own file I/O (the LSM tree of index rows).
    ///
    /// # Errors
    /// I/O failures.
    fn native_dir(&self, dir: &Path) -> io::Result<PathBuf>;
}

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFileSystem;

#[derive(Debug)]
struct OsFile {
    file: File,
    path: PathBuf,
}

impl StorageFile for OsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io::Error::new(e.kind(), format!("fsync {}: {e}", self.path.display())))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

#[derive(Debug)]
struct OsLock {
    _file: File,
}

impl DirLock for OsLock {}

impl FileSystem for OsFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        sigstack_durable::create_dir_all(dir)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(OsFile {
            file,
            path: path.to_owned(),
        }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sigstack_durable::sync_dir(dir)
    }

    fn native_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        Ok(dir.to_owned())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn DirLock>>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("LOCK"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Box::new(OsLock { _file: file }))),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
