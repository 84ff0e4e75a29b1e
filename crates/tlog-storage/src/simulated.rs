//! An in-memory disk for crash and fault tests of the embedded driver.
//!
//! Every file keeps two copies of its bytes: what a reader sees now, and what a sync made
//! durable. [`SimulatedDisk::power_loss`] throws away everything not synced (file contents and
//! directory entries not yet made durable by a directory sync), which is what a power cut does
//! and what `kill -9` does not. Faults: [`SimulatedDisk::fail_syncs_after`] makes the n-th
//! following `fsync` fail with `EIO`, and [`SimulatedDisk::set_capacity`] makes writes beyond a
//! total size fail with `ENOSPC`.
//!
//! A power cut also ends the process that was using the disk: every file handle opened before
//! it fails from then on, so a writer thread still running in the test process cannot touch the
//! files the "next boot" opens.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::fs::{DirLock, FileSystem, StorageFile};

#[derive(Debug, Default)]
struct Contents {
    current: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug)]
struct SimFile {
    contents: Mutex<Contents>,
    disk: Arc<DiskState>,
}

#[derive(Debug, Default)]
struct Names {
    /// Name → file as a reader sees it now.
    current: HashMap<PathBuf, Arc<SimFile>>,
    /// Name → file as it would be found after a power cut.
    durable: HashMap<PathBuf, Arc<SimFile>>,
    dirs: HashSet<PathBuf>,
    locks: HashSet<PathBuf>,
}

#[derive(Debug, Default)]
struct Faults {
    /// `Some(n)`: the sync after `n` more successful ones fails, and so does every later one.
    syncs_before_failure: Option<u64>,
    capacity: Option<u64>,
    failed_syncs: u64,
}

#[derive(Debug, Default)]
struct DiskState {
    /// Real directories for [`FileSystem::native_dir`], one tree per boot.
    native: std::sync::OnceLock<tempfile::TempDir>,
    names: Mutex<Names>,
    faults: Mutex<Faults>,
    /// Bumped by every power cut; handles of an older boot fail.
    boot: std::sync::atomic::AtomicU64,
}

/// A file handle of one boot.
#[derive(Debug)]
struct SimHandle {
    file: Arc<SimFile>,
    boot: u64,
}

impl SimHandle {
    fn alive(&self) -> io::Result<&SimFile> {
        if self
            .file
            .disk
            .boot
            .load(std::sync::atomic::Ordering::SeqCst)
            == self.boot
        {
            Ok(&self.file)
        } else {
            Err(io::Error::other("the power was cut: this process is gone"))
        }
    }
}

impl StorageFile for SimHandle {
    fn len(&self) -> io::Result<u64> {
        self.alive()?.len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.alive()?.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.alive()?.write_all_at(data, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.alive()?.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.alive()?.set_len(len)
    }
}

/// A simulated disk; clones share it. Implements [`FileSystem`].
#[derive(Clone, Debug, Default)]
pub struct SimulatedDisk {
    state: Arc<DiskState>,
}

impl SimulatedDisk {
    /// An empty disk with no faults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cut the power: every file falls back to its last synced contents, names created since
    /// their directory's last sync vanish, removed-but-unsynced names come back, and locks of
    /// the dead process are released. Files opened before keep working on the new state, as a
    /// new process would see it (tests drop the old log first).
    ///
    /// Native directories ([`FileSystem::native_dir`]) are not simulated: the next boot gets a
    /// copy of them as they are at the cut, i.e. with everything written to the operating
    /// system (a `kill -9`, not a power cut, for the component that owns them).
    pub fn power_loss(&self) {
        let mut names = self.state.names.lock();
        let boot = self
            .state
            .boot
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(root) = self.state.native.get() {
            let from = root.path().join(format!("boot-{boot}"));
            let to = root.path().join(format!("boot-{}", boot + 1));
            if let Err(e) = copy_tree(&from, &to) {
                tracing::warn!(error = %e, "simulated disk: copying the native directories");
            }
        }
        names.current = names.durable.clone();
        for file in names.current.values() {
            let mut c = file.contents.lock();
            c.current = c.durable.clone();
        }
        names.locks.clear();
    }

    /// Make the sync after `n` more successful ones fail with `EIO`, and every sync after it.
    pub fn fail_syncs_after(&self, n: u64) {
        self.state.faults.lock().syncs_before_failure = Some(n);
    }

    /// Total bytes the disk holds before writes fail with `ENOSPC` (`None`: unlimited).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.faults.lock().capacity = bytes;
    }

    /// Remove every fault (a replaced disk, or space freed).
    pub fn heal(&self) {
        let mut f = self.state.faults.lock();
        f.syncs_before_failure = None;
        f.capacity = None;
    }

    /// How many syncs have failed so far.
    #[must_use]
    pub fn failed_syncs(&self) -> u64 {
        self.state.faults.lock().failed_syncs
    }

    /// Bytes currently stored over all files.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.state.used()
    }

    /// The current bytes of `path`, if it exists.
    #[must_use]
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let names = self.state.names.lock();
        names
            .current
            .get(path)
            .map(|f| f.contents.lock().current.clone())
    }

    /// Replace the current (unsynced) bytes of an existing file, as a stray writer would.
    pub fn overwrite(&self, path: &Path, bytes: &[u8]) {
        if let Some(f) = self.state.names.lock().current.get(path) {
            f.contents.lock().current = bytes.to_vec();
        }
    }
}

impl DiskState {
    fn used(&self) -> u64 {
        let names = self.names.lock();
        let mut seen = HashSet::new();
        names
            .current
            .values()
            .filter(|f| seen.insert(Arc::as_ptr(f)))
            .map(|f| f.contents.lock().current.len() as u64)
            .sum()
    }

