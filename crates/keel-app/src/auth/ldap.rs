//! LDAP sign-in (Keel's extension): `{username, password, mfaId?}` checked against the LDAP
//! directory or Active Directory configured in the collection's `ldap` option.
//!
//! The record is the one linked to the user's DN (`_externalAuths`, provider `ldap`), else
//! the one with the directory's email, else a new one (email, `name`). When `groupRoles` is
//! set, the record's roles become exactly those its groups map to (roles that exist).
//! An unknown user and a wrong password get the same 400, and count towards the lockout.

use std::sync::Arc;

use keel_auth::ldap::{self, LdapConfig, LdapError};
use keel_core::{Error, FieldError, FieldErrors};
use keel_data::{Collection, RequestInfo};
use serde_json::{Map, Value};

use super::external::{self, ExternalUser};
use super::login::{complete, failed, Login};
use super::SignedIn;
use crate::{lockout, App, Caller, Origin};

/// Longest accepted username or password.
const MAX_LEN: usize = 255;

/// Signs in with a directory username and password. `form` is the submitted body (its
/// `password` removed before rules see it as `@request.body`); `req` the request's context
/// without a body.
pub async fn sign_in(
    app: &App,
    collection: &Arc<Collection>,
    mut form: Map<String, Value>,
    mut req: RequestInfo,
    origin: Origin,
) -> Result<SignedIn, Error> {
    let config = ldap_config(collection)?;
    let text = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (username, password) = (text("username").trim().to_string(), text("password"));
    let mfa_id = Some(text("mfaId")).filter(|s| !s.is_empty());

    let mut errors = FieldErrors::new();
    for (name, value) in [("username", &username), ("password", &password)] {
        if value.is_empty() {
            errors.insert(name.into(), FieldError::new("validation_required", "Cannot be blank."));
        } else if value.chars().count() > MAX_LEN {
            let msg = format!("The length must be between 1 and {MAX_LEN}.");
            errors.insert(name.into(), FieldError::new("validation_length_out_of_range", msg));
        }
    }
    if !errors.is_empty() {
        return Err(Error::fields(errors));
    }

    lockout::attempt(app, &collection.id, &username).await?;
    let user = match ldap::authenticate(&config, &username, &password).await {
        Ok(u) => u,
        Err(LdapError::InvalidCredentials) => {
            failed(app, collection, "ldap", &username, &origin).await;
            return Err(Error::bad_request("Failed to authenticate."));
        }
        Err(e) => {
            // LdapError messages never hold a password. A fault of the directory or of the
            // configuration is not the user's failure: it does not count towards the lockout.
            tracing::warn!(collection = %collection.name, error = %e, "LDAP sign-in could not be checked");
            return Err(Error::bad_request(match e {
                LdapError::Unavailable(_) => "The directory is unavailable.",
                _ => "The collection's LDAP configuration cannot sign users in; ask an administrator.",
            }));
        }
    };
    lockout::reset(app, &collection.id, &username).await;

    form.remove("password");
    req.body = form;
    let email = user.email.clone().unwrap_or_default();
    let mut create = Map::new();
    if let (Some(name), Some(_)) = (&user.name, collection.field("name")) {
        create.insert("name".into(), Value::String(name.clone()));
    }
    let ext = ExternalUser {
        provider: "ldap",
        provider_id: &user.dn,
        email: &email,
        // The directory is the organisation's own record of the user's address.
        email_verified: true,
        create,
        avatar: None,
    };
    // The directory is the source of identity: a signed-in caller is not linked to the DN.
    let (mut record, is_new) = external::resolve(app, collection, ext, &Caller::guest(), &req).await?;
    if !is_new {
        record = refresh_profile(app, collection, record, &user).await;
    }
    if !config.group_roles.is_empty() {
        app.identity.set_roles(&collection.id, record.id(), &user.roles).await?;
    }

    let login = Login {
        collection,
        record,
        method: "ldap",
        mfa_id,
        req,
        origin,
        extra: None,
    };
    complete(app, login).await
}

/// The collection's `ldap` option; 403 when it is not enabled, 400 when it is unreadable.
fn ldap_config(collection: &Collection) -> Result<LdapConfig, Error> {
    let raw = collection.auth.as_ref().map(|a| a.ldap.clone()).unwrap_or(Value::Null);
    if !raw.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        return Err(Error::Forbidden(
            "The collection is not configured to allow LDAP authentication.".into(),
        ));
    }
    let mut raw = raw;
    if let Value::Object(m) = &mut raw {
        m.remove("enabled");
    }
    serde_json::from_value::<LdapConfig>(raw).map_err(|e| {
        tracing::warn!(collection = %collection.name, error = %e, "unreadable LDAP config");
        Error::bad_request("The collection's LDAP configuration is invalid.")
    })
}

/// Updates a known record's email and name from the directory, which owns them. A change
/// the store refuses (say, an email another record has) is logged and the sign-in goes on
/// with the record as it was.
async fn refresh_profile(
    app: &App,
    collection: &Arc<Collection>,
    record: keel_data::Record,
    user: &ldap::LdapUser,
) -> keel_data::Record {
    let mut changes = Map::new();
    let differs = |field: &str, value: &str| record.data.get(field).and_then(Value::as_str) != Some(value);
    if let Some(email) = user.email.as_deref().filter(|e| !e.is_empty() && differs("email", e)) {
        changes.insert("email".into(), Value::from(email));
    }
    if let Some(name) = user
        .name
        .as_deref()
        .filter(|n| collection.field("name").is_some() && differs("name", n))
    {
        changes.insert("name".into(), Value::from(name));
    }
    if changes.is_empty() {
        return record;
    }
    let req = keel_data::RequestInfo::default();
    match app
        .store
        .update_record(collection, record.id(), changes, &req, keel_data::Access::Superuser)
        .await
    {
        Ok((_, after)) => after,
        Err(e) => {
            tracing::warn!(collection = %collection.name, error = %e, "could not update a record from the directory");
            record
        }
    }
}
