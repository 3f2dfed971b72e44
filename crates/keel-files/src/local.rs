//! `LocalFileStore`: files under one directory of the local disk, through
//! `object_store::local::LocalFileSystem` (atomic writes via a staged file + rename, fsync on).

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use keel_core::files::{validate_key, FileObject, FileStore, FileStoreCapabilities, ListedFile};
use keel_core::{Error, Result};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Files on the local disk, rooted at one directory.
#[derive(Debug)]
pub struct LocalFileStore {
    inner: LocalFileSystem,
}

impl LocalFileStore {
    /// Opens (creating it when missing) the directory `root` as a file store.
    pub fn new(root: &Path) -> Result<LocalFileStore> {
        std::fs::create_dir_all(root)
            .map_err(|e| Error::internal(format!("cannot create file store dir {}: {e}", root.display())))?;
        let inner = LocalFileSystem::new_with_prefix(root)
            .map_err(|e| Error::internal(format!("cannot open file store dir {}: {e}", root.display())))?
            .with_automatic_cleanup(true)
            .with_fsync(true);
        Ok(LocalFileStore { inner })
    }
}

/// Checks `key` and turns it into an object path.
fn object_path(key: &str) -> Result<ObjectPath> {
    validate_key(key)?;
    ObjectPath::parse(key).map_err(|_| Error::bad_request(format!("invalid file key {key:?}")))
}

fn map_err(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::not_found(),
        other => Error::internal(format!("file store: {other}")),
    }
}

#[async_trait]
impl FileStore for LocalFileStore {
    fn name(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> FileStoreCapabilities {
        FileStoreCapabilities { presign: false }
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = object_path(key)?;
        self.inner
            .put(&path, PutPayload::from_bytes(data))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<FileObject> {
        let path = object_path(key)?;
        let res = self.inner.get(&path).await.map_err(map_err)?;
        let size = res.meta.size;
        let stream = res.into_stream().map_err(map_err).boxed();
        Ok(FileObject { size, stream })
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(store: &LocalFileStore, key: &str) -> Vec<u8> {
        let obj = store.get(key).await.unwrap();
        let chunks: Vec<Bytes> = obj.stream.try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn put_get_replace_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(&dir.path().join("storage")).unwrap();
        store.ping().await.unwrap();
        store.put("col/rec/a.txt", Bytes::from_static(b"hello")).await.unwrap();
        let obj = store.get("col/rec/a.txt").await.unwrap();
        assert_eq!(obj.size, 5);
        assert_eq!(read_all(&store, "col/rec/a.txt").await, b"hello");
        store.put("col/rec/a.txt", Bytes::from_static(b"bye")).await.unwrap();
        assert_eq!(read_all(&store, "col/rec/a.txt").await, b"bye");
        store.delete("col/rec/a.txt").await.unwrap();
        assert!(matches!(store.get("col/rec/a.txt").await, Err(Error::NotFound(_))));
        // deleting again is fine
        store.delete("col/rec/a.txt").await.unwrap();
    }

    #[tokio::test]
    async fn streams_large_files_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(dir.path()).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        store.put("c/r/big.bin", Bytes::from(data.clone())).await.unwrap();
        let obj = store.get("c/r/big.bin").await.unwrap();
        let chunks: Vec<Bytes> = obj.stream.try_collect().await.unwrap();
        assert!(chunks.len() > 1, "expected a chunked stream");
        assert_eq!(chunks.concat(), data);
    }

    #[tokio::test]
    async fn delete_prefix_removes_only_that_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(dir.path()).unwrap();
        store.put("c/r1/a.txt", Bytes::from_static(b"1")).await.unwrap();
        store.put("c/r1/b.txt", Bytes::from_static(b"2")).await.unwrap();
        store.put("c/r10/a.txt", Bytes::from_static(b"3")).await.unwrap();
        store.delete_prefix("c/r1").await.unwrap();
        assert!(matches!(store.get("c/r1/a.txt").await, Err(Error::NotFound(_))));
        assert!(matches!(store.get("c/r1/b.txt").await, Err(Error::NotFound(_))));
        assert_eq!(read_all(&store, "c/r10/a.txt").await, b"3");
        // nothing there: still fine
        store.delete_prefix("nothing/here").await.unwrap();
        store.delete_prefix("c").await.unwrap();
        assert!(matches!(store.get("c/r10/a.txt").await, Err(Error::NotFound(_))));
    }

    #[tokio::test]
    async fn lists_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(dir.path()).unwrap();
        assert!(store.list("").await.unwrap().is_empty());
        store.put("a_1.zip", Bytes::from_static(b"12")).await.unwrap();
        store.put("@auto_1.zip", Bytes::from_static(b"345")).await.unwrap();
        let mut all: Vec<(String, u64)> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.key, f.size))
            .collect();
        all.sort();
        assert_eq!(all, [("@auto_1.zip".to_string(), 3), ("a_1.zip".to_string(), 2)]);
        let auto = store.list("@auto_").await.unwrap();
        assert_eq!(auto.len(), 1);
        assert_eq!(auto[0].key, "@auto_1.zip");
    }

    #[tokio::test]
    async fn refuses_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(dir.path()).unwrap();
        for key in ["", "/abs", "a/../b", "a//b", "..", "a\\b"] {
            assert!(
                matches!(store.put(key, Bytes::new()).await, Err(Error::BadRequest { .. })),
                "{key:?}"
            );
            assert!(store.get(key).await.is_err(), "{key:?}");
        }
    }
}
