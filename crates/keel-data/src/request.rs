//! Who is asking and with what: the `@request.*` side of rules and filters.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::schema::{Collection, RecordData, SUPERUSERS_ID};

/// An authenticated auth record.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub collection: Arc<Collection>,
    pub record: RecordData,
}

impl AuthRecord {
    pub fn id(&self) -> &str {
        self.record.get("id").and_then(Value::as_str).unwrap_or("")
    }
}

/// The request a rule or filter is evaluated for (`@request.*`).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// `@request.auth.*`; `None` for a guest.
    pub auth: Option<AuthRecord>,
    /// `@request.method` (upper case).
    pub method: String,
    /// `@request.query.*`: query parameters.
    pub query: Map<String, Value>,
    /// `@request.headers.*`: header names lower-cased with `-` turned into `_`.
    pub headers: Map<String, Value>,
    /// `@request.body.*`: the submitted fields (JSON or multipart; file fields hold file names).
    pub body: Map<String, Value>,
    /// `@request.context`: `default`, `realtime`, `protectedFile`, `oauth2`, `batch`.
    pub context: String,
}

impl RequestInfo {
    pub fn is_superuser(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.collection.id == SUPERUSERS_ID)
    }
}

/// How an operation is checked. The server turns a `null` rule into a 403 for
/// non-superusers before calling the store, so the store only sees these two.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// No check (superusers, internal callers).
    Superuser,
    /// The collection's rule for the operation; `""` lets anyone through.
    Rule(&'a str),
}

impl<'a> Access<'a> {
    /// The access for `rule` given the request: superusers skip every rule;
    /// `None` means the caller must get a 403 (the rule is superusers-only).
    pub fn for_rule(rule: &'a Option<String>, req: &RequestInfo) -> Option<Access<'a>> {
        if req.is_superuser() {
            return Some(Access::Superuser);
        }
        rule.as_deref().map(Access::Rule)
    }
}
