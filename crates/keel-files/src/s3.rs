//! The S3-compatible provider (AWS S3, MinIO, R2, Ceph, moto …), configured by PocketBase's
//! `settings.s3` shape ([`S3Settings`]) or `[files.s3]` in `keel.toml`.

use std::sync::Arc;

use keel_core::config::S3FilesConfig;
use keel_core::{Error, FieldError, FieldErrors, Result};
use object_store::aws::AmazonS3Builder;
use serde::Deserialize;
use serde_json::Value;

use crate::{client, ObjectFileStore};

/// PocketBase's S3 settings object (`settings.s3`, `settings.backups.s3`):
/// `{"enabled","bucket","region","endpoint","accessKey","secret","forcePathStyle"}`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct S3Settings {
    pub enabled: bool,
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret: String,
    pub force_path_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("enabled", &self.enabled)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret", &"***")
            .field("force_path_style", &self.force_path_style)
            .finish()
    }
}

impl S3Settings {
    /// Reads PocketBase's JSON shape; a member of the wrong type is a 400 naming it.
    pub fn from_json(v: &Value) -> Result<S3Settings> {
        serde_json::from_value(v.clone()).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or("").to_string();
            Error::bad_request(format!("Invalid S3 settings: {msg}."))
        })
    }

    /// The 400 naming each missing member (under `prefix`, e.g. `s3.bucket`).
    pub fn check(&self, prefix: &str) -> Result<()> {
        let mut errs = FieldErrors::new();
        for (name, value) in [
            ("bucket", &self.bucket),
            ("region", &self.region),
            ("endpoint", &self.endpoint),
            ("accessKey", &self.access_key),
            ("secret", &self.secret),
        ] {
            if value.trim().is_empty() {
                errs.insert(
                    format!("{prefix}.{name}"),
                    FieldError::new("validation_required", "Cannot be blank."),
                );
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::fields(errs))
        }
    }
}

impl From<&S3FilesConfig> for S3Settings {
    fn from(c: &S3FilesConfig) -> S3Settings {
        S3Settings {
            enabled: true,
            bucket: c.bucket.clone(),
            region: c.region.clone(),
            endpoint: c.endpoint.clone(),
            access_key: c.access_key.clone(),
            secret: c.secret.clone(),
            force_path_style: c.force_path_style,
        }
    }
}

/// Builds the S3 store of `s` (whether `enabled` is not looked at). With an endpoint and
/// without `forcePathStyle`, requests go to `bucket.endpoint` (virtual-hosted style), as
/// PocketBase sends them; without an endpoint, to AWS in `region`.
pub fn open(s: &S3Settings) -> Result<ObjectFileStore> {
    if s.bucket.trim().is_empty() {
        return Err(Error::bad_request("The S3 bucket is not set."));
    }
    let region = if s.region.trim().is_empty() {
        "us-east-1"
    } else {
        s.region.trim()
    };
    let endpoint = s.endpoint.trim().trim_end_matches('/');
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(s.bucket.trim())
        .with_region(region)
        .with_access_key_id(s.access_key.trim())
        .with_secret_access_key(s.secret.trim())
        .with_retry(client::retry())
        .with_client_options(client::options(client::is_http(endpoint)));
    if !endpoint.is_empty() {
        if s.force_path_style {
            b = b.with_endpoint(endpoint);
        } else {
            let hosted = match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{}.{host}", s.bucket.trim()),
                None => format!("https://{}.{endpoint}", s.bucket.trim()),
            };
            b = b.with_endpoint(hosted).with_virtual_hosted_style_request(true);
        }
    }
    let store = b
        .build()
        .map_err(|e| Error::bad_request(format!("Invalid S3 settings: {e}")))?;
    Ok(ObjectFileStore::new("s3", Arc::new(store)))
}
