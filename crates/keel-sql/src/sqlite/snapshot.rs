//! Consistent copies of a live SQLite database, for backups.
//!
//! [`snapshot`] runs `VACUUM INTO` on a read-only connection of its own: the copy is one
//! read transaction's view of the database (every commit before it, none after), written
//! while the server keeps reading and writing (WAL lets the writer go on). A file copy of
//! `data.db` would miss what is still in the WAL and could catch a checkpoint half-way.
//! [`check`] opens a database file read-only and runs `PRAGMA quick_check`, so a restore
//! refuses a file that is not a healthy SQLite database before anything is replaced.

use std::path::Path;

use keel_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};

/// Writes a consistent copy of the database at `db` to `dest` (which must not exist yet).
/// Blocking: call it from a blocking thread.
pub fn snapshot(db: &Path, dest: &Path) -> Result<()> {
    let dest = dest
        .to_str()
        .ok_or_else(|| Error::internal(format!("backup path {} is not UTF-8", dest.display())))?;
    let conn = open_read_only(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| Error::internal(format!("cannot set a busy timeout on {}: {e}", db.display())))?;
    conn.execute("VACUUM INTO ?1", [dest])
        .map_err(|e| Error::internal(format!("cannot copy {} (VACUUM INTO): {e}", db.display())))?;
    Ok(())
}

/// Checks that `db` is a healthy SQLite database (`PRAGMA quick_check`). Blocking.
pub fn check(db: &Path) -> Result<()> {
    let bad = |why: String| Error::bad_request(format!("{} is not a usable SQLite database: {why}", file_name(db)));
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| bad(e.to_string()))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| bad(e.to_string()))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(bad(verdict))
    }
}

fn open_read_only(db: &Path) -> Result<Connection> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| Error::internal(format!("cannot open {} to copy it: {e}", db.display())))
}

fn file_name(db: &Path) -> String {
    db.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "the file".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_holds_what_was_committed_even_in_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data.db");
        let live = Connection::open(&db).unwrap();
        live.pragma_update(None, "journal_mode", "WAL").unwrap();
        live.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        live.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('one'), ('two');")
            .unwrap();
        // The rows are in the WAL only: a copy of data.db alone would not have them.
        let copy = dir.path().join("copy.db");
        snapshot(&db, &copy).unwrap();
        check(&copy).unwrap();
        let n: i64 = Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        // An existing destination is refused, not overwritten.
        assert!(snapshot(&db, &copy).is_err());
    }

    #[test]
    fn check_refuses_what_is_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("data.db");
        std::fs::write(&bogus, b"this is not sqlite, just text long enough to be read").unwrap();
        let err = check(&bogus).unwrap_err().to_string();
        assert!(err.contains("data.db is not a usable SQLite database"), "{err}");
    }
}
