//! The backup archive: a zip of what of the data dir matters, made and unpacked on a blocking
//! thread.
//!
//! Inside a backup: `data.db` (records, collections, settings, identities, audit), `jobs.db`
//! (jobs and schedules, when they are embedded) — each a consistent copy made with
//! `VACUUM INTO` (`keel_sql::sqlite::snapshot`), never a copy of the live file — and
//! `storage/…`, the uploaded files of the local file store. Never inside: the vault's
//! `vault.key`, `keel.lock`, the `backups/` dir itself and Keel's temporary dirs.
//! Unpacking takes only those entries (anything else in a zip is ignored) and refuses a path
//! that would leave the target dir.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Component, Path, PathBuf};

use keel_core::Error;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// The records database's file name in the data dir and in a backup.
pub const DATA_DB: &str = "data.db";
/// The embedded jobs store's file name.
pub const JOBS_DB: &str = "jobs.db";
/// The local file store's dir.
pub const STORAGE: &str = "storage";

/// What of the data dir a backup holds.
#[derive(Debug, Clone)]
pub struct Contents {
    /// The data dir.
    pub root: PathBuf,
    /// Whether records are in `data.db` (SQLite); backups refuse other engines.
    pub sqlite_data: bool,
    /// Whether jobs are in `jobs.db`.
    pub embedded_jobs: bool,
}

impl Contents {
    pub fn of(config: &keel_core::config::Config) -> Contents {
        use keel_core::config::{DataEngine, JobsStore};
        Contents {
            root: config.data_dir.clone(),
            sqlite_data: config.data.engine == DataEngine::Sqlite,
            embedded_jobs: config.jobs.store == JobsStore::Embedded,
        }
    }
}

fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::internal(format!("{what} {}: {e}", path.display()))
}

fn zip_err(e: zip::result::ZipError) -> Error {
    Error::internal(format!("zip: {e}"))
}

/// Writes the backup zip of `contents` to `zip_path`, with the database copies made in
/// `scratch` (an empty dir on the same disk). Blocking.
pub fn create(contents: &Contents, scratch: &Path, zip_path: &Path) -> Result<(), Error> {
    let mut dbs = vec![DATA_DB];
    if contents.embedded_jobs && contents.root.join(JOBS_DB).exists() {
        dbs.push(JOBS_DB);
    }
    for db in &dbs {
        keel_sql::sqlite::snapshot::snapshot(&contents.root.join(db), &scratch.join(db))?;
    }
    let file = File::create(zip_path).map_err(|e| io_err("cannot create", zip_path, e))?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    for db in &dbs {
        add_file(&mut zip, &scratch.join(db), db, options)?;
    }
    let storage = contents.root.join(STORAGE);
    if storage.is_dir() {
        zip.add_directory(format!("{STORAGE}/"), options).map_err(zip_err)?;
        add_dir(&mut zip, &storage, STORAGE, options)?;
    }
    let writer = zip.finish().map_err(zip_err)?;
    let file = writer
        .into_inner()
        .map_err(|e| io_err("cannot write", zip_path, e.into_error()))?;
    file.sync_all().map_err(|e| io_err("cannot sync", zip_path, e))
}

/// Adds the file at `path` as `name`; a file removed meanwhile (a record's file deleted
/// during the backup) is skipped.
fn add_file(
    zip: &mut ZipWriter<BufWriter<File>>,
    path: &Path,
    name: &str,
    options: SimpleFileOptions,
) -> Result<(), Error> {
    let mut src = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("cannot read", path, e)),
    };
    zip.start_file(name, options).map_err(zip_err)?;
    io::copy(&mut src, zip).map_err(|e| io_err("cannot archive", path, e))?;
    Ok(())
}

fn add_dir(
    zip: &mut ZipWriter<BufWriter<File>>,
    dir: &Path,
    prefix: &str,
    options: SimpleFileOptions,
) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("cannot list", dir, e)),
    };
    let mut names: Vec<(String, PathBuf, bool)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("cannot list", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not a name Keel writes
        };
        // The local file store stages a write as `NAME#N` before renaming it into place.
        if name.contains('#') {
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        names.push((name, entry.path(), is_dir));
    }
    names.sort();
    for (name, path, is_dir) in names {
        let inner = format!("{prefix}/{name}");
        if is_dir {
            zip.add_directory(format!("{inner}/"), options).map_err(zip_err)?;
            add_dir(zip, &path, &inner, options)?;
        } else {
            add_file(zip, &path, &inner, options)?;
        }
    }
    Ok(())
}

