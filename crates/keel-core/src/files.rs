//! The `FileStore` contract: where uploaded files live.
//!
//! Guarantees every provider keeps:
//! - `put` reads its data as a stream and never holds the whole file in memory: cloud
//!   providers upload it in parts (a single request when it is small), the local disk writes
//!   a staged file and renames it into place;
//! - `put` is durable when it returns `Ok` (a crash afterwards does not lose the object);
//! - `put` of an existing key replaces it whole: a reader sees the old or the new bytes, never
//!   a mix; a `put` whose stream fails leaves no object and nothing half-written behind;
//! - `get` and `get_range` stream; a file is never read whole into memory by the store;
//! - `head` tells size, entity tag and modification time without reading the bytes;
//! - `delete` and `delete_prefix` of something absent succeed (deleting is idempotent).
//!
//! Keys are `/`-separated relative paths such as `COLLECTION_ID/RECORD_ID/FILENAME`;
//! providers refuse keys with `..`, empty segments or a leading `/`.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::Result;

/// Bytes in chunks: what `put` reads and `get` returns.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What a store knows of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag (unquoted), when it has one.
    pub etag: Option<String>,
    /// When the object was last written.
    pub last_modified: DateTime<Utc>,
}

/// A stored object being read.
pub struct FileObject {
    /// The whole object's size, entity tag and modification time.
    pub meta: FileMeta,
    /// The bytes streamed: the whole object, or the range asked for.
    pub range: Range<u64>,
    /// The bytes, in chunks.
    pub stream: ByteStream,
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
    /// The provider's name, for logs and `/api/ready` (`local`, `s3`, `azure`, `gcs`).
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> FileStoreCapabilities;
    /// Stores the bytes of `data` under `key`, replacing what was there; returns the size
    /// written. A failed stream fails the `put` and stores nothing.
    async fn put(&self, key: &str, data: ByteStream) -> Result<u64>;
    /// Opens `key` for reading; `Error::NotFound` when absent.
    async fn get(&self, key: &str) -> Result<FileObject>;
    /// Opens the bytes `range` of `key` (`range.end` at most the size); `Error::NotFound`
    /// when absent.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<FileObject>;
    /// The size, entity tag and modification time of `key`; `Error::NotFound` when absent.
    async fn head(&self, key: &str) -> Result<FileMeta>;
    /// Deletes `key`; succeeds when already absent.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Deletes every key under `prefix/`; succeeds when nothing is there.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
    /// Whether the store answers (for `/api/ready` and the settings' S3 test).
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

/// A stream of one chunk, for data already in memory (small files, thumbnails).
pub fn bytes_stream(data: Bytes) -> ByteStream {
    Box::pin(futures::stream::once(async move { Ok(data) }))
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
