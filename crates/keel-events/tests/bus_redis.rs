//! The bus behaviour suite on the Redis provider, against `KEEL_TEST_REDIS_URL` (a URL
//! without credentials). Each instance connects as an ACL user of its own (as another process
//! would have its own connections), so the suite can kill exactly its pub/sub connection
//! (`CLIENT KILL TYPE pubsub USER …`); the users are deleted at the end.
#![cfg(feature = "redis")]

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use keel_core::bus::EventBus;
use keel_events::RedisBus;
use keel_testkit::bus::{BusInstance, Cut, MakeBus};

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn instance(url: String, channel: String, users: Arc<Mutex<Vec<String>>>) -> BusInstance {
    let user = format!("keelbus_{}", keel_testkit::random_name());
    let password = keel_testkit::random_name();
    let mut conn = admin(&url).await;
    redis::cmd("ACL")
        .arg(&["SETUSER", &user, "on", &format!(">{password}"), "~*", "&*", "+@all"][..])
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    users.lock().unwrap().push(user.clone());
    let own = url.replacen("://", &format!("://{user}:{password}@"), 1);
    let client = redis::Client::open(own).unwrap();
    let manager = client.get_connection_manager().await.unwrap();
    let bus = RedisBus::new(&client, manager, &channel).await.unwrap();
    let cut: Cut = Arc::new(move || {
        let (url, user) = (url.clone(), user.clone());
        async move {
            let mut conn = admin(&url).await;
            let killed: i64 = redis::cmd("CLIENT")
                .arg(&["KILL", "TYPE", "pubsub", "USER", &user][..])
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(killed, 1, "the instance's one pub/sub connection");
        }
        .boxed()
    });
    BusInstance {
        bus: Arc::new(bus) as Arc<dyn EventBus>,
        cut: Some(cut),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_bus_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    let users: Arc<Mutex<Vec<String>>> = Arc::default();
    let (u, s) = (url.clone(), users.clone());
    let make: MakeBus = Arc::new(move |channel| instance(u.clone(), channel, s.clone()).boxed());
    keel_testkit::bus_suite(make).await;
    let mut conn = admin(&url).await;
    let users = users.lock().unwrap().clone();
    for user in users {
        let _: redis::RedisResult<i64> = redis::cmd("ACL")
            .arg(&["DELUSER", &user][..])
            .query_async(&mut conn)
            .await;
    }
}
