//! `keel serve`: open everything, listen, and shut down gracefully on SIGINT/SIGTERM.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keel_app::realtime::Realtime;
use keel_app::Settings;
use keel_core::config::Config;
use keel_server::listen::ServeOptions;
use keel_server::{AppState, Services};

use crate::wiring::{
    open_bus, open_cache, open_jobs, open_logs, open_notifiers, open_search, open_store, open_vault, Engines, Needs,
};

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    // Everything that can be refused is checked before anything is created or opened.
    let (addr, tls) = listen_on(&cfg)?;
    crate::datadir::prepare(&cfg.data_dir)?;
    // One process per data dir while records or jobs are SQLite files in it.
    let embedded = crate::datadir::embedded_in(&cfg);
    let mut lock = if embedded.is_empty() {
        None
    } else {
        Some(crate::datadir::DataDirLock::acquire(&cfg.data_dir, &embedded)?)
    };
    // A restore staged before a restart (or cut short by a crash) is swapped in while nothing
    // has the data open (keel_app::backups::restore).
    if lock.is_some() {
        let dir = cfg.data_dir.clone();
        let applied = tokio::task::spawn_blocking(move || {
            keel_app::backups::clean_scratch(&dir);
            keel_app::backups::restore::apply_pending(&dir)
        })
        .await
        .context("cannot finish restoring a backup")?
        .context("cannot finish restoring a backup")?;
        if let Some(key) = applied {
            println!("Restored backup {key}");
            tracing::warn!(backup = %key, "restored a backup into the data dir");
        }
    }
    raise_open_files_limit();
    // Each engine the configured services use, opened once and shared by them.
    let engines = Engines::open(
        &cfg.engines,
        Needs::store(&cfg)
            .and(Needs::jobs(&cfg))
            .and(Needs::cache(&cfg))
            .and(Needs::bus(&cfg)),
    )
    .await?;
    let store = open_store(&cfg, &engines).await?;
    let settings = Settings::load(&store).await.context("cannot load settings")?;
    warn_pending_migrations(&cfg, &store).await;
    let settings = Arc::new(settings);
    let files = keel_files::open(&cfg.files, &cfg.data_dir).with_context(|| {
        format!(
            "cannot open the file storage ([files] provider = {})",
            cfg.files.provider
        )
    })?;
    let files = keel_app::storage::Storage::new(Arc::new(files), settings.clone());
    let realtime = Arc::new(Realtime::default());
    let cache = open_cache(&cfg, &engines).await?;
    let jobs = open_jobs(&cfg, &engines).await?;
    // The notification channel providers (`[[notify.providers]]`), for the notifications service.
    let notifiers = open_notifiers(&cfg, jobs.outbound())?;
    if !notifiers.is_empty() {
        let names: Vec<&str> = notifiers.iter().map(|n| n.name()).collect();
        tracing::info!(providers = ?names, "notification providers ready");
    }
    let bus = open_bus(&cfg, &engines).await?;
    let vault = open_vault(&cfg)?;
    let logs = open_logs(&cfg, &engines).await?;
    let search = Arc::new(open_search(&cfg, &store).await?);
    // Background work (upkeep, push delivery, schedules) stops when this turns true.
    let (stop_background, background) = tokio::sync::watch::channel(false);
    if cfg.jobs.background {
        jobs.spawn_upkeep(Duration::from_secs(1), background.clone());
        jobs.spawn_push_supervisor(Duration::from_secs(2), background.clone());
        jobs.spawn_scheduler(Duration::from_secs(1), background.clone());
    }
    let state = AppState::new(Services {
        app: keel_app::App {
            store: store.clone(),
            files: Arc::new(files),
            settings,
            config: Arc::new(cfg.clone()),
            cache,
            outbound: jobs.outbound().clone(),
            jobs,
            identity: keel_auth::Identity::new(store.clone()),
            bus,
            realtime: realtime.clone(),
            events: Default::default(),
            notifications: Arc::new(keel_app::notifications::Notifications::new(notifiers)),
            vault: Arc::new(vault),
            logs: logs.clone(),
            search: search.clone(),
            installer: Default::default(),
        },
        limiter: Default::default(),
        metrics: Some(keel_server::middleware::install_metrics()),
    });
    keel_app::realtime::start(&state)
        .await
        .context("cannot subscribe to the event bus")?;
    // The outbox relay and the system workers (auth emails): what requests start and do not
    // wait for, durable in the outbox and carried out as jobs.
    let mut outbox = keel_app::outbox::start(&state, background.clone())
        .await
        .context("cannot start the outbox and event consumers")?;
    // Search indexes: opened now (rebuilt in the background when new or not known in step),
    // then kept in line with collection changes.
    outbox.push(
        keel_app::search::start(&state, background.clone())
            .await
            .context("cannot open the search indexes")?,
    );
    // Scheduled backups (`settings.backups.cron`): the tick loop and the `_keel-backup` worker.
    outbox.extend(keel_app::backups::schedule::spawn(&state, background.clone()));
    spawn_identity_purge(
        state.identity.clone(),
        cfg.auth.audit_retention_days,
        background.clone(),
    );
    let app = keel_server::router(state.clone());

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    if let Some(lock) = lock.as_mut() {
        lock.record(Some(&addr.to_string()))?;
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Keel listening on {scheme}://{addr}");
    println!("  Console:   {scheme}://{addr}/_/");
    println!("  REST API:  {scheme}://{addr}/api/");
    println!("  API docs:  {scheme}://{addr}/api/docs/");
    println!("  Health:    {scheme}://{addr}/api/health");
    println!("  Data dir:  {}", cfg.data_dir.display());
    if !keel_app::install::has_superuser(&state).await.unwrap_or(true) {
        // The one-time link is a bootstrap credential shown to whoever started the server
        // (as PocketBase's installer link is); it is never written to the structured log.
        let token = state.installer.issue();
        println!(
            "  No superuser yet: create one in the browser (this link works once)\n    {scheme}://{addr}/_/#/install/{token}\n  \
             or with\n    keel --data-dir {} superuser upsert EMAIL PASSWORD",
            cfg.data_dir.display()
        );
    }
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), "listening");

    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    let rt = realtime.clone();
    let options = ServeOptions {
        tls,
        ..ServeOptions::from_limits(&cfg.limits)
    };
    // SIGINT/SIGTERM, or a restart asked for by a restore.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut restart = keel_app::backups::restore::restart_requested();
        tokio::select! {
            () = shutdown_signal() => {}
            _ = restart.wait_for(|r| *r) => tracing::warn!("restarting to restore a backup"),
        }
        let _ = stopping_tx.send(true);
    });
    let mut stop_serving = stopping.clone();
    let server = keel_server::listen::serve(listener, app, options, async move {
        let _ = stop_serving.wait_for(|s| *s).await;
        tracing::info!("shutting down: finishing in-flight requests");
        rt.shutdown();
        let _ = stop_background.send(true);
    });
    let mut server = std::pin::pin!(server);
    let mut stop_waiting = stopping.clone();
    tokio::select! {
        () = &mut server => {}
        _ = async { let _ = stop_waiting.wait_for(|s| *s).await; tokio::time::sleep(grace).await } => {
            tracing::warn!("in-flight requests did not finish within {}s; exiting", grace.as_secs());
        }
    }
    // The system workers finish the attempts they hold (an unfinished one is retried after a
    // restart: it is a job, not a task of this process).
    if tokio::time::timeout(grace, futures::future::join_all(outbox))
        .await
        .is_err()
    {
        tracing::warn!(
            "system jobs still running after {}s were left to their leases; they run again after a restart",
            grace.as_secs()
        );
    }
    // The request logs still waiting in the writer.
    logs.flush().await;
    // The search indexes are in step with every write served: say so for the next start.
    search.close().await;
    drop(lock);
    tracing::info!("stopped");
    Ok(())
}

