//! Who is calling: the auth record behind a token, or the API key a request carries, with the
//! roles and permissions they hold. Entry points hand the raw credential to [`resolve`].

use std::sync::Arc;

use keel_auth::identity::ApiKey;
use keel_auth::token::{self, TokenKind};
use keel_core::Error;
use keel_data::{Access, AuthRecord, RequestInfo};
use serde_json::Value;

use crate::authz::Permission;
use crate::App;

/// The 401 of a missing or invalid credential.
pub const INVALID_TOKEN: &str = "The request requires valid record authorization token.";

/// Who is calling: the auth record behind the request's token, or the API key it carries,
/// with the roles and permissions they hold. A token or key that is present but invalid
/// (forged, expired, revoked, unknown record) is a 401.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The authenticated auth record (`None` for guests and API keys). When its collection
    /// has no `roles` field, `record["roles"]` holds its role names, so rules can test
    /// `@request.auth.roles ?= "editor"`.
    pub auth: Option<AuthRecord>,
    /// The API key the request carries, if it is one.
    pub api_key: Option<Arc<ApiKey>>,
    /// Role names held (assigned to the record, or given to the key).
    pub roles: Arc<[String]>,
    /// The permissions those roles grant.
    pub permissions: Arc<[String]>,
    /// What rules see as `@request.auth` for an API key: a record of the `_apiKeys`
    /// collection with the key's `id`, `name` and `roles` (never its secret), so rules can
    /// test `@request.auth.collectionName = "_apiKeys"` or `@request.auth.roles ?= "editor"`.
    pub key_principal: Option<AuthRecord>,
    /// The SHA-256 of the API key the request carried (what `_apiKeys.hash` stores, not the
    /// secret): a realtime client bound to the key is dropped once the key is rotated.
    pub api_key_hash: Option<Arc<str>>,
}

impl Caller {
    /// A guest.
    pub fn guest() -> Self {
        Caller::default()
    }

    /// An auth record without roles (file tokens, tests).
    pub fn record(auth: Option<AuthRecord>) -> Self {
        Caller {
            auth,
            ..Caller::default()
        }
    }

    pub fn is_superuser(&self) -> bool {
        self.auth
            .as_ref()
            .is_some_and(|a| a.collection.id == keel_data::schema::SUPERUSERS_ID)
    }

    /// The `@request.auth` of rules: the auth record, or the API key's principal.
    pub fn rule_auth(&self) -> Option<AuthRecord> {
        self.auth.clone().or_else(|| self.key_principal.clone())
    }

    /// Whether the caller holds `records:manage` (granted by the `admin` role's `*`): it
    /// skips collection rules as a superuser does, on every collection but the system ones (`_…`).
    pub fn manages_records(&self) -> bool {
        !self.is_guest() && keel_auth::permissions::grants(&self.permissions, Permission::RecordsManage.as_str())
    }

    /// Whether the caller is a guest (no record, no API key).
    pub fn is_guest(&self) -> bool {
        self.auth.is_none() && self.api_key.is_none()
    }

    /// Who acts, for the audit trail: `collectionName/recordId`, `apikey/keyId` or "".
    pub fn actor(&self) -> String {
        match (&self.auth, &self.api_key) {
            (Some(a), _) => format!("{}/{}", a.collection.name, a.id()),
            (None, Some(k)) => format!("apikey/{}", k.id),
            _ => String::new(),
        }
    }

    /// 401 for guests, 403 for non-superusers.
    pub fn require_superuser(&self) -> Result<(), Error> {
        if self.is_superuser() {
            Ok(())
        } else if self.is_guest() {
            Err(Error::Unauthorized(INVALID_TOKEN.into()))
        } else {
            Err(superusers_only())
        }
    }

