//! `ObjectFileStore`: the one `FileStore` implementation, over any `object_store` backend.
//! Each provider module (local, s3, azure, gcs) only builds the backend; what a call does is
//! the same everywhere:
//!
//! - `put` pushes the stream through `object_store`'s `BufWriter`: a file smaller than one
//!   part (5 MiB) is sent in one request, a larger one as a multipart upload of 5 MiB parts
//!   with at most [`PUT_CONCURRENCY`] parts in flight, so an upload holds about
//!   `(PUT_CONCURRENCY + 1) × 5 MiB` whatever its size. The local disk writes a staged file
//!   beside the target and renames it into place (fsync on). A failing stream aborts the
//!   upload: nothing is stored.
//! - reads stream from the backend (`get_opts`, with a range for `get_range`).

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use keel_core::files::{validate_key, ByteStream, FileMeta, FileObject, FileStore, FileStoreCapabilities, ListedFile};
use keel_core::{Error, Result};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

/// The size of one part of a multipart upload (S3's smallest allowed part).
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload sent at the same time.
pub const PUT_CONCURRENCY: usize = 4;

/// A `FileStore` over an `object_store` backend.
#[derive(Debug, Clone)]
pub struct ObjectFileStore {
    name: &'static str,
    inner: Arc<dyn ObjectStore>,
}

impl ObjectFileStore {
    /// Wraps a backend; `name` is the provider's (`local`, `s3`, `azure`, `gcs`).
    pub fn new(name: &'static str, inner: Arc<dyn ObjectStore>) -> ObjectFileStore {
        ObjectFileStore { name, inner }
    }

    /// The same backend with every key under `prefix/` (e.g. backups in a bucket that may also
    /// hold files): keys given and listed stay relative to it.
    pub fn with_prefix(self, prefix: &str) -> ObjectFileStore {
        let inner: Arc<dyn ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(self.inner, prefix));
        ObjectFileStore { name: self.name, inner }
    }
}

/// Checks `key` and turns it into an object path.
fn object_path(key: &str) -> Result<ObjectPath> {
    validate_key(key)?;
    ObjectPath::parse(key).map_err(|_| Error::bad_request(format!("invalid file key {key:?}")))
}

/// A backend error as Keel's: absent → 404; the rest an internal error whose text (which may
/// name a bucket or an endpoint, never a credential) is logged, not shown.
pub(crate) fn map_err(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::not_found(),
        other => Error::internal(format!("file store: {other}")),
    }
}

fn meta_of(m: &ObjectMeta) -> FileMeta {
    FileMeta {
        size: m.size,
        etag: m.e_tag.as_ref().map(|t| t.trim_matches('"').to_string()),
        last_modified: m.last_modified,
    }
}

#[async_trait]
impl FileStore for ObjectFileStore {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capabilities(&self) -> FileStoreCapabilities {
        FileStoreCapabilities { presign: false }
    }

    async fn put(&self, key: &str, mut data: ByteStream) -> Result<u64> {
        let path = object_path(key)?;
        let mut writer =
            BufWriter::with_capacity(self.inner.clone(), path, PART_BYTES).with_max_concurrency(PUT_CONCURRENCY);
        let mut written = 0u64;
        let failed = loop {
            match data.next().await {
                None => break None,
                Some(Ok(chunk)) => {
                    written += chunk.len() as u64;
                    if chunk.is_empty() {
                        continue;
                    }
                    if let Err(e) = writer.put(chunk).await {
                        break Some(map_err(e));
                    }
                }
                Some(Err(e)) => break Some(e),
            }
        };
        if let Some(e) = failed {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(provider = self.name, error = %abort, "could not abort a failed upload");
            }
            return Err(e);
        }
        writer
            .shutdown()
            .await
            .map_err(|e| Error::internal(format!("file store: {e}")))?;
        Ok(written)
    }

    async fn get(&self, key: &str) -> Result<FileObject> {
        let path = object_path(key)?;
        let res = self.inner.get(&path).await.map_err(map_err)?;
        let meta = meta_of(&res.meta);
        let range = res.range.clone();
        let stream = res.into_stream().map_err(map_err).boxed();
        Ok(FileObject { meta, range, stream })
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<FileObject> {
        let path = object_path(key)?;
        if range.start >= range.end {
            return Err(Error::bad_request("empty byte range"));
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let res = self.inner.get_opts(&path, opts).await.map_err(map_err)?;
        let meta = meta_of(&res.meta);
        let range = res.range.clone();
        let stream = res.into_stream().map_err(map_err).boxed();
        Ok(FileObject { meta, range, stream })
    }

    async fn head(&self, key: &str) -> Result<FileMeta> {
        let path = object_path(key)?;
        let m = self.inner.head(&path).await.map_err(map_err)?;
        Ok(meta_of(&m))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = object_path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let prefix = object_path(prefix.trim_end_matches('/'))?;
        let locations = self.inner.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        let mut deleted = self.inner.delete_stream(locations);
        while let Some(res) = deleted.next().await {
            match res {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        let mut listing = self.inner.list(None);
        match listing.next().await {
            None | Some(Ok(_)) | Some(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Some(Err(e)) => Err(map_err(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ListedFile>> {
        // object_store lists by whole path segments; a partial name is matched here.
        let mut listing = self.inner.list(None);
        let mut found = Vec::new();
        while let Some(item) = listing.next().await {
            let meta = match item {
                Ok(m) => m,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(map_err(e)),
            };
            let key = meta.location.to_string();
            if key.starts_with(prefix) {
                found.push(ListedFile {
                    key,
                    size: meta.size,
                    last_modified: meta.last_modified,
                });
            }
        }
        Ok(found)
    }
}
