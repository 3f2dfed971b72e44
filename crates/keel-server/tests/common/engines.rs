//! An app on each records engine, for the suites that run once per engine: SQLite always,
//! PostgreSQL (a fresh schema) with `KEEL_TEST_POSTGRES_URL`, MariaDB (a fresh database) with
//! `KEEL_TEST_MYSQL_URL`. The second value is the guard that drops the schema or database.

use std::sync::Arc;

use super::App;

pub async fn sqlite() -> (App, Box<dyn std::any::Any>) {
    (App::new().await, Box::new(()))
}

pub async fn postgres() -> Option<(App, Box<dyn std::any::Any>)> {
    let url = keel_testkit::env::engine_url("KEEL_TEST_POSTGRES_URL")?;
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let engine = keel_sql::postgres::PgEngine::new(schema.pool.clone());
    let app = App::on_engine(Arc::new(engine)).await;
    let guard = keel_testkit::postgres::SchemaGuard { url, name: schema.name };
    Some((app, Box::new(guard)))
}

pub async fn mariadb() -> Option<(App, Box<dyn std::any::Any>)> {
    let url = keel_testkit::env::engine_url("KEEL_TEST_MYSQL_URL")?;
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let guard = db.guard();
    let engine = keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap();
    let app = App::on_engine(Arc::new(engine)).await;
    Some((app, Box::new(guard)))
}
