//! Nothing acknowledged is lost: `kill -9` Keel in the middle of a stream of writes, restart it on
//! the same data dir, and every create that was answered 200 must still be there.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{superuser_token, KeelProcess};
use serde_json::{json, Value};

const WRITERS: usize = 6;
/// Kill once this many creates have been acknowledged (the writers keep going meanwhile).
const ACKED_BEFORE_KILL: usize = 300;
const DEADLINE: Duration = Duration::from_secs(60);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Creates records until a request fails (the server died) or `stop` is set; returns nothing,
/// but pushes the id of every create answered 200 to `acked`.
async fn writer(
    http: reqwest::Client,
    url: String,
    n: usize,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
) {
    let endpoint = format!("{url}/api/collections/entries/records");
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let title = format!("writer {n} entry {i}");
        let Ok(res) = http
            .post(&endpoint)
            .json(&json!({ "title": title, "n": i }))
            .send()
            .await
        else {
            return;
        };
        if res.status() != 200 {
            return;
        }
        // The acknowledgement is the full 200 response; a body cut short by the kill does not count.
        let Ok(body) = res.json::<Value>().await else { return };
        let id = body["id"].as_str().expect("a created record has an id").to_string();
        acked.lock().unwrap().push((id, title));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_kill_9() {
    let keel = KeelProcess::start();
    let url = keel.url().to_string();
    let http = client();

    let token = superuser_token(&http, &url).await;
    let res = http
        .post(format!("{url}/api/collections"))
        .header("Authorization", &token)
        .json(&json!({
            "name": "entries",
            "type": "base",
            "fields": [
                { "name": "title", "type": "text", "required": true },
                { "name": "n", "type": "number" },
            ],
            "listRule": "",
            "viewRule": "",
            "createRule": "",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "create collection: {}", res.text().await.unwrap());

    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| tokio::spawn(writer(client(), url.clone(), n, acked.clone(), stop.clone())))
        .collect();

    let started = Instant::now();
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        if writers.iter().all(|w| w.is_finished()) {
            panic!(
                "every writer stopped early after {} creates",
                acked.lock().unwrap().len()
            );
        }
        assert!(
            started.elapsed() < DEADLINE,
            "only {} creates acknowledged in {DEADLINE:?}",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGKILL while the writers are mid-request.
    let data_dir = keel.kill();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        tokio::time::timeout(DEADLINE, w)
            .await
            .expect("a writer hung after the kill")
            .unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    println!("{} creates acknowledged before the kill", acked.len());

    let keel = KeelProcess::serve(data_dir);
    let url = keel.url().to_string();
    let mut lost = Vec::new();
    for (id, title) in &acked {
        let res = http
            .get(format!("{url}/api/collections/entries/records/{id}"))
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            lost.push(format!("{id} ({title}): HTTP {}", res.status()));
            continue;
        }
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["title"], title.as_str(), "record {id} came back different");
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates were lost: {lost:#?}",
        lost.len(),
        acked.len()
    );

    let res = http
        .get(format!("{url}/api/collections/entries/records?perPage=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    let total = list["totalItems"].as_u64().unwrap();
    assert!(
        total >= acked.len() as u64,
        "list sees {total} records, {} were acknowledged",
        acked.len()
    );
}
