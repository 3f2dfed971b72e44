//! Authorization: the one function that decides whether a caller holds a permission.
//!
//! Services name what they need as a [`Permission`] and call [`authorize`]. Superusers hold
//! every permission; other callers hold what their roles grant (an auth record's assigned
//! roles, or an API key's roles). [`may_grant`] is the anti-escalation check for handing
//! permissions on (to a role, a role member or an API key).

use keel_core::Error;

use crate::caller::{Caller, INVALID_TOKEN};

/// Something a caller may be allowed to do, named `service:action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read cache values and a namespace's stats.
    CacheRead,
    /// Write, delete and invalidate cache values.
    CacheWrite,
    /// Administer a cache namespace (clear it).
    CacheAdmin,
    /// Enqueue jobs.
    JobsEnqueue,
    /// Work jobs: claim them, then heartbeat, report progress, complete or fail them.
    JobsWork,
    /// Read jobs, queues, their settings and counts, and receive `jobs/{queue}` realtime events.
    JobsRead,
    /// Administer jobs and queues: retry, cancel, change settings, pause and resume.
    JobsAdmin,
    /// List and view collection schemas (`/api/collections`).
    CollectionsRead,
    /// Create, change, truncate and delete collections.
    CollectionsManage,
    /// Read roles, their members and a record's roles.
    RolesRead,
    /// Create, change and delete custom roles; assign and unassign roles.
    RolesManage,
    /// Create, list, rotate and revoke API keys.
    ApiKeysManage,
    /// Read the audit trail.
    AuditRead,
    /// Read the Prometheus metrics (`/metrics`).
    MetricsRead,
    /// Skip collection rules on the records API (list, view, create, update, delete,
    /// batch, files, expand, realtime) as a superuser does, on every collection but the
    /// system ones (`_…`): for service accounts that own the data.
    RecordsManage,
    /// Create, list, change, rotate and delete webhook endpoints; read, redeliver and test
    /// their deliveries.
    WebhooksManage,
    /// Send notifications (`POST /api/notifications/send`).
    NotificationsSend,
    /// Manage notification templates, topics, rules, and everyone's preferences and subscriptions.
    NotificationsManage,
    /// Read every notification and its deliveries (not only one's own).
    NotificationsRead,
    /// Read runbooks, their versions, runs, steps and logs; follow runs live.
    OpsRead,
    /// Launch, cancel and rerun runs.
    OpsRun,
    /// Approve or reject a run's approval step (never one's own run).
    OpsApprove,
    /// Create, change, import and delete runbooks.
    OpsManage,
    /// List and view the vault's secrets: metadata only, never their data.
    VaultRead,
    /// Read a secret's data (`POST /api/vault/secrets/{id}/reveal`, audited).
    VaultReveal,
    /// Create, change and delete secrets (their data is write-only).
    VaultManage,
    /// Classify proposed collection changes (with counts from the data) and diff API
    /// documents (`/api/changes/classify`, `/api/changes/api-diff`).
    ChangesRead,
    /// List free-standing search indexes and search them (`/api/search/indexes`).
    SearchRead,
    /// Add, replace and delete documents of free-standing search indexes.
    SearchWrite,
    /// Create, change and delete free-standing search indexes.
    SearchManage,
    /// Approve or reject others' proposed collection changes (`/api/changes/{id}/approve`,
    /// `/reject`); never one's own.
    ChangesApprove,
}

