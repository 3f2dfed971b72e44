//! Second factors and one-time codes: email OTPs (`_otps`), pending MFA sessions (`_mfas`),
//! TOTP secrets with recovery codes (`_totp`). Every code is single use.

use keel_core::{Error, Result};
use keel_data::system::{MFAS, OTPS, TOTP};
use serde_json::Value;

use super::{boolean, json, obj, strings, text, Identity};
use crate::secret::{constant_time_eq, random_digits, random_token, sha256_hex};

/// How many recovery codes a TOTP enrolment gets.
pub const RECOVERY_CODES: usize = 10;

fn expired(created: &str, duration_secs: i64) -> bool {
    keel_core::time::parse(created).is_none_or(|t| (chrono::Utc::now() - t).num_seconds() > duration_secs.max(1))
}

/// A record's TOTP state.
#[derive(Debug, Clone)]
pub struct TotpState {
    pub id: String,
    pub secret: String,
    pub enabled: bool,
    pub last_step: i64,
    pub recovery_hashes: Vec<String>,
}

impl Identity {
    /// Stores a new email OTP for a record; returns `(otpId, code)`. The code is kept only as
    /// an argon2id hash.
    pub async fn create_otp(
        &self,
        collection_id: &str,
        record_id: &str,
        sent_to: &str,
        length: usize,
    ) -> Result<(String, String)> {
        let code = random_digits(length.clamp(4, 20));
        let to_hash = code.clone();
        let hash = tokio::task::spawn_blocking(move || crate::hash_password(&to_hash))
            .await
            .map_err(Error::internal)??;
        let r = self
            .insert(
                OTPS,
                obj(vec![
                    ("collectionRef", Value::from(collection_id)),
                    ("recordRef", Value::from(record_id)),
                    ("password", Value::from(hash)),
                    ("sentTo", Value::from(sent_to)),
                ]),
            )
            .await?;
        Ok((r.id().to_string(), code))
    }

