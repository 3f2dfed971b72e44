//! Serving a record's files: who may read which file, and the short-lived file tokens that
//! open protected ones.
//!
//! A file is served only when its record exists and one of its file fields holds the name;
//! anything else is a 404 (so a caller cannot tell a missing file from a hidden one). Files of
//! a protected field need a file token whose record passes the collection's view rule (with
//! `@request.context` `protectedFile`); a missing or invalid token means a guest, like
//! PocketBase. Other files are public.

use keel_auth::token::{sign, Claims, TokenKind};
use keel_core::files::FileObject;
use keel_core::Error;
use keel_data::{Access, FieldKind, RequestInfo};
use serde_json::Value;

use crate::caller::{authenticate, Caller};
use crate::records::files::{field_names, file_key, is_safe_segment};
use crate::App;

/// Opens the file `filename` of the record `record_id` in `collection`. `req` is the
/// request's context as a guest's (method, query, headers); the file `token`, when given,
/// decides who asks.
pub async fn open(
    app: &App,
    collection: &str,
    record_id: &str,
    filename: &str,
    token: Option<&str>,
    mut req: RequestInfo,
) -> Result<FileObject, Error> {
    let collection = app.store.collection(collection).map_err(|_| Error::not_found())?;
    if !is_safe_segment(record_id) || filename.contains('/') || filename.contains("..") {
        return Err(Error::not_found());
    }
    let record = app
        .store
        .get_record(&collection, record_id, &RequestInfo::default(), Access::Superuser)
        .await
        .map_err(|_| Error::not_found())?;
    let field = collection
        .fields
        .iter()
        .find(|f| {
            matches!(f.kind, FieldKind::File(_)) && field_names(record.data.get(&f.name)).iter().any(|n| n == filename)
        })
        .ok_or_else(Error::not_found)?;
    if matches!(&field.kind, FieldKind::File(o) if o.protected) {
        req.auth = match token.filter(|t| !t.is_empty()) {
            Some(t) => authenticate(app, t, TokenKind::File).await.ok(),
            None => None,
        };
        req.manages_records = false;
        req.context = "protectedFile".into();
        let allowed = match Access::for_rule(&collection, &collection.view_rule, &req) {
            None => false,
            Some(Access::Superuser) => true,
            Some(Access::Rule(rule)) => app.store.record_matches(&collection, &record.data, rule, &req).await?,
        };
        if !allowed {
            return Err(Error::not_found());
        }
    }
    app.files.get(&file_key(&collection.id, record_id, filename)).await
}

/// A short-lived token for protected files, for an authenticated record (401 for others).
pub fn token(caller: &Caller) -> Result<String, Error> {
    let Some(auth) = caller.auth.as_ref() else {
        return Err(Error::Unauthorized(
            "The request requires valid record authorization token.".into(),
        ));
    };
    let opts = auth
        .collection
        .auth
        .as_ref()
        .ok_or_else(|| Error::internal("auth record of a non-auth collection"))?;
    let token_key = auth.record.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    let claims = Claims::new(
        TokenKind::File,
        auth.id(),
        &auth.collection.id,
        opts.file_token.duration,
    );
    sign(&claims, &opts.file_token.secret, token_key)
}
