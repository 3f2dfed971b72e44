//! The first superuser, made in the browser (PocketBase's installer): while none exists,
//! `serve` prints a one-time link `/_/#/install/TOKEN`, and `POST /api/install` with that
//! token, an email and a password creates the superuser. The token lives only in this
//! process's memory; it is forgotten once used, and refused anyway once any superuser exists
//! (made by the link, the CLI or another process).

use std::sync::Mutex;

use keel_auth::AuditEntry;
use keel_core::Error;
use keel_data::{Access, ListParams, RequestInfo};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::audit::Origin;
use crate::App;

/// This process's install token, if one was issued and not used yet.
#[derive(Debug, Default)]
pub struct Installer {
    token: Mutex<Option<String>>,
}

impl Installer {
    /// A new token (replacing any earlier one), to print in the install link.
    pub fn issue(&self) -> String {
        let token = keel_core::id::random_string(40, b"abcdefghijklmnopqrstuvwxyz0123456789");
        if let Ok(mut slot) = self.token.lock() {
            *slot = Some(token.clone());
        }
        token
    }

    /// Takes the issued token if `token` is it (compared as digests, so its time says
    /// nothing): of two requests racing with the same link, only one gets it.
    fn take(&self, token: &str) -> bool {
        let Ok(mut slot) = self.token.lock() else { return false };
        let matches = slot
            .as_deref()
            .is_some_and(|issued| Sha256::digest(issued.as_bytes()) == Sha256::digest(token.as_bytes()));
        if matches {
            *slot = None;
        }
        matches
    }

    /// Puts a taken token back (its use failed before making anyone), unless a new one was
    /// issued meanwhile.
    fn give_back(&self, token: &str) {
        if let Ok(mut slot) = self.token.lock() {
            slot.get_or_insert_with(|| token.to_string());
        }
    }
}

/// Whether any superuser exists.
pub async fn has_superuser(app: &App) -> Result<bool, Error> {
    let col = app.store.collection(keel_data::schema::SUPERUSERS)?;
    let params = ListParams {
        page: 1,
        per_page: 1,
        skip_total: true,
        ..ListParams::default()
    };
    let page = app
        .store
        .list_records(&col, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(!page.items.is_empty())
}

/// Creates the first superuser with the install `token`; returns its email.
pub async fn install(
    app: &App,
    origin: &Origin,
    token: &str,
    email: &str,
    password: &str,
    password_confirm: &str,
) -> Result<String, Error> {
    let email = email.trim();
    if email.is_empty() || !email.contains('@') {
        return Err(Error::field(
            "email",
            "validation_invalid_email",
            "Give the superuser's email address.",
        ));
    }
    if password.chars().count() < 8 {
        return Err(Error::field(
            "password",
            "validation_length_out_of_range",
            "Use at least 8 characters.",
        ));
    }
    if password != password_confirm {
        return Err(Error::field(
            "passwordConfirm",
            "validation_values_mismatch",
            "The passwords differ.",
        ));
    }
    if !app.installer.take(token) {
        return Err(Error::Forbidden(
            "This install link is not valid: it was used already, or Keel restarted since. Use the newest link in \
             Keel's output, or `keel superuser upsert EMAIL PASSWORD`."
                .into(),
        ));
    }
    // The token is taken: it stays used once a superuser exists, and is given back when the
    // creation fails for another reason.
    let made = match has_superuser(app).await {
        Ok(true) => return Err(Error::Forbidden("A superuser exists already: sign in instead.".into())),
        Ok(false) => create_superuser(app, email, password).await,
        Err(e) => Err(e),
    };
    let record = made.inspect_err(|_| app.installer.give_back(token))?;
    let col = &record.collection;
    let entry = AuditEntry::new("superuser.install", true)
        .actor(format!("{}/{}", col.name, record.id()))
        .origin(origin.ip.clone(), origin.user_agent.clone())
        .detail("email", email.to_string());
    app.identity.audit(entry).await;
    Ok(email.to_string())
}

async fn create_superuser(app: &App, email: &str, password: &str) -> Result<keel_data::Record, Error> {
    let col = app.store.collection(keel_data::schema::SUPERUSERS)?;
    let hash = keel_auth::hash_password(password)?;
    let data = match json!({"email": email, "password": hash, "verified": true}) {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    app.store
        .create_record(&col, data, &RequestInfo::default(), Access::Superuser)
        .await
}
