//! An app on each records engine, for the suites that run once per engine: SQLite always,
//! PostgreSQL (a fresh schema) with `KEEL_TEST_POSTGRES_URL`, MariaDB (a fresh database) with
//! `KEEL_TEST_MYSQL_URL`. The second value is the guard that drops the schema or database.

use std::sync::Arc;

use super::App;

pub async fn sqlite() -> (App, Box<dyn std::any::Any>) {
    (App::new().await, Box::new(()))
}

pub async fn postgres() -> Option<(App, Box<dyn std::any::Any>)> {
    postgres_engine().await.map(|(app, _, guard)| (app, guard))
}

pub async fn mariadb() -> Option<(App, Box<dyn std::any::Any>)> {
    mariadb_engine().await.map(|(app, _, guard)| (app, guard))
}

/// [`postgres`] with its engine (for a store of its own on it, such as request logs).
#[allow(dead_code)]
pub async fn postgres_engine() -> Option<(App, Arc<dyn keel_sql::Engine>, Box<dyn std::any::Any>)> {
    let url = keel_testkit::env::engine_url("KEEL_TEST_POSTGRES_URL")?;
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let engine: Arc<dyn keel_sql::Engine> = Arc::new(keel_sql::postgres::PgEngine::new(schema.pool.clone()));
    let app = App::on_engine(engine.clone()).await;
    let guard = keel_testkit::postgres::SchemaGuard { url, name: schema.name };
    Some((app, engine, Box::new(guard)))
}

/// [`mariadb`] with its engine.
#[allow(dead_code)]
pub async fn mariadb_engine() -> Option<(App, Arc<dyn keel_sql::Engine>, Box<dyn std::any::Any>)> {
    let url = keel_testkit::env::engine_url("KEEL_TEST_MYSQL_URL")?;
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let guard = db.guard();
    let engine: Arc<dyn keel_sql::Engine> = Arc::new(keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap());
    let app = App::on_engine(engine.clone()).await;
    Some((app, engine, Box::new(guard)))
}
