//! The audit trail: who did what, when, from where, and whether it worked. Never a
//! secret: entries carry identities, ids and addresses, not passwords, codes or tokens.
//! Entries are appended through `Store::append_audit` (append-only, hash-chained: see
//! `keel-data/src/store/audit.rs`); nothing changes or deletes one but retention.

use serde_json::Value;

use super::{obj, Identity};

/// One audit entry; build it with [`AuditEntry::new`] and the setters.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub event: String,
    pub success: bool,
    /// Who acted: `collection/recordId`, `apikey/keyId`, or "" for a guest.
    pub actor: String,
    pub collection_ref: String,
    pub record_ref: String,
    /// The identity a login tried (an email or username), when there is no record.
    pub identity: String,
    pub ip: String,
    pub user_agent: String,
    pub details: Value,
}

impl AuditEntry {
    /// An entry for `event` (e.g. `auth.login`) that `success`ed or not.
    pub fn new(event: &str, success: bool) -> Self {
        AuditEntry {
            event: event.into(),
            success,
            details: Value::Object(Default::default()),
            ..Default::default()
        }
    }

    /// The record the event is about.
    pub fn record(mut self, collection_id: &str, record_id: &str) -> Self {
        self.collection_ref = collection_id.into();
        self.record_ref = record_id.into();
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// Where the request came from.
    pub fn origin(mut self, ip: impl Into<String>, user_agent: impl Into<String>) -> Self {
        self.ip = ip.into();
        self.user_agent = user_agent.into();
        self
    }

    /// Adds `key: value` to the details.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(m) = &mut self.details {
            m.insert(key.into(), value.into());
        }
        self
    }
}

impl Identity {
    /// Appends `entry`. A failure is logged, never returned: the audit trail must not turn a
    /// login into an error.
    pub async fn audit(&self, entry: AuditEntry) {
        let clip = |s: String| s.chars().take(500).collect::<String>();
        let data = obj(vec![
            ("event", Value::from(entry.event.clone())),
            ("success", Value::Bool(entry.success)),
            ("actor", Value::from(clip(entry.actor))),
            ("collectionRef", Value::from(entry.collection_ref)),
            ("recordRef", Value::from(entry.record_ref)),
            ("identity", Value::from(clip(entry.identity))),
            ("ip", Value::from(clip(entry.ip))),
            ("userAgent", Value::from(clip(entry.user_agent))),
            ("details", entry.details),
        ]);
        if let Err(e) = self.store.append_audit(data).await {
            tracing::error!(error = %e, event = %entry.event, "could not append to the audit trail");
        }
    }
}

impl Identity {
    /// Deletes what has outlived its use: OTPs and MFA sessions older than a day (every
    /// configured duration is shorter), and audit entries older than `audit_days` (0 keeps
    /// them forever). Returns the rows removed.
    pub async fn purge(&self, audit_days: u32) -> keel_core::Result<u64> {
        let now = chrono::Utc::now();
        let day_ago = keel_core::time::format(now - chrono::Duration::days(1));
        let mut n = 0;
        for table in ["_otps", "_mfas"] {
            n += self
                .execute(
                    &format!("DELETE FROM \"{table}\" WHERE \"created\" < $1"),
                    &[Value::from(day_ago.clone())],
                )
                .await?;
        }
        if audit_days > 0 {
            let cutoff = keel_core::time::format(now - chrono::Duration::days(i64::from(audit_days)));
            n += self.store.purge_audit(&cutoff).await?;
        }
        Ok(n)
    }
}
