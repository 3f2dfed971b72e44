//! Audit entries of what callers change (collections, settings, roles, API keys), with where
//! the request came from.

use keel_auth::AuditEntry;

use crate::caller::Caller;

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
