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
    }
}
