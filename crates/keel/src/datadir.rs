//! The data dir: created and checked writable before anything opens a database in it, and
//! held by one `keel serve` at a time through an exclusive lock on `keel.lock` while records
//! or jobs are SQLite files in it ([`embedded_in`]). With both on shared engines, several
//! processes on one machine may share the data dir (what is left in it, `storage/`, is
//! plain files every process reads and writes).
//!
//! The lock is the operating system's (`flock` on Unix), so it is released when the process
//! ends however it ends; the file holds the holder's pid and address for the message a
//! second `serve` prints. Other commands (`superuser upsert`, `migrate`, …) do not take it:
//! SQLite lets them write beside a running server.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::bail;

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "keel.lock";

/// Creates `dir` if needed and checks that files can be written in it, with a message that
/// says what is wrong and what to do (never SQLite's "unable to open database file").
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        bail!(unwritable(dir, &e));
    }
    let probe = dir.join(".keel-write-check");
    let written = File::create(&probe).and_then(|mut f| f.write_all(b"ok"));
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        bail!(unwritable(dir, &e));
    }
    Ok(())
}

/// The message for a data dir that cannot be created or written.
fn unwritable(dir: &Path, e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_string(),
        io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
            "a part of the path is a file, not a directory".to_string()
        }
        _ => e.to_string(),
    };
    format!(
        "cannot write to data dir {}: {what} (run as a user who can write it, or choose another --data-dir)",
        dir.display()
    )
}

/// The exclusive hold of a data dir by this `keel serve`, released when dropped (or when the
/// process ends).
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

/// What of `cfg` lives in SQLite files in the data dir, so only one process may serve it.
pub fn embedded_in(cfg: &keel_core::config::Config) -> Vec<&'static str> {
    use keel_core::config::{DataEngine, JobsStore};
    let mut what = Vec::new();
    if cfg.data.engine == DataEngine::Sqlite {
        what.push("records (data.db)");
    }
    if cfg.jobs.store == JobsStore::Embedded {
        what.push("jobs (jobs.db)");
    }
    what
}

impl DataDirLock {
    /// Takes the data dir's lock, or fails naming the process holding it, what of the data
    /// dir (`embedded`: see [`embedded_in`]) only one process may serve, and how to run several.
    pub fn acquire(dir: &Path, embedded: &[&str]) -> anyhow::Result<DataDirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => bail!(unwritable(dir, &e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let mut lines = holder.lines();
                let pid = lines.next().map(str::trim).filter(|s| !s.is_empty());
                let addr = lines.next().map(str::trim).filter(|s| !s.is_empty());
                let who = match (pid, addr) {
                    (Some(pid), Some(addr)) => format!("keel process {pid} (serving {addr})"),
                    (Some(pid), None) => format!("keel process {pid} (starting)"),
                    _ => "another keel process".to_string(),
                };
                bail!(
                    "the data dir {} is in use by {who}; stop it or choose another --data-dir. \
                     Its {} are SQLite files one process serves; to run several processes, \
                     put records and jobs on a shared engine ([data] engine = \"postgres\" or \
                     \"mysql\", [jobs] store = \"postgres\", an [events] bus other than \
                     \"local\"): see \"Running several processes\" in docs/operations.md",
                    dir.display(),
                    embedded.join(" and ")
                );
            }
            Err(TryLockError::Error(e)) => bail!("cannot lock {}: {e}", path.display()),
        }
        let mut lock = DataDirLock { file, path };
        lock.record(None)?;
        Ok(lock)
    }

    /// Writes this process's pid and, once bound, its address into the lock file.
    pub fn record(&mut self, addr: Option<&str>) -> anyhow::Result<()> {
        let text = format!("{}\n{}\n", std::process::id(), addr.unwrap_or(""));
        let write = |f: &mut File| -> io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(text.as_bytes())?;
            f.flush()
        };
        write(&mut self.file).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritable_dirs_are_named_with_the_cause() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            unwritable(Path::new("/x"), &e),
            "cannot write to data dir /x: permission denied (run as a user who can write it, or choose another --data-dir)"
        );
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = prepare(&file.join("sub")).unwrap_err().to_string();
        assert!(
            err.contains("cannot write to data dir") && err.contains("not a directory"),
            "{err}"
        );
        prepare(&tmp.path().join("fresh")).unwrap();
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let what = ["records (data.db)"];
        let mut first = DataDirLock::acquire(tmp.path(), &what).unwrap();
        first.record(Some("127.0.0.1:1234")).unwrap();
        let err = DataDirLock::acquire(tmp.path(), &what).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(
            err.contains(&format!("in use by keel process {pid} (serving 127.0.0.1:1234)")),
            "{err}"
        );
        assert!(
            err.contains("Its records (data.db) are SQLite files one process serves"),
            "{err}"
        );
        assert!(err.contains("[data] engine = \"postgres\""), "{err}");
        drop(first);
        DataDirLock::acquire(tmp.path(), &what).unwrap();
    }
}
