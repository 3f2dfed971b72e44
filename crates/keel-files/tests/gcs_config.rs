//! Google Cloud Storage: no emulator here speaks the XML API `object_store`'s GCS client uses
//! (see docs/files.md), so only its configuration is tested: what builds, and what is refused
//! with the key named.

use keel_core::config::{FilesConfig, FilesProvider, GcsFilesConfig};
use keel_core::files::FileStore;

const KEY: &str = r#"{"gcs_base_url":"http://127.0.0.1:9","disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}"#;

#[test]
fn gcs_builds_from_its_config() {
    let cfg = FilesConfig {
        provider: FilesProvider::Gcs,
        gcs: GcsFilesConfig {
            bucket: "keel".into(),
            service_account_key: KEY.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let store = keel_files::open(&cfg, std::path::Path::new("/nonexistent")).unwrap();
    assert_eq!(store.name(), "gcs");
    assert!(
        !format!("{:?}", cfg.gcs).contains("disable_oauth"),
        "Debug hides the key"
    );
}

#[test]
fn gcs_refuses_a_missing_bucket_or_a_broken_key() {
    let err = keel_files::gcs::open(&GcsFilesConfig::default()).unwrap_err();
    assert!(err.to_string().contains("files.gcs.bucket"), "{err}");
    let err = keel_files::gcs::open(&GcsFilesConfig {
        bucket: "keel".into(),
        service_account_key: "{not json".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("Invalid GCS settings"), "{err}");
    assert!(!err.to_string().contains("{not json"), "the key is not echoed: {err}");
}

#[test]
fn providers_are_chosen_by_files_provider() {
    let dir = tempfile::tempdir().unwrap();
    let local = keel_files::open(&FilesConfig::default(), dir.path()).unwrap();
    assert_eq!(local.name(), "local");
    assert!(dir.path().join("storage").is_dir());
    let s3 = FilesConfig {
        provider: FilesProvider::S3,
        ..Default::default()
    };
    assert!(keel_files::open(&s3, dir.path())
        .unwrap_err()
        .to_string()
        .contains("bucket"));
    let azure = FilesConfig {
        provider: FilesProvider::Azure,
        ..Default::default()
    };
    assert!(keel_files::open(&azure, dir.path())
        .unwrap_err()
        .to_string()
        .contains("files.azure.account"));
}
