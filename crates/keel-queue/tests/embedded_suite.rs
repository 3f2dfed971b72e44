//! The queue behaviour suite on the embedded (SQLite) provider, plus what the suite cannot
//! show: messages survive closing and reopening the file.
#![cfg(feature = "embedded")]

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use keel_core::queue::{ClaimRequest, Nack, NewMessage, Queue, QueueStats};
use keel_queue::EmbeddedQueue;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_passes_the_queue_suite() {
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<dyn Queue> = Arc::new(EmbeddedQueue::open(&dir.path().join("queues.db")).await.unwrap());
    keel_testkit::queue_suite(move || {
        let queue = queue.clone();
        async move { queue }.boxed()
    })
    .await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queues.db");
    let long = Duration::from_secs(60);

    let q = EmbeddedQueue::open(&path).await.unwrap();
    let held = q.push("jobs", NewMessage::new(json!({"n": 1}))).await.unwrap();
    q.push(
        "jobs",
        NewMessage::new(json!({"n": 2})).delay(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let doomed = q
        .push("jobs", NewMessage::new(json!({"n": 3})).priority(1))
        .await
        .unwrap();
    let lease = q.claim("jobs", ClaimRequest::new(1, long)).await.unwrap().remove(0);
    assert_eq!(lease.id, held);
    let dead = q.claim("jobs", ClaimRequest::new(1, long)).await.unwrap().remove(0);
    assert_eq!(dead.id, doomed);
    q.nack("jobs", &dead.lease, Nack::Dead).await.unwrap();
    let ready = q.push("jobs", NewMessage::new(json!({"n": 4}))).await.unwrap();
    drop(q);

    let q = EmbeddedQueue::open(&path).await.unwrap();
    let stats = q.stats("jobs").await.unwrap();
    assert_eq!(
        stats,
        QueueStats {
            ready: 1,
            delayed: 1,
            leased: 1,
            dead: 1
        }
    );
    let got = q.claim("jobs", ClaimRequest::new(10, long)).await.unwrap();
    assert_eq!(got.len(), 1, "the lease taken before reopening still holds");
    assert_eq!(
        (got[0].id.as_str(), &got[0].payload),
        (ready.as_str(), &json!({"n": 4}))
    );
    q.ack("jobs", &lease.lease).await.unwrap();
    q.ack("jobs", &got[0].lease).await.unwrap();
    let dead = q.dead("jobs", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id.as_str(), &dead[0].payload),
        (doomed.as_str(), &json!({"n": 3}))
    );
    assert_eq!(
        q.purge("jobs").await.unwrap(),
        2,
        "the delayed and the dead message remain"
    );
}