    fn sync(&self) -> io::Result<()> {
        let mut f = self.faults.lock();
        match f.syncs_before_failure {
            Some(0) => {
                f.failed_syncs += 1;
                Err(io::Error::other("EIO (simulated fsync failure)"))
            }
            Some(n) => {
                f.syncs_before_failure = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn check_space(&self, growth: u64) -> io::Result<()> {
        let capacity = self.faults.lock().capacity;
        if let Some(cap) = capacity
            && growth > 0
            && self.used() + growth > cap
        {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "ENOSPC (simulated full disk)",
            ));
        }
        Ok(())
    }
}

impl SimFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.contents.lock().current.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let c = self.contents.lock();
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= c.current.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        buf.copy_from_slice(&c.current[start..end]);
        Ok(())
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start + data.len();
        let growth = {
            let c = self.contents.lock();
            end.saturating_sub(c.current.len()) as u64
        };
        self.disk.check_space(growth)?;
        let mut c = self.contents.lock();
        if c.current.len() < end {
            c.current.resize(end, 0);
        }
        c.current[start..end].copy_from_slice(data);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.disk.sync()?;
        let mut c = self.contents.lock();
        c.durable = c.current.clone();
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let growth = {
            let c = self.contents.lock();
            len.saturating_sub(c.current.len()) as u64
        };
        self.disk.check_space(growth)?;
        self.contents.lock().current.resize(len, 0);
        Ok(())
    }
}

#[derive(Debug)]
struct SimLock {
    dir: PathBuf,
    disk: Arc<DiskState>,
    boot: u64,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        // A lock of a process that died in a power cut is already gone.
        if self.disk.boot.load(std::sync::atomic::Ordering::SeqCst) == self.boot {
            self.disk.names.lock().locks.remove(&self.dir);
        }
    }
}

impl FileSystem for SimulatedDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        // Directories are durable at once: the crash model here is about file contents and
        // the entries inside a directory.
        self.state.names.lock().dirs.insert(dir.to_owned());
        Ok(())
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let mut names = self.state.names.lock();
        let dir = path.parent().unwrap_or(Path::new("")).to_owned();
        if !names.dirs.contains(&dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no directory {}", dir.display()),
            ));
        }
        let file = names
            .current
            .entry(path.to_owned())
            .or_insert_with(|| {
                Arc::new(SimFile {
                    contents: Mutex::new(Contents::default()),
                    disk: Arc::clone(&self.state),
                })
            })
            .clone();
        Ok(Arc::new(SimHandle {
            file,
            boot: self.state.boot.load(std::sync::atomic::Ordering::SeqCst),
        }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(self.state.names.lock().current.contains_key(path))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.state.names.lock().current.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.state.sync()?;
        let mut names = self.state.names.lock();
        let in_dir = |p: &Path| p.parent() == Some(dir);
        names.durable.retain(|p, _| !in_dir(p));
        let current: Vec<(PathBuf, Arc<SimFile>)> = names
            .current
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, f)| (p.clone(), Arc::clone(f)))
            .collect();
        names.durable.extend(current);
        Ok(())
    }

    fn native_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        let root = match self.state.native.get() {
            Some(root) => root,
            None => {
                let made = tempfile::tempdir()?;
                self.state.native.get_or_init(|| made)
            }
        };
        let boot = self.state.boot.load(std::sync::atomic::Ordering::SeqCst);
        let relative: PathBuf = dir
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        let native = root.path().join(format!("boot-{boot}")).join(relative);
        std::fs::create_dir_all(&native)?;
        Ok(native)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn DirLock>>> {
        let mut names = self.state.names.lock();
        if !names.locks.insert(dir.to_owned()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SimLock {
            dir: dir.to_owned(),
            disk: Arc::clone(&self.state),
            boot: self.state.boot.load(std::sync::atomic::Ordering::SeqCst),
        })))
    }
}

/// Copy the tree at `from` (if any) to `to`.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            match std::fs::copy(entry.path(), &target) {
                // A file the old boot removed meanwhile: it is gone at the cut, too.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_keeps_only_synced_bytes_and_names() {
        let disk = SimulatedDisk::new();
        let dir = Path::new("/d");
        disk.create_dir_all(dir).unwrap();
        let a = disk.open(&dir.join("a")).unwrap();
        a.write_all_at(b"hello", 0).unwrap();
        a.sync_data().unwrap();
        disk.sync_dir(dir).unwrap();
        a.write_all_at(b" world", 5).unwrap();
        let b = disk.open(&dir.join("b")).unwrap();
        b.write_all_at(b"x", 0).unwrap();
        b.sync_data().unwrap(); // contents synced, but the name never was
        disk.power_loss();
        assert_eq!(disk.read(&dir.join("a")).unwrap(), b"hello");
        assert!(disk.read(&dir.join("b")).is_none());
    }

    #[test]
    fn faults_fail_syncs_and_writes() {
        let disk = SimulatedDisk::new();
        let dir = Path::new("/d");
        disk.create_dir_all(dir).unwrap();
        let a = disk.open(&dir.join("a")).unwrap();
        disk.fail_syncs_after(1);
        a.sync_data().unwrap();
        assert!(a.sync_data().is_err());
        assert!(a.sync_data().is_err(), "failures persist");
        assert_eq!(disk.failed_syncs(), 2);
        disk.heal();
        disk.set_capacity(Some(4));
        assert_eq!(
            a.write_all_at(b"12345", 0).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        a.write_all_at(b"1234", 0).unwrap();
        assert!(disk.lock_dir(dir).unwrap().is_some());
    }
}
