//! The server's signing keys and the `id_token`s it issues, good and bad.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::{IdTokenMode, Inner, SigningAlg};

pub(super) struct Key {
    pub(super) kid: String,
    pub(super) alg: Algorithm,
    pub(super) encoding: EncodingKey,
    pub(super) jwk: Jwk,
}

impl Key {
    pub(super) fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> std::io::Result<Key> {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(std::io::Error::other)?;
        jwk.common.key_id = Some(kid.to_string());
        Ok(Key {
            kid: kid.into(),
            alg,
            encoding,
            jwk,
        })
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }
}

/// Two RSA keys (published, forger's) made once per test process: RSA key generation is slow.
pub(super) fn rsa_ders() -> std::io::Result<&'static [Vec<u8>; 2]> {
    static KEYS: OnceLock<Result<[Vec<u8>; 2], String>> = OnceLock::new();
    let make = || -> Result<Vec<u8>, String> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
        Ok(key.to_pkcs1_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
    };
    KEYS.get_or_init(|| {
        // One key per core: debug builds make each take seconds.
        let (a, b) = std::thread::scope(|t| {
            let other = t.spawn(make);
            (
                make(),
                other.join().unwrap_or_else(|_| Err("key generation panicked".into())),
            )
        });
        Ok([a?, b?])
    })
    .as_ref()
    .map_err(|e| std::io::Error::other(e.clone()))
}

pub(super) fn ec_key(kid: &str) -> std::io::Result<Key> {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let der = secret.to_pkcs8_der().map_err(std::io::Error::other)?;
    Key::new(kid, Algorithm::ES256, EncodingKey::from_ec_der(der.as_bytes()))
}

pub(super) fn id_token(s: &Inner, nonce: Option<String>) -> String {
    let now = chrono::Utc::now().timestamp();
    let u = &s.opts.user;
    let mut claims = json!({
        "iss": s.url, "sub": u.sub, "aud": s.opts.client_id, "iat": now, "exp": now + 600,
        "email": u.email, "email_verified": u.email_verified, "name": u.name,
        "picture": u.picture, "preferred_username": u.preferred_username,
    });
    if let Some(n) = nonce {
        claims["nonce"] = n.into();
    }
    let (key, forger) = match s.signing {
        SigningAlg::Rs256 => (&s.rsa, &s.rsa_forger),
        SigningAlg::Es256 => (&s.ec, &s.ec_forger),
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    match s.mode {
        IdTokenMode::Valid | IdTokenMode::Omitted => {}
        IdTokenMode::Forged => return forger.sign(&key.kid, &claims),
        IdTokenMode::Tampered => {
            let signed = key.sign(&key.kid, &claims);
            claims["sub"] = "someone-else".into();
            let mut parts = signed.split('.');
            let (head, sig) = (parts.next().unwrap_or_default(), parts.nth(1).unwrap_or_default());
            return format!("{head}.{}.{sig}", b64(&claims));
        }
        IdTokenMode::WrongAudience => claims["aud"] = "another-client".into(),
        IdTokenMode::WrongIssuer => claims["iss"] = "https://evil.example.com".into(),
        IdTokenMode::Expired => {
            claims["iat"] = (now - 7200).into();
            claims["exp"] = (now - 3600).into();
        }
        IdTokenMode::WrongNonce => claims["nonce"] = "not-the-nonce".into(),
        IdTokenMode::AlgNone => return format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims)),
        IdTokenMode::HmacWithPublicKey => {
            let jwk = serde_json::to_value(&s.rsa.jwk).unwrap_or_default();
            let secret = EncodingKey::from_secret(jwk["n"].as_str().unwrap_or_default().as_bytes());
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(s.rsa.kid.clone());
            return jsonwebtoken::encode(&header, &claims, &secret).unwrap_or_default();
        }
    }
    key.sign(&key.kid, &claims)
}
