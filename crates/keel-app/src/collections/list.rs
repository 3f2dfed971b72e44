//! Listing collections (`collections:read`): PocketBase's paging, a small `filter` language
//! (see `filter`) and `sort` by `name`, `created`, `updated`, `type` or `id`; each collection
//! shown as the caller may see it (`shown`).

use std::cmp::Ordering;
use std::sync::Arc;

use keel_core::Error;
use keel_data::{Collection, ListParams, Page};
use serde_json::Value;

use super::{filter, shown};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// 403 unless `caller` may read collections; entry points may call it before parsing a query.
pub fn may_read(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::CollectionsRead)
}

/// A page of collections, each as `caller` may see it (`totalItems`/`totalPages` -1 with
/// `skip_total`).
pub fn list(app: &App, caller: &Caller, params: &ListParams) -> Result<Page<Value>, Error> {
    may_read(caller)?;
    let mut all = app.store.collections();
    if let Some(f) = &params.filter {
        let expr = filter::parse(f)?;
        all.retain(|c| filter::matches(&expr, c));
    }
    if let Some(sort) = &params.sort {
        sort_collections(&mut all, sort)?;
    }
    let total = all.len() as u64;
    let start = (params.page - 1).saturating_mul(params.per_page);
    let items: Vec<Value> = all
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(params.per_page as usize)
        .map(|c| shown(caller, c))
        .collect();
    let (total_items, total_pages) = if params.skip_total {
        (-1, -1)
    } else {
        (total as i64, total.div_ceil(params.per_page) as i64)
    };
    Ok(Page {
        page: params.page,
        per_page: params.per_page,
        total_items,
        total_pages,
        items,
    })
}

/// Sorts by `name`, `created`, `updated`, `type` or `id` (`-` for descending), comma-separated.
fn sort_collections(all: &mut [Arc<Collection>], sort: &str) -> Result<(), Error> {
    let mut keys = Vec::new();
    for raw in sort.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (desc, name) = match raw.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, raw.strip_prefix('+').unwrap_or(raw)),
        };
        if !["name", "created", "updated", "type", "id"].contains(&name) {
            return Err(Error::field(
                "sort",
                "validation_invalid_sort",
                format!("Cannot sort collections by {name:?}: use name, created, updated, type or id."),
            ));
        }
        keys.push((desc, name.to_string()));
    }
    let key_of = |c: &Collection, k: &str| -> String {
        match k {
            "name" => c.name.clone(),
            "created" => c.created.clone(),
            "updated" => c.updated.clone(),
            "type" => if c.is_auth() { "auth" } else { "base" }.to_string(),
            _ => c.id.clone(),
        }
    };
    all.sort_by(|a, b| {
        for (desc, k) in &keys {
            let o = key_of(a, k).cmp(&key_of(b, k));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}
