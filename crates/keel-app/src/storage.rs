//! Which file store the app uses: the one `[files]` configures, unless a superuser enabled
//! S3 in the settings (`settings.s3`, PocketBase's shape), which then takes over for every
//! read and write from the next request on, without a restart, as in PocketBase. Files
//! already stored elsewhere stay where they are (PocketBase does not move them either).
//!
//! The S3 store is built once per distinct `settings.s3` and kept while it is unchanged.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use keel_core::files::{ByteStream, FileMeta, FileObject, FileStore, FileStoreCapabilities};
use keel_core::{Error, Result};
use keel_files::S3Settings;

use crate::settings::{Settings, SettingsData};

/// The app's `FileStore`: `[files]`'s provider, or S3 when `settings.s3.enabled`.
pub struct Storage {
    base: Arc<dyn FileStore>,
    settings: Arc<Settings>,
    /// The settings snapshot last looked at, and the store it selected.
    current: Mutex<Option<Selected>>,
}

struct Selected {
    snapshot: Arc<SettingsData>,
    s3: Option<(S3Settings, Arc<dyn FileStore>)>,
}

impl Storage {
    pub fn new(base: Arc<dyn FileStore>, settings: Arc<Settings>) -> Storage {
        Storage {
            base,
            settings,
            current: Mutex::new(None),
        }
    }

    /// The store the current settings select.
    pub fn active(&self) -> Result<Arc<dyn FileStore>> {
        let snapshot = self.settings.get();
        let mut guard = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(sel) = guard.as_ref() {
            if Arc::ptr_eq(&sel.snapshot, &snapshot) {
                return Ok(sel.s3.as_ref().map_or_else(|| self.base.clone(), |(_, s)| s.clone()));
            }
        }
        let wanted = S3Settings::from_json(&snapshot.s3).ok().filter(|s| s.enabled);
        let s3 = match wanted {
            None => None,
            Some(w) => match guard.as_mut().and_then(|sel| sel.s3.take()) {
                Some((have, store)) if have == w => Some((have, store)),
                _ => {
                    let store = keel_files::s3::open(&w).map_err(|e| {
                        Error::internal(format!("the S3 file storage in the settings cannot be used: {e}"))
                    })?;
                    Some((w, Arc::new(store) as Arc<dyn FileStore>))
                }
            },
        };
        let active = s3.as_ref().map_or_else(|| self.base.clone(), |(_, s)| s.clone());
        *guard = Some(Selected { snapshot, s3 });
        Ok(active)
    }
}

#[async_trait]
impl FileStore for Storage {
    fn name(&self) -> &'static str {
        self.active().map(|s| s.name()).unwrap_or("s3")
    }

    fn capabilities(&self) -> FileStoreCapabilities {
        self.active().map(|s| s.capabilities()).unwrap_or_default()
    }

    async fn put(&self, key: &str, data: ByteStream) -> Result<u64> {
        self.active()?.put(key, data).await
    }

    async fn get(&self, key: &str) -> Result<FileObject> {
        self.active()?.get(key).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<FileObject> {
        self.active()?.get_range(key, range).await
    }

    async fn head(&self, key: &str) -> Result<FileMeta> {
        self.active()?.head(key).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.active()?.delete(key).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        self.active()?.delete_prefix(prefix).await
    }

    async fn ping(&self) -> Result<()> {
        self.active()?.ping().await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<keel_core::files::ListedFile>> {
        self.active()?.list(prefix).await
    }
}
