//! Records through a collection's rules: reads (`list`, `view`, with `expand`) and writes
//! (create, update and delete with the auth-field rules (`auth_fields`), uploaded files
//! written before the database write and cleaned up after it (`files`)), shared by the
//! records API, batch and the sign-in flows that create records.

use std::sync::Arc;

use keel_core::Error;
use keel_data::{Access, Collection, Record, RequestInfo};

pub mod auth_fields;
pub mod files;
mod input;
mod prepare;
mod read;

pub use input::{base_key, Spool, Submitted, Upload, UploadData};
pub use prepare::{prepare_create, prepare_update, Prepared};
pub use read::{collection, expand, highlights, list, view, ListQuery};

use crate::caller::superusers_only;
use crate::App;

/// A record write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
    Delete,
}

/// 403 for a record write to a system collection a service owns (`_webhooks`,
/// `_notifications`, …; `keel_data::system::managed_by`), naming the API to use: its input is
/// checked there, and a write here would skip that.
/// A view collection's records cannot be written: 400 as PocketBase answers.
pub fn refuse_managed(collection: &Collection) -> Result<(), Error> {
    if collection.is_view() {
        return Err(Error::bad_request("Unsupported collection type."));
    }
    match keel_data::system::managed_by(&collection.name) {
        Some(api) => Err(Error::Forbidden(format!(
            "{} is managed by {api}: make the change there, where its input is checked.",
            collection.name
        ))),
        None => Ok(()),
    }
}

/// The access `req` has for `write` on `collection`: a 403 when the rule is superusers-only
/// and the caller does not skip rules. Entry points may call it before reading a body.
pub fn access<'a>(collection: &'a Collection, write: Write, req: &RequestInfo) -> Result<Access<'a>, Error> {
    refuse_managed(collection)?;
    let rule = match write {
        Write::Create => &collection.create_rule,
        Write::Update => &collection.update_rule,
        Write::Delete => &collection.delete_rule,
    };
    Access::for_rule(collection, rule, req).ok_or_else(superusers_only)
}

/// Creates a record from `submitted` under the create rule. `req` is the caller's request
/// context; its `body` becomes what the rule saw (file fields holding the new names).
pub async fn create(
    app: &App,
    collection: &Arc<Collection>,
    submitted: Submitted,
    req: &mut RequestInfo,
) -> Result<Record, Error> {
    let access = access(collection, Write::Create, req)?;
    let prepared = prepare_create(collection, submitted, req.skips_rules(collection))?;
    req.body = prepared.body;
    files::write_all(app.files.as_ref(), &prepared.pending).await?;
    match app.store.create_record(collection, prepared.data, req, access).await {
        Ok(r) => Ok(r),
        Err(e) => {
            files::delete_pending(app.files.as_ref(), &prepared.pending).await;
            Err(e)
        }
    }
}

/// Updates the record `id` under the update rule (404 when absent or hidden by it); files the
/// record no longer references are deleted after the commit.
pub async fn update(
    app: &App,
    collection: &Arc<Collection>,
    id: &str,
    submitted: Submitted,
    req: &mut RequestInfo,
) -> Result<Record, Error> {
    let access = access(collection, Write::Update, req)?;
    req.body = submitted.data.clone();
    // The record as the update rule lets this caller see it: 404 before anything is checked.
    let current = app.store.get_record(collection, id, req, access).await?;
    let prepared = prepare_update(app, collection, &current, submitted, req).await?;
    req.body = prepared.body;
    files::write_all(app.files.as_ref(), &prepared.pending).await?;
    let (before, after) = match app
        .store
        .update_record(collection, id, prepared.data, req, access)
        .await
    {
        Ok(pair) => pair,
        Err(e) => {
            files::delete_pending(app.files.as_ref(), &prepared.pending).await;
            return Err(e);
        }
    };
    files::cleanup_after_update(app.files.as_ref(), &before, &after, &prepared.pending).await;
    Ok(after)
}

/// Deletes the record `id` under the delete rule (cascading; 404 when absent or hidden by it),
/// then the files of every deleted record.
pub async fn delete(app: &App, collection: &Arc<Collection>, id: &str, req: &RequestInfo) -> Result<(), Error> {
    let access = access(collection, Write::Delete, req)?;
    let deleted = app.store.delete_record(collection, id, req, access).await?;
    files::cleanup_deleted(app.files.as_ref(), &deleted).await;
    Ok(())
}
