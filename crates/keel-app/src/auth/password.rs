//! Password sign-in: `{identity, password, identityField?}` of an auth collection. A wrong
//! identity and a wrong password get the same answer in about the same time (a dummy hash
//! is verified when the identity is unknown); attempts are counted before the check
//! (`lockout`).

use std::sync::{Arc, OnceLock};

use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use keel_data::{Collection, Record, RequestInfo};
use serde_json::{Map, Value};

use super::login::{complete, failed, Login};
use super::SignedIn;
use crate::{lockout, App, Origin};

/// Longest accepted identity or password, like PocketBase.
const MAX_LEN: usize = 255;

/// What a password sign-in submits.
#[derive(Default)]
pub struct PasswordSignIn {
    pub identity: String,
    pub password: String,
    /// One of the collection's identity fields, or "" for any of them.
    pub identity_field: String,
    /// The MFA session of a first factor, when this is the second.
    pub mfa_id: String,
}

impl std::fmt::Debug for PasswordSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordSignIn")
            .field("identity", &self.identity)
            .field("identity_field", &self.identity_field)
            .finish_non_exhaustive()
    }
}

impl PasswordSignIn {
    /// Takes the fields out of a submitted form (numbers are accepted as their text); the
    /// password is removed from `form`, which rules then see as `@request.body`.
    pub fn from_form(form: &mut Map<String, Value>) -> Self {
        let sign_in = PasswordSignIn {
            identity: text(form, "identity"),
            password: text(form, "password"),
            identity_field: text(form, "identityField"),
            mfa_id: text(form, "mfaId"),
        };
        form.remove("password");
        sign_in
    }
}

/// Signs in with a password; `req` is the request's rule context (a guest's).
pub async fn sign_in(
    app: &App,
    collection: &Arc<Collection>,
    input: PasswordSignIn,
    req: RequestInfo,
    origin: Origin,
) -> Result<SignedIn, Error> {
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    if !opts.password_auth.enabled {
        return Err(Error::Forbidden(
            "The collection is not configured to allow password authentication.".into(),
        ));
    }
    let PasswordSignIn {
        identity,
        password,
        identity_field,
        mfa_id,
    } = input;
    let mut errors = FieldErrors::new();
    for (name, value) in [("identity", &identity), ("password", &password)] {
        if value.is_empty() {
            errors.insert(name.into(), FieldError::new("validation_required", "Cannot be blank."));
        } else if value.chars().count() > MAX_LEN {
            errors.insert(
                name.into(),
                FieldError::new(
                    "validation_length_out_of_range",
                    format!("The length must be between 1 and {MAX_LEN}."),
                ),
            );
        }
    }
    if !identity_field.is_empty() && !opts.password_auth.identity_fields.contains(&identity_field) {
        errors.insert(
            "identityField".into(),
            FieldError::new("validation_in_invalid", "Must be a valid value."),
        );
    }
    if !errors.is_empty() {
        return Err(Error::fields(errors));
    }

    lockout::attempt(app, &collection.id, &identity).await?;

    let fields: Vec<&str> = if identity_field.is_empty() {
        opts.password_auth.identity_fields.iter().map(String::as_str).collect()
    } else {
        vec![identity_field.as_str()]
    };
    let mut found: Option<Record> = None;
    for field in fields {
        if let Some(r) = app
            .store
            .find_by_field(collection, field, &Value::String(identity.clone()))
            .await?
        {
            found = Some(r);
            break;
        }
    }

    let hash = found
        .as_ref()
        .and_then(|r| r.data.get("password").and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| dummy_hash().to_owned());
    let matches = tokio::task::spawn_blocking(move || keel_auth::verify_password(&password, &hash))
        .await
        .map_err(Error::wrap)?;
    let record = match found {
        Some(r) if matches => r,
        _ => {
            failed(app, collection, "password", &identity, &origin).await;
            return Err(Error::bad_request("Failed to authenticate."));
        }
    };
    lockout::reset(app, &collection.id, &identity).await;

    let login = Login {
        collection,
        record,
        method: "password",
        mfa_id: (!mfa_id.is_empty()).then_some(mfa_id),
        req,
        origin,
        extra: None,
    };
    complete(app, login).await
}

/// A string field of the body (numbers are accepted as their text).
fn text(form: &Map<String, Value>, key: &str) -> String {
    match form.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A real argon2 hash to verify against when the identity is unknown, so both failures cost
/// the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| keel_auth::hash_password("keel-dummy-password").unwrap_or_default())
}
