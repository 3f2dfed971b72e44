//! Uploaded files of record writes: validation against the file field's options, PocketBase's
//! stored-name scheme, writing them to the file store before the database write, and cleaning
//! up afterwards (files of a failed write, files a record no longer references).

use std::collections::BTreeSet;

use keel_core::files::FileStore;
use keel_core::{Error, FieldError, FieldErrors};
use keel_data::schema::{FileOptions, FILE_DEFAULT_MAX_SIZE};
use keel_data::{Collection, FieldKind, Record, RecordData};
use serde_json::{Map, Value};

use super::input::{base_key, Upload, UploadData};

/// A file to be written: its store key and bytes.
#[derive(Debug, Clone)]
pub struct PendingFile {
    pub key: String,
    pub data: UploadData,
}

/// The store key of a record's file.
pub fn file_key(collection_id: &str, record_id: &str, name: &str) -> String {
    format!("{collection_id}/{record_id}/{name}")
}

/// The file names a record's file field holds.
pub fn field_names(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// Every file name a record references, across its file fields.
pub fn record_files(collection: &Collection, data: &RecordData) -> BTreeSet<String> {
    collection
        .fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::File(_)))
        .flat_map(|f| field_names(data.get(&f.name)))
        .collect()
}

/// Whether a record id is safe to use as a file key segment.
pub fn is_safe_segment(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates `uploads` against the collection's file fields, names them, and rewrites the file
/// fields of `data` to their final lists of names (resolving `field+`, `+field` and `field-`
/// against `current`, the record being updated, or nothing on create). Returns the files to
/// write. Field errors name the file field.
pub fn plan(
    collection: &Collection,
    record_id: &str,
    data: &mut Map<String, Value>,
    uploads: Vec<Upload>,
    current: Option<&RecordData>,
) -> Result<Vec<PendingFile>, Error> {
    let mut errors = FieldErrors::new();
    let mut pending = Vec::new();
    for field in &collection.fields {
        let FieldKind::File(opts) = &field.kind else {
            continue;
        };
        let name = field.name.as_str();
        let (append_key, prepend_key, remove_key) = (format!("{name}+"), format!("+{name}"), format!("{name}-"));
        let mine: Vec<&Upload> = uploads
            .iter()
            .filter(|u| base_key(&u.key) == name && !u.key.ends_with('-'))
            .collect();
        let touched = !mine.is_empty()
            || [name, &append_key, &prepend_key, &remove_key]
                .iter()
                .any(|k| data.contains_key(*k));
        if !touched {
            continue;
        }
        let existing = field_names(current.and_then(|c| c.get(name)));
        // Names a client may refer to: only files the record already has.
        let keep_known = |v: Option<Value>| -> Vec<String> {
            field_names(v.as_ref())
                .into_iter()
                .filter(|n| existing.contains(n))
                .collect()
        };
        let set = data.remove(name).map(|v| keep_known(Some(v)));
        let _ = data.remove(&append_key);
        let _ = data.remove(&prepend_key);
        let removed = field_names(data.remove(&remove_key).as_ref());

        let mut set_new = Vec::new();
        let mut append_new = Vec::new();
        let mut prepend_new = Vec::new();
        for up in mine {
            if let Err(e) = validate(opts, up) {
                errors.entry(name.to_string()).or_insert(e);
                continue;
            }
            let stored = stored_name(&up.file_name);
            pending.push(PendingFile {
                key: file_key(&collection.id, record_id, &stored),
                data: up.data.clone(),
            });
            if up.key == name {
                set_new.push(stored);
            } else if up.key.starts_with('+') {
                prepend_new.push(stored);
            } else {
                append_new.push(stored);
            }
        }
        let multiple = field.is_multiple();
        // Uploading under the plain key replaces the files (with the names listed beside them).
        let mut fin: Vec<String> = match set {
            Some(listed) => listed,
            None if !set_new.is_empty() => Vec::new(),
            None => existing.clone(),
        };
        fin.extend(set_new);
        if multiple {
            prepend_new.extend(fin);
            fin = prepend_new;
            fin.extend(append_new);
        } else if !prepend_new.is_empty() || !append_new.is_empty() {
            fin = prepend_new.into_iter().chain(append_new).collect();
        }
        fin.retain(|n| !removed.contains(n));
        let max = opts.max_select.max(1) as usize;
        if fin.len() > max {
            errors.entry(name.to_string()).or_insert_with(|| {
                FieldError::new(
                    "validation_too_many_values",
                    format!("Allowed no more than {max} file(s)."),
                )
            });
            continue;
        }
        let value = if multiple {
            Value::Array(fin.into_iter().map(Value::String).collect())
        } else {
            Value::String(fin.into_iter().next().unwrap_or_default())
        };
        data.insert(name.to_string(), value);
    }
    if errors.is_empty() {
        Ok(pending)
    } else {
        Err(Error::fields(errors))
    }
}

/// The largest file a file field accepts, in bytes (its `maxSize`, or the default when 0).
pub fn max_size(opts: &FileOptions) -> u64 {
    let max = if opts.max_size > 0 {
        opts.max_size
    } else {
        FILE_DEFAULT_MAX_SIZE
    };
    u64::try_from(max).unwrap_or(0)
}

/// Checks a file against its field's `maxSize` and `mimeTypes`, as an upload is checked.
pub fn validate(opts: &FileOptions, up: &Upload) -> Result<(), FieldError> {
    let max_size = max_size(opts);
    if up.data.len() > max_size {
        return Err(FieldError::new(
            "validation_file_size_limit",
            format!(
                "Failed to upload {:?} - the maximum allowed file size is {max_size} bytes.",
                up.file_name
            ),
        )
        .with_params(serde_json::json!({ "file": up.file_name, "maxSize": max_size })));
    }
    if !opts.mime_types.is_empty() {
        let mime = detect_mime(up);
        if !opts.mime_types.iter().any(|m| m.trim().eq_ignore_ascii_case(&mime)) {
            return Err(FieldError::new(
                "validation_invalid_mime_type",
                format!(
                    "Failed to upload {:?} - the only allowed mime types are: {}.",
                    up.file_name,
                    opts.mime_types.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The part's declared MIME type (without parameters), or a guess from its extension when it
/// declares none or only `application/octet-stream`.
fn detect_mime(up: &Upload) -> String {
    let declared = up
        .content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "application/octet-stream");
    declared.unwrap_or_else(|| {
        mime_guess::from_path(&up.file_name)
            .first_or_octet_stream()
            .essence_str()
            .to_string()
    })
}

/// PocketBase's stored name: the sanitized base name, `_`, 10 random `[a-z0-9]`, the
/// lowercased extension (`My Photo.PNG` → `my_photo_a1b2c3d4e5.png`).
pub fn stored_name(original: &str) -> String {
    let original = original.rsplit(['/', '\\']).next().unwrap_or("");
    let (stem, ext) = match original.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, e),
        _ => (original, ""),
    };
    let mut base = String::with_capacity(stem.len().min(100));
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' && (base.is_empty() || base.ends_with('_')) {
            continue;
        }
        base.push(c);
        if base.len() >= 100 {
            break;
        }
    }
    let base = base.trim_end_matches('_');
    let base = if base.is_empty() { "file" } else { base };
    let ext: String = ext
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    let suffix = keel_core::id::random_string(10, keel_core::id::ID_ALPHABET);
    if ext.is_empty() {
        format!("{base}_{suffix}")
    } else {
        format!("{base}_{suffix}.{ext}")
    }
}

/// Writes the pending files; on a failure deletes those already written.
pub async fn write_all(files: &dyn FileStore, pending: &[PendingFile]) -> keel_core::Result<()> {
    for (i, f) in pending.iter().enumerate() {
        if let Err(e) = files.put(&f.key, f.data.stream()).await {
            delete_pending(files, &pending[..i]).await;
            return Err(e);
        }
    }
    Ok(())
}

/// Deletes keys, logging (not returning) failures: used for cleanups after the database
/// already decided.
pub async fn delete_keys(files: &dyn FileStore, keys: &[String]) {
    for key in keys {
        if let Err(e) = files.delete(key).await {
            tracing::warn!(key = %key, error = %e, "could not delete a file");
        }
    }
}

/// Deletes files written for a write that then failed.
pub async fn delete_pending(files: &dyn FileStore, pending: &[PendingFile]) {
    let keys: Vec<String> = pending.iter().map(|p| p.key.clone()).collect();
    delete_keys(files, &keys).await;
}

/// Deletes the files of written uploads that the saved record does not reference, and the
/// files `before` referenced that `after` no longer does.
pub async fn cleanup_after_update(files: &dyn FileStore, before: &Record, after: &Record, pending: &[PendingFile]) {
    let col = &after.collection;
    let kept = record_files(col, &after.data);
    let mut stale: Vec<String> = record_files(col, &before.data)
        .into_iter()
        .filter(|n| !kept.contains(n))
        .map(|n| file_key(&col.id, after.id(), &n))
        .collect();
    stale.extend(
        pending
            .iter()
            .filter(|p| p.key.rsplit('/').next().is_none_or(|n| !kept.contains(n)))
            .map(|p| p.key.clone()),
    );
    delete_keys(files, &stale).await;
    delete_thumbs(files, &stale).await;
}

/// The prefix under which a file's thumbnails are stored (`COL/REC/thumbs_NAME`, as
/// PocketBase stores them).
pub fn thumbs_prefix(file_key: &str) -> Option<String> {
    let (dir, name) = file_key.rsplit_once('/')?;
    Some(format!("{dir}/thumbs_{name}"))
}

/// Deletes the thumbnails of files that are gone.
async fn delete_thumbs(files: &dyn FileStore, keys: &[String]) {
    for prefix in keys.iter().filter_map(|k| thumbs_prefix(k)) {
        if let Err(e) = files.delete_prefix(&prefix).await {
            tracing::warn!(prefix = %prefix, error = %e, "could not delete the thumbnails of a file");
        }
    }
}

/// Deletes every file of deleted records (cascades included).
pub async fn cleanup_deleted(files: &dyn FileStore, deleted: &[Record]) {
    for rec in deleted {
        let has_files = rec
            .collection
            .fields
            .iter()
            .any(|f| matches!(f.kind, FieldKind::File(_)));
        if !has_files || !is_safe_segment(rec.id()) {
            continue;
        }
        let prefix = format!("{}/{}", rec.collection.id, rec.id());
        if let Err(e) = files.delete_prefix(&prefix).await {
            tracing::warn!(prefix, error = %e, "could not delete the files of a deleted record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_look_like_pocketbase() {
        let n = stored_name("My Photo (1).PNG");
        assert!(n.starts_with("my_photo_1_"), "{n}");
        assert!(n.ends_with(".png"));
        assert_eq!(n.len(), "my_photo_1_".len() + 10 + 4);
        assert!(stored_name("../../etc/passwd").starts_with("passwd_"));
        assert!(stored_name(".hidden").starts_with("hidden_"));
        assert!(stored_name("").starts_with("file_"));
        assert_ne!(stored_name("a.txt"), stored_name("a.txt"));
    }
}
