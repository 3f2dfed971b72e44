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
use crate::schema::{Collection, Field, FieldKind};
use keel_sql::SqlBuf;

/// Deepest expand path.
const MAX_DEPTH: usize = 6;

/// The expand paths merged by their common prefixes. `end` marks a node where a path ends
/// (`a` in `a,a.b`): it counts as followed even when its children cannot be.
#[derive(Default, Debug)]
struct Tree {
    children: BTreeMap<String, Tree>,
    end: bool,
}

fn parse_tree(src: &str) -> Tree {
    let mut root = Tree::default();
    for path in src.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut node = &mut root;
        for part in path.split('.').map(str::trim).filter(|p| !p.is_empty()).take(MAX_DEPTH) {
            node = node.children.entry(part.to_string()).or_default();
        }
        node.end = true;
    }
    root
}

/// Whether a node whose relation was followed counts as followed, given how its children went
/// (PocketBase drops a whole path when a nested part of it cannot be expanded).
fn followed(sub: &Tree, found_any: bool, children_ok: bool) -> bool {
    sub.children.is_empty() || sub.end || !found_any || children_ok
}

pub(crate) async fn expand(store: &Store, records: &mut [Record], src: &str, req: &RequestInfo) -> Result<()> {
    let tree = parse_tree(src);
    if tree.children.is_empty() || records.is_empty() {
        return Ok(());
    }
    let schema = store.schema();
    level(store, &schema, records, &tree, req).await.map(|_| ())
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
) -> BoxFuture<'a, Result<bool>> {
    Box::pin(async move {
        let Some(c) = records.first().map(|r| r.collection.clone()) else {
            return Ok(true);
        };
        let mut any_ok = false;
        for (key, sub) in &tree.children {
            // A path that names no relation, or one the caller may never view, is skipped
            // and leaves no trace; one that was followed (even to nothing) shows `expand`.
            let ok = if let Some(f) = c.field(key) {
                relation(store, schema, records, key, f, sub, req).await?
            } else if let Some((coll, field)) = key.split_once("_via_") {
                back_relation(store, schema, records, key, (coll, field), sub, req).await?
            } else {
                false
            };
            if ok {
                any_ok = true;
                for r in records.iter_mut() {
                    r.expand_shown = true;
                }
            }
        }
        Ok(any_ok)
    })
}

/// Expands the relation field `f` (named `key`) of `records`; `false` when it cannot be
/// followed (not a relation, or a collection the caller may never view).
async fn relation(
    store: &Store,
    schema: &Schema,
    records: &mut [Record],
    key: &str,
    f: &Field,
    sub: &Tree,
    req: &RequestInfo,
) -> Result<bool> {
    let FieldKind::Relation(opts) = &f.kind else {
        return Ok(false);
    };
    let Some(target) = schema.get(&opts.collection_id) else {
        return Ok(false);
    };
    if !req.skips_rules(&target) && target.view_rule.is_none() {
        return Ok(false);
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
        return Ok(true);
    }
    let mut found = fetch(store, schema, &target, req, |buf| {
        buf.push("t.\"id\" IN ");
        push_list(buf, &ids);
    })
    .await?;
    let children_ok =
        !sub.children.is_empty() && !found.is_empty() && level(store, schema, &mut found, sub, req).await?;
    if !followed(sub, !found.is_empty(), children_ok) {
        return Ok(false);
    }
    let by_id: HashMap<String, Record> = found.into_iter().map(|r| (r.id().to_string(), r)).collect();
    for r in records.iter_mut() {
        let wanted = to_list(r.data.get(key).unwrap_or(&Value::Null));
        if f.is_multiple() {
            let many: Vec<Record> = wanted.iter().filter_map(|id| by_id.get(id).cloned()).collect();
            if !many.is_empty() {
                r.expand.insert(key.to_string(), Expanded::Many(many));
            }
        } else if let Some(one) = wanted.first().and_then(|id| by_id.get(id)) {
            r.expand.insert(key.to_string(), Expanded::One(Box::new(one.clone())));
        }
    }
    Ok(true)
}

/// Expands the back-relation `key` (`coll_via_field`) of `records`; `false` when it cannot be
/// followed.
async fn back_relation(
    store: &Store,
    schema: &Schema,
    records: &mut [Record],
    key: &str,
    (coll, field): (&str, &str),
    sub: &Tree,
    req: &RequestInfo,
) -> Result<bool> {
    let Some(c) = records.first().map(|r| r.collection.clone()) else {
        return Ok(true);
    };
    let d = store.engine.dialect();
    let Some(x) = schema.get(coll) else {
        return Ok(false);
    };
    let Some(xf) = x.field(field) else {
        return Ok(false);
    };
    let FieldKind::Relation(opts) = &xf.kind else {
        return Ok(false);
    };
    if opts.collection_id != c.id || (!req.skips_rules(&x) && x.view_rule.is_none()) {
        return Ok(false);
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
    let children_ok =
        !sub.children.is_empty() && !found.is_empty() && level(store, schema, &mut found, sub, req).await?;
    if !followed(sub, !found.is_empty(), children_ok) {
        return Ok(false);
    }
    for r in records.iter_mut() {
        let id = r.id().to_string();
        let many: Vec<Record> = found
            .iter()
            .filter(|child| to_list(child.data.get(field).unwrap_or(&Value::Null)).contains(&id))
            .cloned()
            .collect();
        if !many.is_empty() {
            r.expand.insert(key.to_string(), Expanded::Many(many));
        }
    }
    Ok(true)
}
