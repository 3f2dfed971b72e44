//! Auth and file tokens: JWT (HS256). The signing key is the collection's secret for the
//! token kind followed by the record's `tokenKey`; changing either invalidates every token.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a token is for (`type` claim, as PocketBase names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenKind {
    Auth,
    File,
    Verification,
    PasswordReset,
    EmailChange,
}

/// The claims of a Keel token, compatible with what PocketBase's SDK reads
/// (`id`, `type`, `collectionId`, `exp`, `refreshable`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: TokenKind,
    pub collection_id: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    #[serde(default)]
    pub refreshable: bool,
    /// The email a token is about (verification, email change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
}

impl Claims {
    /// Claims for `record_id` of `collection_id` valid for `duration_secs` from now.
    pub fn new(kind: TokenKind, record_id: &str, collection_id: &str, duration_secs: i64) -> Self {
        Claims {
            id: record_id.to_string(),
            kind,
            collection_id: collection_id.to_string(),
            exp: chrono::Utc::now().timestamp() + duration_secs.max(1),
            refreshable: kind == TokenKind::Auth,
            email: None,
            new_email: None,
        }
    }
}

fn key(secret: &str, token_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(secret.len() + token_key.len());
    k.extend_from_slice(secret.as_bytes());
    k.extend_from_slice(token_key.as_bytes());
    k
}

/// Signs `claims` with `secret` + `token_key`.
pub fn sign(claims: &Claims, secret: &str, token_key: &str) -> Result<String> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&key(secret, token_key)),
    )
    .map_err(|e| Error::internal(format!("token signing failed: {e}")))
}

/// Reads the claims without checking the signature, to find which record and collection
/// to load the keys from. Never trust the result before `verify`.
pub fn peek(token: &str) -> Result<Claims> {
    jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token)
        .map_err(|_| Error::Unauthorized("The request requires valid record authorization token.".into()))
}

/// Checks signature, expiry and kind; returns the claims.
pub fn verify(token: &str, kind: TokenKind, secret: &str, token_key: &str) -> Result<Claims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp"]);
    let claims = decode::<Claims>(token, &DecodingKey::from_secret(&key(secret, token_key)), &v)
        .map(|d| d.claims)
        .map_err(|_| Error::Unauthorized("The request requires valid record authorization token.".into()))?;
    if claims.kind != kind {
        return Err(Error::Unauthorized("The token is not of the expected type.".into()));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_revoke() {
        let c = Claims::new(TokenKind::Auth, "rec1", "col1", 60);
        let t = sign(&c, "secret", "key1").unwrap();
        assert_eq!(peek(&t).unwrap().id, "rec1");
        assert_eq!(
            verify(&t, TokenKind::Auth, "secret", "key1").unwrap().collection_id,
            "col1"
        );
        // a rotated tokenKey revokes
        assert!(verify(&t, TokenKind::Auth, "secret", "key2").is_err());
        // a token of another kind is refused
        assert!(verify(&t, TokenKind::File, "secret", "key1").is_err());
        // expired
        let mut old = Claims::new(TokenKind::Auth, "rec1", "col1", 60);
        old.exp = chrono::Utc::now().timestamp() - 5;
        let t = sign(&old, "secret", "key1").unwrap();
        assert!(verify(&t, TokenKind::Auth, "secret", "key1").is_err());
        // forged
        assert!(peek("abc.def.ghi").is_err());
    }
}
