//! The console's files: compiled in (each gzip-compressed once, on first use, with an ETag
//! from its SHA-256), or read from `console_dir` when that is set.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Every file of `assets/`, by its path under `/_/`. A test checks the directory and this
/// list agree.
macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("assets/", $path)) as &[u8])),*]
    };
}

const FILES: &[(&str, &[u8])] = files![
    "index.html",
    "style.css",
    "favicon.svg",
    "app.js",
    "api.js",
    "ui.js",
    "realtime.js",
    "pages/login.js",
    "pages/auth_links.js",
    "pages/install.js",
    "pages/dashboard.js",
    "pages/collections.js",
    "pages/collection_form.js",
    "pages/records.js",
    "pages/record_form.js",
    "pages/jobs.js",
    "pages/jobs_common.js",
    "pages/jobs_queues.js",
    "pages/jobs_queue.js",
    "pages/jobs_job.js",
    "pages/schedules.js",
    "pages/ops.js",
    "pages/ops_common.js",
    "pages/ops_runs.js",
    "pages/ops_approvals.js",
    "pages/ops_runbooks.js",
    "pages/ops_run_form.js",
    "pages/ops_targets.js",
    "pages/identity.js",
    "pages/identity_common.js",
    "pages/identity_users.js",
    "pages/identity_roles.js",
    "pages/identity_apikeys.js",
    "pages/identity_audit.js",
    "pages/logs.js",
    "pages/settings.js",
    "pages/settings_common.js",
    "pages/settings_forms.js",
    "pages/settings_backups.js",
    "pages/webhooks.js",
    "pages/notifications.js",
    "pages/notifications_common.js",
    "pages/notifications_history.js",
    "pages/notifications_templates.js",
    "pages/notifications_admin.js",
    "pages/vault.js",
];

pub(super) struct Asset {
    pub mime: &'static str,
    pub raw: Bytes,
    pub gzip: Bytes,
    pub etag: String,
}

/// The compiled-in file at `path`, prepared on first use.
pub(super) fn embedded(path: &str) -> Option<&'static Asset> {
    static PREPARED: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    PREPARED
        .get_or_init(|| FILES.iter().map(|(path, raw)| (*path, prepare(path, raw))).collect())
        .get(path)
}

fn prepare(path: &str, raw: &'static [u8]) -> Asset {
    let digest = Sha256::digest(raw);
    let etag = format!("\"{}\"", hex(&digest[..12]));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail; should it, the file is sent uncompressed.
    let gzip = match encoder.write_all(raw).and_then(|()| encoder.finish()) {
        Ok(gz) if gz.len() < raw.len() => Bytes::from(gz),
        _ => Bytes::from_static(raw),
    };
    Asset {
        mime: mime(path),
        raw: Bytes::from_static(raw),
        gzip,
        etag,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `path` read from `dir` (a development copy of `assets/`): only plain relative paths of
/// known file types, never `..`.
pub(super) async fn from_dir(dir: &Path, path: &str) -> Option<(&'static str, Bytes)> {
    let plain = path
        .split('/')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        && !path.split('/').any(|part| part.starts_with('.'));
    let mime = mime(path);
    if !plain || mime == "application/octet-stream" {
        return None;
    }
    tokio::fs::read(dir.join(path))
        .await
        .ok()
        .map(|body| (mime, Bytes::from(body)))
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each file of the directory is compiled in, and nothing else: a new page cannot be
    /// forgotten in the list (it would be a 404 only in a release build).
    #[test]
    fn the_list_matches_the_directory() {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().to_string();
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), &format!("{prefix}{name}/"), out);
                } else {
                    out.push(format!("{prefix}{name}"));
                }
            }
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/console/assets");
        let mut on_disk = Vec::new();
        walk(&dir, "", &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn assets_are_compressed_with_a_stable_etag() {
        let a = embedded("app.js").unwrap();
        assert!(a.gzip.len() < a.raw.len());
        assert_eq!(a.etag, embedded("app.js").unwrap().etag);
        assert_ne!(a.etag, embedded("ui.js").unwrap().etag);
        assert!(embedded("nope.js").is_none());
    }

    /// What a browser fetches to show the sign-in page and then the overview, compressed,
    /// stays far under the 300 KB budget of a first load (later pages load on demand).
    #[test]
    fn the_first_load_is_small() {
        let first = [
            "index.html",
            "style.css",
            "favicon.svg",
            "app.js",
            "api.js",
            "ui.js",
            "realtime.js",
            "pages/login.js",
            "pages/dashboard.js",
        ];
        let bytes: usize = first.iter().map(|p| embedded(p).unwrap().gzip.len()).sum();
        assert!(bytes < 60 * 1024, "the first load is {bytes} bytes compressed");
        let all: usize = FILES.iter().map(|(p, _)| embedded(p).unwrap().gzip.len()).sum();
        assert!(all < 300 * 1024, "every page together is {all} bytes compressed");
    }

    #[tokio::test]
    async fn a_development_directory_serves_no_path_outside_it() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/console/assets");
        assert!(from_dir(&dir, "app.js").await.is_some());
        assert!(from_dir(&dir, "../mod.rs").await.is_none());
        assert!(from_dir(&dir, "pages/../../mod.rs").await.is_none());
        assert!(from_dir(&dir, "/etc/passwd").await.is_none());
        assert!(from_dir(&dir, ".hidden.js").await.is_none());
    }
}
