//! The `keel` binary: the CLI (`serve`, `superuser`, `migrate`, `jobs`, `queues`,
//! `schedules`, `roles`, `apikeys`, `audit`, `changes`, `vault`, `backup`, `ops`, `api`, `bench`, `completion`) and the wiring of every service.
// `allocator` sets mimalloc's options through its C API; no other module may use `unsafe`.
#![deny(unsafe_code)]

mod allocator;

mod api_cli;
mod apikeys_cli;
mod audit_cli;
mod backup_cli;
mod bench;
mod bench_bus;
mod bench_ops;
mod bench_realtime;
mod bench_search;
mod bench_webhooks;
mod changes_cli;
mod cli;
mod config;
mod datadir;
mod engines;
mod jobs_cli;
mod logging;
mod migrate_cli;
mod ops_cli;
mod ops_client;
mod roles_cli;
mod schedules_cli;
mod search_cli;
mod serve;
mod superuser;
mod vault_cli;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    allocator::tune();
    // One rustls crypto provider for every TLS client (OAuth2, LDAP, SMTP, engines).
    keel_auth::ldap::ensure_tls_provider();
    let cli = cli::Cli::parse();
    // A completion script needs neither configuration nor a runtime.
    if let cli::Command::Completion { shell } = cli.command {
        let mut command = <cli::Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "keel", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    // `keel ops` is an HTTP client: no data dir, and KEEL_URL/KEEL_TOKEN are its own variables,
    // not server settings.
    // `keel api diff` compares two files: no data dir, no configuration.
    if let cli::Command::Api(cmd) = cli.command {
        return api_cli::run(cmd);
    }
    // So are `keel changes propose|submit|approve|reject|apply|rollback`.
    let client_only = match &cli.command {
        cli::Command::Ops(_) => true,
        cli::Command::Changes(cmd) => cmd.talks_to_a_server(),
        _ => false,
    };
    let loaded = if client_only {
        Ok(keel_core::config::Config::default())
    } else {
        config::load(&cli)
    };
    let cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            // One line per problem, each naming the key and where it was set.
            eprintln!("keel: invalid configuration:");
            for line in &e.0 {
                eprintln!("  {line}");
            }
            return ExitCode::from(2);
        }
    };
    // Blocking threads run SQLite reads and file I/O; a small cap keeps memory bounded
    // (reads are limited to `sqlite_readers` at once anyway).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(_) => {
                let log_guard = logging::init(&cfg);
                let served = serve::run(cfg).await;
                // A restore was staged: the logs are flushed, then this process becomes a
                // fresh `keel serve` that swaps the backup in before opening anything.
                if served.is_ok() && serve::restart_requested() {
                    drop(log_guard);
                    return Err(serve::restart());
                }
                served
            }
            cli::Command::Migrate { command } => migrate_cli::run(&cfg, command).await,
            cli::Command::Superuser(cmd) => superuser::run(&cfg, cmd).await,
            cli::Command::Jobs(cmd) => jobs_cli::run_jobs(&cfg, cmd).await,
            cli::Command::Queues(args) => jobs_cli::run_queues(&cfg, args).await,
            cli::Command::Schedules(cmd) => schedules_cli::run(&cfg, cmd).await,
            cli::Command::Roles(cmd) => roles_cli::run_roles(&cfg, cmd).await,
            cli::Command::Apikeys(cmd) => apikeys_cli::run(&cfg, cmd).await,
            cli::Command::Audit(cmd) => audit_cli::run(&cfg, cmd).await,
            cli::Command::Changes(cmd) => changes_cli::run(&cfg, cmd).await,
            cli::Command::Vault(cmd) => vault_cli::run(&cfg, cmd).await,
            cli::Command::Backup(cmd) => backup_cli::run(&cfg, cmd).await,
            cli::Command::Search(cmd) => search_cli::run(&cfg, cmd).await,
            cli::Command::Ops(args) => ops_cli::run(args).await,
            cli::Command::Bench(cmd) => bench::run(&cfg, cmd).await,
            cli::Command::Completion { .. } | cli::Command::Api(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Bad input exits 2 (each offending field on its own line), anything else 1.
        // `keel ops`: a followed run's outcome, or 3 for a request that failed.
        Err(e) if e.downcast_ref::<ops_cli::Exit>().is_some() => {
            ExitCode::from(e.downcast_ref::<ops_cli::Exit>().map_or(1, |x| x.0))
        }
        Err(e) if e.downcast_ref::<ops_client::RequestFailed>().is_some() => {
            eprintln!("keel: {e}");
            ExitCode::from(3)
        }
        Err(e) => jobs_cli::report(&e),
    }
}
