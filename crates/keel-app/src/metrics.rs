//! Who may read the Prometheus metrics (`[metrics]`): anyone when `access = "public"`, a
//! loopback peer no proxy forwarded when `access = "loopback"`, the `[metrics] token` bearer,
//! else a caller holding `metrics:read`.

use keel_core::config::{MetricsAccess, MetricsConfig};
use keel_core::Error;

use crate::authz::{authorize, Permission};
use crate::Caller;

/// Whether the metrics are open to this request without resolving its caller: `direct_loopback`
/// says the peer is a loopback address and no proxy forwarded the request; `bearer` is the
/// request's bearer token, if any.
pub fn open_without_caller(cfg: &MetricsConfig, direct_loopback: bool, bearer: Option<&str>) -> bool {
    match cfg.access {
        MetricsAccess::Public => return true,
        MetricsAccess::Loopback if direct_loopback => return true,
        _ => {}
    }
    match bearer {
        Some(raw) if !cfg.token.is_empty() => {
            // Hashes first: equal lengths, so the comparison's time says nothing.
            let (given, wanted) = (
                keel_auth::secret::sha256_hex(raw),
                keel_auth::secret::sha256_hex(&cfg.token),
            );
            keel_auth::secret::constant_time_eq(&given, &wanted)
        }
        _ => false,
    }
}

/// `Ok` when `caller` may read the metrics (`metrics:read`).
pub fn authorize_reader(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::MetricsRead)
}