/// Says so when collection migration files wait in `[data] migrations_dir` (serve does not
/// apply them: `keel migrate up` is the deploy step, run once).
async fn warn_pending_migrations(cfg: &Config, store: &keel_data::Store) {
    let dir = &cfg.data.migrations_dir;
    if let Ok(pending) = keel_app::collections::code::pending(store, dir).await {
        if !pending.is_empty() {
            println!(
                "  {} collection migration file(s) in {} not applied: run `keel migrate up`",
                pending.len(),
                dir.display()
            );
            tracing::warn!(count = pending.len(), dir = %dir.display(), "collection migrations are pending");
        }
    }
}

/// Where `serve` listens, and with which TLS: `https` with `tls_cert` and `tls_key`, else
/// plain `http`.
fn listen_on(cfg: &Config) -> anyhow::Result<(SocketAddr, Option<Arc<keel_server::tls::ServerConfig>>)> {
    let Some(https) = cfg.https.as_deref().filter(|s| !s.is_empty()) else {
        if cfg.tls_cert.is_some() || cfg.tls_key.is_some() {
            return Err(bad("--tls-cert and --tls-key are for --https: add --https ADDR".into()));
        }
        return Ok((parse_listen_addr(&cfg.http)?, None));
    };
    let addr = listen_addr("--https", https)?;
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        return Err(bad(
            "--https needs --tls-cert FILE and --tls-key FILE (PEM); Keel does not fetch certificates (no ACME)".into(),
        ));
    };
    let tls = keel_server::tls::server_config(cert, key).map_err(bad)?;
    Ok((addr, Some(tls)))
}

