//! Backups as PocketBase has them: a zip of the data dir's content that matters
//! ([`archive`]), kept in the data dir's `backups/` ([`storage`]), made on request or by
//! `settings.backups.cron` ([`schedule`]), restored by staging and a restart ([`restore`]).
//!
//! Rules (superusers only, except opening one for download, which takes a superuser's file
//! token): one backup or restore at a time per data dir (a second is a 400 "Try again
//! later"); names a caller chooses match `[a-z0-9_-]+\.zip` and must be new; a backup in use
//! cannot be deleted. Backups cover SQLite only: with records on PostgreSQL or MariaDB every
//! backup call that makes or restores one is a 400 naming `pg_dump` / `mariadb-dump`
//! (docs/backups.md says why).

pub mod archive;
pub mod name;
pub mod restore;
pub mod schedule;
pub mod storage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use keel_auth::token::TokenKind;
use keel_core::files::{FileObject, FileStore};
use keel_core::Error;
use serde::{Deserialize, Serialize};

use crate::caller::Caller;
use crate::App;

pub use archive::Contents;

/// `settings.backups` in PocketBase's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupsSettings {
    /// A cron expression (UTC) for scheduled backups; empty: none.
    pub cron: String,
    /// How many scheduled backups to keep (0: all).
    pub cron_max_keep: u32,
    pub s3: S3Settings,
}

/// `settings.backups.s3`: PocketBase's S3 object, as `settings.s3` (read by
/// `keel_files::from_s3_settings` when `enabled`).
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct S3Settings(pub serde_json::Value);

impl S3Settings {
    /// Whether backups go to S3.
    pub fn enabled(&self) -> bool {
        self.0
            .get("enabled")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

impl std::fmt::Debug for S3Settings {
    // The object holds the secret: only whether it is on is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("enabled", &self.enabled())
            .finish_non_exhaustive()
    }
}

impl BackupsSettings {
    /// The backups section of the current settings (defaults where it does not parse: the
    /// settings update validates it).
    pub fn of(app: &App) -> BackupsSettings {
        serde_json::from_value(app.settings.get().backups.clone()).unwrap_or_default()
    }
}

/// One stored backup, as `GET /api/backups` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub key: String,
    pub size: u64,
    /// PocketBase's time format (`2006-01-02 15:04:05.000Z`).
    pub modified: String,
}

/// The message of a second backup or restore while one runs.
pub const BUSY: &str = "Try again later - another backup/restore process has already been started.";

/// The data dirs with a backup or restore running in this process, and the backup's key.
fn active() -> &'static Mutex<HashMap<PathBuf, String>> {
    static ACTIVE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

/// A running backup or restore of one data dir; released when dropped.
pub struct Active {
    root: PathBuf,
}

impl Active {
    /// Marks `root` busy with `key`, or a 400 when it already is.
    pub fn start(root: &Path, key: &str) -> Result<Active, Error> {
        let mut map = active().lock().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(root) {
            return Err(Error::bad_request(BUSY));
        }
        map.insert(root.to_path_buf(), key.to_string());
        Ok(Active {
            root: root.to_path_buf(),
        })
    }

    fn key_of(root: &Path) -> Option<String> {
        active().lock().unwrap_or_else(|p| p.into_inner()).get(root).cloned()
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        active().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.root);
    }
}

/// The refusal of a backup when records are not in SQLite.
pub fn refuse_unless_sqlite(contents: &Contents, engine: &str) -> Result<(), Error> {
    if contents.sqlite_data {
        return Ok(());
    }
    let tool = if engine == "postgres" {
        "pg_dump / pg_restore"
    } else {
        "mariadb-dump (or mysqldump) and the mariadb client"
    };
    Err(Error::bad_request(format!(
        "Backups through Keel cover SQLite data only; records are on {engine} ([data] engine): back the database up with \
         {tool}, and the files store with its own tools (see docs/backups.md)."
    )))
}

fn contents(app: &App) -> Contents {
    Contents::of(&app.config)
}

fn engine_name(app: &App) -> String {
    app.config.data.engine.to_string()
}

fn open_store(app: &App) -> Result<Arc<dyn FileStore>, Error> {
    storage::open(&app.config.data_dir, &BackupsSettings::of(app))
}

/// The parent of the scratch dirs, in the data dir.
pub const SCRATCH_DIR: &str = ".keel_tmp";

