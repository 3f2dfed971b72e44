//! `/api/batch`: every operation in one transaction; events only after the commit.

use keel_core::Error;

use super::records::Write;
use super::{BatchOp, Record, Store};
use crate::request::{Access, RequestInfo};

fn access(rule: &Option<String>) -> Access<'_> {
    rule.as_deref().map_or(Access::Superuser, Access::Rule)
}

pub(crate) async fn run(
    store: &Store,
    ops: Vec<BatchOp>,
    req: &RequestInfo,
) -> Result<Vec<Vec<Record>>, (usize, Error)> {
    let mut w = Write::begin(store).await.map_err(|e| (0, e))?;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        // Each operation's rule sees its own submitted data as `@request.body`.
        let op_req = |data: &crate::schema::RecordData| RequestInfo {
            body: data.clone(),
            ..req.clone()
        };
        let done = match &op {
            BatchOp::Create { collection, data, rule } => w
                .create(collection, data.clone(), &op_req(data), access(rule))
                .await
                .map(|r| vec![r]),
            BatchOp::Update {
                collection,
                id,
                data,
                rule,
            } => w
                .update(collection, id, data.clone(), &op_req(data), access(rule))
                .await
                .map(|(_, after)| vec![after]),
            BatchOp::Delete { collection, id, rule } => w.delete(collection, id, req, access(rule)).await,
        };
        match done {
            Ok(records) => out.push(records),
            Err(e) => return Err((i, e)),
        }
    }
    let last = out.len().saturating_sub(1);
    w.commit().await.map_err(|e| (last, e))?;
    Ok(out)
}
