//! The stand-in's HTTPS listener: a self-signed certificate for 127.0.0.1 (made with the
//! `openssl` CLI, see [`crate::tls`]) served with rustls, and the channel binding NTLM over
//! TLS must carry for that certificate (RFC 5929 `tls-server-end-point`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use md5::{Digest, Md5};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest as _;
use sha2::Sha256;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A TLS listener for `axum::serve`: handshakes that fail are dropped.
pub(crate) struct TlsListener {
    pub tcp: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An acceptor with a fresh self-signed certificate, and the MD5 of the channel bindings
/// a client must send for it.
pub(crate) fn acceptor() -> io::Result<(TlsAcceptor, [u8; 16])> {
    let fail = |e: String| io::Error::other(e);
    let openssl = crate::tls::find_program("openssl").ok_or_else(|| fail("openssl is not installed".into()))?;
    let dir = tempfile::tempdir()?;
    crate::tls::self_signed_certificate(&openssl, dir.path()).map_err(fail)?;
    let cert = CertificateDer::from_pem_file(dir.path().join("cert.pem")).map_err(|e| fail(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(dir.path().join("key.pem")).map_err(|e| fail(e.to_string()))?;
    let bindings = channel_bindings(&cert);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| fail(e.to_string()))?;
    Ok((TlsAcceptor::from(Arc::new(config)), bindings))
}

/// MD5 of the `gss_channel_bindings_struct` whose application data is
/// `tls-server-end-point:` and the SHA-256 of the certificate (its signature hash here).
fn channel_bindings(cert: &CertificateDer<'_>) -> [u8; 16] {
    let mut data = b"tls-server-end-point:".to_vec();
    data.extend_from_slice(&Sha256::digest(cert.as_ref()));
    let mut gss = vec![0u8; 16];
    gss.extend_from_slice(&(data.len() as u32).to_le_bytes());
    gss.extend_from_slice(&data);
    let mut out = [0u8; 16];
    out.copy_from_slice(&Md5::digest(&gss));
    out
}
