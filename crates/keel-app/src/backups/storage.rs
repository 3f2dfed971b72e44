//! Where backups are kept: the data dir's `backups/` through the local `FileStore`, or, when
//! `settings.backups.s3.enabled`, that bucket under [`S3_PREFIX`] (so a bucket shared with
//! `settings.s3`'s files keeps them apart). Every access to the backups' store goes through
//! here, through the `FileStore` trait.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use keel_core::files::{FileObject, FileStore, ListedFile};
use keel_core::Error;
use tokio::io::AsyncWriteExt;

use super::BackupsSettings;

/// The local backups dir, in the data dir.
pub const LOCAL_DIR: &str = "backups";

/// The folder of the backups bucket that holds them.
pub const S3_PREFIX: &str = "keel_backups";

/// The store backups are kept in under `settings`.
pub fn open(root: &Path, settings: &BackupsSettings) -> Result<Arc<dyn FileStore>, Error> {
    if settings.s3.enabled() {
        let store = keel_files::from_s3_settings(&settings.s3.0)?.with_prefix(S3_PREFIX);
        return Ok(Arc::new(store));
    }
    let store = keel_files::local::open(&root.join(LOCAL_DIR))?;
    Ok(Arc::new(store))
}

/// Whether a backup named `key` exists.
pub async fn exists(store: &dyn FileStore, key: &str) -> Result<bool, Error> {
    match store.get(key).await {
        Ok(_) => Ok(true),
        Err(Error::NotFound(_)) => Ok(false),
        Err(Error::BadRequest { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every backup (or those whose names start with `prefix`), sorted by name.
pub async fn list(store: &dyn FileStore, prefix: &str) -> Result<Vec<ListedFile>, Error> {
    let mut files = store.list(prefix).await?;
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

/// Stores the zip at `path` as `key`, streamed from the file (never whole in memory).
pub async fn put_file(store: &dyn FileStore, key: &str, path: &Path) -> Result<(), Error> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))?;
    let shown = path.display().to_string();
    let stream = tokio_util::io::ReaderStream::new(file)
        .map(move |chunk| chunk.map_err(|e| Error::internal(format!("cannot read {shown}: {e}"))));
    store.put(key, Box::pin(stream)).await.map(|_| ())
}

/// Copies the backup `key` into the file `path` (streamed).
pub async fn fetch_to(store: &dyn FileStore, key: &str, path: &Path) -> Result<(), Error> {
    let FileObject { mut stream, .. } = store.get(key).await?;
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", path.display())))?;
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?)
            .await
            .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))?;
    }
    out.sync_all()
        .await
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))
}