/// Unpacks the backup at `zip_path` into the empty dir `dest`: `data.db`, `jobs.db` and
/// `storage/…` only. A zip without `data.db` or that is not a zip is refused (400). Blocking.
pub fn extract(zip_path: &Path, dest: &Path) -> Result<(), Error> {
    let invalid = |why: String| Error::bad_request(format!("The backup file is not a valid Keel backup: {why}."));
    let file = File::open(zip_path).map_err(|e| io_err("cannot open", zip_path, e))?;
    let mut archive = ZipArchive::new(file).map_err(|e| invalid(e.to_string()))?;
    let mut has_data = false;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| invalid(e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(invalid(format!(
                "the entry {:?} points outside the data dir",
                entry.name()
            )));
        };
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(invalid(format!(
                "the entry {:?} points outside the data dir",
                entry.name()
            )));
        }
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let wanted = match first.as_deref() {
            Some(DATA_DB) | Some(JOBS_DB) => rel.components().count() == 1 && !entry.is_dir(),
            Some(STORAGE) => true,
            _ => false,
        };
        if !wanted {
            continue;
        }
        let out = dest.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(|e| io_err("cannot create", &out, e))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err("cannot create", parent, e))?;
        }
        let mut target = File::create(&out).map_err(|e| io_err("cannot create", &out, e))?;
        io::copy(&mut entry, &mut target).map_err(|e| invalid(format!("cannot unpack {}: {e}", rel.display())))?;
        target.sync_all().map_err(|e| io_err("cannot sync", &out, e))?;
        if rel == Path::new(DATA_DB) {
            has_data = true;
        }
    }
    if !has_data {
        return Err(Error::bad_request(
            "The backup file is not a valid Keel backup: data.db is missing.",
        ));
    }
    keel_sql::sqlite::snapshot::check(&dest.join(DATA_DB))?;
    if dest.join(JOBS_DB).exists() {
        keel_sql::sqlite::snapshot::check(&dest.join(JOBS_DB))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.zip");
        let mut zip = ZipWriter::new(File::create(&path).unwrap());
        for (name, bytes) in entries {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        (dir, path)
    }

    #[test]
    fn unpacking_refuses_escapes_and_needs_data_db() {
        let (_d, path) = zip_of(&[("../evil", b"x"), ("data.db", b"x")]);
        let out = tempfile::tempdir().unwrap();
        let err = extract(&path, out.path()).unwrap_err().to_string();
        assert!(err.contains("points outside the data dir"), "{err}");

        let (_d, path) = zip_of(&[("storage/a/b.txt", b"x")]);
        let err = extract(&path, out.path()).unwrap_err().to_string();
        assert!(err.contains("data.db is missing"), "{err}");

        let (_d, path) = zip_of(&[("data.db", b"not a database at all, only some text here")]);
        let err = extract(&path, out.path()).unwrap_err().to_string();
        assert!(err.contains("data.db is not a usable SQLite database"), "{err}");
    }

    #[test]
    fn a_backup_round_trips_databases_and_files_and_leaves_the_rest() {
        let data = tempfile::tempdir().unwrap();
        let root = data.path();
        // An empty file is a valid, empty SQLite database.
        File::create(root.join(DATA_DB)).unwrap();
        fs::create_dir_all(root.join("storage/col/rec")).unwrap();
        fs::write(root.join("storage/col/rec/a.txt"), b"hello").unwrap();
        fs::write(root.join("storage/col/rec/a.txt#3"), b"staged").unwrap();
        fs::write(root.join("vault.key"), b"secret").unwrap();
        let contents = Contents {
            root: root.to_path_buf(),
            sqlite_data: true,
            embedded_jobs: true,
        };
        let scratch = tempfile::tempdir().unwrap();
        let zip_path = scratch.path().join("out.zip");
        create(&contents, scratch.path(), &zip_path).unwrap();

        let names: Vec<String> = ZipArchive::new(File::open(&zip_path).unwrap())
            .unwrap()
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        assert!(names.contains(&"data.db".to_string()), "{names:?}");
        assert!(names.contains(&"storage/col/rec/a.txt".to_string()), "{names:?}");
        assert!(
            !names.iter().any(|n| n.contains("vault.key") || n.contains('#')),
            "{names:?}"
        );

        let out = tempfile::tempdir().unwrap();
        extract(&zip_path, out.path()).unwrap();
        assert_eq!(fs::read(out.path().join("storage/col/rec/a.txt")).unwrap(), b"hello");
        assert!(out.path().join(DATA_DB).exists());
        assert!(!out.path().join("vault.key").exists());
    }
}
