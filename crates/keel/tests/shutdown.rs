//! SIGTERM shuts Keel down gracefully: open realtime streams are closed and the process exits 0.

mod common;

use std::time::Duration;

use common::KeelProcess;
use futures::StreamExt;

#[tokio::test]
async fn sigterm_closes_realtime_streams_and_exits_cleanly() {
    let mut keel = KeelProcess::start();
    let resp = reqwest::get(format!("{}/api/realtime", keel.url())).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no PB_CONNECT within 10 s")
        .expect("stream ended before PB_CONNECT")
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("PB_CONNECT"));

    keel.terminate();

    // The server ends the stream instead of waiting for the client to leave.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the realtime stream stayed open after SIGTERM");

    let status = tokio::task::spawn_blocking(move || keel.wait_exit(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("keel did not exit within 15 s of SIGTERM");
    assert!(status.success(), "keel exited with {status}");
}
