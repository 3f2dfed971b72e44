//! The record of an external identity (OAuth2, LDAP), as PocketBase's `auth-with-oauth2`
//! finds it: the `_externalAuths` link, else the signed-in caller of the same collection,
//! else a record with the same email (only when the provider vouches for the email), else a
//! new record. The identity is linked to the record it ends on. A new record gets the
//! provider's avatar in a file field when the sign-in maps one (`avatar.rs`).

use std::sync::Arc;

use keel_core::Error;
use keel_data::{Access, Collection, Record, RequestInfo};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Map, Value};

use super::avatar::{self, AvatarSource};
use super::caller_record;
use crate::records::files::{delete_pending, write_all};
use crate::records::prepare_create;
use crate::records::Submitted;
use crate::App;
use crate::Caller;

/// An identity a provider vouched for.
pub struct ExternalUser<'a> {
    /// `_externalAuths.provider`: the OAuth2 provider's name or `ldap`.
    pub provider: &'a str,
    /// The provider's stable id of the user (OAuth2 `id`, LDAP DN).
    pub provider_id: &'a str,
    pub email: &'a str,
    /// Whether the provider says it verified `email`.
    pub email_verified: bool,
    /// The data of a new record besides `email` and `password` (createData, mapped fields).
    pub create: Map<String, Value>,
    /// The avatar a new record downloads into a file field (OAuth2 only).
    pub avatar: Option<AvatarSource>,
}

/// The record `user` signs in to and whether it was created now.
pub async fn resolve(
    app: &App,
    collection: &Arc<Collection>,
    user: ExternalUser<'_>,
    caller: &Caller,
    req: &RequestInfo,
) -> Result<(Record, bool), Error> {
    let (cid, provider, pid) = (collection.id.as_str(), user.provider, user.provider_id);
    if let Some(id) = app.identity.find_external(cid, provider, pid).await? {
        match app.store.get_record(collection, &id, req, Access::Superuser).await {
            Ok(r) => return Ok((r, false)),
            // The record was deleted: forget the link and go on as for a new identity.
            Err(Error::NotFound(_)) => app.identity.unlink_external(cid, provider, pid).await?,
            Err(e) => return Err(e),
        }
    }
    let record = match caller.auth.as_ref().filter(|a| a.collection.id == collection.id) {
        Some(auth) => Some(caller_record(auth)),
        None => by_email(app, collection, &user).await?,
    };
    let (record, is_new) = match record {
        Some(r) => (r, false),
        None => (create(app, collection, user, req).await?, true),
    };
    app.identity.link_external(cid, record.id(), provider, pid).await?;
    Ok((record, is_new))
}

/// The record with the user's email, when the provider verified it. An unverified email that
/// another record holds is refused rather than linked (it could be anyone's claim).
async fn by_email(app: &App, collection: &Arc<Collection>, user: &ExternalUser<'_>) -> Result<Option<Record>, Error> {
    if user.email.is_empty() {
        return Ok(None);
    }
    let found = app
        .store
        .find_by_field(collection, "email", &Value::String(user.email.to_string()))
        .await?;
    match found {
        Some(r) if user.email_verified => Ok(Some(r)),
        Some(_) => Err(Error::field(
            "email",
            "validation_email_unverified",
            "An account with this email exists, but the provider did not verify the email: sign in to that account first, then link this provider.",
        )),
        None => Ok(None),
    }
}

/// Creates the record, as a sign-up through the records API would (the collection's
/// `createRule` applies, `createData` cannot set `verified` or `tokenKey`, files are named and
/// stored as uploads are), with a random password like PocketBase. `verified` is set when the
/// provider vouched for the email. The avatar is downloaded only here, for a new record.
async fn create(
    app: &App,
    collection: &Arc<Collection>,
    user: ExternalUser<'_>,
    req: &RequestInfo,
) -> Result<Record, Error> {
    if collection.name == keel_data::schema::SUPERUSERS {
        return Err(Error::Forbidden(
            "Superusers cannot sign up through an external provider.".into(),
        ));
    }
    let access = Access::for_rule(collection, &collection.create_rule, req).ok_or_else(|| {
        Error::Forbidden(
            "The collection does not allow new accounts to sign up (its createRule is superusers-only).".into(),
        )
    })?;
    let (email, mut data) = (user.email, user.create);
    if !email.is_empty() {
        data.insert("email".into(), Value::String(email.to_string()));
    }
    let password = Alphanumeric.sample_string(&mut rand::rng(), 30);
    data.insert("password".into(), Value::String(password.clone()));
    data.insert("passwordConfirm".into(), Value::String(password));
    let uploads = match &user.avatar {
        Some(src) => avatar::download(&app.outbound, collection, src)
            .await
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let mut prepared = prepare_create(collection, Submitted { data, uploads }, false)?;
    if let Err(e) = write_all(app.files.as_ref(), &prepared.pending).await {
        // The avatar is optional: a file store that refuses it does not refuse the sign-up.
        tracing::warn!(collection = %collection.name, error = %e, "could not store the OAuth2 avatar");
        if let Some(src) = &user.avatar {
            let cleared = match prepared.data.get(&src.field) {
                Some(Value::Array(_)) => Value::Array(Vec::new()),
                _ => Value::String(String::new()),
            };
            prepared.data.insert(src.field.clone(), cleared.clone());
            prepared.body.insert(src.field.clone(), cleared);
        }
        prepared.pending.clear();
    }
    let mut req = req.clone();
    req.body = prepared.body;
    req.body.remove("password");
    req.body.remove("passwordConfirm");
    let mut data = prepared.data;
    if user.email_verified && !email.is_empty() {
        data.insert("verified".into(), Value::Bool(true));
    }
    match app.store.create_record(collection, data, &req, access).await {
        Ok(r) => Ok(r),
        Err(e) => {
            delete_pending(app.files.as_ref(), &prepared.pending).await;
            Err(e)
        }
    }
}

/// Adds `value` under the collection field `field` unless the data has it, the value is
/// empty or the collection has no such field.
pub fn map_into(collection: &Collection, data: &mut Map<String, Value>, field: Option<String>, value: &str) {
    if let Some(field) = field {
        if !value.is_empty() && !data.contains_key(&field) && collection.field(&field).is_some() {
            data.insert(field, Value::String(value.to_string()));
        }
    }
}
