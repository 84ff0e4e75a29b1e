//! Crash-safe file writes for everything Sigstack keeps in its data directory.
//!
//! A file that a later start relies on (a key, a certificate, the epoch, trust material) must
//! never be observed half-written or empty after a power cut. Every write here follows the same
//! sequence: write a temporary file in the same directory, `fsync` it, `rename` it over the
//! destination, then `fsync` the directory so the rename itself is durable. Directories created
//! here have their parents fsynced too, so a new directory entry survives a crash.
//!
//! Plain `std::fs`, no async runtime: callers on an async executor run these from
//! `spawn_blocking` or at start-up.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Permission bits for secret files (keys): owner read/write only.
pub const PRIVATE_MODE: u32 = 0o600;
/// Permission bits for public files (certificates, trust material).
pub const PUBLIC_MODE: u32 = 0o644;

/// Atomically and durably replaces `path` with `bytes` (mode 0644 on Unix).
///
/// After this returns `Ok`, a crash at any point leaves either the old content or the new one
/// at `path`, never a mix or an empty file.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, PUBLIC_MODE)
}

/// As [`write`], for secret material: the file is created with mode 0600 on Unix and never
/// exists with wider permissions, not even as the temporary.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, PRIVATE_MODE)
}

/// As [`write`] with explicit Unix permission bits (ignored elsewhere).
pub fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_of(path);
    let tmp = temporary_path(path);
    let result = (|| {
        let mut file = create_new(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        // Best effort: a leftover temporary is harmless but untidy.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` and any missing parents, fsyncing each parent whose directory entry changed,
/// so the whole chain survives a crash. An existing directory is left as it is.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = parent_of(path);
    if parent != path && !parent.as_os_str().is_empty() {
        create_dir_all(&parent)?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => sync_dir(&parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fsyncs a directory, making renames and new entries inside it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a file that must exist and be non-empty, such as one written earlier by [`write`].
///
/// `Ok(None)` when the file does not exist. An empty file is an error whose message names the
/// path: it can only come from a writer that did not use this crate (or a damaged disk), and
/// replacing it silently could change an identity clients already trust.
pub fn read_existing(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is empty (an unfinished write before a crash?); restore it from a backup, \
                 or remove it only if nothing published depends on it",
                path.display()
            ),
        )),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`read_existing`] for a text file: `Ok(None)` when it does not exist, an error naming the path
/// when it is empty or not UTF-8.
pub fn read_existing_text(path: &Path) -> io::Result<Option<String>> {
    read_existing(path)?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not UTF-8 text", path.display()),
                )
            })
        })
        .transpose()
}

/// Reads a text file that must exist and be non-empty (see [`read_existing`]); a missing file is
/// a `NotFound` error.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    read_existing_text(path)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} does not exist", path.display()),
        )
    })
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(path).join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(unix)]
fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path, _mode: u32) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("epoch");
        write(&path, b"1\n").unwrap();
        write(&path, b"2\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("epoch")]);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_private(&path, b"secret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn write_into_missing_directory_fails_without_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/file");
        assert!(write(&path, b"x").is_err());
        assert!(!dir.path().join("missing").exists());
    }

    #[test]
    fn create_dir_all_makes_nested_directories_once() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        create_dir_all(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir_all(&nested).unwrap();
    }

    #[test]
    fn read_existing_refuses_empty_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("epoch");
        assert!(read_existing(&path).unwrap().is_none());
        std::fs::write(&path, b"").unwrap();
        let err = read_existing(&path).unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        write(&path, b"5\n").unwrap();
        assert_eq!(read_existing(&path).unwrap().unwrap(), b"5\n");
    }
}
