//! The cache behaviour suite on the memory provider.

use std::sync::Arc;

use futures::FutureExt;
use keel_cache::{MemoryCache, MemoryConfig};
use keel_core::cache::Cache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_passes_the_cache_suite() {
    keel_testkit::cache_suite(|| {
        async { Arc::new(MemoryCache::new(MemoryConfig::default())) as Arc<dyn Cache> }.boxed()
    })
    .await;
}
