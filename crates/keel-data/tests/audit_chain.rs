//! The audit chain below HTTP: entries written before migration `0005_audit_chain` are
//! chained by it in insertion order; retention removes a prefix and the rest still verifies;
//! record writes to `_audit` are refused whoever asks.

mod common;

use common::{data, fresh, reopen};
use keel_data::{Access, AuditVerification, RequestInfo, Store};
use keel_sql::Engine;
use serde_json::{json, Value};

fn intact(v: AuditVerification) -> u64 {
    match v {
        AuditVerification::Intact { count, .. } => count,
        other => panic!("expected an intact trail, got {other:?}"),
    }
}

async fn run(engine: &std::sync::Arc<dyn Engine>, sqls: &[String]) {
    let mut tx = engine.begin().await.unwrap();
    for sql in sqls {
        tx.execute(sql, &[]).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn entry(store: &Store, event: &str) -> String {
    let r = store
        .append_audit(data(json!({"event": event, "success": true, "details": {"n": 1}})))
        .await
        .unwrap();
    r.id().to_string()
}

#[tokio::test]
async fn entries_from_before_the_chain_are_chained_by_the_migration() {
    let t = fresh().await;
    // Turn the data dir back into one from before 0005: the old _audit shape, two entries.
    let mut old = keel_data::system::identity_collections()
        .into_iter()
        .find(|c| c.name == "_audit")
        .unwrap();
    old.created = "2026-01-01 00:00:00.000Z".into();
    let old_json = serde_json::to_string(&old).unwrap().replace('\'', "''");
    let mut sqls = vec![
        "DROP INDEX idx_audit_seq".to_string(),
        "ALTER TABLE \"_audit\" DROP COLUMN \"seq\"".into(),
        "ALTER TABLE \"_audit\" DROP COLUMN \"prevHash\"".into(),
        "ALTER TABLE \"_audit\" DROP COLUMN \"hash\"".into(),
        format!("UPDATE _collections SET json = '{old_json}' WHERE name = '_audit'"),
        "DELETE FROM _migrations WHERE name = '0005_audit_chain'".into(),
        "DELETE FROM _params WHERE key = 'auditHead'".into(),
    ];
    for (id, event) in [("oldentry0000001", "auth.login"), ("oldentry0000002", "role.create")] {
        sqls.push(format!(
            "INSERT INTO \"_audit\" (\"id\", \"event\", \"success\", \"details\", \"created\", \"updated\") \
             VALUES ('{id}', '{event}', TRUE, '{{\"b\": 2, \"a\": 1.5}}', '2026-01-01 00:00:00.000Z', '2026-01-01 00:00:00.000Z')"
        ));
    }
    run(t.store.engine(), &sqls).await;
    drop(t.store);

    let store = reopen(&t.dir, &t.pg).await;
    assert_eq!(intact(store.verify_audit().await.unwrap()), 2);
    let rows = store
        .engine()
        .fetch_all(
            "SELECT \"id\", \"seq\", \"prevHash\", \"hash\" FROM \"_audit\" ORDER BY \"seq\"",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["id"], "oldentry0000001");
    assert_eq!(rows[0]["prevHash"], "");
    assert_eq!(rows[1]["id"], "oldentry0000002");
    assert_eq!(rows[1]["prevHash"], rows[0]["hash"]);
    entry(&store, "after.migration").await;
    assert_eq!(intact(store.verify_audit().await.unwrap()), 3);
}

#[tokio::test]
async fn retention_keeps_the_rest_of_the_chain_verifiable() {
    let t = fresh().await;
    for e in ["a", "b"] {
        entry(&t.store, e).await;
    }
    assert_eq!(t.store.purge_audit("2000-01-01 00:00:00.000Z").await.unwrap(), 0);
    assert_eq!(t.store.purge_audit("2999-01-01 00:00:00.000Z").await.unwrap(), 2);
    assert_eq!(intact(t.store.verify_audit().await.unwrap()), 0);
    let id = entry(&t.store, "c").await;
    assert_eq!(intact(t.store.verify_audit().await.unwrap()), 1);
    let rows = t
        .store
        .engine()
        .fetch_all("SELECT \"seq\" FROM \"_audit\"", &[])
        .await
        .unwrap();
    assert_eq!(rows[0]["seq"], Value::from(3));
    // Deleting the entry the anchor points past is still found.
    run(
        t.store.engine(),
        &[format!("DELETE FROM \"_audit\" WHERE \"id\" = '{id}'")],
    )
    .await;
    assert!(matches!(
        t.store.verify_audit().await.unwrap(),
        AuditVerification::Broken { .. }
    ));
}

#[tokio::test]
async fn record_writes_to_the_audit_trail_are_refused() {
    let t = fresh().await;
    let id = entry(&t.store, "a").await;
    let c = t.store.collection("_audit").unwrap();
    let su = RequestInfo::default();
    let forbidden = |r: keel_core::Error| assert!(matches!(r, keel_core::Error::Forbidden(_)), "{r:?}");
    forbidden(
        t.store
            .create_record(&c, data(json!({"event": "x"})), &su, Access::Superuser)
            .await
            .unwrap_err(),
    );
    forbidden(
        t.store
            .update_record(&c, &id, data(json!({"event": "x"})), &su, Access::Superuser)
            .await
            .unwrap_err(),
    );
    forbidden(
        t.store
            .delete_record(&c, &id, &su, Access::Superuser)
            .await
            .unwrap_err(),
    );
    assert!(t.store.truncate_collection("_audit").await.is_err());
    assert!(t.store.delete_collection("_audit").await.is_err());
    forbidden(
        t.store
            .update_collection("_audit", json!({"listRule": ""}))
            .await
            .unwrap_err(),
    );
    assert_eq!(intact(t.store.verify_audit().await.unwrap()), 1);
}
