//! The file-store suite on the local disk.

use std::sync::Arc;

use keel_core::files::FileStore;

#[tokio::test]
async fn local_passes_the_file_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    keel_testkit::files_suite(|| {
        let root = root.clone();
        Box::pin(async move { Arc::new(keel_files::local::open(&root).unwrap()) as Arc<dyn FileStore> })
    })
    .await;
}
