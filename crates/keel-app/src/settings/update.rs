//! A change of the settings by a superuser: the submitted JSON is deep-merged into the current
//! settings, validated and persisted. Secrets ([`WRITE_ONLY`]: the SMTP password, the S3
//! secrets) are write-only: [`public_json`] shows them blank, and a blank one in a change
//! keeps the stored value (so a form that round-trips the document does not wipe it). A change is audited (`settings.update`) with the settings
//! before and after, secrets masked.

use std::sync::Arc;

use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use serde_json::{Map, Value};

use super::SettingsData;
use crate::audit::{self, Origin};
use crate::caller::Caller;
use crate::redact::redact_secrets;
use crate::App;

/// Applies `patch` to the settings (superusers only) and returns the saved settings.
pub async fn update(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    patch: Map<String, Value>,
) -> Result<Arc<SettingsData>, Error> {
    caller.require_superuser()?;
    let current = app.settings.get();
    let mut merged = serde_json::to_value(current.as_ref()).map_err(Error::wrap)?;
    let mut patch = Value::Object(patch);
    for ptr in WRITE_ONLY {
        if let Some(v) = patch.pointer_mut(ptr) {
            if v.as_str().is_some_and(str::is_empty) || v.is_null() {
                *v = merged.pointer(ptr).cloned().unwrap_or(Value::String(String::new()));
            }
        }
    }
    // `backups.s3.secret` is write-only too (PocketBase omits it when read).
    if let Some(secret) = patch.pointer_mut("/backups/s3/secret") {
        if secret.as_str().is_some_and(str::is_empty) || secret.is_null() {
            let kept = current.backups.pointer("/s3/secret").cloned();
            *secret = kept.unwrap_or(Value::String(String::new()));
        }
    }
    merge(&mut merged, patch);
    let data: SettingsData = serde_json::from_value(merged)
        .map_err(|e| Error::bad_request(format!("Failed to load the submitted data: {}.", type_error(&e))))?;
    validate(&data)?;
    crate::backups::check_settings(
        &data.backups,
        app.config.data.engine == keel_core::config::DataEngine::Sqlite,
    )?;
    let saved = app.settings.replace(&app.store, data).await?;
    // Stored request logs the new `logs` settings no longer keep go now, as in PocketBase.
    crate::logs::apply_retention(app, &saved.logs).await;
    // Every other process reloads them (see `crate::sync`).
    if let Err(e) = app.bus.publish(super::TOPIC, bytes::Bytes::new()).await {
        tracing::warn!(error = %e, "settings saved but not announced on the event bus; other processes keep their copy until they reload");
    }
    let masked = |s: &SettingsData| {
        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
        redact_secrets(&mut v);
        v
    };
    let entry = audit::entry(caller, origin, "settings.update")
        .detail("before", masked(&current))
        .detail("after", masked(&saved));
    app.identity.audit(entry).await;
    Ok(saved)
}

/// The settings' secrets: never shown back, kept when a change leaves them blank.
pub const WRITE_ONLY: [&str; 3] = ["/smtp/password", "/s3/secret", "/backups/s3/secret"];

/// The settings as clients see them: the secrets blank.
pub fn public_json(data: &SettingsData) -> Result<Value, Error> {
    let mut v = serde_json::to_value(data).map_err(Error::wrap)?;
    for ptr in WRITE_ONLY {
        if let Some(secret) = v.pointer_mut(ptr) {
            *secret = Value::String(String::new());
        }
    }
    Ok(v)
}