    /// Gives the OTP `otp_id` a new code (its hash replaces the old one) and returns it, for
    /// the email that carries it: the code exists in clear only while that email is sent, never
    /// in a stored job. `None` when the OTP is gone (used, expired and purged).
    pub async fn reissue_otp(&self, otp_id: &str, length: usize) -> Result<Option<String>> {
        let rows = self
            .rows("SELECT \"id\" FROM \"_otps\" WHERE \"id\" = $1", &[Value::from(otp_id)])
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let code = random_digits(length.clamp(4, 20));
        let to_hash = code.clone();
        let hash = tokio::task::spawn_blocking(move || crate::hash_password(&to_hash))
            .await
            .map_err(Error::internal)??;
        match self
            .update(OTPS, otp_id, obj(vec![("password", Value::from(hash))]))
            .await
        {
            Ok(_) => Ok(Some(code)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The `(recordId, sentTo)` of the OTP `otp_id` of the collection, expired or not, without
    /// using it up (to know whose sign-in an `auth-with-otp` attempt is).
    pub async fn otp_owner(&self, collection_id: &str, otp_id: &str) -> Result<Option<(String, String)>> {
        let rows = self
            .rows(
                "SELECT \"recordRef\", \"sentTo\" FROM \"_otps\" WHERE \"id\" = $1 AND \"collectionRef\" = $2",
                &[Value::from(otp_id), Value::from(collection_id)],
            )
            .await?;
        Ok(rows.first().map(|r| (text(r, "recordRef"), text(r, "sentTo"))))
    }

    /// Checks an OTP: `Some(recordId)` when `code` matches the unexpired OTP `otp_id` of the
    /// collection; the OTP is then deleted, so it cannot be used again.
    pub async fn take_otp(
        &self,
        collection_id: &str,
        otp_id: &str,
        code: &str,
        duration_secs: i64,
    ) -> Result<Option<String>> {
        let rows = self
            .rows(
                "SELECT \"id\", \"recordRef\", \"password\", \"created\" FROM \"_otps\" WHERE \"id\" = $1 AND \"collectionRef\" = $2",
                &[Value::from(otp_id), Value::from(collection_id)],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        if expired(&text(row, "created"), duration_secs) {
            self.delete(OTPS, otp_id).await?;
            return Ok(None);
        }
        let (hash, code) = (text(row, "password"), code.trim().to_string());
        let ok = tokio::task::spawn_blocking(move || crate::verify_password(&code, &hash))
            .await
            .map_err(Error::internal)?;
        if !ok {
            return Ok(None);
        }
        self.delete(OTPS, otp_id).await?;
        Ok(Some(text(row, "recordRef")))
    }

    /// Starts an MFA session after a first factor `method` passed; returns the `mfaId`.
    pub async fn create_mfa(&self, collection_id: &str, record_id: &str, method: &str) -> Result<String> {
        let r = self
            .insert(
                MFAS,
                obj(vec![
                    ("collectionRef", Value::from(collection_id)),
                    ("recordRef", Value::from(record_id)),
                    ("method", Value::from(method)),
                ]),
            )
            .await?;
        Ok(r.id().to_string())
    }

    /// The first factor's method of an unexpired MFA session of this record, if any.
    pub async fn mfa_method(
        &self,
        collection_id: &str,
        mfa_id: &str,
        record_id: &str,
        duration_secs: i64,
    ) -> Result<Option<String>> {
        let rows = self
            .rows(
                "SELECT \"method\", \"created\" FROM \"_mfas\" WHERE \"id\" = $1 AND \"collectionRef\" = $2 AND \"recordRef\" = $3",
                &[Value::from(mfa_id), Value::from(collection_id), Value::from(record_id)],
            )
            .await?;
        Ok(rows
            .first()
            .filter(|r| !expired(&text(r, "created"), duration_secs))
            .map(|r| text(r, "method")))
    }

    /// Ends an MFA session (after the second factor, so its id cannot be reused).
    pub async fn delete_mfa(&self, mfa_id: &str) -> Result<()> {
        self.delete(MFAS, mfa_id).await
    }

    /// A record's TOTP state, if it ever began enrolment.
    pub async fn totp(&self, collection_id: &str, record_id: &str) -> Result<Option<TotpState>> {
        let rows = self
            .rows(
                "SELECT \"id\", \"seed\", \"enabled\", \"lastStep\", \"recoveryCodes\" FROM \"_totp\" WHERE \"collectionRef\" = $1 AND \"recordRef\" = $2",
                &[Value::from(collection_id), Value::from(record_id)],
            )
            .await?;
        Ok(rows.first().map(|r| TotpState {
            id: text(r, "id"),
            secret: text(r, "seed"),
            enabled: boolean(r, "enabled"),
            last_step: r.get("lastStep").and_then(Value::as_i64).unwrap_or(-1),
            recovery_hashes: strings(&json(r, "recoveryCodes")),
        }))
    }

    /// Begins (or restarts) TOTP enrolment with a fresh secret, not yet enabled; returns it.
    /// 409 when TOTP is already enabled (disable it first).
    pub async fn totp_begin(&self, collection_id: &str, record_id: &str) -> Result<String> {
        let secret = crate::totp::new_secret();
        let data = obj(vec![
            ("collectionRef", Value::from(collection_id)),
            ("recordRef", Value::from(record_id)),
            ("seed", Value::from(secret.clone())),
            ("enabled", Value::Bool(false)),
            ("lastStep", Value::from(-1)),
            ("recoveryCodes", Value::Array(vec![])),
        ]);
        match self.totp(collection_id, record_id).await? {
            Some(t) if t.enabled => return Err(Error::Conflict("TOTP is already enabled; disable it first.".into())),
            Some(t) => self.update(TOTP, &t.id, data).await?,
            None => self.insert(TOTP, data).await?,
        };
        Ok(secret)
    }

    /// Checks a TOTP code against a record's secret (enrolled or pending) and records its step
    /// so it cannot be replayed. `pending_ok` allows a not-yet-enabled secret (confirmation).
    pub async fn totp_check(&self, collection_id: &str, record_id: &str, code: &str, pending_ok: bool) -> Result<bool> {
        let Some(t) = self.totp(collection_id, record_id).await? else {
            return Ok(false);
        };
        if !t.enabled && !pending_ok {
            return Ok(false);
        }
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let Some(step) = crate::totp::verify(&t.secret, code, now, t.last_step) else {
            return Ok(false);
        };
        // Only the writer that moves lastStep forward wins, so two concurrent uses of one
        // code cannot both pass.
        let n = self
            .execute(
                "UPDATE \"_totp\" SET \"lastStep\" = $1 WHERE \"id\" = $2 AND \"lastStep\" < $1",
                &[Value::from(step), Value::from(t.id.clone())],
            )
            .await?;
        Ok(n == 1)
    }

    /// Enables TOTP after a correct code from the pending secret; returns fresh recovery
    /// codes (shown once, stored hashed).
    pub async fn totp_enable(&self, collection_id: &str, record_id: &str, code: &str) -> Result<Vec<String>> {
        let t = self
            .totp(collection_id, record_id)
            .await?
            .ok_or_else(|| Error::bad_request("Start TOTP enrolment first."))?;
        if t.enabled {
            return Err(Error::Conflict("TOTP is already enabled.".into()));
        }
        if !self.totp_check(collection_id, record_id, code, true).await? {
            return Err(Error::field(
                "code",
                "validation_invalid_code",
                "The code is wrong or expired.",
            ));
        }
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| {
                let raw = random_token(10).to_ascii_lowercase();
                format!("{}-{}", &raw[..5], &raw[5..])
            })
            .collect();
        let hashes: Vec<Value> = codes.iter().map(|c| Value::from(sha256_hex(c))).collect();
        self.update(
            TOTP,
            &t.id,
            obj(vec![
                ("enabled", Value::Bool(true)),
                ("recoveryCodes", Value::Array(hashes)),
            ]),
        )
        .await?;
        Ok(codes)
    }

    /// Uses up one recovery code; true when it was valid (it is then gone).
    pub async fn use_recovery_code(&self, collection_id: &str, record_id: &str, code: &str) -> Result<bool> {
        let Some(t) = self.totp(collection_id, record_id).await? else {
            return Ok(false);
        };
        let hash = sha256_hex(code.trim().to_ascii_lowercase().as_str());
        let Some(pos) = t.recovery_hashes.iter().position(|h| constant_time_eq(h, &hash)) else {
            return Ok(false);
        };
        let mut rest = t.recovery_hashes.clone();
        rest.remove(pos);
        let before = Value::Array(t.recovery_hashes.iter().cloned().map(Value::from).collect()).to_string();
        let after = Value::Array(rest.into_iter().map(Value::from).collect()).to_string();
        // Compare-and-set on the whole list: a code used twice at once is taken only once.
        let n = self
            .execute(
                "UPDATE \"_totp\" SET \"recoveryCodes\" = $1 WHERE \"id\" = $2 AND \"recoveryCodes\" = $3",
                &[Value::from(after), Value::from(t.id), Value::from(before)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Turns TOTP off and forgets the secret and recovery codes.
    pub async fn totp_disable(&self, collection_id: &str, record_id: &str) -> Result<()> {
        if let Some(t) = self.totp(collection_id, record_id).await? {
            self.delete(TOTP, &t.id).await?;
        }
        Ok(())
    }
}

impl Identity {
    /// The record and first-factor method of an unexpired MFA session of a collection.
    pub async fn mfa_session(
        &self,
        collection_id: &str,
        mfa_id: &str,
        duration_secs: i64,
    ) -> Result<Option<(String, String)>> {
        let rows = self
            .rows(
                "SELECT \"recordRef\", \"method\", \"created\" FROM \"_mfas\" WHERE \"id\" = $1 AND \"collectionRef\" = $2",
                &[Value::from(mfa_id), Value::from(collection_id)],
            )
            .await?;
        Ok(rows
            .first()
            .filter(|r| !expired(&text(r, "created"), duration_secs))
            .map(|r| (text(r, "recordRef"), text(r, "method"))))
    }
}
