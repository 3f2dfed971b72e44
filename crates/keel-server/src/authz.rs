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
}

impl Permission {
    /// The permission's name, e.g. `cache:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CacheRead => "cache:read",
            Permission::CacheWrite => "cache:write",
            Permission::CacheAdmin => "cache:admin",
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
    match &caller.0 {
        None => Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        )),
        Some(_) if caller.is_superuser() => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!(
            "You are not allowed to perform this request (missing permission {permission})."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_401() {
        let err = authorize(&Caller(None), Permission::CacheRead).unwrap_err();
        assert!(matches!(err.0, keel_core::Error::Unauthorized(_)));
    }

    #[test]
    fn names_are_service_colon_action() {
        assert_eq!(Permission::CacheRead.to_string(), "cache:read");
        assert_eq!(Permission::CacheWrite.as_str(), "cache:write");
        assert_eq!(Permission::CacheAdmin.as_str(), "cache:admin");
    }
}
