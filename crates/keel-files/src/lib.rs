//! File storage on `object_store`: one `FileStore` implementation ([`ObjectFileStore`]) over
//! the local disk, S3-compatible stores, Azure Blob Storage and Google Cloud Storage, chosen
//! by `[files]` ([`open`]) or PocketBase's `settings.s3` ([`from_s3_settings`]); thumbnails
//! of images ([`thumb`]).
#![forbid(unsafe_code)]

use std::path::Path;

use keel_core::config::{FilesConfig, FilesProvider};
use keel_core::Result;
use serde_json::Value;

pub mod azure;
mod client;
pub mod gcs;
pub mod local;
pub mod s3;
mod store;
pub mod thumb;

pub use s3::S3Settings;
pub use store::{ObjectFileStore, PART_BYTES, PUT_CONCURRENCY};

/// Opens the store `[files]` names; the local provider defaults to `data_dir/storage`.
pub fn open(cfg: &FilesConfig, data_dir: &Path) -> Result<ObjectFileStore> {
    match cfg.provider {
        FilesProvider::Local => {
            let dir = cfg.local_dir.clone().unwrap_or_else(|| data_dir.join("storage"));
            local::open(&dir)
        }
        FilesProvider::S3 => s3::open(&S3Settings::from(&cfg.s3)),
        FilesProvider::Azure => azure::open(&cfg.azure),
        FilesProvider::Gcs => gcs::open(&cfg.gcs),
    }
}

/// Builds an S3 store from PocketBase's S3 settings object
/// (`{"enabled","bucket","region","endpoint","accessKey","secret","forcePathStyle"}`, as in
/// `settings.s3` and `settings.backups.s3`). `enabled` is not looked at: the caller decides
/// whether to use it. A malformed object or a missing bucket is a 400.
pub fn from_s3_settings(settings: &Value) -> Result<ObjectFileStore> {
    s3::open(&S3Settings::from_json(settings)?)
}
