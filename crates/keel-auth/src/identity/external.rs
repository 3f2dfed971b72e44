//! External identities (OAuth2 / LDAP) linked to auth records, in `_externalAuths`.

use keel_core::Result;
use keel_data::system::EXTERNAL_AUTHS;
use serde_json::Value;

use super::{obj, text, Identity};

impl Identity {
    /// The record of `collection_id` linked to `provider`'s user `provider_id`, if any.
    pub async fn find_external(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> Result<Option<String>> {
        let rows = self
            .rows(
                "SELECT \"recordRef\" FROM \"_externalAuths\" WHERE \"collectionRef\" = $1 AND \"provider\" = $2 AND \"providerId\" = $3",
                &[Value::from(collection_id), Value::from(provider), Value::from(provider_id)],
            )
            .await?;
        Ok(rows.first().map(|r| text(r, "recordRef")))
    }

    /// Links `provider`'s user `provider_id` to a record (no-op when already linked).
    pub async fn link_external(
        &self,
        collection_id: &str,
        record_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> Result<()> {
        if self
            .find_external(collection_id, provider, provider_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.insert(
            EXTERNAL_AUTHS,
            obj(vec![
                ("collectionRef", Value::from(collection_id)),
                ("recordRef", Value::from(record_id)),
                ("provider", Value::from(provider)),
                ("providerId", Value::from(provider_id)),
            ]),
        )
        .await
        .map(|_| ())
    }

    /// Removes the link of `provider`'s user `provider_id` (one whose record was deleted).
    pub async fn unlink_external(&self, collection_id: &str, provider: &str, provider_id: &str) -> Result<()> {
        self.execute(
            "DELETE FROM \"_externalAuths\" WHERE \"collectionRef\" = $1 AND \"provider\" = $2 AND \"providerId\" = $3",
            &[
                Value::from(collection_id),
                Value::from(provider),
                Value::from(provider_id),
            ],
        )
        .await
        .map(|_| ())
    }
}

impl Identity {
    /// Records that a record signed in from the device `fingerprint`. Returns whether that
    /// device is new for the record *and* the record had signed in from another one before
    /// (PocketBase's condition for an `authAlert` email; the very first sign-in is not one).
    pub async fn note_origin(&self, collection_id: &str, record_id: &str, fingerprint: &str) -> Result<bool> {
        let rows = self
            .rows(
                "SELECT \"fingerprint\" FROM \"_authOrigins\" WHERE \"collectionRef\" = $1 AND \"recordRef\" = $2",
                &[Value::from(collection_id), Value::from(record_id)],
            )
            .await?;
        if rows.iter().any(|r| text(r, "fingerprint") == fingerprint) {
            return Ok(false);
        }
        self.insert(
            keel_data::system::AUTH_ORIGINS,
            obj(vec![
                ("collectionRef", Value::from(collection_id)),
                ("recordRef", Value::from(record_id)),
                ("fingerprint", Value::from(fingerprint)),
            ]),
        )
        .await?;
        Ok(!rows.is_empty())
    }
}
