//! Readiness: whether every engine the core works with answers (the database, the file
//! store, the cache provider and the jobs store).

use crate::App;

/// Each engine's name and whether it answered a ping, all pinged together.
pub async fn checks(app: &App) -> [(&'static str, keel_core::Result<()>); 4] {
    let (database, files, cache, jobs) = tokio::join!(
        app.store.engine().ping(),
        app.files.ping(),
        app.cache.ping(),
        app.jobs.store().ping(),
    );
    [
        ("database", database),
        ("files", files),
        ("cache", cache),
        ("jobs", jobs),
    ]
}
