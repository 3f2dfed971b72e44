//! The notifications service: who gets what, when, on which channel.
//!
//! A send ([`send`]) resolves recipients (users, raw addresses, a topic's subscribers),
//! renders the template per channel ([`templates`]), writes one `_notifications` row per
//! recipient (the history, and the in-app inbox the recipient reads and hears over realtime)
//! and one `_notificationDeliveries` row per recipient and channel, then enqueues one job per
//! delivery on the system queue `_keel-notify` ([`worker`]). Preferences ([`prefs`]) opt a
//! user out of a topic's channel and hold quiet hours in their time zone: a delivery inside
//! them is delayed to the window's end; a topic with a digest window collects deliveries per
//! window and sends one message when it closes; `critical` bypasses both. Rules ([`rules`])
//! turn events into notifications and escalate unacknowledged ones.
//!
//! Time comes from the service's [`Clock`] (real time unless a test sets one); jobs are
//! delayed in real time by the same amount, and [`timers::release_due`] runs at once what the
//! clock says is due (tests call it after moving the clock).

pub mod devices;
pub mod inbox;
pub mod prefs;
pub mod recover;
pub mod rules;
pub mod send;
pub mod settings_smtp;
pub mod templates;
pub mod timers;
pub mod topics;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use keel_core::notify::{Channel, Notifier};
use keel_core::{Error, Result};
use keel_data::{Access, Collection, Record, RequestInfo};
use keel_notify::ratelimit::TokenBucket;

use crate::authz::{authorize, Permission};
use crate::caller::{Caller, INVALID_TOKEN};
use crate::App;

pub use send::{send, SendRequest, SendResult, To};

pub(crate) use crate::rows::{col, find, get, insert, lit, not_found, patch, remove, str_of};

/// The outbox kind (and so the system queue `_keel-notify`) of delivery jobs.
pub const KIND: &str = "notify";

/// The email channel: the configured email provider, else the settings' SMTP server when
/// enabled. Notifications and the auth emails both send through it.
pub fn email_channel(app: &App) -> Option<Arc<dyn Notifier>> {
    app.notifications
        .notifier(Channel::Email)
        .or_else(|| settings_smtp::SettingsSmtp::if_enabled(&app.settings))
}

/// What time it is for the service.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The service's process state: its clock, its channel providers and their rate limits.
pub struct Notifications {
    clock: RwLock<Clock>,
    notifiers: RwLock<Vec<Arc<dyn Notifier>>>,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl Default for Notifications {
    /// Real time, no providers (in-app only).
    fn default() -> Self {
        Notifications::new(Vec::new())
    }
}

impl Notifications {
    /// The service over `notifiers` (one per configured provider), on real time.
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>) -> Notifications {
        Notifications {
            clock: RwLock::new(Arc::new(Utc::now)),
            notifiers: RwLock::new(notifiers),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The service's now.
    pub fn now(&self) -> DateTime<Utc> {
        let clock = self.clock.read().map(|c| c.clone());
        match clock {
            Ok(c) => c(),
            Err(_) => Utc::now(),
        }
    }

    /// Replaces the clock (tests).
    pub fn set_clock(&self, clock: Clock) {
        if let Ok(mut c) = self.clock.write() {
            *c = clock;
        }
    }

    /// Replaces the providers (the binary's wiring, tests).
    pub fn set_notifiers(&self, notifiers: Vec<Arc<dyn Notifier>>) {
        if let Ok(mut n) = self.notifiers.write() {
            *n = notifiers;
        }
    }

    /// The first provider of `channel`.
    pub fn notifier(&self, channel: Channel) -> Option<Arc<dyn Notifier>> {
        let n = self.notifiers.read().ok()?;
        n.iter().find(|n| n.channel() == channel).cloned()
    }

    /// Takes one send of `notifier`'s rate, or says how long until one is free.
    pub fn take_token(&self, notifier: &dyn Notifier) -> std::result::Result<(), Duration> {
        let Some(rate) = notifier.rate_per_second() else {
            return Ok(());
        };
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        buckets
            .entry(notifier.name().to_string())
            .or_insert_with(|| TokenBucket::new(rate, now))
            .take(now)
    }

    /// How long from real now a job must wait to run at the service's `due` (`None`: now).
    pub fn delay_until(&self, due: DateTime<Utc>) -> Option<Duration> {
        (due - self.now()).to_std().ok().filter(|d| !d.is_zero())
    }
}

/// Who owns a row: an auth record by collection id and record id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub collection: String,
    pub record: String,
}

impl Owner {
    /// The caller's own auth record; 401 for guests and API keys (they have no inbox).
    pub fn of(caller: &Caller) -> Result<Owner> {
        match &caller.auth {
            Some(a) => Ok(Owner {
                collection: a.collection.id.clone(),
                record: a.id().to_string(),
            }),
            None => Err(Error::Unauthorized(INVALID_TOKEN.into())),
        }
    }

    /// The owner of a row with `collectionRef` and `recordRef`.
    pub fn of_row(r: &Record) -> Owner {
        Owner {
            collection: str_of(&r.data, "collectionRef").to_string(),
            record: str_of(&r.data, "recordRef").to_string(),
        }
    }

    /// A filter matching rows of this owner.
    fn filter(&self) -> String {
        format!(
            "collectionRef = {} && recordRef = {}",
            lit(&self.collection),
            lit(&self.record)
        )
    }
}

/// `owner` when the caller is them, or when the caller holds `notifications:manage`.
pub fn may_act_for(caller: &Caller, owner: &Owner) -> Result<()> {
    if Owner::of(caller).ok().as_ref() == Some(owner) {
        return Ok(());
    }
    authorize(caller, Permission::NotificationsManage)
}

/// The owner named by `user` in `collection` (default `users`): 400 naming `field` when absent.
pub async fn user_owner(
    app: &App,
    collection: Option<&str>,
    user: &str,
    field: &str,
) -> Result<(Arc<Collection>, Record)> {
    let name = collection.filter(|c| !c.is_empty()).unwrap_or("users");
    let col = app.store.collection(name).ok().filter(|c| c.is_auth()).ok_or_else(|| {
        Error::field(
            field,
            "validation_unknown_collection",
            format!("No auth collection {name:?}."),
        )
    })?;
    match app
        .store
        .get_record(&col, user, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(r) => Ok((col, r)),
        Err(Error::NotFound(_)) => Err(Error::field(
            field,
            "validation_unknown_user",
            format!("No record {user:?} in {name:?}."),
        )),
        Err(e) => Err(e),
    }
}
