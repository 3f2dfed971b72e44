//! Turning a submitted body into what the store writes, shared by create, update, batch and
//! the sign-in flows that create records:
//! the record id, uploaded files (validated and named, not yet written) and auth fields.

use keel_core::{Error, FieldErrors};
use keel_data::{Collection, Record, RequestInfo};
use serde_json::{Map, Value};

use super::auth_fields;
use super::files::{self, is_safe_segment, PendingFile};
use super::input::Submitted;
use crate::App;

/// A write ready for the store.
#[derive(Debug)]
pub struct Prepared {
    /// The data for the store (hashed passwords, final file name lists).
    pub data: Map<String, Value>,
    /// `@request.body`: the submitted data with file fields holding the new file names.
    pub body: Map<String, Value>,
    /// Files to write before the database write.
    pub pending: Vec<PendingFile>,
}

/// Prepares a create. The record id is the submitted one or a new one (files are stored under it).
pub fn prepare_create(collection: &Collection, submitted: Submitted, privileged: bool) -> Result<Prepared, Error> {
    let Submitted { mut data, uploads } = submitted;
    let id = match data.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            let id = keel_core::id::new_id();
            data.insert("id".into(), Value::String(id.clone()));
            id
        }
        Some(_) => return Err(Error::field("id", "validation_invalid_value", "Must be a string.")),
    };
    if !uploads.is_empty() && !is_safe_segment(&id) {
        return Err(Error::field("id", "validation_invalid_value", "Invalid record id."));
    }
    let pending = files::plan(collection, &id, &mut data, uploads, None)?;
    let body = data.clone();
    auth_fields::prepare_create(collection, &mut data, privileged)
        .map_err(|e| with_field_errors(collection, &body, e))?;
    Ok(Prepared { data, body, pending })
}

/// Adds the other fields' errors to the auth fields' ones, so that one answer names every bad
/// field (PocketBase's behaviour), except when the password confirmation does not match:
/// then that alone is reported, as PocketBase does.
fn with_field_errors(collection: &Collection, body: &Map<String, Value>, e: Error) -> Error {
    match e {
        Error::BadRequest { message, mut fields } if !fields.is_empty() && !fields.contains_key("passwordConfirm") => {
            for (name, err) in keel_data::field_errors(collection, body) {
                fields.entry(name).or_insert(err);
            }
            Error::BadRequest { message, fields }
        }
        e => e,
    }
}

/// Prepares an update of `current` (already checked against the update rule).
pub async fn prepare_update(
    app: &App,
    collection: &Collection,
    current: &Record,
    submitted: Submitted,
    req: &RequestInfo,
) -> Result<Prepared, Error> {
    let Submitted { mut data, uploads } = submitted;
    if let Some(new_id) = data.get("id") {
        if new_id.as_str() != Some(current.id()) {
            let mut f = FieldErrors::new();
            f.insert(
                "id".into(),
                keel_core::FieldError::new("validation_invalid_value", "The id cannot be changed."),
            );
            return Err(Error::fields(f));
        }
    }
    let pending = files::plan(collection, current.id(), &mut data, uploads, Some(&current.data))?;
    let body = data.clone();
    auth_fields::prepare_update(app, collection, &mut data, current, req).await?;
    Ok(Prepared { data, body, pending })
}
