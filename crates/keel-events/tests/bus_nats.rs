//! The bus behaviour suite on the NATS provider, against `KEEL_TEST_NATS_URL`. Each instance
//! has a client of its own (as another process would), connected through a TCP forwarder the
//! suite closes to cut the connection; the client reconnects through it by itself.
#![cfg(feature = "nats")]

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use keel_core::bus::EventBus;
use keel_events::{NatsBus, NatsEvents};
use keel_testkit::bus::{BusInstance, Cut, MakeBus};
use keel_testkit::tcp_proxy::TcpProxy;

/// The forwarders of the instances made, kept until the test ends (an instance outlives its
/// `BusInstance`).
type Proxies = Arc<Mutex<Vec<Arc<TcpProxy>>>>;

async fn instance(url: String, channel: String, proxies: Proxies) -> BusInstance {
    let target = url.trim_start_matches("nats://").trim_end_matches('/').to_string();
    let proxy = Arc::new(TcpProxy::start(&target).await);
    proxies.lock().unwrap().push(proxy.clone());
    let events = NatsEvents::new();
    let observer = events.clone();
    let client = async_nats::ConnectOptions::new()
        .event_callback(move |event| {
            let observer = observer.clone();
            async move { observer.observe(&event) }
        })
        .connect(format!("nats://{}", proxy.addr))
        .await
        .unwrap();
    let bus = NatsBus::new(client, &events, &channel).await.unwrap();
    let cut: Cut = Arc::new(move || {
        let proxy = proxy.clone();
        async move { proxy.cut() }.boxed()
    });
    BusInstance {
        bus: Arc::new(bus) as Arc<dyn EventBus>,
        cut: Some(cut),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_passes_the_bus_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_NATS_URL") else {
        return;
    };
    let proxies = Proxies::default();
    let make: MakeBus = Arc::new(move |channel| instance(url.clone(), channel, proxies.clone()).boxed());
    keel_testkit::bus_suite(make).await;
}