impl Permission {
    /// The permission's name, e.g. `cache:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CacheRead => "cache:read",
            Permission::CacheWrite => "cache:write",
            Permission::CacheAdmin => "cache:admin",
            Permission::JobsEnqueue => "jobs:enqueue",
            Permission::JobsWork => "jobs:work",
            Permission::JobsRead => "jobs:read",
            Permission::JobsAdmin => "jobs:admin",
            Permission::CollectionsRead => "collections:read",
            Permission::CollectionsManage => "collections:manage",
            Permission::RolesRead => "roles:read",
            Permission::RolesManage => "roles:manage",
            Permission::ApiKeysManage => "apikeys:manage",
            Permission::AuditRead => "audit:read",
            Permission::MetricsRead => "metrics:read",
            Permission::RecordsManage => "records:manage",
            Permission::WebhooksManage => "webhooks:manage",
            Permission::NotificationsSend => "notifications:send",
            Permission::NotificationsManage => "notifications:manage",
            Permission::NotificationsRead => "notifications:read",
            Permission::OpsRead => "ops:read",
            Permission::OpsRun => "ops:run",
            Permission::OpsApprove => "ops:approve",
            Permission::OpsManage => "ops:manage",
            Permission::VaultRead => "vault:read",
            Permission::VaultReveal => "vault:reveal",
            Permission::VaultManage => "vault:manage",
            Permission::ChangesRead => "changes:read",
            Permission::SearchRead => "search:read",
            Permission::SearchWrite => "search:write",
            Permission::SearchManage => "search:manage",
            Permission::ChangesApprove => "changes:approve",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Ok` if `caller` holds `permission`: 401 for a guest, 403 naming the permission otherwise.
pub fn authorize(caller: &Caller, permission: Permission) -> Result<(), Error> {
    if caller.is_superuser() || keel_auth::permissions::grants(&caller.permissions, permission.as_str()) {
        Ok(())
    } else if caller.is_guest() {
        Err(Error::Unauthorized(INVALID_TOKEN.into()))
    } else {
        Err(Error::Forbidden(format!(
            "You are not allowed to perform this request (missing permission {permission})."
        )))
    }
}

/// [`authorize`] for enqueueing into or claiming from `queue`: Keel's own queues
/// (`_keel-…`, the outbox's emails) are refused to every caller, superusers included, since a
/// job put there would be sent as Keel's email and a job taken from there would never be.
pub fn authorize_queue_work(caller: &Caller, permission: Permission, queue: &str) -> Result<(), Error> {
    authorize(caller, permission)?;
    if keel_jobs::is_system_queue(queue) {
        return Err(keel_jobs::system_queue_refused(queue));
    }
    Ok(())
}

/// `Ok` if `caller` may hand on every permission in `permissions` (what `what` grants, e.g.
/// `the role "editor"`): superusers may hand on anything, others only permissions they hold
/// themselves ([`keel_auth::permissions::covers`]: `*` only if they hold `*`). Else a 403
/// naming the first permission they lack.
pub fn may_grant<S: AsRef<str>>(caller: &Caller, what: &str, permissions: &[S]) -> Result<(), Error> {
    if caller.is_superuser() {
        return Ok(());
    }
    match permissions
        .iter()
        .map(AsRef::as_ref)
        .find(|p| !keel_auth::permissions::covers(&caller.permissions, p))
    {
        None => Ok(()),
        Some(p) => Err(Error::Forbidden(format!(
            "You cannot grant {what}: it holds the permission {p}, which you do not hold."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_401() {
        let err = authorize(&Caller::guest(), Permission::CacheRead).unwrap_err();
        assert!(matches!(err, Error::Unauthorized(_)));
    }

    #[test]
    fn names_are_service_colon_action() {
        assert_eq!(Permission::CacheRead.to_string(), "cache:read");
        assert_eq!(Permission::CacheWrite.as_str(), "cache:write");
        assert_eq!(Permission::CacheAdmin.as_str(), "cache:admin");
        assert_eq!(Permission::JobsEnqueue.as_str(), "jobs:enqueue");
        assert_eq!(Permission::JobsWork.as_str(), "jobs:work");
        assert_eq!(Permission::JobsRead.to_string(), "jobs:read");
        assert_eq!(Permission::JobsAdmin.as_str(), "jobs:admin");
        assert_eq!(Permission::RolesRead.as_str(), "roles:read");
        assert_eq!(Permission::RolesManage.as_str(), "roles:manage");
        assert_eq!(Permission::ApiKeysManage.as_str(), "apikeys:manage");
        assert_eq!(Permission::AuditRead.to_string(), "audit:read");
        assert_eq!(Permission::MetricsRead.to_string(), "metrics:read");
        assert_eq!(Permission::WebhooksManage.as_str(), "webhooks:manage");
    }

    fn caller_of(collection: keel_data::Collection) -> Caller {
        Caller::record(Some(keel_data::AuthRecord::new(
            std::sync::Arc::new(collection),
            Default::default(),
        )))
    }

    #[test]
    fn superusers_hold_every_permission_and_others_get_403_naming_it() {
        let su = caller_of(keel_data::Collection::default_superusers());
        let user = caller_of(keel_data::Collection::default_users());
        for p in [
            Permission::CacheRead,
            Permission::CacheWrite,
            Permission::CacheAdmin,
            Permission::JobsEnqueue,
            Permission::JobsWork,
            Permission::JobsRead,
            Permission::JobsAdmin,
            Permission::RolesRead,
            Permission::RolesManage,
            Permission::ApiKeysManage,
            Permission::AuditRead,
            Permission::VaultRead,
            Permission::VaultReveal,
            Permission::VaultManage,
            Permission::SearchRead,
            Permission::SearchWrite,
            Permission::SearchManage,
        ] {
            assert!(authorize(&su, p).is_ok(), "{p}");
            match authorize(&user, p) {
                Err(Error::Forbidden(m)) => assert!(m.contains(p.as_str()), "{m}"),
                other => panic!("{p}: expected a 403, got {other:?}"),
            }
        }
    }

    #[test]
    fn guests_get_401_for_job_permissions_too() {
        for p in [
            Permission::JobsEnqueue,
            Permission::JobsWork,
            Permission::JobsRead,
            Permission::JobsAdmin,
        ] {
            let err = authorize(&Caller::guest(), p).unwrap_err();
            assert!(matches!(err, Error::Unauthorized(_)), "{p}");
        }
    }

    fn with_permissions(permissions: &[&str]) -> Caller {
        let mut c = caller_of(keel_data::Collection::default_users());
        c.permissions = permissions.iter().map(|p| p.to_string()).collect::<Vec<_>>().into();
        c
    }

    #[test]
    fn roles_grant_their_permissions() {
        let op = with_permissions(&["jobs:*", "roles:read"]);
        assert!(authorize(&op, Permission::JobsAdmin).is_ok());
        assert!(authorize(&op, Permission::RolesRead).is_ok());
        match authorize(&op, Permission::RolesManage) {
            Err(Error::Forbidden(m)) => assert!(m.contains("roles:manage"), "{m}"),
            other => panic!("expected a 403, got {other:?}"),
        }
    }

    #[test]
    fn only_held_permissions_may_be_granted() {
        let su = caller_of(keel_data::Collection::default_superusers());
        assert!(may_grant(&su, "x", &["*"]).is_ok());
        let op = with_permissions(&["jobs:*", "roles:manage"]);
        assert!(may_grant(&op, "x", &["jobs:read", "jobs:*"]).is_ok());
        assert!(may_grant::<&str>(&op, "x", &[]).is_ok());
        for (wanted, lacking) in [(vec!["jobs:read", "cache:read"], "cache:read"), (vec!["*"], "*")] {
            match may_grant(&op, "the role \"r\"", &wanted) {
                Err(Error::Forbidden(m)) => {
                    assert!(m.contains(&format!("permission {lacking},")), "{m}")
                }
                other => panic!("expected a 403, got {other:?}"),
            }
        }
    }
}
