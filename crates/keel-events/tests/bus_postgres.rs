//! The bus behaviour suite on the PostgreSQL provider, against `KEEL_TEST_POSTGRES_URL`. Each
//! instance has a pool of its own (as another process would), named by `application_name`
//! so the suite can end its sessions (`pg_terminate_backend`) to cut its listener.
#![cfg(feature = "postgres")]

use std::str::FromStr;
use std::sync::Arc;

use futures::FutureExt;
use keel_core::bus::EventBus;
use keel_events::PostgresBus;
use keel_testkit::bus::{BusInstance, Cut, MakeBus};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

async fn instance(url: String, channel: String) -> BusInstance {
    let name = keel_testkit::random_name();
    let options = PgConnectOptions::from_str(&url).unwrap().application_name(&name);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let bus = PostgresBus::new(pool, &channel).await.unwrap();
    let cut: Cut = Arc::new(move || {
        let (url, name) = (url.clone(), name.clone());
        async move {
            let mut admin = PgConnection::connect(&url).await.unwrap();
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(&name)
            .fetch_all(&mut admin)
            .await
            .unwrap();
            assert!(!ended.is_empty(), "the instance's sessions were found");
            let _ = admin.close().await;
        }
        .boxed()
    });
    BusInstance {
        bus: Arc::new(bus) as Arc<dyn EventBus>,
        cut: Some(cut),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_bus_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let make: MakeBus = Arc::new(move |channel| instance(url.clone(), channel).boxed());
    keel_testkit::bus_suite(make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_channel_is_refused_naming_the_key() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let pool = PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    let e = PostgresBus::new(pool, "Bad Name").await.err().unwrap();
    assert!(
        e.to_string().contains("validate") || format!("{e:?}").contains("[events] channel"),
        "{e:?}"
    );
}
