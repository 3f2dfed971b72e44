//! The file-store suite on Azure Blob Storage (Azurite).

use std::sync::Arc;

use keel_core::config::AzureFilesConfig;
use keel_core::files::FileStore;
use keel_testkit::object_servers::{Azurite, AZURITE_ACCOUNT, AZURITE_KEY};

#[tokio::test]
async fn azure_passes_the_file_store_suite() {
    let Some(az) = Azurite::start().await else { return };
    let cfg = AzureFilesConfig {
        account: AZURITE_ACCOUNT.into(),
        access_key: AZURITE_KEY.into(),
        container: az.container.clone(),
        endpoint: az.endpoint.clone(),
    };
    keel_testkit::files_suite(|| {
        let cfg = cfg.clone();
        Box::pin(async move { Arc::new(keel_files::azure::open(&cfg).unwrap()) as Arc<dyn FileStore> })
    })
    .await;
}
