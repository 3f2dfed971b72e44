//! Application settings in PocketBase's shape, persisted as the `settings` param and cached
//! in memory: readers take a snapshot (`Settings::get`), never the database. [`update`]
//! applies a superuser's change (merge, validation, audit).

use std::sync::{Arc, RwLock};

use keel_data::Store;

mod data;
pub mod ip_match;
mod test;
mod update;

pub use data::{Batch, Changes, Logs, Meta, RateLimitRule, RateLimits, Review, SettingsData, Smtp};
pub use test::{test_email, test_s3};
pub use update::{public_json, update, WRITE_ONLY};

const PARAM_KEY: &str = "settings";

/// PocketBase's `superuserIPs`: a superuser's credential used from an address outside the
/// list is refused with a 403 (an empty list accepts every address).
pub fn check_superuser_ip(settings: &SettingsData, caller: &crate::Caller, ip: &str) -> Result<(), keel_core::Error> {
    if settings.superuser_ips.is_empty() || !caller.is_superuser() || ip_match::allowed(&settings.superuser_ips, ip) {
        return Ok(());
    }
    Err(keel_core::Error::Forbidden(
        "The superuser IP is not whitelisted (settings.superuserIPs).".into(),
    ))
}

/// The bus topic on which a process announces that it saved new settings.
pub const TOPIC: &str = "settings";

/// The live settings: a snapshot behind a lock, swapped whole on update.
pub struct Settings {
    current: RwLock<Arc<SettingsData>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            current: RwLock::new(Arc::new(SettingsData::default())),
        }
    }
}

impl Settings {
    /// Loads the stored settings (defaults for a fresh data dir).
    pub async fn load(store: &Store) -> keel_core::Result<Settings> {
        let data = match store.get_param(PARAM_KEY).await? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => SettingsData::default(),
        };
        Ok(Settings {
            current: RwLock::new(Arc::new(data)),
        })
    }

    /// Re-reads the stored settings (another process saved new ones).
    pub async fn reload(&self, store: &Store) -> keel_core::Result<()> {
        let fresh = Settings::load(store).await?.get();
        self.swap(fresh);
        Ok(())
    }

    fn swap(&self, data: Arc<SettingsData>) {
        match self.current.write() {
            Ok(mut g) => *g = data,
            Err(p) => *p.into_inner() = data,
        }
    }

    /// The current settings.
    pub fn get(&self) -> Arc<SettingsData> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Persists then publishes new settings.
    pub async fn replace(&self, store: &Store, data: SettingsData) -> keel_core::Result<Arc<SettingsData>> {
        let v = serde_json::to_value(&data).map_err(keel_core::Error::wrap)?;
        store.set_param(PARAM_KEY, &v).await?;
        let data = Arc::new(data);
        self.swap(data.clone());
        Ok(data)
    }
}
