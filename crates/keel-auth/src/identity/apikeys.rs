//! API keys for service accounts: `keel_<id>_<secret>`, shown once, stored as a SHA-256
//! hash, with roles, an optional expiry, the last time it was used, revocation and rotation.

use keel_core::{Error, Result};
use keel_data::system::API_KEYS;
use serde::Serialize;
use serde_json::Value;

use super::{boolean, json, obj, strings, text, Identity};
use crate::secret::{constant_time_eq, random_token, sha256_hex};

/// Every key starts with this, so a key is recognisable (and secret scanners can find one).
pub const API_KEY_PREFIX: &str = "keel_";

/// An API key as the API shows it: never the secret or its hash.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Expiry ("" = never).
    pub expires: String,
    /// Last successful use ("" = never), updated at most once a minute.
    pub last_used: String,
    pub revoked: bool,
    /// Who created it (`collection/recordId` of the superuser or user).
    pub created_by: String,
    pub created: String,
}

const COLUMNS: &str =
    "\"id\", \"name\", \"hash\", \"roles\", \"expires\", \"lastUsed\", \"revoked\", \"createdBy\", \"created\"";

fn key_of(row: &keel_sql::Row) -> ApiKey {
    ApiKey {
        id: text(row, "id"),
        name: text(row, "name"),
        roles: strings(&json(row, "roles")),
        expires: text(row, "expires"),
        last_used: text(row, "lastUsed"),
        revoked: boolean(row, "revoked"),
        created_by: text(row, "createdBy"),
        created: text(row, "created"),
    }
}

fn compose(id: &str, secret: &str) -> String {
    format!("{API_KEY_PREFIX}{id}_{secret}")
}

/// One key by id (`$1`).
pub(super) fn by_id() -> String {
    format!("SELECT {COLUMNS} FROM \"_apiKeys\" WHERE \"id\" = $1")
}

impl Identity {
    /// Creates a key; returns it and its secret (the only time the secret is available).
    /// 400 naming `name`, `roles` or `expires` when invalid.
    pub async fn create_api_key(
        &self,
        name: &str,
        roles: Vec<String>,
        expires: Option<&str>,
        created_by: &str,
    ) -> Result<(ApiKey, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::field(
                "name",
                "validation_required",
                "Give the key a name of 1-100 characters.",
            ));
        }
        for r in &roles {
            if self.role(r).await?.is_none() {
                return Err(Error::field(
                    "roles",
                    "validation_unknown_role",
                    format!("No role named {r:?}."),
                ));
            }
        }
        let expires = match expires.map(str::trim).filter(|e| !e.is_empty()) {
            None => String::new(),
            Some(e) => match keel_core::time::parse(e) {
                Some(t) if t > chrono::Utc::now() => keel_core::time::format(t),
                Some(_) => {
                    return Err(Error::field(
                        "expires",
                        "validation_date_past",
                        "The expiry must be in the future.",
                    ))
                }
                None => {
                    return Err(Error::field(
                        "expires",
                        "validation_invalid_date",
                        "Use a date like 2027-01-31 12:00:00.000Z.",
                    ))
                }
            },
        };
        let id = keel_core::id::new_id();
        let secret = random_token(40);
        let raw = compose(&id, &secret);
        self.insert(
            API_KEYS,
            obj(vec![
                ("id", Value::from(id.clone())),
                ("name", Value::from(name)),
                ("hash", Value::from(sha256_hex(&raw))),
                ("roles", Value::from(roles)),
                ("expires", Value::from(expires)),
                ("revoked", Value::Bool(false)),
                ("createdBy", Value::from(created_by)),
            ]),
        )
        .await?;
        let key = self.api_key(&id).await?.ok_or_else(Error::not_found)?;
        Ok((key, raw))
    }

    /// Every key, newest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = self
            .rows(
                &format!("SELECT {COLUMNS} FROM \"_apiKeys\" ORDER BY \"created\" DESC, \"id\""),
                &[],
            )
            .await?;
        Ok(rows.iter().map(key_of).collect())
    }

    /// One key by id.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let rows = self
            .rows(
                &format!("SELECT {COLUMNS} FROM \"_apiKeys\" WHERE \"id\" = $1"),
                &[Value::from(id)],
            )
            .await?;
        Ok(rows.first().map(key_of))
    }

    /// Revokes a key: it is refused from now on (404 when there is no such key).
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey> {
        self.api_key(id)
            .await?
            .ok_or_else(|| Error::NotFound("No API key with this id.".into()))?;
        self.update(API_KEYS, id, obj(vec![("revoked", Value::Bool(true))]))
            .await?;
        self.api_key(id).await?.ok_or_else(Error::not_found)
    }

    /// Gives a key a new secret (the old one stops working at once); returns the new secret.
    pub async fn rotate_api_key(&self, id: &str) -> Result<(ApiKey, String)> {
        let key = self
            .api_key(id)
            .await?
            .ok_or_else(|| Error::NotFound("No API key with this id.".into()))?;
        if key.revoked {
            return Err(Error::bad_request("A revoked key cannot be rotated; create a new one."));
        }
        let raw = compose(id, &random_token(40));
        self.update(API_KEYS, id, obj(vec![("hash", Value::from(sha256_hex(&raw)))]))
            .await?;
        Ok((key, raw))
    }

    /// The key `raw` names, if its secret matches and it is neither revoked nor expired.
    /// `Ok(None)` when `raw` is not shaped like a Keel key (so it can be tried as a token).
    pub async fn verify_api_key(&self, raw: &str) -> Result<Option<ApiKey>> {
        let invalid = || Error::Unauthorized("The API key is invalid, revoked or expired.".into());
        let Some(rest) = raw.strip_prefix(API_KEY_PREFIX) else {
            return Ok(None);
        };
        let Some((id, _)) = rest.split_once('_') else {
            return Err(invalid());
        };
        if !keel_core::id::is_valid_id(id) {
            return Err(invalid());
        }
        let rows = self
            .store
            .engine()
            .fetch_point(&self.hot.api_key, &[Value::from(id)])
            .await?;
        let row = rows.first().ok_or_else(invalid)?;
        if !constant_time_eq(&text(row, "hash"), &sha256_hex(raw)) {
            return Err(invalid());
        }
        let key = key_of(row);
        let now = chrono::Utc::now();
        if key.revoked || keel_core::time::parse(&key.expires).is_some_and(|e| e <= now) {
            return Err(invalid());
        }
        let stale = keel_core::time::parse(&key.last_used).is_none_or(|t| (now - t).num_seconds() >= 60);
        if stale {
            // Best effort: a failed touch must not refuse a valid key.
            let sql = "UPDATE \"_apiKeys\" SET \"lastUsed\" = $1 WHERE \"id\" = $2";
            if let Err(e) = self
                .execute(sql, &[Value::from(keel_core::time::format(now)), Value::from(id)])
                .await
            {
                tracing::warn!(error = %e, "could not record an API key's last use");
            }
        }
        Ok(Some(key))
    }
}
