//! Batch: several record writes in one transaction, PocketBase's shape. The submitted data is
//! `{"requests": [{"method", "url", "body"}]}` with files keyed `requests.N.field`; each
//! request is prepared as its single-record write is (rules, auth fields, files), the files
//! are written, then every write commits or none does.

use keel_core::Error;
use keel_data::{Record, RequestInfo};
use serde_json::{Map, Value};

use crate::records::files::{cleanup_after_update, cleanup_deleted, delete_pending, write_all};
use crate::records::{Submitted, Upload};
use crate::App;

mod prepare;
mod target;

pub use target::{Action, Target};

/// One request of a batch.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub body: Map<String, Value>,
    pub uploads: Vec<Upload>,
}

/// A write of a committed batch.
#[derive(Debug)]
pub struct Done {
    /// `Create`, `Update` or `Delete` (an upsert is one of the first two).
    pub action: Action,
    /// The written record (`None` for a delete).
    pub record: Option<Record>,
    /// The request's query string (`expand`, `fields`), for its answer.
    pub query: String,
    /// The request's rule context, for its answer.
    pub req: RequestInfo,
}

/// Why a batch did not commit.
#[derive(Debug)]
pub enum Failure {
    /// The request at `index` failed (its own error); nothing was written.
    Request { index: usize, error: Error },
    /// The batch as a whole was refused, or an engine failed.
    Whole(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Whole(e)
    }
}

/// 403 unless a superuser enabled batch requests in the settings.
pub fn ensure_enabled(app: &App) -> Result<(), Error> {
    if app.settings.get().batch.enabled {
        Ok(())
    } else {
        Err(Error::Forbidden("Batch requests are not allowed.".into()))
    }
}

/// Runs a batch submitted by the caller of `base` (their rule context; each request gets its
/// own method, query and body): all writes commit or none do.
pub async fn run(app: &App, base: &RequestInfo, submitted: Submitted) -> Result<Vec<Done>, Failure> {
    ensure_enabled(app)?;
    let max = app.settings.get().batch.max_requests as usize;
    let requests = split(submitted, max)?;
    let mut prepared = Vec::with_capacity(requests.len());
    for (index, request) in requests.into_iter().enumerate() {
        match prepare::prepare(app, base, request).await {
            Ok(p) => prepared.push(p),
            Err(error) => return Err(Failure::Request { index, error }),
        }
    }
    for (i, p) in prepared.iter().enumerate() {
        if let Err(e) = write_all(app.files.as_ref(), &p.pending).await {
            for done in &prepared[..i] {
                delete_pending(app.files.as_ref(), &done.pending).await;
            }
            return Err(Failure::Whole(e));
        }
    }
    let mut req = base.clone();
    req.context = "batch".into();
    let ops = prepared.iter().map(|p| p.op.clone()).collect();
    let results = match app.store.batch(ops, &req).await {
        Ok(r) => r,
        Err((index, error)) => {
            for p in &prepared {
                delete_pending(app.files.as_ref(), &p.pending).await;
            }
            return Err(Failure::Request { index, error });
        }
    };
    let mut out = Vec::with_capacity(prepared.len());
    for (p, records) in prepared.into_iter().zip(results) {
        let record = match p.action {
            Action::Delete => {
                cleanup_deleted(app.files.as_ref(), &records).await;
                None
            }
            _ => {
                let record = records.into_iter().next();
                if let (Some(before), Some(after)) = (&p.before, &record) {
                    cleanup_after_update(app.files.as_ref(), before, after, &p.pending).await;
                }
                record
            }
        };
        out.push(Done {
            action: p.action,
            record,
            query: p.query,
            req: p.req,
        });
    }
    Ok(out)
}

/// Splits the submitted data into its requests, giving each its files (`requests.N.field` →
/// `field`).
fn split(submitted: Submitted, max: usize) -> Result<Vec<Request>, Error> {
    let Submitted { mut data, uploads } = submitted;
    let Some(Value::Array(list)) = data.remove("requests") else {
        return Err(Error::field(
            "requests",
            "validation_required",
            "Missing required value.",
        ));
    };
    if list.is_empty() {
        // PocketBase refuses an empty batch the same way.
        return Err(Error::field("requests", "validation_required", "Cannot be blank."));
    }
    if list.len() > max {
        return Err(Error::field(
            "requests",
            "validation_length_too_long",
            format!("The batch may hold at most {max} requests."),
        ));
    }
    let mut requests = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let Value::Object(mut item) = item else {
            return Err(Error::field(
                "requests",
                "validation_invalid_value",
                format!("Request {i} must be an object."),
            ));
        };
        let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let method = text(item.remove("method"));
        let url = text(item.remove("url"));
        let body = match item.remove("body") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(Error::field(
                    "requests",
                    "validation_invalid_value",
                    format!("The body of request {i} must be an object."),
                ))
            }
        };
        requests.push(Request {
            method,
            url,
            body,
            uploads: Vec::new(),
        });
    }
    for mut up in uploads {
        let Some(rest) = up.key.strip_prefix("requests.") else {
            continue;
        };
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        if let Some(request) = idx.parse::<usize>().ok().and_then(|i| requests.get_mut(i)) {
            up.key = field.to_string();
            request.uploads.push(up);
        }
    }
    Ok(requests)
}
