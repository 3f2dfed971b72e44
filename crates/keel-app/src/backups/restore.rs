//! Restoring a backup: staged while the server runs, swapped in while nothing has the data
//! open, then the service restarts.
//!
//! 1. [`stage`] unpacks the backup into `<data>/.keel_restore/pending/`, checks its databases,
//!    then writes the `ready` marker (fsynced). Nothing the server uses is touched.
//! 2. The server is asked to restart ([`request_restart`]): `keel serve` stops serving
//!    (in-flight requests finish, background work stops) and replaces its process with a fresh
//!    `keel serve` (same arguments, same pid; on Unix `exec`), so no connection of the old
//!    process to the old files survives.
//! 3. Before opening anything, the new process runs [`apply_pending`]: the current `data.db`,
//!    `jobs.db` (with their `-wal`/`-shm`), `storage/` and the search indexes (`search/`,
//!    rebuilt at start) move into `.keel_restore/old/`,
//!    then the marker `swapped` is written, then the staged entries move into the data dir,
//!    then `.keel_restore/` is removed. Each step is a rename on the same disk and the markers
//!    say where a crash stopped, so a restart finishes the swap: the old data is kept until
//!    the new data is in place.
//!
//! `keel backup restore` (server stopped) stages and applies at once, holding `keel.lock`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keel_core::Error;
use tokio::sync::watch;

use super::archive::{DATA_DB, JOBS_DB, STORAGE};

/// The dir of a restore in progress, in the data dir.
pub const RESTORE_DIR: &str = ".keel_restore";
const PENDING: &str = "pending";
const OLD: &str = "old";
const READY: &str = "ready";
const SWAPPED: &str = "swapped";

/// What a restore replaces in the data dir. The search indexes (`search/`, not in backups)
/// go too: they are rebuilt from the restored records at start.
const REPLACED: [&str; 8] = [
    DATA_DB,
    "data.db-wal",
    "data.db-shm",
    JOBS_DB,
    "jobs.db-wal",
    "jobs.db-shm",
    STORAGE,
    "search",
];

fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::internal(format!("{what} {}: {e}", path.display()))
}

/// The empty staging dir of a new restore (anything staged before is discarded).
pub fn fresh_pending(root: &Path) -> Result<PathBuf, Error> {
    let dir = root.join(RESTORE_DIR);
    if dir.join(READY).exists() {
        return Err(Error::bad_request(
            "Try again later - another backup/restore process has already been started.",
        ));
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| io_err("cannot clear", &dir, e))?;
    }
    let pending = dir.join(PENDING);
    fs::create_dir_all(&pending).map_err(|e| io_err("cannot create", &pending, e))?;
    Ok(pending)
}

/// Marks the unpacked backup in the staging dir as ready to be swapped in. Blocking.
pub fn mark_ready(root: &Path, key: &str) -> Result<(), Error> {
    write_marker(&root.join(RESTORE_DIR), READY, key)
}

/// Unpacks `zip_path` into a fresh staging dir and marks it ready. Blocking.
pub fn stage(root: &Path, zip_path: &Path, key: &str) -> Result<(), Error> {
    let pending = fresh_pending(root)?;
    if let Err(e) = super::archive::extract(zip_path, &pending) {
        let _ = fs::remove_dir_all(root.join(RESTORE_DIR));
        return Err(e);
    }
    mark_ready(root, key)
}

fn write_marker(dir: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = dir.join(name);
    let mut f = File::create(&path).map_err(|e| io_err("cannot write", &path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("cannot write", &path, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("cannot sync", dir, e))?;
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(|e| io_err(&format!("cannot move {} to", from.display()), to, e))
}

/// Swaps a staged restore into the data dir `root`, if one is ready (see the module docs);
/// returns the restored backup's key. Call it only while no process has the data open (the
/// holder of `keel.lock`, before opening the store). Blocking.
pub fn apply_pending(root: &Path) -> Result<Option<String>, Error> {
    let dir = root.join(RESTORE_DIR);
    let ready = dir.join(READY);
    if !ready.exists() {
        // An unpacking that never finished, or a swap that did: nothing to apply.
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| io_err("cannot remove", &dir, e))?;
        }
        return Ok(None);
    }
    let key = fs::read_to_string(&ready).unwrap_or_default();
    let pending = dir.join(PENDING);
    let old = dir.join(OLD);
    if !dir.join(SWAPPED).exists() {
        fs::create_dir_all(&old).map_err(|e| io_err("cannot create", &old, e))?;
        for name in REPLACED {
            let current = root.join(name);
            if fs::symlink_metadata(&current).is_ok() {
                rename(&current, &old.join(name))?;
            }
        }
        sync_dir(root)?;
        write_marker(&dir, SWAPPED, "")?;
    }
    let staged = fs::read_dir(&pending).map_err(|e| io_err("cannot list", &pending, e))?;
    for entry in staged {
        let entry = entry.map_err(|e| io_err("cannot list", &pending, e))?;
        let target = root.join(entry.file_name());
        rename(&entry.path(), &target)?;
    }
    sync_dir(root)?;
    // The new data is in place: the old one may go.
    fs::remove_file(&ready).map_err(|e| io_err("cannot remove", &ready, e))?;
    fs::remove_dir_all(&dir).map_err(|e| io_err("cannot remove", &dir, e))?;
    Ok(Some(key))
}

