//! PocketBase's `expand`: relations and `X_via_Y` back-relations, nested up to 6 levels,
//! one query per relation per level, honouring the related collection's view rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;
use keel_core::Result;
use serde_json::Value;

use super::cache::Schema;
use super::rows::row_to_record;
use super::rules::RuleCtx;
use super::validate::to_list;
use super::{Expanded, Record, Store};
use crate::request::RequestInfo;
use crate::schema::{Collection, FieldKind};
use keel_sql::SqlBuf;

/// Deepest expand path.
const MAX_DEPTH: usize = 6;

#[derive(Default, Debug)]
struct Tree(BTreeMap<String, Tree>);

fn parse_tree(src: &str) -> Tree {
    let mut root = Tree::default();
    for path in src.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut node = &mut root;
        for part in path.split('.').map(str::trim).filter(|p| !p.is_empty()).take(MAX_DEPTH) {
            node = node.0.entry(part.to_string()).or_default();
        }
    }
    root
}

pub(crate) async fn expand(store: &Store, records: &mut [Record], src: &str, req: &RequestInfo) -> Result<()> {
    let tree = parse_tree(src);
    if tree.0.is_empty() || records.is_empty() {
        return Ok(());
    }
    let schema = store.schema();
    level(store, &schema, records, &tree, req).await
}

/// Records of `target` matching `cond` (built by `where_fn` into the buffer) that `req` may view.
async fn fetch(
    store: &Store,
    schema: &Schema,
    target: &Arc<Collection>,
    req: &RequestInfo,
    where_fn: impl FnOnce(&mut SqlBuf),
) -> Result<Vec<Record>> {
    let mut buf = SqlBuf::new(store.engine.dialect());
    let cols = super::rows::select_cols(target, "t", store.engine.dialect());
    buf.push("SELECT ")
        .push(&cols)
        .push(" FROM ")
        .ident(&target.name)
        .push(" t WHERE (");
    where_fn(&mut buf);
    buf.push(")");
    if !req.skips_rules(target) {
        let rule = target.view_rule.as_deref().unwrap_or("");
        let ctx = RuleCtx {
            exprs: &store.exprs,
            schema,
            collection: target,
            alias: "t",
            req,
        };
        if let Some(cond) = ctx.condition(rule, "viewRule", &mut buf)? {
            buf.push(" AND (").push(&cond).push(")");
        }
    }
    let order = format!(" ORDER BY {}", store.engine.dialect().insertion_order(Some("t")));
    buf.push(&order);
    let rows = store.engine.fetch_all(&buf.text, &buf.params).await?;
    rows.into_iter().map(|r| row_to_record(store, target, r)).collect()
}

fn push_list(buf: &mut SqlBuf, ids: &[String]) {
    buf.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            buf.push(", ");
        }
        buf.param(Value::from(id.as_str()));
    }
    buf.push(")");
}

fn level<'a>(
    store: &'a Store,
    schema: &'a Schema,
    records: &'a mut [Record],
    tree: &'a Tree,
    req: &'a RequestInfo,
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let Some(c) = records.first().map(|r| r.collection.clone()) else {
            return Ok(());
        };
        let d = store.engine.dialect();
        for (key, sub) in &tree.0 {
            if let Some(f) = c.field(key) {
                let FieldKind::Relation(opts) = &f.kind else { continue };
                let Some(target) = schema.get(&opts.collection_id) else {
                    continue;
                };
                if !req.skips_rules(&target) && target.view_rule.is_none() {
                    continue;
                }
                let mut ids: Vec<String> = Vec::new();
                for r in records.iter() {
                    for id in to_list(r.data.get(key).unwrap_or(&Value::Null)) {
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                }
                if ids.is_empty() {
                    continue;
                }
                let mut found = fetch(store, schema, &target, req, |buf| {
                    buf.push("t.\"id\" IN ");
                    push_list(buf, &ids);
                })
                .await?;
                if !sub.0.is_empty() && !found.is_empty() {
                    level(store, schema, &mut found, sub, req).await?;
                }
                let by_id: HashMap<String, Record> = found.into_iter().map(|r| (r.id().to_string(), r)).collect();
                for r in records.iter_mut() {
                    let wanted = to_list(r.data.get(key).unwrap_or(&Value::Null));
                    if f.is_multiple() {
                        let many: Vec<Record> = wanted.iter().filter_map(|id| by_id.get(id).cloned()).collect();
                        if !many.is_empty() {
                            r.expand.insert(key.clone(), Expanded::Many(many));
                        }
                    } else if let Some(one) = wanted.first().and_then(|id| by_id.get(id)) {
                        r.expand.insert(key.clone(), Expanded::One(Box::new(one.clone())));
                    }
                }
            } else if let Some((coll, field)) = key.split_once("_via_") {
                let Some(x) = schema.get(coll) else { continue };
                let Some(xf) = x.field(field) else { continue };
                let FieldKind::Relation(opts) = &xf.kind else { continue };
                if opts.collection_id != c.id || (!req.skips_rules(&x) && x.view_rule.is_none()) {
                    continue;
                }
                let parents: Vec<String> = records.iter().map(|r| r.id().to_string()).collect();
                let col = format!("t.{}", d.quote_ident(field));
                let multiple = xf.is_multiple();
                let mut found = fetch(store, schema, &x, req, |buf| {
                    if multiple {
                        buf.push(&format!(
                            "EXISTS (SELECT 1 FROM {} j WHERE j.value IN ",
                            d.json_each(&col)
                        ));
                        push_list(buf, &parents);
                        buf.push(")");
                    } else {
                        buf.push(&col).push(" IN ");
                        push_list(buf, &parents);
                    }
                })
                .await?;
                if !sub.0.is_empty() && !found.is_empty() {
                    level(store, schema, &mut found, sub, req).await?;
                }
                for r in records.iter_mut() {
                    let id = r.id().to_string();
                    let many: Vec<Record> = found
                        .iter()
                        .filter(|child| to_list(child.data.get(field).unwrap_or(&Value::Null)).contains(&id))
                        .cloned()
                        .collect();
                    if !many.is_empty() {
                        r.expand.insert(key.clone(), Expanded::Many(many));
                    }
                }
            }
        }
        Ok(())
    })
}
