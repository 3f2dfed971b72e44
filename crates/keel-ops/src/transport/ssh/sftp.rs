//! File copies over SFTP (one SFTP session per copy, on the shared connection).

use std::path::Path;
use std::sync::Arc;

use russh::client::Handle;
use russh_sftp::client::SftpSession;
use tokio::io::AsyncWriteExt;

use super::host_key::Client;
use super::lost_or_protocol;
use crate::transport::TransportError;

async fn session(handle: &Arc<Handle<Client>>, address: &str) -> Result<SftpSession, TransportError> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| lost_or_protocol(address, e))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| lost_or_protocol(address, e))?;
    SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| TransportError::Protocol {
            address: address.to_string(),
            reason: format!(
                "the SFTP subsystem did not start ({e}); check that the server has `Subsystem sftp` configured"
            ),
        })
}

fn failed(operation: &'static str, path: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Transfer {
        operation,
        path: path.to_string(),
        reason: e.to_string(),
    }
}

pub(super) async fn upload(
    handle: &Arc<Handle<Client>>,
    address: &str,
    local: &Path,
    remote: &str,
) -> Result<u64, TransportError> {
    let shown = local.display().to_string();
    let mut source = tokio::fs::File::open(local)
        .await
        .map_err(|e| failed("reading the local file", &shown, e))?;
    let sftp = session(handle, address).await?;
    let mut target = sftp.create(remote).await.map_err(|e| failed("creating", remote, e))?;
    let copied = tokio::io::copy(&mut source, &mut target)
        .await
        .map_err(|e| failed("writing", remote, e))?;
    target.shutdown().await.map_err(|e| failed("closing", remote, e))?;
    let _ = sftp.close().await;
    Ok(copied)
}

pub(super) async fn download(
    handle: &Arc<Handle<Client>>,
    address: &str,
    remote: &str,
    local: &Path,
) -> Result<u64, TransportError> {
    let shown = local.display().to_string();
    let sftp = session(handle, address).await?;
    let mut source = sftp.open(remote).await.map_err(|e| failed("opening", remote, e))?;
    let mut target = tokio::fs::File::create(local)
        .await
        .map_err(|e| failed("creating the local file", &shown, e))?;
    let copied = tokio::io::copy(&mut source, &mut target)
        .await
        .map_err(|e| failed("reading", remote, e))?;
    target
        .flush()
        .await
        .map_err(|e| failed("writing the local file", &shown, e))?;
    let _ = sftp.close().await;
    Ok(copied)
}