/// Bad input on the command line (exit 2).
fn bad(message: String) -> anyhow::Error {
    keel_core::Error::bad_request(message).into()
}

/// Whether a restore asked this process to restart (see [`restart`]).
pub fn restart_requested() -> bool {
    *keel_app::backups::restore::restart_requested().borrow()
}

/// Replaces this process with a fresh `keel serve` with the same arguments (same pid; every
/// file, socket and database connection of this one is closed by the exec, none is shut down
/// by code that could touch the files being swapped). Returns only on failure. Where `exec`
/// does not exist, the process exits and the next start finishes the restore.
pub fn restart() -> anyhow::Error {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // On Linux the running binary itself, also when an upgrade replaced the file on disk
        // meanwhile (`current_exe` then names a deleted path).
        let proc_exe = std::path::Path::new("/proc/self/exe");
        let exe = match std::env::current_exe() {
            _ if cfg!(target_os = "linux") && proc_exe.exists() => proc_exe.to_path_buf(),
            Ok(p) => p,
            Err(e) => return anyhow::anyhow!("cannot restart to finish the restore ({e}): start keel serve again"),
        };
        let mut command = std::process::Command::new(exe);
        if let Some(name) = std::env::args_os().next() {
            command.arg0(name);
        }
        let err = command.args(std::env::args_os().skip(1)).exec();
        anyhow::anyhow!("cannot restart to finish the restore ({err}): start keel serve again")
    }
    #[cfg(not(unix))]
    {
        anyhow::anyhow!("a backup is staged for restore: start keel serve again to finish it")
    }
}

/// The listen address: `HOST:PORT`, `:PORT` (on 127.0.0.1) or `NAME:PORT` (resolved).
pub fn parse_listen_addr(raw: &str) -> anyhow::Result<SocketAddr> {
    listen_addr("--http", raw)
}

/// [`parse_listen_addr`] of the flag `flag`.
fn listen_addr(flag: &str, raw: &str) -> anyhow::Result<SocketAddr> {
    let raw = raw.trim();
    let full = match raw.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => raw.to_string(),
    };
    if let Ok(addr) = full.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let has_port = full
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if has_port {
        if let Some(addr) = full.to_socket_addrs().ok().and_then(|mut a| a.next()) {
            return Ok(addr);
        }
    }
    Err(keel_core::Error::bad_request(format!(
        "{flag}: expected HOST:PORT such as 127.0.0.1:8090 or :8090, got {raw:?}"
    ))
    .into())
}

/// Raises this process's soft limit on open files to its hard limit, so many clients can be
/// connected at once (each connection is a file descriptor).
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, hard)) if soft < hard => {
                if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    tracing::warn!(error = %e, soft, hard, "cannot raise the open files limit");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the open files limit"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Every ten minutes: expired OTPs and MFA sessions, and audit entries past their retention.
fn spawn_identity_purge(identity: keel_auth::Identity, audit_days: u32, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            match identity.purge(audit_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "purged expired OTPs, MFA sessions and old audit entries"),
                Err(e) => tracing::warn!(error = %e, "identity purge failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::parse_listen_addr;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_addr(":0").unwrap().to_string(), "127.0.0.1:0");
        assert_eq!(parse_listen_addr(":8090").unwrap().to_string(), "127.0.0.1:8090");
        assert_eq!(parse_listen_addr("0.0.0.0:1").unwrap().to_string(), "0.0.0.0:1");
        assert_eq!(parse_listen_addr("[::1]:2").unwrap().to_string(), "[::1]:2");
        assert!(parse_listen_addr("localhost:3").unwrap().ip().is_loopback());
        for bad in ["8090", "", "host", ":x", "1.2.3.4:99999"] {
            let e = parse_listen_addr(bad).unwrap_err().to_string();
            assert!(
                e.contains("expected HOST:PORT such as 127.0.0.1:8090 or :8090"),
                "{bad}: {e}"
            );
        }
    }
}
