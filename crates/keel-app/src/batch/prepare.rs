//! Turning one batch request into a store `BatchOp`: collection, rule, body and files, with
//! the same preparation as the single-record writes.

use std::sync::Arc;

use keel_core::Error;
use keel_data::{Access, BatchOp, Collection, Record, RequestInfo};
use serde_json::{Map, Value};

use super::target::{self, Action};
use super::Request;
use crate::records::files::PendingFile;
use crate::records::{prepare_create, prepare_update, Submitted};
use crate::App;

/// A prepared batch request: the store operation and what answering it needs afterwards.
pub(super) struct PreparedOp {
    pub op: BatchOp,
    pub action: Action,
    /// The record before an update (to delete files it no longer references).
    pub before: Option<Record>,
    pub pending: Vec<PendingFile>,
    pub query: String,
    pub req: RequestInfo,
}

/// The rule a store batch operation carries: `None` = no check (superusers); a null rule for
/// anyone else is refused here with a 403.
fn rule_for(collection: &Collection, rule: &Option<String>, req: &RequestInfo) -> Result<Option<String>, Error> {
    crate::records::refuse_managed(collection)?;
    match Access::for_rule(collection, rule, req) {
        None => Err(crate::caller::superusers_only()),
        Some(Access::Superuser) => Ok(None),
        Some(Access::Rule(r)) => Ok(Some(r.to_string())),
    }
}

/// The rule context of one request: the caller's, with the request's method, query and body.
fn request_info(base: &RequestInfo, method: &str, query: &str, body: &Map<String, Value>) -> RequestInfo {
    let mut req = base.clone();
    req.method = method.to_ascii_uppercase();
    req.query = crate::caller::form_json(query).into();
    req.body = body.clone();
    req.context = "batch".into();
    req
}

/// Prepares one batch request.
pub(super) async fn prepare(app: &App, base: &RequestInfo, raw: Request) -> Result<PreparedOp, Error> {
    let target = target::parse(&raw.method, &raw.url)?;
    let collection: Arc<Collection> = app.store.collection(&target.collection)?;
    let mut req = request_info(base, &raw.method, &target.query, &raw.body);
    let query = target.query;
    let submitted = Submitted {
        data: raw.body,
        uploads: raw.uploads,
    };

    let mut action = target.action;
    let mut id = target.id;
    if action == Action::Upsert {
        let existing = match submitted
            .data
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(body_id) => match app
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
        action = if existing.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        id = existing;
    }
    let record_id = id.unwrap_or_default();

    match action {
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
                action: Action::Create,
                before: None,
                pending: prepared.pending,
                query,
                req,
            })
        }
        Action::Update => {
            let rule = rule_for(&collection, &collection.update_rule, &req)?;
            let access = rule.as_deref().map_or(Access::Superuser, Access::Rule);
            let current = app.store.get_record(&collection, &record_id, &req, access).await?;
            let prepared = prepare_update(app, &collection, &current, submitted, &req).await?;
            req.body = prepared.body;
            let op = BatchOp::Update {
                collection,
                id: record_id,
                data: prepared.data,
                rule,
            };
            Ok(PreparedOp {
                op,
                action,
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
                action,
                before: None,
                pending: Vec::new(),
                query,
                req,
            })
        }
    }
}
