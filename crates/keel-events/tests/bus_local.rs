//! The bus behaviour suite on the `local` provider: one process, so the runner hands back the
//! same instance for the same channel (a "second process" is the same one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use keel_core::bus::EventBus;
use keel_events::LocalBus;
use keel_testkit::bus::{BusInstance, MakeBus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_passes_the_bus_suite() {
    let buses: Arc<Mutex<HashMap<String, Arc<LocalBus>>>> = Arc::default();
    let make: MakeBus = Arc::new(move |channel| {
        let bus = buses.lock().unwrap().entry(channel).or_default().clone();
        async move {
            BusInstance {
                bus: bus as Arc<dyn EventBus>,
                cut: None,
            }
        }
        .boxed()
    });
    keel_testkit::bus_suite(make).await;
}
