//! Files over WinRM, as pywinrm and Ansible move them: base64 chunks through PowerShell
//! commands in one shell. An upload appends chunks of [`UPLOAD_CHUNK`] bytes (a command line
//! holds at most 8191 characters, and a chunk is base64 inside a script that is UTF-16LE
//! base64 again); a download reads [`DOWNLOAD_CHUNK`] bytes per command. Either way the
//! size and SHA-256 of the file on the target (`Get-FileHash`) must match the local copy.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use winrm_rs::Shell;

use super::{exec, WinrmShell, WinrmTransport};
use crate::transport::TransportError;

/// Raw bytes per upload command.
pub const UPLOAD_CHUNK: usize = 1800;
/// Raw bytes per download command.
pub const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// Makes PowerShell stop at the first error and exit 1 with its message on stderr.
const STRICT: &str = "$ErrorActionPreference='Stop';trap{[Console]::Error.WriteLine($_.Exception.Message);exit 1};";

/// `s` as a single-quoted PowerShell string.
fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn transfer(operation: &'static str, path: &str, reason: impl Into<String>) -> TransportError {
    TransportError::Transfer {
        operation,
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn check_remote(operation: &'static str, remote: &str) -> Result<(), TransportError> {
    if remote.trim().is_empty() || remote.chars().any(char::is_control) || remote.len() > 1024 {
        return Err(transfer(
            operation,
            remote,
            "give a Windows path without control characters, at most 1024 characters",
        ));
    }
    Ok(())
}

/// Runs a PowerShell script in `shell`; stdout on success, else an error with its stderr.
async fn script(
    t: &WinrmTransport,
    shell: &Shell<'_>,
    operation: &'static str,
    path: &str,
    text: &str,
) -> Result<String, TransportError> {
    let (program, args) = exec::command_line(WinrmShell::PowerShell, &format!("{STRICT}{text}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let command_id = shell.start_command(&program, &args).await.map_err(|e| t.error(e))?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let exit = loop {
        match shell.receive_next(&command_id).await {
            Ok(out) => {
                stdout.extend(out.stdout);
                stderr.extend(out.stderr);
                if out.done {
                    break out.exit_code;
                }
            }
            Err(e) if super::is_receive_timeout(&e) => {}
            Err(e) => return Err(t.error(e)),
        }
    };
    if exit != Some(0) {
        let stderr = t.scrub(String::from_utf8_lossy(&stderr).into_owned());
        return Err(transfer(operation, path, format!("the target said: {}", stderr.trim())));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// The size and SHA-256 (upper-case hex) of `remote` on the target.
async fn remote_digest(
    t: &WinrmTransport,
    shell: &Shell<'_>,
    operation: &'static str,
    remote: &str,
) -> Result<(u64, String), TransportError> {
    let out = script(
        t,
        shell,
        operation,
        remote,
        &format!(
            "$p={};(Get-Item -LiteralPath $p).Length;(Get-FileHash -LiteralPath $p -Algorithm SHA256).Hash",
            ps_quote(remote)
        ),
    )
    .await?;
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let size = lines.next().and_then(|l| l.parse::<u64>().ok());
    let hash = lines.next().map(str::to_ascii_uppercase);
    match (size, hash) {
        (Some(size), Some(hash)) if hash.len() == 64 => Ok((size, hash)),
        _ => Err(transfer(
            operation,
            remote,
            "the target did not report the file's size and SHA-256",
        )),
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn mismatch(operation: &'static str, path: &str, local: (u64, &str), remote: (u64, &str)) -> TransportError {
    transfer(
        operation,
        path,
        format!(
            "the copy does not match: {} bytes with SHA-256 {} here, {} bytes with SHA-256 {} on the target; copy it again",
            local.0, local.1, remote.0, remote.1
        ),
    )
}

pub(super) async fn upload(t: &WinrmTransport, local: &Path, remote: &str) -> Result<u64, TransportError> {
    check_remote("upload", remote)?;
    let local_name = local.display().to_string();
    let mut file = tokio::fs::File::open(local)
        .await
        .map_err(|e| transfer("upload", &local_name, e.to_string()))?;
    let shell = t.client.open_shell(&t.host).await.map_err(|e| t.error(e))?;
    let mut guard = exec::Abandoned::new(&t.client, &t.host, shell.shell_id());
    let result = async {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; UPLOAD_CHUNK];
        let mut first = true;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                let n = file
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| transfer("upload", &local_name, e.to_string()))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 && !first {
                break;
            }
            let chunk = &buf[..filled];
            hasher.update(chunk);
            total += filled as u64;
            let mode = if first { "Create" } else { "Append" };
            let text = format!(
                "$p={};$b=[Convert]::FromBase64String('{}');$f=[IO.File]::Open($p,'{mode}','Write');$f.Write($b,0,$b.Length);$f.Close()",
                ps_quote(remote),
                B64.encode(chunk)
            );
            script(t, &shell, "upload", remote, &text).await?;
            first = false;
            if filled < buf.len() {
                break;
            }
        }
        let local_hash = hex_upper(&hasher.finalize());
        let (size, hash) = remote_digest(t, &shell, "upload", remote).await?;
        if size != total || hash != local_hash {
            return Err(mismatch("upload", remote, (total, &local_hash), (size, &hash)));
        }
        Ok(total)
    }
    .await;
    let _ = shell.close().await;
    guard.armed = false;
    result
}

pub(super) async fn download(t: &WinrmTransport, remote: &str, local: &Path) -> Result<u64, TransportError> {
    check_remote("download", remote)?;
    let local_name = local.display().to_string();
    let shell = t.client.open_shell(&t.host).await.map_err(|e| t.error(e))?;
    let mut guard = exec::Abandoned::new(&t.client, &t.host, shell.shell_id());
    let result = async {
        let (size, remote_hash) = remote_digest(t, &shell, "download", remote).await?;
        let mut file = tokio::fs::File::create(local)
            .await
            .map_err(|e| transfer("download", &local_name, e.to_string()))?;
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        while offset < size {
            let text = format!(
                "$p={};$f=[IO.File]::OpenRead($p);try{{[void]$f.Seek({offset},'Begin');$b=New-Object byte[] {DOWNLOAD_CHUNK};$n=$f.Read($b,0,{DOWNLOAD_CHUNK});[Convert]::ToBase64String($b,0,$n)}}finally{{$f.Close()}}",
                ps_quote(remote)
            );
            let out = script(t, &shell, "download", remote, &text).await?;
            let bytes = B64
                .decode(out.trim())
                .map_err(|_| transfer("download", remote, "the target's chunk is not base64"))?;
            if bytes.is_empty() {
                return Err(transfer("download", remote, "the file became shorter while it was copied"));
            }
            hasher.update(&bytes);
            file.write_all(&bytes)
                .await
                .map_err(|e| transfer("download", &local_name, e.to_string()))?;
            offset += bytes.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| transfer("download", &local_name, e.to_string()))?;
        let local_hash = hex_upper(&hasher.finalize());
        if offset != size || local_hash != remote_hash {
            return Err(mismatch("download", remote, (offset, &local_hash), (size, &remote_hash)));
        }
        Ok(offset)
    }
    .await;
    let _ = shell.close().await;
    guard.armed = false;
    result
}
