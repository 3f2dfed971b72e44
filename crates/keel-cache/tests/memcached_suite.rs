//! The cache behaviour suite on the Memcached provider, against `KEEL_TEST_MEMCACHED`.
#![cfg(feature = "memcached")]

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use keel_cache::{MemcachedCache, MemcachedConfig};
use keel_core::cache::{Cache, CacheEntry};
use keel_core::Error;
use serde_json::{json, Value};

async fn connect(url: &str) -> MemcachedCache {
    MemcachedCache::connect(MemcachedConfig { url: url.to_string() })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_passes_the_cache_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MEMCACHED") else {
        return;
    };
    keel_testkit::cache_suite(move || {
        let url = url.clone();
        async move { Arc::new(connect(&url).await) as Arc<dyn Cache> }.boxed()
    })
    .await;
}

#[tokio::test]
async fn memcached_hashes_keys_it_cannot_store_as_they_are() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MEMCACHED") else {
        return;
    };
    let c = connect(&url).await;
    let ns = keel_testkit::random_name();
    let long = "k".repeat(300);
    let tags = vec!["t".repeat(300), "with space".to_string()];
    c.set(&ns, &long, json!("long"), None, &tags).await.unwrap();
    c.set(&ns, "a key\nwith ünïcode", json!(2), None, &[]).await.unwrap();
    assert_eq!(c.get(&ns, &long).await.unwrap(), Some(json!("long")));
    assert_eq!(c.get(&ns, &"k".repeat(301)).await.unwrap(), None);
    assert_eq!(c.incr(&ns, "a key\nwith ünïcode", 1, None).await.unwrap(), 3);
    assert_eq!(c.invalidate_tags(&ns, &tags[1..]).await.unwrap(), 1);
    assert!(!c.exists(&ns, &long).await.unwrap());
    assert_eq!(c.clear(&ns).await.unwrap(), 1);
}

#[tokio::test]
async fn memcached_refuses_values_over_the_item_size_limit() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MEMCACHED") else {
        return;
    };
    let c = connect(&url).await;
    let ns = keel_testkit::random_name();
    c.set(&ns, "k", json!("small"), None, &[]).await.unwrap();
    let big = json!("x".repeat(2 * 1024 * 1024));
    let err = c.set(&ns, "k", big.clone(), None, &[]).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err:?}");
    // Memcached drops the previous value when it refuses a replacement (no stale data).
    assert_eq!(c.get(&ns, "k").await.unwrap(), None);
    let err = c.set(&ns, "new", big.clone(), None, &[]).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err:?}");
    // The connection is still usable afterwards.
    c.set(&ns, "k", json!("small again"), None, &[]).await.unwrap();
    assert_eq!(c.get(&ns, "k").await.unwrap(), Some(json!("small again")));
    // set_many is not a transaction: what came before the refused entry is stored (and counted).
    let entry = |key: &str, value: Value| CacheEntry {
        key: key.into(),
        value,
        ttl: None,
        tags: vec!["t".into()],
    };
    let batch = vec![entry("m1", json!(1)), entry("m2", big), entry("m3", json!(3))];
    let err = c.set_many(&ns, batch).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err:?}");
    assert_eq!(c.get(&ns, "m1").await.unwrap(), Some(json!(1)));
    assert_eq!(c.get(&ns, "m3").await.unwrap(), None);
    assert_eq!(c.invalidate_tags(&ns, &["t".to_string()]).await.unwrap(), 1);
    assert_eq!(c.clear(&ns).await.unwrap(), 1);
}

#[tokio::test]
async fn memcached_counts_re_set_and_expired_keys_once() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MEMCACHED") else {
        return;
    };
    let c = connect(&url).await;
    let ns = keel_testkit::random_name();
    let tags = vec!["t".to_string()];
    for i in 0..20 {
        c.set(&ns, "same", json!(i), None, &tags).await.unwrap();
    }
    c.set(&ns, "brief", json!(1), Some(Duration::from_millis(50)), &tags)
        .await
        .unwrap();
    c.set(&ns, "gone", json!(1), None, &tags).await.unwrap();
    assert!(c.delete(&ns, "gone").await.unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(c.invalidate_tags(&ns, &tags).await.unwrap(), 1);
    c.set(&ns, "same", json!("again"), None, &tags).await.unwrap();
    assert_eq!(c.get(&ns, "same").await.unwrap(), Some(json!("again")));
    assert_eq!(c.clear(&ns).await.unwrap(), 1);
}

#[tokio::test]
async fn memcached_refuses_a_bad_url_before_connecting() {
    for url in ["redis://127.0.0.1:6379", "memcache://", "not a url"] {
        let err = MemcachedCache::connect(MemcachedConfig { url: url.into() })
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::BadRequest { .. }), "{url}: {err:?}");
    }
}
