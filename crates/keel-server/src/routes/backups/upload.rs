//! `POST /api/backups/upload`: a zip sent as the multipart field `file`, written to a temp file
//! in the data dir as it arrives (never held whole in memory), then stored under its original
//! name by `keel_app::backups::upload`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use tokio::io::AsyncWriteExt;

use crate::body::{stream_limited, INVALID_BODY};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;

/// The largest backup accepted (64 GiB).
const MAX_UPLOAD: u64 = 64 << 30;

/// The upload form.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct UploadForm {
    /// The backup zip; stored under its file name.
    #[schema(format = Binary, content_media_type = "application/zip")]
    file: String,
}

#[utoipa::path(
    post, path = "/api/backups/upload", operation_id = "uploadBackup", tag = "backups",
    security(("authToken" = [])), request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 204, description = "Stored"))
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require_superuser()?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| ApiError::bad_request(INVALID_BODY))?;
    let mut multipart = multer::Multipart::new(stream_limited(body, MAX_UPLOAD), boundary);
    let scratch = keel_app::backups::scratch(&state.config.data_dir)?;
    let path = scratch.path().join("upload.zip");
    let mut filename = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(read_error(e)),
        };
        if field.name() != Some("file") || filename.is_some() {
            continue;
        }
        let Some(name) = field.file_name().map(str::to_string).filter(|n| !n.is_empty()) else {
            continue;
        };
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| keel_core::Error::internal(format!("cannot create {}: {e}", path.display())))?;
        while let Some(chunk) = field.chunk().await.map_err(read_error)? {
            out.write_all(&chunk)
                .await
                .map_err(|e| keel_core::Error::internal(format!("cannot write {}: {e}", path.display())))?;
        }
        out.flush()
            .await
            .map_err(|e| keel_core::Error::internal(format!("cannot write {}: {e}", path.display())))?;
        filename = Some(name);
    }
    let stored = filename.as_ref().map(|_| path.as_path());
    keel_app::backups::upload(&state, filename.as_deref(), stored).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A body that broke off or went over the limit.
fn read_error(e: multer::Error) -> ApiError {
    let text = e.to_string();
    if text.contains("larger than") {
        ApiError(keel_core::Error::TooLarge(format!(
            "The request body is larger than the {MAX_UPLOAD} bytes this endpoint accepts."
        )))
    } else {
        ApiError::bad_request(INVALID_BODY)
    }
}
