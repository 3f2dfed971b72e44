//! The Azure Blob Storage provider (`[files.azure]`): a container of a storage account,
//! signed with the account's access key (Shared Key). Azurite is the emulator it is tested on.

use std::sync::Arc;

use keel_core::config::AzureFilesConfig;
use keel_core::{Error, Result};
use object_store::azure::MicrosoftAzureBuilder;

use crate::{client, ObjectFileStore};

/// Builds the Azure store of `c`.
pub fn open(c: &AzureFilesConfig) -> Result<ObjectFileStore> {
    for (key, value) in [
        ("files.azure.account", &c.account),
        ("files.azure.access_key", &c.access_key),
        ("files.azure.container", &c.container),
    ] {
        if value.trim().is_empty() {
            return Err(Error::bad_request(format!("{key} is not set.")));
        }
    }
    let endpoint = c.endpoint.trim().trim_end_matches('/');
    let mut b = MicrosoftAzureBuilder::new()
        .with_account(c.account.trim())
        .with_access_key(c.access_key.trim())
        .with_container_name(c.container.trim())
        .with_retry(client::retry())
        .with_client_options(client::options(client::is_http(endpoint)));
    if !endpoint.is_empty() {
        b = b.with_endpoint(endpoint.to_string());
    }
    let store = b
        .build()
        .map_err(|e| Error::bad_request(format!("Invalid Azure settings: {e}")))?;
    Ok(ObjectFileStore::new("azure", Arc::new(store)))
}