/// Removes scratch dirs a killed process left (call it holding `keel.lock`, before serving).
pub fn clean_scratch(root: &Path) {
    let base = root.join(SCRATCH_DIR);
    if base.exists() {
        if let Err(e) = std::fs::remove_dir_all(&base) {
            tracing::warn!(dir = %base.display(), error = %e, "cannot remove leftover backup scratch files");
        }
    }
}

/// A scratch dir in the data dir (same disk as the data, so renames work), removed on drop.
pub fn scratch(root: &Path) -> Result<tempfile::TempDir, Error> {
    let base = root.join(SCRATCH_DIR);
    std::fs::create_dir_all(&base).map_err(|e| Error::internal(format!("cannot create {}: {e}", base.display())))?;
    tempfile::Builder::new()
        .prefix("backup-")
        .tempdir_in(&base)
        .map_err(|e| Error::internal(format!("cannot create a temp dir in {}: {e}", base.display())))
}

/// `GET /api/backups`: every backup, by name.
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<BackupInfo>, Error> {
    caller.require_superuser()?;
    let store = open_store(app)?;
    let files = storage::list(store.as_ref(), "").await?;
    Ok(files
        .into_iter()
        .map(|f| BackupInfo {
            key: f.key,
            size: f.size,
            modified: keel_core::time::format(f.last_modified),
        })
        .collect())
}

/// `POST /api/backups`: a new backup named `name` (or a generated name).
pub async fn create(app: &App, caller: &Caller, name: Option<String>) -> Result<String, Error> {
    caller.require_superuser()?;
    let contents = contents(app);
    refuse_unless_sqlite(&contents, &engine_name(app))?;
    if Active::key_of(&contents.root).is_some() {
        return Err(Error::bad_request(BUSY));
    }
    let store = open_store(app)?;
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => {
            name::validate_new(&n)?;
            if storage::exists(store.as_ref(), &n).await? {
                return Err(Error::field(
                    "name",
                    "validation_backup_name_exists",
                    "The backup file name is invalid or already exists.",
                ));
            }
            n
        }
        None => name::generate(
            name::MANUAL_PREFIX,
            &app.settings.get().meta.app_name,
            chrono::Utc::now(),
        ),
    };
    make(&contents, store.as_ref(), &name).await?;
    Ok(name)
}

/// Makes the backup `name` of `contents` in `store` (replacing one of that name).
pub async fn make(contents: &Contents, store: &dyn FileStore, name: &str) -> Result<(), Error> {
    let _active = Active::start(&contents.root, name)?;
    let dir = scratch(&contents.root)?;
    let zip_path = dir.path().join("backup.zip");
    let (c, scratch_dir, zip) = (contents.clone(), dir.path().to_path_buf(), zip_path.clone());
    tokio::task::spawn_blocking(move || archive::create(&c, &scratch_dir, &zip))
        .await
        .map_err(|e| Error::internal(format!("backup task: {e}")))??;
    storage::put_file(store, name, &zip_path).await?;
    tracing::info!(backup = name, "backup created");
    Ok(())
}

/// An uploaded file's problem, under `file`.
fn file_error(code: &str, message: impl Into<String>) -> Error {
    Error::field("file", code, message)
}

/// `POST /api/backups/upload`: stores the zip at `path` (a temp file the caller owns) under
/// its original name `filename`.
pub async fn upload(app: &App, filename: Option<&str>, path: Option<&Path>) -> Result<(), Error> {
    let (Some(filename), Some(path)) = (filename, path) else {
        return Err(file_error("validation_required", "Cannot be blank."));
    };
    if !name::is_valid_key(filename) {
        return Err(file_error(
            "validation_invalid_name",
            "The file name must be one plain name such as backup.zip.",
        ));
    }
    if !is_zip(path).await {
        return Err(file_error(
            "validation_invalid_mime_type",
            format!("\"{filename}\" mime type must be one of: application/zip."),
        ));
    }
    let store = open_store(app)?;
    if storage::exists(store.as_ref(), filename).await? {
        return Err(file_error(
            "validation_backup_name_exists",
            "Backup file with the specified name already exists.",
        ));
    }
    storage::put_file(store.as_ref(), filename, path).await
}

/// Whether the file starts like a zip archive (a local file header, or an empty archive's end
/// record).
async fn is_zip(path: &Path) -> bool {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 4];
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return false;
    };
    f.read_exact(&mut head).await.is_ok() && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06")
}

