//! Audit entries of what callers change (collections, settings, roles, API keys), with where
//! the request came from; and reading the trail (`audit:read`).

use keel_auth::AuditEntry;
use keel_core::Error;
use keel_data::{Access, ListParams, Page, Record, RequestInfo};

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// Where a request came from: the client address (the trusted proxy's, else the socket
/// peer's, as the entry point resolved it) and the user agent. Empty when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
}

/// A successful audit entry for `event`, acted by `caller`, from `origin`.
pub fn entry(caller: &Caller, origin: &Origin, event: &str) -> AuditEntry {
    AuditEntry::new(event, true)
        .actor(caller.actor())
        .origin(origin.ip.clone(), origin.user_agent.clone())
}

/// 403 unless `caller` may read the audit trail; entry points may call it before parsing a
/// query.
pub fn may_read(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::AuditRead)
}

/// A page of the audit trail (`_audit`, newest first unless `params` sorts). `req` is the
/// caller's own request context: the trail is open to them, but a filter still may not reach
/// hidden fields (of `@collection.*` joins) unless they are a superuser.
pub async fn list(app: &App, caller: &Caller, params: &ListParams, req: &RequestInfo) -> Result<Page<Record>, Error> {
    may_read(caller)?;
    let collection = app.store.collection(keel_data::system::AUDIT)?;
    let mut params = params.clone();
    if params.sort.is_none() {
        params.sort = Some("-created".into());
    }
    app.store
        .list_records(&collection, &params, req, Access::Superuser)
        .await
}