/// Recursively merges `patch` into `target`: objects key by key, anything else replaced.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// serde's message without positions, which mean nothing for a merged document.
fn type_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// Checks the merged settings; a 400 names each offending field by its dotted path.
fn validate(s: &SettingsData) -> Result<(), Error> {
    let mut errs = FieldErrors::new();
    let mut fail = |path: String, code: &str, msg: &str| {
        errs.insert(path, FieldError::new(code, msg));
    };
    if s.meta.app_name.trim().is_empty() {
        fail("meta.appName".into(), "validation_required", "Cannot be blank.");
    }
    if s.meta.app_url.trim().is_empty() {
        fail("meta.appURL".into(), "validation_required", "Cannot be blank.");
    } else if !(s.meta.app_url.starts_with("http://") || s.meta.app_url.starts_with("https://")) {
        fail("meta.appURL".into(), "validation_is_url", "Must be a valid url.");
    }
    if s.batch.max_requests < 1 {
        fail(
            "batch.maxRequests".into(),
            "validation_min_greater_equal_than_required",
            "Must be no less than 1.",
        );
    }
    if s.batch.enabled && s.batch.timeout < 1 {
        fail(
            "batch.timeout".into(),
            "validation_min_greater_equal_than_required",
            "Must be no less than 1.",
        );
    }
    for (i, rule) in s.rate_limits.rules.iter().enumerate() {
        if rule.label.trim().is_empty() {
            fail(
                format!("rateLimits.rules.{i}.label"),
                "validation_required",
                "Cannot be blank.",
            );
        }
        if rule.max_requests < 1 {
            fail(
                format!("rateLimits.rules.{i}.maxRequests"),
                "validation_min_greater_equal_than_required",
                "Must be no less than 1.",
            );
        }
        if rule.duration < 1 {
            fail(
                format!("rateLimits.rules.{i}.duration"),
                "validation_min_greater_equal_than_required",
                "Must be no less than 1.",
            );
        }
        if !["", "@guest", "@auth"].contains(&rule.audience.as_str()) {
            fail(
                format!("rateLimits.rules.{i}.audience"),
                "validation_in_invalid",
                "Must be a valid value.",
            );
        }
    }
    if s.logs.max_data_size < 0 {
        fail(
            "logs.maxDataSize".into(),
            "validation_min_greater_equal_than_required",
            "Must be no less than 0.",
        );
    }
    if s.meta.accent_color.chars().count() != 7 {
        fail(
            "meta.accentColor".into(),
            "validation_length_invalid",
            "The length must be exactly 7.",
        );
    }
    for (i, ip) in s.superuser_ips.iter().enumerate() {
        if crate::settings::ip_match::parse(ip).is_none() {
            fail(
                format!("superuserIPs.{i}"),
                "validation_invlaid_ip_or_subnet",
                "Invalid IP or CIDR subnet.",
            );
        }
    }
    if s.logs.max_days < 0 {
        fail(
            "logs.maxDays".into(),
            "validation_min_greater_equal_than_required",
            "Must be no less than 0.",
        );
    }
    if s.smtp.enabled {
        if s.smtp.host.trim().is_empty() {
            fail("smtp.host".into(), "validation_required", "Cannot be blank.");
        }
        if s.smtp.port == 0 {
            fail("smtp.port".into(), "validation_required", "Cannot be blank.");
        }
    }
    let review = &s.changes.review;
    if !["off", "all", "listed"].contains(&review.required.as_str()) {
        fail(
            "changes.review.required".into(),
            "validation_in_invalid",
            "Must be off, all or listed.",
        );
    }
    if review.required == "listed" && review.collections.is_empty() {
        fail(
            "changes.review.collections".into(),
            "validation_required",
            "List the collections (names or ids) whose changes need a review, or set required to all or off.",
        );
    }
    for (i, c) in review.collections.iter().enumerate() {
        if c.trim().is_empty() {
            fail(
                format!("changes.review.collections.{i}"),
                "validation_required",
                "Cannot be blank: give a collection's name or id.",
            );
        }
    }
    if !(1..=20).contains(&review.quorum) {
        fail(
            "changes.review.quorum".into(),
            "validation_invalid_value",
            "Must be between 1 and 20 approvals.",
        );
    }
    if review.breaking_quorum < review.quorum || review.breaking_quorum > 20 {
        fail(
            "changes.review.breakingQuorum".into(),
            "validation_invalid_value",
            "Must be at least quorum and at most 20 approvals.",
        );
    }
    // `s3` (files) and `backups.s3` share PocketBase's shape and rules.
    let backups_s3 = s.backups.get("s3").cloned().unwrap_or(Value::Null);
    let mut s3_errs = FieldErrors::new();
    for (name, value) in [("s3", &s.s3), ("backups.s3", &backups_s3)] {
        if name == "backups.s3" && value.is_null() {
            continue;
        }
        match keel_files::S3Settings::from_json(value) {
            Err(_) => {
                s3_errs.insert(
                    name.into(),
                    FieldError::new("validation_invalid_value", "Must be an S3 settings object."),
                );
            }
            Ok(s3) if s3.enabled => {
                if let Err(Error::BadRequest { fields, .. }) = s3.check(name) {
                    s3_errs.extend(fields);
                }
            }
            Ok(_) => {}
        }
    }
    errs.extend(s3_errs);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep() {
        let mut a = json!({"batch": {"enabled": false, "maxRequests": 50}, "meta": {"appName": "x"}});
        merge(&mut a, json!({"batch": {"enabled": true}, "logs": {"maxDays": 3}}));
        assert_eq!(
            a,
            json!({"batch": {"enabled": true, "maxRequests": 50}, "meta": {"appName": "x"}, "logs": {"maxDays": 3}})
        );
    }

    #[test]
    fn validation_names_fields() {
        let mut s = SettingsData::default();
        s.batch.max_requests = 0;
        s.rate_limits.rules.push(Default::default());
        // After PocketBase's default rules.
        let bad = s.rate_limits.rules.len() - 1;
        let err = validate(&s).unwrap_err();
        let Error::BadRequest { fields, .. } = err else {
            panic!("not a 400")
        };
        assert!(fields.contains_key("batch.maxRequests"));
        assert!(fields.contains_key(&format!("rateLimits.rules.{bad}.label")));
        assert!(fields.contains_key(&format!("rateLimits.rules.{bad}.maxRequests")));
        assert!(validate(&SettingsData::default()).is_ok());
        s.s3 = serde_json::json!({"enabled": true, "bucket": "b"});
        let Error::BadRequest { fields, .. } = validate(&s).unwrap_err() else {
            panic!("not a 400")
        };
        assert!(fields.contains_key("s3.secret") && fields.contains_key("s3.endpoint"));
    }

    #[test]
    fn secrets_are_hidden() {
        let mut s = SettingsData::default();
        s.smtp.password = "pw".into();
        s.s3 = serde_json::json!({"enabled": false, "bucket": "b", "secret": "s3cret"});
        let v = public_json(&s).unwrap();
        assert_eq!(v["smtp"]["password"], "");
        assert_eq!(v["s3"]["secret"], "");
        assert_eq!(v["s3"]["bucket"], "b");
    }
}
