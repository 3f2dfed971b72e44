//! The Google Cloud Storage provider (`[files.gcs]`): a bucket, with a service account's
//! JSON key (a path or the key itself) or the machine's application default credentials.
//! `base_url` points it elsewhere than Google (a fake of GCS's XML API in tests).

use std::sync::Arc;

use keel_core::config::GcsFilesConfig;
use keel_core::{Error, Result};
use object_store::gcp::GoogleCloudStorageBuilder;

use crate::{client, ObjectFileStore};

/// Builds the GCS store of `c`.
pub fn open(c: &GcsFilesConfig) -> Result<ObjectFileStore> {
    if c.bucket.trim().is_empty() {
        return Err(Error::bad_request("files.gcs.bucket is not set."));
    }
    let mut b = GoogleCloudStorageBuilder::new()
        .with_bucket_name(c.bucket.trim())
        .with_retry(client::retry());
    let mut allow_http = false;
    if !c.service_account_key.trim().is_empty() {
        // A key may carry its own `gcs_base_url` (an emulator's), which may be plain HTTP.
        allow_http = c.service_account_key.contains("\"http://");
        b = b.with_service_account_key(c.service_account_key.trim());
    } else if !c.service_account_path.trim().is_empty() {
        b = b.with_service_account_path(c.service_account_path.trim());
    }
    let store = b
        .with_client_options(client::options(allow_http))
        .build()
        .map_err(|e| Error::bad_request(format!("Invalid GCS settings: {e}")))?;
    Ok(ObjectFileStore::new("gcs", Arc::new(store)))
}
