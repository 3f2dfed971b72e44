//! The OAuth2 user's avatar for a new record, as PocketBase does it: when
//! `oauth2.mappedFields.avatarURL` names a file field, the avatar URL is downloaded (HTTP GET,
//! at most the field's `maxSize`, checked against its `mimeTypes`) and becomes an upload of that
//! field, stored and named like any other (`routes/records/uploads.rs`).
//!
//! The download goes through the outbound guard (`keel_core::outbound`): the provider names
//! the URL, so an internal address (loopback, private, link-local…) that `[outbound] allow`
//! does not list is refused, and a redirect is not followed (a 3xx loses the avatar).
//!
//! Only images are kept (`image/*`, declared or sniffed), whatever the field's `mimeTypes`.
//! A download that fails (unreachable, timeout, non-2xx, too big, wrong type) only loses the
//! avatar: it is logged as a warning with the URL's host (never its path or query string,
//! which may carry a token) and the record is created without it.

use std::time::Duration;

use bytes::BytesMut;
use keel_core::outbound::{self, OutboundGuard};
use keel_data::schema::FileOptions;
use keel_data::{Collection, FieldKind};

use crate::records::files as uploads;
use crate::records::Upload;

/// The longest an avatar download may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Where a new record's avatar comes from: the file field and the provider's URL.
pub struct AvatarSource {
    pub field: String,
    pub url: String,
}

impl AvatarSource {
    /// The source for `url` when `field` is a file field of the collection and the URL is set.
    pub fn for_field(collection: &Collection, field: String, url: &str) -> Option<AvatarSource> {
        let is_file = collection
            .field(&field)
            .is_some_and(|f| matches!(f.kind, FieldKind::File(_)));
        (is_file && !url.trim().is_empty()).then(|| AvatarSource {
            field,
            url: url.trim().to_string(),
        })
    }
}

/// Downloads the avatar as an upload of its field, or `None` (logged) when it cannot be had.
pub async fn download(outbound: &OutboundGuard, collection: &Collection, src: &AvatarSource) -> Option<Upload> {
    let Some(FieldKind::File(opts)) = collection.field(&src.field).map(|f| &f.kind) else {
        return None;
    };
    match fetch(outbound, opts, src).await {
        Ok(up) => Some(up),
        Err(reason) => {
            let host = reqwest::Url::parse(&src.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            tracing::warn!(
                collection = %collection.name,
                field = %src.field,
                host = %host,
                reason = %reason,
                "the OAuth2 avatar was not downloaded; the record is created without it"
            );
            None
        }
    }
}

async fn fetch(outbound: &OutboundGuard, opts: &FileOptions, src: &AvatarSource) -> Result<Upload, String> {
    let url = outbound.check_url(&src.url).map_err(|r| r.to_string())?;
    let max = uploads::max_size(opts);
    let too_big = || format!("larger than the field's {max} bytes");
    let net = |e: reqwest::Error| outbound::explain(&e);
    let mut resp = outbound
        .get(url.as_str())
        .map_err(|r| r.to_string())?
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(net)?;
    if !resp.status().is_success() {
        return Err(format!("the server answered {}", resp.status()));
    }
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let declared = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "application/octet-stream");
    let mut body = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(net)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err("an empty body".into());
    }
    let data = body.freeze();
    let content_type = declared.or_else(|| sniff(&data).map(str::to_string));
    // An avatar is an image: anything else (an HTML error page, a script) is not stored,
    // whatever the field would accept from an upload.
    if !content_type.as_deref().is_some_and(|c| c.starts_with("image/")) {
        return Err(format!(
            "not an image ({})",
            content_type.as_deref().unwrap_or("unknown type")
        ));
    }
    let up = Upload {
        key: src.field.clone(),
        file_name: file_name(url.path(), content_type.as_deref()),
        content_type,
        data: data.into(),
    };
    uploads::validate(opts, &up).map_err(|e| e.message)?;
    Ok(up)
}

/// The client-side file name of a downloaded avatar: the URL's last path segment (or
/// `avatar`) with the extension of the content type, else the segment's own.
fn file_name(path: &str, content_type: Option<&str>) -> String {
    let segment = path.rsplit('/').next().unwrap_or("");
    let (stem, url_ext) = match segment.rsplit_once('.') {
        Some((s, e)) => (s, e),
        None => (segment, ""),
    };
    let stem = if stem.is_empty() { "avatar" } else { stem };
    let ext = content_type.and_then(extension_of).unwrap_or(url_ext);
    if ext.is_empty() {
        stem.to_string()
    } else {
        format!("{stem}.{ext}")
    }
}

fn extension_of(content_type: &str) -> Option<&'static str> {
    Some(match content_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "image/avif" => "avif",
        _ => return None,
    })
}

/// The image type of `data` by its magic bytes, for a response without a useful content type.
fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() >= 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_take_the_content_types_extension() {
        assert_eq!(file_name("/a/photo", Some("image/png")), "photo.png");
        assert_eq!(file_name("/a/photo.jpeg", Some("image/png")), "photo.png");
        assert_eq!(file_name("/a/photo.JPEG", None), "photo.JPEG");
        assert_eq!(file_name("/", Some("image/jpeg")), "avatar.jpg");
        assert_eq!(file_name("/x/", Some("image/svg+xml")), "avatar.svg");
        assert_eq!(file_name("", Some("text/html")), "avatar");
    }

    #[test]
    fn sniffs_common_images() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<html>"), None);
    }
}
