//! Auth-collection rules of record writes through the records API: password confirmation,
//! length and hashing, the old password on self-service changes, and the fields only
//! superusers (or managers, by the collection's `manageRule`) may change: `email`, `verified`.

use keel_core::{Error, FieldError, FieldErrors};
use keel_data::{Collection, FieldKind, Record, RequestInfo};
use serde_json::{Map, Value};

use crate::App;

/// bcrypt-compatible ceiling PocketBase keeps for passwords.
pub const MAX_PASSWORD_BYTES: usize = 71;

/// Keys of the submitted body that are never stored.
const TRANSIENT: [&str; 2] = ["passwordConfirm", "oldPassword"];

/// Prepares a create: validates and hashes password fields, refuses `verified` unless the
/// caller is `privileged` (a superuser, or `records:manage` outside `_superusers`), drops
/// `tokenKey` and the confirmation keys.
pub fn prepare_create(collection: &Collection, data: &mut Map<String, Value>, privileged: bool) -> Result<(), Error> {
    let mut errors = FieldErrors::new();
    if collection.is_auth() {
        data.remove("tokenKey");
        if !privileged && data.get("verified").is_some_and(truthy) {
            errors.insert(
                "verified".into(),
                FieldError::new(
                    "validation_values_mismatch",
                    "Only superusers can set the verified state.",
                ),
            );
        }
        match data.get("password") {
            None | Some(Value::Null) => {
                errors.insert(
                    "password".into(),
                    FieldError::new("validation_required", "Missing required value."),
                );
            }
            Some(Value::String(s)) if s.is_empty() => {
                errors.insert(
                    "password".into(),
                    FieldError::new("validation_required", "Missing required value."),
                );
            }
            _ => check_confirm(data, &mut errors),
        }
    }
    hash_password_fields(collection, data, &mut errors)?;
    for k in TRANSIENT {
        data.remove(k);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errors))
    }
}

/// Prepares an update of `current`: a password change needs `passwordConfirm` and, for callers
/// that are neither superusers nor managers, the right `oldPassword`; such callers cannot change
/// `email` (that is the email-change flow) nor `verified`.
pub async fn prepare_update(
    app: &App,
    collection: &Collection,
    data: &mut Map<String, Value>,
    current: &Record,
    req: &RequestInfo,
) -> Result<(), Error> {
    let mut errors = FieldErrors::new();
    if collection.is_auth() {
        data.remove("tokenKey");
        // An empty password means "unchanged" (forms send the empty input).
        if data
            .get("password")
            .is_some_and(|v| v.is_null() || v.as_str() == Some(""))
        {
            data.remove("password");
        }
        let sensitive = ["password", "email", "verified"].iter().any(|k| data.contains_key(*k));
        let manager = sensitive && (req.skips_rules(collection) || is_manager(app, collection, current, req).await?);
        if data.contains_key("password") {
            check_confirm(data, &mut errors);
            if !manager {
                let old = data.get("oldPassword").and_then(Value::as_str).unwrap_or("");
                let hash = current.data.get("password").and_then(Value::as_str).unwrap_or("");
                if old.is_empty() || !keel_auth::verify_password(old, hash) {
                    errors.insert(
                        "oldPassword".into(),
                        FieldError::new("validation_invalid_old_password", "Missing or invalid old password."),
                    );
                }
            }
        }
        if !manager {
            if let Some(email) = data.get("email") {
                let now = current.data.get("email").and_then(Value::as_str).unwrap_or("");
                if !email.as_str().is_some_and(|e| e.trim().eq_ignore_ascii_case(now)) {
                    errors.insert(
                        "email".into(),
                        FieldError::new(
                            "validation_values_mismatch",
                            "The email can be changed only by superusers or through the email change request.",
                        ),
                    );
                }
            }
            if let Some(v) = data.get("verified") {
                let now = current.data.get("verified").is_some_and(truthy);
                if truthy(v) != now {
                    errors.insert(
                        "verified".into(),
                        FieldError::new(
                            "validation_values_mismatch",
                            "Only superusers can change the verified state.",
                        ),
                    );
                }
            }
        }
    }
    hash_password_fields(collection, data, &mut errors)?;
    for k in TRANSIENT {
        data.remove(k);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errors))
    }
}

