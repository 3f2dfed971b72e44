//! The file-store suite on S3 (moto), configured as PocketBase's `settings.s3` is.

use std::sync::Arc;

use keel_core::files::FileStore;
use keel_testkit::object_servers::Moto;
use serde_json::json;

#[tokio::test]
async fn s3_passes_the_file_store_suite() {
    let Some(moto) = Moto::start().await else { return };
    let settings = json!({
        "enabled": true, "bucket": moto.bucket, "region": "us-east-1", "endpoint": moto.endpoint,
        "accessKey": "test", "secret": "test", "forcePathStyle": true,
    });
    keel_testkit::files_suite(|| {
        let settings = settings.clone();
        Box::pin(async move { Arc::new(keel_files::from_s3_settings(&settings).unwrap()) as Arc<dyn FileStore> })
    })
    .await;
}

#[tokio::test]
async fn s3_settings_are_checked() {
    let err = keel_files::from_s3_settings(&json!({"bucket": 5})).unwrap_err();
    assert!(err.to_string().contains("Invalid S3 settings"), "{err}");
    let err = keel_files::from_s3_settings(&json!({"bucket": ""})).unwrap_err();
    assert!(err.to_string().contains("bucket"), "{err}");
    let s = keel_files::S3Settings::from_json(&json!({"bucket": "b", "secret": "hunter2"})).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"), "Debug hides the secret");
}

#[tokio::test]
async fn a_wrong_s3_endpoint_fails_quickly() {
    // Nothing listens there: the bounded retries give up well within the test's patience.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = keel_files::from_s3_settings(&json!({
        "bucket": "keel", "region": "us-east-1", "endpoint": format!("http://127.0.0.1:{port}"),
        "accessKey": "a", "secret": "b", "forcePathStyle": true,
    }))
    .unwrap();
    assert!(store.ping().await.is_err());
}
