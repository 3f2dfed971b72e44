//! Command-line arguments.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

/// Keel: records, auth, files, realtime (PocketBase's Web API), jobs and schedules in one binary.
#[derive(Debug, Parser)]
#[command(name = "keel", version, propagate_version = true)]
pub struct Cli {
    /// Where the database and uploaded files live [default: ./keel_data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Config file [default: ./keel.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server
    Serve(ServeArgs),
    /// Create, update or delete superusers
    #[command(subcommand)]
    Superuser(SuperuserCommand),
    /// Apply migrations (Keel's own, then the collection files of `[data] migrations_dir`),
    /// revert them, create one, or snapshot the collections
    Migrate {
        #[command(subcommand)]
        command: Option<crate::migrate_cli::MigrateCommand>,
    },
    /// Enqueue, list, show, retry and cancel background jobs (opens the jobs store directly)
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Every queue with its jobs by state; pause or resume a queue
    Queues(QueuesArgs),
    /// List, create, delete, pause, resume and trigger schedules, and read their runs
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// List, create and delete roles; assign them to auth records (opens the data directly)
    #[command(subcommand)]
    Roles(crate::roles_cli::RolesCommand),
    /// Create, list, revoke and rotate API keys for service accounts
    #[command(subcommand)]
    Apikeys(crate::apikeys_cli::ApiKeysCommand),
    /// Check the audit trail's hash chain (exit 1 names the first broken entry)
    #[command(subcommand)]
    Audit(crate::audit_cli::AuditCommand),
    /// The history of collection changes: list them, show one (opens the data directly)
    #[command(subcommand)]
    Changes(crate::changes_cli::ChangesCommand),
    /// List the vault's secrets (metadata), rotate its master key, generate a key
    #[command(subcommand)]
    Vault(crate::vault_cli::VaultCommand),
    /// Rebuild full-text search indexes (`reindex [COLLECTION]`; needs the server stopped)
    #[command(subcommand)]
    Search(crate::search_cli::SearchCommand),
    /// List, create and restore backups of the data dir (opens the data dir directly)
    #[command(subcommand)]
    Backup(crate::backup_cli::BackupCommand),
    /// Runbooks and runs on a running Keel over HTTP (--url, --token): run and follow, list,
    /// logs, cancel, approve, import, export
    Ops(crate::ops_cli::OpsArgs),
    /// OpenAPI documents: `keel api diff OLD NEW` gives the semver verdict of a change (exit 1
    /// when it breaks callers)
    #[command(subcommand)]
    Api(crate::api_cli::ApiCommand),
    /// Measure Keel's own throughput and latency
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a shell completion script: `keel completion bash > /etc/bash_completion.d/keel`
    Completion {
        /// The shell: bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT or :PORT (127.0.0.1) [default: 127.0.0.1:8090]; port 0
    /// picks a free port
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Serve HTTPS (TLS, HTTP/2 and HTTP/1.1) on this address instead of plain HTTP; needs
    /// --tls-cert and --tls-key
    #[arg(long, value_name = "ADDR")]
    pub https: Option<String>,
    /// PEM certificate chain for --https (the server's certificate first)
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SuperuserCommand {
    /// Create a superuser, or set the password of an existing one
    Upsert {
        /// The superuser's email address (how they sign in)
        email: String,
        /// Their password: at least 8 characters
        password: String,
    },
    /// Delete a superuser
    Delete {
        /// The superuser's email address
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Enqueue a job and print it as JSON
    Enqueue(EnqueueArgs),
    /// List a queue's jobs, newest first
    List(ListJobsArgs),
    /// Print a job as JSON
    Show {
        /// The job's id
        id: String,
    },
    /// Put a failed, dead, cancelled or completed job back to waiting, with fresh attempts
    Retry {
        /// The job's id
        id: String,
    },
    /// Cancel a waiting, delayed, active or failed job
    Cancel {
        /// The job's id
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The queue (1 to 64 letters, digits, '_' and '-'); created on first use
    pub queue: String,
    /// What the job is, e.g. send-welcome-email [default: default]
    #[arg(long)]
    pub name: Option<String>,
    /// The job's payload as JSON, e.g. '{"to":"a@b.c"}' [default: null]
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// 0 to 9, higher runs first [default: 5]
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Run no earlier than this many milliseconds from now
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub delay_ms: Option<i64>,
    /// Attempts before the job is dead [default: 3]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_attempts: Option<i64>,
    /// While a job with this key is pending in the queue, return it instead of enqueueing
    #[arg(long, value_name = "K")]
    pub unique_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListJobsArgs {
    /// The queue
    pub queue: String,
    /// Only jobs in this state: waiting, delayed, active, completed, failed, dead or cancelled
    #[arg(long)]
    pub state: Option<String>,
    /// Only jobs whose name starts with this (ignoring case)
    #[arg(long, value_name = "PREFIX")]
    pub name: Option<String>,
    /// The page, from 1
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Jobs per page, 1 to 500
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=500))]
    pub per_page: u32,
    /// Print the page as JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QueuesArgs {
    #[command(subcommand)]
    pub command: Option<QueuesCommand>,
    /// Print the queues as JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// Stop workers from taking new jobs of a queue (running jobs finish)
    Pause {
        /// The queue
        queue: String,
        /// Pause a queue that has no job or settings yet (otherwise an unknown queue exits 1)
        #[arg(long)]
        create: bool,
    },
    /// Let workers take jobs of a paused queue again
    Resume {
        /// The queue
        queue: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Every schedule, by name
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// A schedule and its next 5 fire times
    Show {
        /// The schedule's name (or id)
        name: String,
        /// Print JSON (the schedule with an `upcoming` list) instead of text
        #[arg(long)]
        json: bool,
    },
    /// Create a schedule that enqueues a job on a cron timetable, at an interval or once
    Create(CreateScheduleArgs),
    /// Delete a schedule and its run history (the jobs it enqueued stay)
    Delete {
        /// The schedule's name (or id)
        name: String,
    },
    /// Stop a schedule from firing
    Pause {
        /// The schedule's name (or id)
        name: String,
    },
    /// Let a paused schedule fire again
    Resume {
        /// The schedule's name (or id)
        name: String,
    },
    /// Enqueue the schedule's job now, outside its timetable
    Trigger {
        /// The schedule's name (or id)
        name: String,
    },
    /// The schedule's latest runs, newest first, with their jobs' states
    Runs {
        /// The schedule's name (or id)
        name: String,
        /// How many runs, 1 to 1000
        #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").required(true).args(["cron", "every", "at"])))]
pub struct CreateScheduleArgs {
    /// The schedule's name (1 to 100 letters, digits, '_', '-' and '.')
    pub name: String,
    /// The queue its jobs go to
    #[arg(long)]
    pub queue: String,
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The IANA time zone the cron expression reads, e.g. Europe/Paris [default: UTC]
    #[arg(long, value_name = "TZ", requires = "cron")]
    pub timezone: Option<String>,
    /// An interval, largest unit first, e.g. 30s, 15m, 1h30m, 1d
    #[arg(long, value_name = "DUR")]
    pub every: Option<String>,
    /// One shot at this RFC 3339 time, e.g. 2026-12-01T09:00:00Z
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// The job each tick enqueues, as JSON: name, payload, priority, maxAttempts, … [default: {}]
    #[arg(long, value_name = "JSON")]
    pub job: Option<String>,
    /// Whether a tick may enqueue while the previous tick's job is still pending [default: skip]
    #[arg(long, value_parser = ["skip", "allow"])]
    pub overlap: Option<String>,
    /// What to do about ticks missed while no Keel process ran [default: skip]
    #[arg(long, value_parser = ["skip", "runOnce"])]
    pub catchup: Option<String>,
    /// Create it paused
    #[arg(long)]
    pub paused: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Jobs: single and bulk enqueue throughput and processing throughput of no-op jobs
    Jobs(BenchJobsArgs),
    /// Event bus: publish-to-delivery latency and throughput across two instances
    Bus(BenchBusArgs),
    /// Realtime: commit-to-delivery latency from creates on one `keel serve` to SSE clients
    /// on another
    Realtime(BenchRealtimeArgs),
    /// Webhooks: deliveries per second and create-to-delivery latency from one `keel serve`
    /// to a receiver in the bench process
    Webhooks(BenchWebhooksArgs),
    /// Ops: Keel's overhead per runbook step (100 sequential http.request steps) and, with
    /// --ssh, one ssh.exec fanned out to 50 targets against the slowest single target
    Ops(BenchOpsArgs),
    /// Search: index throughput and query latency of a search provider (or SQLite FTS5) on
    /// generated short documents
    Search(BenchSearchArgs),
}

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// The search provider: embedded (tantivy, in a temporary directory), postgres (a fresh
    /// database per run, dropped afterwards) or fts5 (SQLite's FTS5 in a temporary file,
    /// without Keel: the floor)
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "postgres", "fts5"])]
    pub engine: String,
    /// PostgreSQL server URL for `--engine postgres` [default: `[engines] postgres_url`]
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Documents generated and indexed (a title of 3-8 words and a paragraph of 20-60)
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub docs: u64,
    /// Documents per upsert call (per transaction on fts5)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,
    /// Concurrent query clients
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub clients: u64,
    /// Measured queries in all, instead of --duration
    #[arg(long, value_name = "N", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub queries: Option<u64>,
    /// Seconds of measured queries [default: 30]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub duration: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BenchOpsArgs {
    /// Measured runs of the 100-step runbook (after one warm-up run)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub runs: u64,
    /// An SSH server for the fan-out, HOST:PORT (without it the fan-out is skipped)
    #[arg(long, value_name = "HOST:PORT", requires_all = ["ssh_user", "ssh_key"])]
    pub ssh: Option<String>,
    /// The user to sign in as on --ssh
    #[arg(long, value_name = "U")]
    pub ssh_user: Option<String>,
    /// That user's private key (OpenSSH or PEM, without a passphrase)
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// The command fanned out
    #[arg(long, default_value = "true")]
    pub command: String,
}

#[derive(Debug, Args)]
pub struct BenchWebhooksArgs {
    /// Where the records (and, on postgres, the jobs) live; postgres: a fresh database per run
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    pub engine: String,
    /// PostgreSQL server URL for `--engine postgres` [default: `[engines] postgres_url`]
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Webhook endpoints, each receiving every create
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub endpoints: u64,
    /// Creates per second (steady mode)
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub rate: u64,
    /// Seconds of steady creates
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub duration: u64,
    /// Instead of a steady rate: N creates as fast as --concurrency clients can make them
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub burst: Option<u64>,
    /// Concurrent clients in --burst mode
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Seconds to wait for the remaining deliveries after the last create was answered
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub drain: u64,
}

#[derive(Debug, Args)]
pub struct BenchRealtimeArgs {
    /// Where the records live (shared by both processes; a fresh database per run)
    #[arg(long, default_value = "postgres", value_parser = ["postgres"])]
    pub data_engine: String,
    /// The event bus between the two processes
    #[arg(long, default_value = "postgres", value_parser = ["postgres", "redis", "nats"])]
    pub bus: String,
    /// PostgreSQL server URL [default: `[engines] postgres_url`]
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Redis URL for `--bus redis` [default: `[engines] redis_url`]
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// NATS URL for `--bus nats` [default: `[engines] nats_url`]
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// SSE realtime clients on B
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    pub subscribers: u64,
    /// Records created on A
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub creates: u64,
    /// Creates per second
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub rate: u64,
    /// Base URL of a running process A (with --b: no processes are started)
    #[arg(long, value_name = "URL", requires = "b")]
    pub a: Option<String>,
    /// Base URL of a running process B, on the same engines as A
    #[arg(long, value_name = "URL", requires = "a")]
    pub b: Option<String>,
    /// With --a/--b: a superuser's email on those processes
    #[arg(long, env = "KEEL_BENCH_EMAIL", default_value = "")]
    pub email: String,
    /// With --a/--b: that superuser's password
    #[arg(long, env = "KEEL_BENCH_PASSWORD", default_value = "", hide_env_values = true)]
    pub password: String,
}

#[derive(Debug, Args)]
pub struct BenchBusArgs {
    /// The bus provider
    #[arg(long, default_value = "local", value_parser = ["local", "postgres", "redis", "nats"])]
    pub provider: String,
    /// The engine's URL [default: its `[engines]` key]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Subscriptions held by the second instance
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub subscribers: u64,
    /// Messages the first instance publishes
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub messages: u64,
    /// Messages per second (0: each as soon as the previous publish returned)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub rate: u64,
    /// Bytes per message (at least the 8 of its timestamp)
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(8..=1_048_576))]
    pub payload: u64,
    /// Internal: run as the subscriber process of a run (started by the publisher)
    #[arg(long, hide = true)]
    pub subscriber: bool,
    /// Internal: the run's `[events] channel` (given to the subscriber process)
    #[arg(long, hide = true)]
    pub channel: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchJobsArgs {
    /// The engine the jobs live on (embedded: a fresh temporary directory)
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "postgres", "redis", "nats"])]
    pub engine: String,
    /// The engine's URL [default: its `[engines]` key]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// What to measure: `store`, the jobs store the HTTP API serves (embedded, postgres), or
    /// `queue`, jobs on the queue provider (every engine) [default: store where it exists]
    #[arg(long, value_parser = ["store", "queue"])]
    pub via: Option<String>,
    /// No-op jobs in each phase
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub jobs: u64,
    /// Concurrent enqueuers in the single-enqueue phase, and workers draining the queue
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub concurrency: u64,
    /// Jobs per call in the bulk-enqueue phase
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch: u64,
}