/// Prepares a password set through a token flow (password reset): `password` is required and
/// must match `passwordConfirm` and the collection's password field rules; it is replaced by
/// its hash and the confirmation dropped. No old password is asked: the token stands for it.
pub fn prepare_password_reset(collection: &Collection, data: &mut Map<String, Value>) -> Result<(), Error> {
    let mut errors = FieldErrors::new();
    for key in ["password", "passwordConfirm"] {
        if data.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            errors.insert(key.into(), FieldError::new("validation_required", "Cannot be blank."));
        }
    }
    if errors.is_empty() {
        check_confirm(data, &mut errors);
    }
    if errors.is_empty() {
        hash_password_fields(collection, data, &mut errors)?;
    }
    for k in TRANSIENT {
        data.remove(k);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errors))
    }
}

/// Whether the caller passes the collection's `manageRule` for `current`.
async fn is_manager(app: &App, collection: &Collection, current: &Record, req: &RequestInfo) -> Result<bool, Error> {
    let Some(rule) = collection.auth.as_ref().and_then(|a| a.manage_rule.as_deref()) else {
        return Ok(false);
    };
    if req.auth.is_none() {
        return Ok(false);
    }
    app.store
        .record_matches(&current.collection, &current.data, rule, req)
        .await
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.as_str(), "true" | "1" | "on"),
        _ => false,
    }
}

fn check_confirm(data: &Map<String, Value>, errors: &mut FieldErrors) {
    if data.get("password") != data.get("passwordConfirm") {
        errors.insert(
            "passwordConfirm".into(),
            FieldError::new("validation_values_mismatch", "Values don't match."),
        );
    }
}

/// Validates the length of every submitted password field and replaces it with its hash.
fn hash_password_fields(
    collection: &Collection,
    data: &mut Map<String, Value>,
    errors: &mut FieldErrors,
) -> Result<(), Error> {
    for field in &collection.fields {
        let FieldKind::Password(opts) = &field.kind else {
            continue;
        };
        let Some(value) = data.get(&field.name) else {
            continue;
        };
        let Some(plain) = value.as_str() else {
            if !value.is_null() {
                errors.insert(
                    field.name.clone(),
                    FieldError::new("validation_invalid_value", "Must be a string."),
                );
            }
            continue;
        };
        if plain.is_empty() {
            continue;
        }
        let min = opts.min.max(0) as usize;
        let max = if opts.max > 0 {
            (opts.max as usize).min(MAX_PASSWORD_BYTES)
        } else {
            MAX_PASSWORD_BYTES
        };
        if plain.chars().count() < min {
            errors.insert(
                field.name.clone(),
                FieldError::new(
                    "validation_min_text_constraint",
                    format!("Must be at least {min} character(s)."),
                ),
            );
            continue;
        }
        if plain.len() > max {
            errors.insert(
                field.name.clone(),
                FieldError::new(
                    "validation_max_text_constraint",
                    format!("Must be less than {max} character(s)."),
                ),
            );
            continue;
        }
        if errors.is_empty() {
            let hash = keel_auth::hash_password(plain)?;
            data.insert(field.name.clone(), Value::String(hash));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users() -> Collection {
        Collection::default_users()
    }

    #[test]
    fn create_checks_confirm_length_and_hashes() {
        let col = users();
        let mut d = json!({"email": "a@b.co", "password": "12345678", "passwordConfirm": "nope1234"});
        let e = prepare_create(&col, d.as_object_mut().unwrap(), false).unwrap_err();
        assert!(matches!(e, Error::BadRequest { ref fields, .. } if fields.contains_key("passwordConfirm")));

        let mut d = json!({"password": "short", "passwordConfirm": "short"});
        let e = prepare_create(&col, d.as_object_mut().unwrap(), false).unwrap_err();
        assert!(
            matches!(e, Error::BadRequest { ref fields, .. } if fields["password"].code == "validation_min_text_constraint")
        );

        let long = "x".repeat(72);
        let mut d = json!({"password": long, "passwordConfirm": long});
        assert!(prepare_create(&col, d.as_object_mut().unwrap(), false).is_err());

        let mut d = json!({"password": "12345678", "passwordConfirm": "12345678", "verified": true});
        assert!(prepare_create(&col, d.as_object_mut().unwrap(), false).is_err());

        let mut d = json!({"password": "12345678", "passwordConfirm": "12345678", "tokenKey": "x"});
        let m = d.as_object_mut().unwrap();
        prepare_create(&col, m, false).unwrap();
        let hash = m["password"].as_str().unwrap();
        assert!(keel_auth::verify_password("12345678", hash));
        assert!(!m.contains_key("passwordConfirm") && !m.contains_key("tokenKey"));
    }
}
