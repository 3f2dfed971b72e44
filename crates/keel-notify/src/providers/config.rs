//! Reading one `[[notify.providers]]` table into a provider's config struct: serde with
//! `deny_unknown_fields`, and an error that names `notify.providers[i].<key>` and never the
//! value it holds (a value may be a secret).

use std::fmt;
use std::time::Duration;

use keel_core::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A credential read from the config: usable, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

/// Parses `table` (the provider at `at`, e.g. `notify.providers[2]`) into `T`.
pub fn parse<T: DeserializeOwned>(at: &str, table: &Map<String, Value>) -> Result<T> {
    let value = Value::Object(table.clone());
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (key, message) = describe(&path, &inner);
        Error::field(format!("{at}.{key}"), "validation_invalid_value", message)
    })
}

/// The key and a message without the offending value, from serde's path and message.
fn describe(path: &str, inner: &str) -> (String, String) {
    let named = |prefix: &str| {
        inner
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    if let Some(key) = named("missing field `") {
        return (key.clone(), format!("{key} is required"));
    }
    if let Some(key) = named("unknown field `") {
        let expected = inner.split_once(", expected ").map(|(_, e)| e).unwrap_or("");
        return (key, format!("unknown key; expected {expected}"));
    }
    let key = if path.is_empty() || path == "." {
        "kind".to_string()
    } else {
        path.trim_start_matches('.').to_string()
    };
    // "invalid type: string \"…\", expected u16" → "expected u16": the value is dropped.
    let message = match inner.rsplit_once(", expected ") {
        Some((_, expected)) => format!("invalid value; expected {expected}"),
        None => "invalid value".to_string(),
    };
    (key, message)
}

/// A required text key that is present but blank.
pub fn blank(at: &str, key: &str) -> Error {
    Error::field(
        format!("{at}.{key}"),
        "validation_required",
        format!("{key} must not be empty"),
    )
}

/// Checks that each `(key, value)` is not blank.
pub fn require(at: &str, keys: &[(&str, &str)]) -> Result<()> {
    match keys.iter().find(|(_, v)| v.trim().is_empty()) {
        Some((k, _)) => Err(blank(at, k)),
        None => Ok(()),
    }
}

/// `rate_per_second` must be at least 1 when set.
pub fn check_rate(at: &str, rate: Option<u32>) -> Result<Option<u32>> {
    match rate {
        Some(0) => Err(Error::field(
            format!("{at}.rate_per_second"),
            "validation_min_greater_equal",
            "rate_per_second must be at least 1 (leave it out for no limit)",
        )),
        other => Ok(other),
    }
}

/// `timeout_secs` (one attempt's bound, 1 to 600 seconds), else `default`.
pub fn check_timeout(at: &str, secs: Option<u32>, default: Duration) -> Result<Duration> {
    match secs {
        None => Ok(default),
        Some(s @ 1..=600) => Ok(Duration::from_secs(u64::from(s))),
        Some(_) => Err(Error::field(
            format!("{at}.timeout_secs"),
            "validation_invalid_value",
            "timeout_secs must be a whole number from 1 to 600",
        )),
    }
}

/// An optional text key: `None` when unset or blank, else trimmed.
pub fn nonblank(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        port: u16,
        key: Secret,
    }

    fn field_of(err: Error) -> (String, String) {
        match err {
            Error::BadRequest { fields, .. } => {
                let (k, f) = fields.into_iter().next().unwrap();
                (k, f.message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_key_and_never_the_value() {
        let t = |v: Value| field_of(parse::<T>("notify.providers[1]", v.as_object().unwrap()).unwrap_err());
        let (k, m) = t(json!({"name": "a", "port": "s3cr3t-port", "key": "k"}));
        assert_eq!(k, "notify.providers[1].port");
        assert!(!m.contains("s3cr3t"), "{m}");
        let (k, m) = t(json!({"name": "a", "port": 1}));
        assert_eq!((k.as_str(), m.as_str()), ("notify.providers[1].key", "key is required"));
        let (k, _) = t(json!({"name": "a", "port": 1, "key": "k", "kye": "s3cr3t"}));
        assert_eq!(k, "notify.providers[1].kye");
        let (k, m) = t(json!({"name": "a", "port": 1, "key": 12345678}));
        assert_eq!(k, "notify.providers[1].key");
        assert!(!m.contains("12345678"), "{m}");
    }

    #[test]
    fn a_secret_is_hidden_from_debug() {
        let t: T = parse(
            "p",
            json!({"name": "a", "port": 1, "key": "s3cr3t"}).as_object().unwrap(),
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("s3cr3t"));
        assert_eq!(t.key.expose(), "s3cr3t");
    }
}