/// `GET /api/backups/{key}?token=`: the backup, for the holder of a superuser's file token.
pub async fn open(app: &App, key: &str, token: Option<&str>) -> Result<FileObject, Error> {
    let forbidden = || Error::Forbidden("Insufficient permissions to access the resource.".into());
    let token = token.filter(|t| !t.is_empty()).ok_or_else(forbidden)?;
    let auth = crate::caller::authenticate(app, token, TokenKind::File)
        .await
        .map_err(|_| forbidden())?;
    if auth.collection.id != keel_data::schema::SUPERUSERS_ID {
        return Err(forbidden());
    }
    if !name::is_valid_key(key) {
        return Err(Error::not_found());
    }
    let store = open_store(app)?;
    store.get(key).await
}

/// `DELETE /api/backups/{key}`.
pub async fn delete(app: &App, caller: &Caller, key: &str) -> Result<(), Error> {
    caller.require_superuser()?;
    let root = &app.config.data_dir;
    if Active::key_of(root).as_deref() == Some(key) {
        return Err(Error::bad_request(
            "The backup is currently being used and cannot be deleted.",
        ));
    }
    let store = open_store(app)?;
    if !name::is_valid_key(key) || !storage::exists(store.as_ref(), key).await? {
        return Err(Error::bad_request("Invalid or already deleted backup file."));
    }
    store.delete(key).await
}

/// `POST /api/backups/{key}/restore`: unpacks and checks the backup, stages it, and asks the
/// server to restart into it ([`restore`]). Answered once the backup is staged: a broken
/// backup is a 400 here, not a failed restart.
pub async fn restore(app: &App, caller: &Caller, key: &str) -> Result<(), Error> {
    caller.require_superuser()?;
    let contents = contents(app);
    refuse_unless_sqlite(&contents, &engine_name(app))?;
    let _active = Active::start(&contents.root, key)?;
    let store = open_store(app)?;
    if !name::is_valid_key(key) || !storage::exists(store.as_ref(), key).await? {
        return Err(Error::bad_request("Missing or invalid backup file."));
    }
    stage_from(&contents.root, store.as_ref(), key).await?;
    tracing::warn!(backup = key, "backup staged for restore: restarting");
    restore::request_restart();
    Ok(())
}

/// Copies the backup `key` out of `store` and stages it for [`restore::apply_pending`].
pub async fn stage_from(root: &Path, store: &dyn FileStore, key: &str) -> Result<(), Error> {
    let dir = scratch(root)?;
    let zip_path = dir.path().join("restore.zip");
    storage::fetch_to(store, key, &zip_path).await?;
    let (root, key) = (root.to_path_buf(), key.to_string());
    tokio::task::spawn_blocking(move || restore::stage(&root, &zip_path, &key))
        .await
        .map_err(|e| Error::internal(format!("restore task: {e}")))?
}

/// The problems of a `settings.backups` section (PocketBase's rules and codes, plus what this
/// build cannot do: scheduled backups when records are not in SQLite).
pub fn check_settings(section: &serde_json::Value, sqlite_data: bool) -> Result<(), Error> {
    let mut errs = keel_core::error::FieldErrors::new();
    let mut fail = |path: &str, code: &str, msg: String| {
        errs.insert(path.to_string(), keel_core::error::FieldError::new(code, msg));
    };
    let parsed: BackupsSettings = match serde_json::from_value(section.clone()) {
        Ok(s) => s,
        Err(e) => {
            fail(
                "backups",
                "validation_invalid_value",
                format!("Invalid backups settings: {e}."),
            );
            return Err(Error::fields(errs));
        }
    };
    let cron = parsed.cron.trim();
    if !cron.is_empty() {
        if let Err(why) = schedule::parse_cron(cron) {
            fail("backups.cron", "validation_invalid_cron", why);
        } else if !sqlite_data {
            fail(
                "backups.cron",
                "validation_backups_unsupported",
                "Scheduled backups cover SQLite data only; with records on PostgreSQL or MariaDB schedule pg_dump or \
                 mariadb-dump instead (see docs/backups.md)."
                    .into(),
            );
        }
        if parsed.cron_max_keep == 0 {
            fail("backups.cronMaxKeep", "validation_required", "Cannot be blank.".into());
        }
    }
    // `backups.s3` itself is checked with `s3` by the settings update (the same shape).
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errs))
    }
}
