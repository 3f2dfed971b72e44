//! Authorization: the one function that decides whether a caller holds a permission.
//!
//! Services name what they need as a [`Permission`] and call [`authorize`]. Today only
//! superusers hold permissions; roles and API keys will plug in here without touching the
//! handlers.

use crate::error::ApiError;
use crate::request::Caller;

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
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Ok` if `caller` holds `permission`: 401 for a guest, 403 naming the permission otherwise.
pub fn authorize(caller: &Caller, permission: Permission) -> Result<(), ApiError> {
    if caller.is_superuser() || keel_auth::permissions::grants(&caller.permissions, permission.as_str()) {
        Ok(())
    } else if caller.is_guest() {
        Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        ))
    } else {
        Err(ApiError::forbidden(format!(
            "You are not allowed to perform this request (missing permission {permission})."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_401() {
        let err = authorize(&Caller::guest(), Permission::CacheRead).unwrap_err();
        assert!(matches!(err.0, keel_core::Error::Unauthorized(_)));
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
    }

    fn caller_of(collection: keel_data::Collection) -> Caller {
        Caller::record(Some(keel_data::AuthRecord {
            collection: std::sync::Arc::new(collection),
            record: Default::default(),
        }))
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
        ] {
            assert!(authorize(&su, p).is_ok(), "{p}");
            match authorize(&user, p) {
                Err(ApiError(keel_core::Error::Forbidden(m))) => assert!(m.contains(p.as_str()), "{m}"),
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
            assert!(matches!(err.0, keel_core::Error::Unauthorized(_)), "{p}");
        }
    }
}
