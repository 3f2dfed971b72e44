//! The `FileStore` contract: where uploaded files live.
//!
//! Guarantees every provider keeps:
//! - `put` is durable when it returns `Ok` (a crash afterwards does not lose the object);
//! - `put` of an existing key replaces it whole: a reader sees the old or the new bytes, never a mix;
//! - `get` streams; a file is never read whole into memory by the store;
//! - `delete` and `delete_prefix` of something absent succeed (deleting is idempotent).
//!
//! Keys are `/`-separated relative paths such as `COLLECTION_ID/RECORD_ID/FILENAME`;
//! providers refuse keys with `..`, empty segments or a leading `/`.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::Result;

/// A stored object being read.
pub struct FileObject {
    /// Size in bytes.
    pub size: u64,
    /// The bytes, in chunks.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

/// One object found by [`FileStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// The object's key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When the object was last written.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// What a provider supports.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileStoreCapabilities {
    /// Whether the provider can hand out pre-signed URLs (S3-like stores).
    pub presign: bool,
}

#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// The provider's name, for logs and `/api/ready` (`local`, `s3`, …).
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> FileStoreCapabilities;
    /// Stores `data` under `key`, replacing what was there.
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;
    /// Opens `key` for reading; `Error::NotFound` when absent.
    async fn get(&self, key: &str) -> Result<FileObject>;
    /// Deletes `key`; succeeds when already absent.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Deletes every key under `prefix/`; succeeds when nothing is there.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
    /// Whether the store answers (for `/api/ready`).
    async fn ping(&self) -> Result<()>;
    /// The objects whose keys start with `prefix` (`""`: every object), in no particular
    /// order. A provider that cannot list says so (backups need it; record files do not).
    async fn list(&self, prefix: &str) -> Result<Vec<ListedFile>> {
        let _ = prefix;
        Err(crate::Error::bad_request(format!(
            "the {} file store cannot list its objects",
            self.name()
        )))
    }
}

/// Checks a key against the rules above.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains('\\'));
    if ok {
        Ok(())
    } else {
        Err(crate::Error::bad_request(format!("invalid file key {key:?}")))
    }
}
