//! Throwaway TLS material for test servers (slapd, aiosmtpd), made with the `openssl` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A program on `PATH` (or in the sbin directories, where Debian puts daemons).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A self-signed certificate for `127.0.0.1` / `localhost` in `dir/cert.pem`, its key in
/// `dir/key.pem`; valid two days. Clients trust it by taking `cert.pem` as a root.
pub fn self_signed_certificate(openssl: &Path, dir: &Path) -> Result<(), String> {
    const ARGS: &[&str] = &[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ];
    let out = Command::new(openssl)
        .args(ARGS)
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .map_err(|e| format!("running openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!("openssl req failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}
