//! Secrets out of what the audit trail records: a changed collection or settings document is
//! written before and after, with every secret masked.

use keel_data::Collection;
use serde_json::Value;

/// What a masked secret reads as.
pub const MASK: &str = "******";

/// Masks, at any depth, every non-empty string under a key naming a secret or a password
/// (`secret`, `clientSecret`, `password`, `bindPassword`, …).
pub fn redact_secrets(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                let key = k.to_ascii_lowercase();
                let secret = key.contains("secret") || key.contains("password");
                match v {
                    Value::String(s) if secret && !s.is_empty() => *s = MASK.to_string(),
                    _ => redact_secrets(v),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// The dotted path (`oauth2.providers.0.clientSecret`) of the first [`MASK`] under a key
/// naming a secret or a password in `v`: a masked value sent back as if it were the secret.
pub fn masked_path(v: &Value) -> Option<String> {
    let (prefix, children): (&str, Vec<(String, &Value)>) = match v {
        Value::Object(m) => ("", m.iter().map(|(k, v)| (k.clone(), v)).collect()),
        Value::Array(a) => ("", a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect()),
        _ => return None,
    };
    for (k, child) in children {
        let key = k.to_ascii_lowercase();
        if (key.contains("secret") || key.contains("password")) && child.as_str() == Some(MASK) {
            return Some(format!("{prefix}{k}"));
        }
        if let Some(rest) = masked_path(child) {
            return Some(format!("{k}.{rest}"));
        }
    }
    None
}

/// A collection as the audit trail records it: its public JSON (token secrets and the LDAP
/// bind password removed) with any other secret (OAuth2 client secrets) masked.
pub fn collection_json(c: &Collection) -> Value {
    let mut v = c.public_json();
    redact_secrets(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth_and_the_rest_is_kept() {
        let mut v = json!({
            "smtp": {"password": "pw", "host": "h"},
            "oauth2": {"providers": [{"name": "g", "clientSecret": "cs", "clientId": "id"}]},
            "passwordAuth": {"enabled": true},
            "authToken": {"secret": ""}
        });
        redact_secrets(&mut v);
        assert_eq!(v["smtp"]["password"], MASK);
        assert_eq!(v["smtp"]["host"], "h");
        assert_eq!(v["oauth2"]["providers"][0]["clientSecret"], MASK);
        assert_eq!(v["oauth2"]["providers"][0]["clientId"], "id");
        assert_eq!(v["passwordAuth"]["enabled"], true);
        assert_eq!(v["authToken"]["secret"], "");
        assert_eq!(masked_path(&v).as_deref(), Some("smtp.password"));
        assert_eq!(
            masked_path(&json!({"oauth2": {"providers": [{"clientSecret": MASK}]}})).as_deref(),
            Some("oauth2.providers.0.clientSecret")
        );
        assert_eq!(
            masked_path(&json!({"oauth2": {"providers": [{"clientSecret": "real"}]}})),
            None
        );
    }
}
