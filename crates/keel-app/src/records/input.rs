//! What a caller submits for a record write, as plain structs: the data and the uploaded
//! files (an entry point parses its own wire format into them). An uploaded file's bytes are
//! [`UploadData`]: in memory while small, else in a temporary file ([`Spool`]), so a large
//! upload never sits whole in memory.

use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use keel_core::files::{bytes_stream, ByteStream};
use keel_core::Error;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

/// One uploaded file part.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The form key (`avatar`, `documents+`, `requests.0.avatar`).
    pub key: String,
    /// The client's file name.
    pub file_name: String,
    /// The part's declared content type, if any.
    pub content_type: Option<String>,
    pub data: UploadData,
}

/// An uploaded file's bytes; cloning is cheap (shared).
#[derive(Debug, Clone)]
pub enum UploadData {
    /// Small files, and files made in process (downloaded avatars).
    Memory(Bytes),
    /// A file spooled to disk while it arrived; the temporary file is removed when the last
    /// clone is dropped.
    Spooled(Arc<SpooledFile>),
}

/// A temporary file holding an upload.
#[derive(Debug)]
pub struct SpooledFile {
    path: tempfile::TempPath,
    len: u64,
}

/// Chunks read from a spooled file.
const READ_CHUNK: usize = 256 * 1024;

impl UploadData {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            UploadData::Memory(b) => b.len() as u64,
            UploadData::Spooled(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes as a stream (what `FileStore::put` reads).
    pub fn stream(&self) -> ByteStream {
        match self {
            UploadData::Memory(b) => bytes_stream(b.clone()),
            UploadData::Spooled(f) => {
                let f = f.clone();
                let open = async move {
                    let file = tokio::fs::File::open(&*f.path)
                        .await
                        .map_err(|e| Error::internal(format!("cannot read a spooled upload: {e}")))?;
                    let chunks = tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK).map(move |c| {
                        // The stream holds the file's handle: the path lives while it is read.
                        let _keep = &f;
                        c.map_err(|e| Error::internal(format!("cannot read a spooled upload: {e}")))
                    });
                    Ok::<_, Error>(chunks)
                };
                futures::stream::once(open)
                    .map(|r| match r {
                        Ok(chunks) => chunks.boxed(),
                        Err(e) => futures::stream::once(async { Err(e) }).boxed(),
                    })
                    .flatten()
                    .boxed()
            }
        }
    }
}

impl From<Bytes> for UploadData {
    fn from(b: Bytes) -> UploadData {
        UploadData::Memory(b)
    }
}

/// Collects an upload as it arrives: in memory up to [`Spool::MEMORY_BYTES`], then in a
/// temporary file in `dir`.
pub struct Spool {
    dir: std::path::PathBuf,
    memory: BytesMut,
    file: Option<(tokio::fs::File, tempfile::TempPath)>,
    len: u64,
}

impl Spool {
    /// The most an upload keeps in memory before it goes to disk.
    pub const MEMORY_BYTES: usize = 1024 * 1024;

    /// A spool whose temporary file (if any) is made in `dir` (created when missing).
    pub fn new(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
            memory: BytesMut::new(),
            file: None,
            len: 0,
        }
    }

    /// Adds a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.len += chunk.len() as u64;
        if self.file.is_none() && self.memory.len() + chunk.len() <= Self::MEMORY_BYTES {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        let io = |e: std::io::Error| Error::internal(format!("cannot spool an upload: {e}"));
        if self.file.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(io)?;
            let tmp = tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(&self.dir)
                .map_err(io)?;
            let (file, path) = tmp.into_parts();
            let mut file = tokio::fs::File::from_std(file);
            file.write_all(&self.memory).await.map_err(io)?;
            self.memory = BytesMut::new();
            self.file = Some((file, path));
        }
        if let Some((file, _)) = self.file.as_mut() {
            file.write_all(chunk).await.map_err(io)?;
        }
        Ok(())
    }

    /// The collected bytes.
    pub async fn finish(self) -> Result<UploadData, Error> {
        match self.file {
            None => Ok(UploadData::Memory(self.memory.freeze())),
            Some((mut file, path)) => {
                file.flush()
                    .await
                    .map_err(|e| Error::internal(format!("cannot spool an upload: {e}")))?;
                Ok(UploadData::Spooled(Arc::new(SpooledFile { path, len: self.len })))
            }
        }
    }
}

/// A submitted body: the plain data and the uploaded files.
#[derive(Debug, Default)]
pub struct Submitted {
    pub data: Map<String, Value>,
    pub uploads: Vec<Upload>,
}

/// The field a body key addresses, without its `+`/`-` modifier.
pub fn base_key(key: &str) -> &str {
    key.strip_prefix('+')
        .or_else(|| key.strip_suffix('+'))
        .or_else(|| key.strip_suffix('-'))
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_uploads_go_to_disk_and_read_back() {
        use futures::TryStreamExt;
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(&dir.path().join("tmp"));
        let chunk = vec![7u8; 300 * 1024];
        for _ in 0..5 {
            spool.write(&chunk).await.unwrap();
        }
        let data = spool.finish().await.unwrap();
        assert!(matches!(data, UploadData::Spooled(_)));
        assert_eq!(data.len(), 5 * 300 * 1024);
        let read: Vec<Bytes> = data.stream().try_collect().await.unwrap();
        assert_eq!(read.concat().len(), 5 * 300 * 1024);
        drop(data);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "the temp file is gone"
        );
        let mut small = Spool::new(&dir.path().join("tmp"));
        small.write(b"hi").await.unwrap();
        assert!(matches!(small.finish().await.unwrap(), UploadData::Memory(_)));
    }

    #[test]
    fn modifiers_address_their_field() {
        assert_eq!(base_key("files+"), "files");
        assert_eq!(base_key("+files"), "files");
        assert_eq!(base_key("files-"), "files");
        assert_eq!(base_key("files"), "files");
    }
}
