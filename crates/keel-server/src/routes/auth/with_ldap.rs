//! `POST /api/collections/{c}/auth-with-ldap` (Keel's extension): `{username, password,
//! mfaId?}` → `{"token", "record"}`, a sign-in checked against the LDAP directory or Active
//! Directory configured in the collection's `ldap` option.
//!
//! The record is the one linked to the user's DN (`_externalAuths`, provider `ldap`), else
//! the one with the directory's email, else a new one (email, `name`). When `groupRoles` is
//! set, the record's roles become exactly those its groups map to (roles that exist).
//! An unknown user and a wrong password get the same 400, and count towards the lockout.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use keel_auth::ldap::{self, LdapConfig, LdapError};
use keel_core::{FieldError, FieldErrors};
use keel_data::Collection;
use serde_json::{Map, Value};

use super::external::{self, ExternalUser};
use super::login::{complete, failed, Login, Origin};
use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

/// Longest accepted username or password.
const MAX_LEN: usize = 255;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-ldap", operation_id = "authWithLdap", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::LdapAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(mut form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let config = ldap_config(&collection)?;
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
        return Err(ApiError(keel_core::Error::fields(errors)));
    }

    crate::lockout::attempt(&state, &collection.id, &username).await?;
    let origin = Origin::from_headers(&headers);
    let user = match ldap::authenticate(&config, &username, &password).await {
        Ok(u) => u,
        Err(LdapError::InvalidCredentials) => {
            failed(&state, &collection, "ldap", &username, &origin).await;
            return Err(ApiError::bad_request("Failed to authenticate."));
        }
        Err(e) => {
            // LdapError messages never hold a password. A fault of the directory or of the
            // configuration is not the user's failure: it does not count towards the lockout.
            tracing::warn!(collection = %collection.name, error = %e, "LDAP sign-in could not be checked");
            return Err(ApiError::bad_request(match e {
                LdapError::Unavailable(_) => "The directory is unavailable.",
                _ => "The collection's LDAP configuration cannot sign users in; ask an administrator.",
            }));
        }
    };
    crate::lockout::reset(&state, &collection.id, &username).await;

    form.remove("password");
    let req = request_info(&caller, &method, &uri, &headers, form);
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
    let (mut record, is_new) = external::resolve(&state, &collection, ext, &Caller::guest(), &req).await?;
    if !is_new {
        record = refresh_profile(&state, &collection, record, &user).await;
    }
    if !config.group_roles.is_empty() {
        state
            .identity
            .set_roles(&collection.id, record.id(), &user.roles)
            .await?;
    }

    let login = Login {
        collection: &collection,
        record,
        method: "ldap",
        mfa_id,
        req,
        shape: ShapeParams::from_query(uri.query()),
        origin,
        extra: None,
    };
    complete(&state, login).await
}

/// The collection's `ldap` option; 403 when it is not enabled, 400 when it is unreadable.
fn ldap_config(collection: &Collection) -> ApiResult<LdapConfig> {
    let raw = collection.auth.as_ref().map(|a| a.ldap.clone()).unwrap_or(Value::Null);
    if !raw.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        return Err(ApiError::forbidden(
            "The collection is not configured to allow LDAP authentication.",
        ));
    }
    let mut raw = raw;
    if let Value::Object(m) = &mut raw {
        m.remove("enabled");
    }
    serde_json::from_value::<LdapConfig>(raw).map_err(|e| {
        tracing::warn!(collection = %collection.name, error = %e, "unreadable LDAP config");
        ApiError::bad_request("The collection's LDAP configuration is invalid.")
    })
}

/// Updates a known record's email and name from the directory, which owns them. A change
/// the store refuses (say, an email another record has) is logged and the sign-in goes on
/// with the record as it was.
async fn refresh_profile(
    state: &AppState,
    collection: &std::sync::Arc<keel_data::Collection>,
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
    match state
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
