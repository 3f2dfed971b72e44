//! Turning one batch request into a store `BatchOp`: collection, rule, body and files, with
//! the same preparation as the single-record endpoints.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, Uri};
use keel_core::Error;
use keel_data::{Access, BatchOp, Collection, Record, RequestInfo};
use serde_json::{Map, Value};

use super::target::{self, Action};
use crate::request::{request_info, Caller};
use crate::routes::records::input::{Submitted, Upload};
use crate::routes::records::params::Query;
use crate::routes::records::uploads::PendingFile;
use crate::routes::records::write::{prepare_create, prepare_update};
use crate::state::AppState;

/// A prepared batch request: the store operation and what answering it needs afterwards.
pub struct PreparedOp {
    pub op: BatchOp,
    pub kind: Action,
    /// The record before an update (to delete files it no longer references).
    pub before: Option<Record>,
    pub pending: Vec<PendingFile>,
    pub query: Query,
    pub req: RequestInfo,
}

/// One raw request of the batch body.
pub struct RawRequest {
    pub method: String,
    pub url: String,
    pub body: Map<String, Value>,
    pub uploads: Vec<Upload>,
}

/// The rule a store batch operation carries: `None` = no check (superusers); a null rule for
/// anyone else is refused here with a 403.
fn rule_for(collection: &Collection, rule: &Option<String>, req: &RequestInfo) -> Result<Option<String>, Error> {
    match Access::for_rule(collection, rule, req) {
        None => Err(Error::Forbidden("Only superusers can perform this action.".into())),
        Some(Access::Superuser) => Ok(None),
        Some(Access::Rule(r)) => Ok(Some(r.to_string())),
    }
}

/// Prepares one batch request.
pub async fn prepare(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    raw: RawRequest,
) -> Result<PreparedOp, Error> {
    let target = target::parse(&raw.method, &raw.url)?;
    let collection: Arc<Collection> = state.store.collection(&target.collection)?;
    let method = Method::from_bytes(raw.method.to_ascii_uppercase().as_bytes()).unwrap_or(Method::POST);
    let uri: Uri = raw.url.parse().unwrap_or_else(|_| Uri::from_static("/api/batch"));
    let mut req = request_info(caller, &method, &uri, headers, raw.body.clone());
    req.context = "batch".into();
    let query = Query::from_query_str(&target.query);
    let submitted = Submitted {
        data: raw.body,
        uploads: raw.uploads,
    };

    let mut kind = target.action;
    let mut id = target.id.clone();
    if kind == Action::Upsert {
        let existing = match submitted
            .data
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(body_id) => match state
                .store
                .get_record(&collection, body_id, &RequestInfo::default(), Access::Superuser)
                .await
            {
                Ok(_) => Some(body_id.to_string()),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        kind = if existing.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        id = existing;
    }
    let record_id = id.unwrap_or_default();

    match kind {
        Action::Create | Action::Upsert => {
            let rule = rule_for(&collection, &collection.create_rule, &req)?;
            let prepared = prepare_create(&collection, submitted, req.skips_rules(&collection))?;
            req.body = prepared.body;
            let op = BatchOp::Create {
                collection,
                data: prepared.data,
                rule,
            };
            Ok(PreparedOp {
                op,
                kind: Action::Create,
                before: None,
                pending: prepared.pending,
                query,
                req,
            })
        }
        Action::Update => {
            let rule = rule_for(&collection, &collection.update_rule, &req)?;
            let access = rule.as_deref().map_or(Access::Superuser, Access::Rule);
            let current = state.store.get_record(&collection, &record_id, &req, access).await?;
            let prepared = prepare_update(state, &collection, &current, submitted, &req).await?;
            req.body = prepared.body;
            let op = BatchOp::Update {
                collection,
                id: record_id,
                data: prepared.data,
                rule,
            };
            Ok(PreparedOp {
                op,
                kind,
                before: Some(current),
                pending: prepared.pending,
                query,
                req,
            })
        }
        Action::Delete => {
            let rule = rule_for(&collection, &collection.delete_rule, &req)?;
            let op = BatchOp::Delete {
                collection,
                id: record_id,
                rule,
            };
            Ok(PreparedOp {
                op,
                kind,
                before: None,
                pending: Vec::new(),
                query,
                req,
            })
        }
    }
}
