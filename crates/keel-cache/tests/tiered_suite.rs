//! The tiered provider (memory in front of Redis): the cache behaviour suite, and writes in
//! one instance reaching another instance's memory tier, against `KEEL_TEST_REDIS_URL`.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use keel_cache::{RedisCache, TieredCache, TieredConfig};
use keel_core::cache::{Cache, CacheEntry};
use serde_json::json;

/// A tiered cache on a Redis engine of its own (as a separate process would have).
async fn tiered(url: &str) -> TieredCache {
    let client = redis::Client::open(url).unwrap();
    let conn = client.get_connection_manager().await.unwrap();
    TieredCache::new(&client, conn, config()).await.unwrap()
}

fn config() -> TieredConfig {
    TieredConfig {
        memory_max_bytes: 8 * 1024 * 1024,
        // Long enough that only an invalidation can refresh a copy within a test.
        local_ttl: Duration::from_secs(600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_passes_the_cache_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    keel_testkit::cache_suite(move || {
        let url = url.clone();
        async move { Arc::new(tiered(&url).await) as Arc<dyn Cache> }.boxed()
    })
    .await;
}

/// Two instances stand for two Keel processes sharing one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_one_process_reach_the_memory_of_another() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    let a = tiered(&url).await;
    let b = tiered(&url).await;
    let ns = keel_testkit::random_name();
    let within = Duration::from_secs(5);

    // b holds a copy in memory: a write behind the tiers' back (straight to Redis, no
    // invalidation) is not seen by b, which proves b answers from memory ...
    // (The first value is written straight to Redis too, so no invalidation of this key is
    // in flight while b reads it, which would rightly stop b from keeping a copy.)
    let conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let raw = RedisCache::new(conn).await.unwrap();
    raw.set(&ns, "k", json!(1), None, &["t".into()]).await.unwrap();
    assert_eq!(b.get(&ns, "k").await.unwrap(), Some(json!(1)));
    raw.set(&ns, "k", json!("behind"), None, &[]).await.unwrap();
    assert_eq!(
        b.get(&ns, "k").await.unwrap(),
        Some(json!(1)),
        "b reads its memory copy"
    );
    // ... and a write through a tier reaches b's memory.
    a.set(&ns, "k", json!(2), None, &["t".into()]).await.unwrap();
    keel_testkit::eventually(within, "b sees a's set", || async {
        b.get(&ns, "k").await.unwrap() == Some(json!(2))
    })
    .await;

    // incr, delete, tag invalidation, set_many and clear each reach b's copy.
    raw.set(&ns, "n", json!(10), None, &[]).await.unwrap();
    assert_eq!(b.get(&ns, "n").await.unwrap(), Some(json!(10)));
    a.incr(&ns, "n", 5, None).await.unwrap();
    keel_testkit::eventually(within, "b sees a's incr", || async {
        b.get(&ns, "n").await.unwrap() == Some(json!(15))
    })
    .await;
    a.delete(&ns, "n").await.unwrap();
    keel_testkit::eventually(within, "b sees a's delete", || async {
        b.get(&ns, "n").await.unwrap().is_none()
    })
    .await;
    a.invalidate_tags(&ns, &["t".into()]).await.unwrap();
    keel_testkit::eventually(within, "b sees the tag invalidation", || async {
        b.get(&ns, "k").await.unwrap().is_none()
    })
    .await;
    raw.set(&ns, "m", json!("old"), None, &[]).await.unwrap();
    assert_eq!(b.get(&ns, "m").await.unwrap(), Some(json!("old")));
    let entry = CacheEntry {
        key: "m".into(),
        value: json!("new"),
        ttl: None,
        tags: Vec::new(),
    };
    a.set_many(&ns, vec![entry]).await.unwrap();
    keel_testkit::eventually(within, "b sees a's set_many", || async {
        b.get(&ns, "m").await.unwrap() == Some(json!("new"))
    })
    .await;
    a.clear(&ns).await.unwrap();
    keel_testkit::eventually(within, "b sees a's clear", || async {
        b.get(&ns, "m").await.unwrap().is_none()
    })
    .await;

    // A copy never outlives the entry's own TTL.
    raw.set(&ns, "short", json!(true), Some(Duration::from_millis(300)), &[])
        .await
        .unwrap();
    assert_eq!(b.get(&ns, "short").await.unwrap(), Some(json!(true)));
    keel_testkit::eventually(within, "b's copy expires with the entry", || async {
        b.get(&ns, "short").await.unwrap().is_none()
    })
    .await;
    a.clear(&ns).await.unwrap();
}
