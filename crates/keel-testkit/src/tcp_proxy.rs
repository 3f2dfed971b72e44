//! A TCP forwarder in front of an engine, for tests that must cut a client's connection the
//! way a network failure or an engine restart would: [`TcpProxy::cut`] closes every
//! connection open through it; new ones are accepted as before, so the client reconnects.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A forwarder from a loopback port to `target`.
pub struct TcpProxy {
    pub addr: SocketAddr,
    open: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

impl TcpProxy {
    /// Starts forwarding connections to `target` (`host:port`).
    pub async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (target, conns) = (target.to_string(), open.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        TcpProxy { addr, open, accept }
    }

    /// Closes every connection open through the proxy.
    pub fn cut(&self) {
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