    /// The `@request.*` context of a rule check for this caller, with `method`, `query`,
    /// `headers` and `body` as the entry point received them.
    pub fn request_info(
        &self,
        method: &str,
        query: keel_data::RequestMap,
        headers: keel_data::RequestMap,
        body: serde_json::Map<String, Value>,
    ) -> RequestInfo {
        RequestInfo {
            auth: self.rule_auth(),
            manages_records: self.manages_records(),
            method: method.to_ascii_uppercase(),
            query,
            headers,
            body,
            context: "default".into(),
        }
    }
}

/// URL-encoded pairs (a query string, a form body) as a JSON object of strings, the last value
/// of a repeated name kept (`@request.query`, form bodies).
pub fn form_json(text: &str) -> serde_json::Map<String, Value> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

/// The 403 PocketBase answers when a rule is `null` and the caller is not a superuser.
pub fn superusers_only() -> Error {
    Error::Forbidden("Only superusers can perform this action.".into())
}

/// Resolves an auth token of `kind` to its record, checking signature, expiry and token key.
pub async fn authenticate(app: &App, raw: &str, kind: TokenKind) -> Result<AuthRecord, Error> {
    let invalid = || Error::Unauthorized(INVALID_TOKEN.into());
    let claims = token::peek(raw).map_err(|_| invalid())?;
    let collection = app.store.collection(&claims.collection_id).map_err(|_| invalid())?;
    let auth = collection.auth.as_ref().ok_or_else(invalid)?;
    let secret = match kind {
        TokenKind::Auth => &auth.auth_token.secret,
        TokenKind::File => &auth.file_token.secret,
        TokenKind::Verification => &auth.verification_token.secret,
        TokenKind::PasswordReset => &auth.password_reset_token.secret,
        TokenKind::EmailChange => &auth.email_change_token.secret,
    };
    let record = app
        .store
        .get_record(&collection, &claims.id, &RequestInfo::default(), Access::Superuser)
        .await
        .map_err(|_| invalid())?;
    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    token::verify(raw, kind, secret, token_key).map_err(|_| invalid())?;
    Ok(AuthRecord::new(collection, record.data))
}

/// Resolves a credential: an API key (`keel_…`) or an auth token, with its roles; `None` is
/// a guest.
pub async fn resolve(app: &App, raw: Option<&str>) -> Result<Caller, Error> {
    let Some(raw) = raw else {
        return Ok(Caller::guest());
    };
    if let Some(key) = app.identity.verify_api_key(raw).await? {
        let roles: Arc<[String]> = key.roles.clone().into();
        let permissions = app.identity.permissions_of(&roles).await?.into();
        let key_principal = key_principal(app, &key);
        return Ok(Caller {
            auth: None,
            api_key: Some(Arc::new(key)),
            roles,
            permissions,
            key_principal,
            api_key_hash: Some(keel_auth::secret::sha256_hex(raw).into()),
        });
    }
    let mut auth = authenticate(app, raw, TokenKind::Auth).await?;
    if auth.collection.id == keel_data::schema::SUPERUSERS_ID {
        return Ok(Caller::record(Some(auth)));
    }
    let roles = app.identity.roles_of(&auth.collection.id, auth.id()).await?;
    let permissions = app.identity.permissions_of(&roles).await?.into();
    if auth.collection.field("roles").is_none() {
        Arc::make_mut(&mut auth.record).insert("roles".into(), Value::from(roles.clone()));
    }
    Ok(Caller {
        auth: Some(auth),
        api_key: None,
        roles: roles.into(),
        permissions,
        key_principal: None,
        api_key_hash: None,
    })
}

/// The `@request.auth` of an API key (see [`Caller::key_principal`]).
fn key_principal(app: &App, key: &ApiKey) -> Option<AuthRecord> {
    let collection = app.store.collection(keel_data::system::API_KEYS).ok()?;
    let mut record = keel_data::RecordData::new();
    record.insert("id".into(), Value::from(key.id.clone()));
    record.insert("name".into(), Value::from(key.name.clone()));
    record.insert("roles".into(), Value::from(key.roles.clone()));
    Some(AuthRecord::new(collection, record))
}
