//! Serving a record's files: who may read which file, and the short-lived file tokens that
//! open protected ones.
//!
//! A file is served only when its record exists and one of its file fields holds the name;
//! anything else is a 404 (so a caller cannot tell a missing file from a hidden one). Files of
//! a protected field need a file token whose record passes the collection's view rule (with
//! `@request.context` `protectedFile`); a missing or invalid token means a guest, like
//! PocketBase. Other files are public. Thumbnails (`?thumb=`) are made on first request and
//! stored beside the original, under `thumbs_NAME/SIZE_NAME`.

use futures::TryStreamExt;
use keel_auth::token::{sign, Claims, TokenKind};
use keel_core::files::bytes_stream;
use keel_core::Error;
use keel_data::{Access, FieldKind, RequestInfo};
use keel_files::thumb;
use serde_json::Value;

use crate::caller::{authenticate, Caller};
use crate::records::files::{field_names, file_key, is_safe_segment};
use crate::App;

/// The object a file request is served from.
#[derive(Debug, Clone)]
pub struct Served {
    /// The store key (the original's, or its thumbnail's).
    pub key: String,
    /// The name to serve it as (`100x100_name.png` for a thumbnail).
    pub name: String,
    /// Whether the file's field is protected (then caches must keep it private).
    pub protected: bool,
}

/// The thumb size PocketBase always allows, beside a field's `thumbs`.
pub const DEFAULT_THUMB: &str = "100x100";

/// Originals larger than this are served as they are instead of being thumbnailed.
const THUMB_SOURCE_MAX: u64 = 64 * 1024 * 1024;

/// Thumbnails made at the same time (decoding is CPU and memory heavy).
static THUMB_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Decides which object serves the file `filename` of the record `record_id` in
/// `collection`. `req` is the request's context as a guest's (method, query, headers); the
/// file `token`, when given, decides who asks. With `thumb`, an image whose field allows that
/// size (its `thumbs`, or `100x100`) is served as a thumbnail, made now and stored beside the
/// original when it does not exist yet; any other size, a non-image, or a thumbnail that
/// cannot be made serves the original (as PocketBase).
pub async fn open(
    app: &App,
    collection: &str,
    record_id: &str,
    filename: &str,
    token: Option<&str>,
    thumb: Option<&str>,
    mut req: RequestInfo,
) -> Result<Served, Error> {
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
    let FieldKind::File(opts) = &field.kind else {
        return Err(Error::not_found());
    };
    if opts.protected {
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
    // A view's file belongs to its source record: served from there (the view's rule above
    // decided who may read it, as PocketBase).
    let (owner_id, owner_record) = if collection.is_view() {
        source_record(app, &collection, &field.name, filename).await?
    } else {
        (collection.id.clone(), record_id.to_string())
    };
    let record_id = owner_record.as_str();
    let key = file_key(&owner_id, record_id, filename);
    let original = Served {
        key: key.clone(),
        name: filename.to_string(),
        protected: opts.protected,
    };
    let Some(size) = thumb
        .filter(|t| *t == DEFAULT_THUMB || opts.thumbs.iter().any(|a| a == t))
        .filter(|_| thumb::is_image(filename))
        .and_then(|t| thumb::ThumbSize::parse(t).map(|s| (t, s)))
    else {
        return Ok(original);
    };
    let name = format!("{}_{filename}", size.0);
    let thumb_key = format!("{owner_id}/{record_id}/thumbs_{filename}/{name}");
    match ensure_thumb(app, &key, &thumb_key, filename, size.1).await {
        Ok(()) => Ok(Served {
            key: thumb_key,
            name,
            protected: opts.protected,
        }),
        Err(e) => {
            tracing::warn!(thumb = %thumb_key, error = %e, "serving the original: the thumbnail could not be made");
            Ok(original)
        }
    }
}

/// The collection id and record id whose files hold `filename` of the view's file field
/// `field`: the source collection of that column, and its record holding the file name.
async fn source_record(
    app: &App,
    view: &keel_data::Collection,
    field: &str,
    filename: &str,
) -> Result<(String, String), Error> {
    let (source, source_field) = app.store.view_file_source(view, field).ok_or_else(Error::not_found)?;
    if filename.contains(['"', '\\', '\'']) || !is_safe_segment(&source_field) {
        return Err(Error::not_found());
    }
    let multiple = source.field(&source_field).is_some_and(|f| f.is_multiple());
    let op = if multiple { "?=" } else { "=" };
    let params = keel_data::ListParams {
        per_page: 1,
        filter: Some(format!("{source_field} {op} \"{filename}\"")),
        skip_total: true,
        ..keel_data::ListParams::default()
    };
    let page = app
        .store
        .list_records(&source, &params, &RequestInfo::default(), Access::Superuser)
        .await
        .map_err(|_| Error::not_found())?;
    let record = page.items.first().ok_or_else(Error::not_found)?;
    Ok((source.id.clone(), record.id().to_string()))
}

/// Makes the thumbnail `thumb_key` of `key` unless it exists.
async fn ensure_thumb(
    app: &App,
    key: &str,
    thumb_key: &str,
    filename: &str,
    size: thumb::ThumbSize,
) -> Result<(), Error> {
    if app.files.head(thumb_key).await.is_ok() {
        return Ok(());
    }
    let _slot = THUMB_SLOTS
        .acquire()
        .await
        .map_err(|_| Error::internal("thumbnail slots closed"))?;
    // Another request may have made it while this one waited.
    if app.files.head(thumb_key).await.is_ok() {
        return Ok(());
    }
    let original = app.files.get(key).await?;
    if original.meta.size > THUMB_SOURCE_MAX {
        return Err(Error::bad_request("the original is too large to thumbnail"));
    }
    let chunks: Vec<bytes::Bytes> = original.stream.try_collect().await?;
    let bytes = chunks.concat();
    let name = filename.to_string();
    let made = tokio::task::spawn_blocking(move || thumb::make(&bytes, &name, size))
        .await
        .map_err(|e| Error::internal(format!("thumbnail task: {e}")))?
        .map_err(Error::bad_request)?;
    app.files.put(thumb_key, bytes_stream(made.into())).await?;
    Ok(())
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