fn restart_channel() -> &'static watch::Sender<bool> {
    static RESTART: OnceLock<watch::Sender<bool>> = OnceLock::new();
    RESTART.get_or_init(|| watch::channel(false).0)
}

/// Asks this process's `keel serve` to restart (a restore is staged). One server per process.
pub fn request_restart() {
    restart_channel().send_replace(true);
}

/// Turns true when a restart was requested ([`request_restart`]).
pub fn restart_requested() -> watch::Receiver<bool> {
    restart_channel().subscribe()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn staged(root: &Path) {
        let pending = fresh_pending(root).unwrap();
        write(&pending.join(DATA_DB), "new db");
        write(&pending.join("storage/c/r/f.txt"), "new file");
        mark_ready(root, "b.zip").unwrap();
    }

    #[test]
    fn apply_swaps_the_staged_data_in_and_keeps_the_rest() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(&root.join(DATA_DB), "old db");
        write(&root.join("data.db-wal"), "old wal");
        write(&root.join("storage/c/r/old.txt"), "old file");
        write(&root.join("vault.key"), "key");
        write(&root.join("backups/b.zip"), "zip");
        assert_eq!(apply_pending(root).unwrap(), None);
        staged(root);
        assert_eq!(apply_pending(root).unwrap().as_deref(), Some("b.zip"));
        assert_eq!(fs::read_to_string(root.join(DATA_DB)).unwrap(), "new db");
        assert!(!root.join("data.db-wal").exists());
        assert!(!root.join("storage/c/r/old.txt").exists());
        assert_eq!(fs::read_to_string(root.join("storage/c/r/f.txt")).unwrap(), "new file");
        assert_eq!(fs::read_to_string(root.join("vault.key")).unwrap(), "key");
        assert!(root.join("backups/b.zip").exists());
        assert!(!root.join(RESTORE_DIR).exists());
    }

    #[test]
    fn a_swap_cut_short_is_finished_by_the_next_start() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(&root.join(DATA_DB), "old db");
        write(&root.join("storage/c/r/old.txt"), "old file");
        staged(root);
        // As if the process died after moving the old data out and one staged entry in.
        let dir = root.join(RESTORE_DIR);
        fs::create_dir_all(dir.join(OLD)).unwrap();
        rename(&root.join(DATA_DB), &dir.join(OLD).join(DATA_DB)).unwrap();
        rename(&root.join(STORAGE), &dir.join(OLD).join(STORAGE)).unwrap();
        write_marker(&dir, SWAPPED, "").unwrap();
        rename(&dir.join(PENDING).join(DATA_DB), &root.join(DATA_DB)).unwrap();
        assert_eq!(apply_pending(root).unwrap().as_deref(), Some("b.zip"));
        assert_eq!(fs::read_to_string(root.join(DATA_DB)).unwrap(), "new db");
        assert_eq!(fs::read_to_string(root.join("storage/c/r/f.txt")).unwrap(), "new file");
        assert!(!root.join("storage/c/r/old.txt").exists());
    }

    #[test]
    fn an_unfinished_staging_is_discarded() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(&root.join(DATA_DB), "old db");
        let pending = fresh_pending(root).unwrap();
        write(&pending.join(DATA_DB), "half");
        assert_eq!(apply_pending(root).unwrap(), None);
        assert_eq!(fs::read_to_string(root.join(DATA_DB)).unwrap(), "old db");
        assert!(!root.join(RESTORE_DIR).exists());
    }
}
