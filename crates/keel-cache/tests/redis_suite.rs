//! The cache behaviour suite on the Redis provider, against `KEEL_TEST_REDIS_URL`.
#![cfg(feature = "redis")]

use std::sync::Arc;

use futures::FutureExt;
use keel_cache::RedisCache;
use keel_core::cache::Cache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_cache_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    keel_testkit::cache_suite(move || {
        let url = url.clone();
        async move {
            let conn = redis::Client::open(url)
                .unwrap()
                .get_connection_manager()
                .await
                .unwrap();
            Arc::new(RedisCache::new(conn).await.unwrap()) as Arc<dyn Cache>
        }
        .boxed()
    })
    .await;
}
