//! A secret's type and its `data`: which keys each type takes, validation with a 400 naming
//! `data.<key>`, and [`SecretData`], the opened value (zeroized on drop, `Debug` without values).

use std::collections::BTreeMap;

use keel_core::Error;
use serde_json::Value;
use zeroize::Zeroize;

/// The most `data` may hold, in bytes of keys and values.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

/// A secret's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretType {
    /// `username`, `password`.
    Password,
    /// `username`, `privateKey`, optional `passphrase`.
    SshKey,
    /// `token`.
    Token,
    /// `username`, `password`, optional `domain`.
    Winrm,
    /// Any string map.
    Generic,
}

/// Every type's name, for error messages.
pub const TYPES: &str = "password, ssh_key, token, winrm, generic";

impl SecretType {
    /// The type named `name` (`password`, `ssh_key`, `token`, `winrm`, `generic`).
    pub fn parse(name: &str) -> Option<SecretType> {
        Some(match name {
            "password" => SecretType::Password,
            "ssh_key" => SecretType::SshKey,
            "token" => SecretType::Token,
            "winrm" => SecretType::Winrm,
            "generic" => SecretType::Generic,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecretType::Password => "password",
            SecretType::SshKey => "ssh_key",
            SecretType::Token => "token",
            SecretType::Winrm => "winrm",
            SecretType::Generic => "generic",
        }
    }

    /// `(required, optional)` keys of `data`; `None` for `generic` (any keys).
    pub fn keys(self) -> Option<(&'static [&'static str], &'static [&'static str])> {
        match self {
            SecretType::Password => Some((&["username", "password"], &[])),
            SecretType::SshKey => Some((&["username", "privateKey"], &["passphrase"])),
            SecretType::Token => Some((&["token"], &[])),
            SecretType::Winrm => Some((&["username", "password"], &["domain"])),
            SecretType::Generic => None,
        }
    }
}

/// A secret's opened data: its type and its string values. Zeroized on drop; `Debug` shows
/// the keys only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretData {
    pub kind: SecretType,
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretData")
            .field("kind", &self.kind)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for SecretData {
    fn drop(&mut self) {
        for v in self.values.values_mut() {
            v.zeroize();
        }
    }
}

impl SecretData {
    /// The value of `key` (`password`, `privateKey`, …).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Every key and value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A redactor of every value of this secret (see `keel_vault::Redactor`).
    pub fn redactor(&self) -> keel_vault::Redactor {
        keel_vault::Redactor::new(self.values.values())
    }

    /// The data as JSON (what reveal answers).
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        )
    }

    /// The bytes sealed in the database: the values as a JSON object.
    pub(crate) fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(serde_json::to_vec(&self.values).unwrap_or_default())
    }

    /// The data of a secret of type `kind` from its sealed bytes.
    pub(crate) fn from_bytes(kind: SecretType, bytes: &[u8]) -> Option<SecretData> {
        let values: BTreeMap<String, String> = serde_json::from_slice(bytes).ok()?;
        Some(SecretData { kind, values })
    }
}

fn field(key: &str, code: &str, message: String) -> Error {
    Error::field(format!("data.{key}"), code, message)
}

fn valid_generic_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 100
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Checks a submitted `data` for a secret of type `kind`: a 400 naming `data` (not an object,
/// too large) or `data.<key>` (not a string, unknown key, missing or empty required key).
/// Empty optional values are dropped.
pub fn validate(kind: SecretType, data: Value) -> Result<SecretData, Error> {
    let Value::Object(map) = data else {
        return Err(Error::field(
            "data",
            "validation_invalid_type",
            "data must be an object of strings.",
        ));
    };
    let mut values = BTreeMap::new();
    let mut size = 0;
    for (k, v) in map {
        let Value::String(s) = v else {
            return Err(field(
                &k,
                "validation_invalid_type",
                format!("data.{k} must be a string."),
            ));
        };
        size += k.len() + s.len();
        values.insert(k, s);
    }
    let out = SecretData { kind, values };
    if size > MAX_DATA_BYTES {
        return Err(Error::field(
            "data",
            "validation_max_size",
            format!("A secret's data holds at most {MAX_DATA_BYTES} bytes."),
        ));
    }
    let mut out = out;
    match kind.keys() {
        None => {
            if out.values.is_empty() {
                return Err(Error::field(
                    "data",
                    "validation_required",
                    "A generic secret needs at least one key.",
                ));
            }
            if let Some(bad) = out.values.keys().find(|k| !valid_generic_key(k)) {
                return Err(field(
                    bad,
                    "validation_invalid_key",
                    "Keys are 1 to 100 letters, digits, '_', '-' or '.'.".into(),
                ));
            }
        }
        Some((required, optional)) => {
            let allowed = || required.iter().chain(optional).copied().collect::<Vec<_>>().join(", ");
            if let Some(bad) = out
                .values
                .keys()
                .find(|k| !required.contains(&k.as_str()) && !optional.contains(&k.as_str()))
            {
                return Err(field(
                    bad,
                    "validation_unknown_key",
                    format!("A {} secret takes {}.", kind.as_str(), allowed()),
                ));
            }
            for key in required {
                if out.values.get(*key).is_none_or(|v| v.is_empty()) {
                    return Err(field(
                        key,
                        "validation_required",
                        format!("A {} secret needs data.{key}.", kind.as_str()),
                    ));
                }
            }
            let empty: Vec<String> = out
                .values
                .iter()
                .filter(|(_, v)| v.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            for k in empty {
                out.values.remove(&k);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(e: Error) -> String {
        match e {
            Error::BadRequest { fields, .. } => fields.keys().next().cloned().unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_type_takes_its_keys() {
        let ok = validate(SecretType::Password, json!({"username": "u", "password": "p"})).unwrap();
        assert_eq!(ok.get("password"), Some("p"));
        let ssh = validate(
            SecretType::SshKey,
            json!({"username": "u", "privateKey": "k", "passphrase": ""}),
        )
        .unwrap();
        assert_eq!(ssh.get("passphrase"), None);
        assert!(validate(
            SecretType::Winrm,
            json!({"username": "u", "password": "p", "domain": "D"})
        )
        .is_ok());
        assert!(validate(SecretType::Generic, json!({"api.key": "x", "b": "y"})).is_ok());
        let shown = format!("{ok:?}");
        assert!(shown.contains("password") && !shown.contains("\"p\""), "{shown}");
    }

    #[test]
    fn mistakes_name_the_key() {
        let cases = [
            (SecretType::Password, json!({"username": "u"}), "data.password"),
            (
                SecretType::Password,
                json!({"username": "u", "password": 3}),
                "data.password",
            ),
            (SecretType::Token, json!({"token": "t", "extra": "x"}), "data.extra"),
            (
                SecretType::SshKey,
                json!({"username": "u", "privateKey": ""}),
                "data.privateKey",
            ),
            (SecretType::Generic, json!({}), "data"),
            (SecretType::Generic, json!({"bad key": "x"}), "data.bad key"),
            (SecretType::Token, json!("t"), "data"),
        ];
        for (kind, data, want) in cases {
            assert_eq!(field_of(validate(kind, data.clone()).unwrap_err()), want, "{data}");
        }
    }
}
