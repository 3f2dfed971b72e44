//! The guard's DNS resolver: resolves with the system resolver, then keeps only addresses the
//! policy allows, so the connector never sees an internal address (whatever the DNS answers
//! the next time: nothing is checked apart from what is connected to).

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{Policy, Refusal};

pub(super) struct GuardResolver {
    policy: Arc<Policy>,
}

impl GuardResolver {
    pub(super) fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let refuse = |r: Refusal| Box::new(r) as Box<dyn std::error::Error + Send + Sync>;
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(_) => return Err(refuse(Refusal::Unresolved(name.clone()))),
            };
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check(a.ip(), Some(&name)) {
                    Ok(()) => true,
                    Err(r) => {
                        refused.get_or_insert(r);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                return Err(refuse(refused.unwrap_or_else(|| Refusal::Unresolved(name.clone()))));
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
