//! `keel bench search --engine embedded|postgres|fts5 --docs N --clients C (--queries N |
//! --duration S) --batch B`: index throughput and query latency of a search provider on N
//! generated short documents (`bench_search/corpus.rs`: the same documents on every engine).
//!
//! - `embedded`: the tantivy provider in a temporary directory (removed at the end);
//! - `postgres`: the PostgreSQL provider in a fresh database on `--postgres-url` (dropped at
//!   the end);
//! - `fts5`: SQLite's FTS5 in a temporary file, without Keel (`bench_search/fts5.rs`): the
//!   floor to beat.
//!
//! The providers are driven through keel-core's `SearchIndex` contract, as the records and
//! the free-standing indexes use them: one index `bench` with `title` (weight 3) and `body`
//! (weight 1), English.
//!
//! 1. **Index**: the documents are upserted in batches of B, one call after the other; each
//!    call (an upsert, then a sync as the free-standing indexes' API makes) returns once its
//!    documents are committed and searchable. `index_secs` adds up the
//!    time spent in those calls (making the documents is not counted), `index_docs_per_s` is
//!    N over it. On PostgreSQL, `ANALYZE` runs after this phase (not timed), as autovacuum
//!    would on a loaded table.
//! 2. **Query**: C concurrent clients each send one query after another, kinds in turn
//!    (`words`, `prefix`, `phrase`, `typo`: see the corpus), asking for the best 20 matches,
//!    until `--queries` queries in all or `--duration` seconds (30 by default). Four queries
//!    per client warm up first, not measured. Latency is each call's time in this process.
//!
//! Prints one figure per line on stdout: `docs`, `index_secs`, `index_docs_per_s`,
//! `index_mb` (the index's size on disk, or the database's on PostgreSQL), `queries`,
//! `queries_per_s`, `query_p50_ms`, `query_p99_ms`, `query_max_ms`, per kind
//! `query_<kind>_p50_ms`/`_p99_ms`, and `queries_without_hits` (in all and per kind).

mod corpus;
mod fts5;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keel_core::config::Config;
use keel_core::search::{Language, SearchDocument, SearchIndex, SearchQuery, SearchSettings};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::bench_bus::percentile;
use crate::bench_realtime::{create_database, drop_database};
use crate::cli::BenchSearchArgs;
use corpus::{BenchQuery, Corpus, Doc, Kind};

/// The index's name on the providers.
const INDEX: &str = "bench";
/// Matches asked for per query.
const TOP: usize = 20;
/// Seconds of queries when neither --queries nor --duration is given.
const DEFAULT_DURATION: u64 = 30;
/// Unmeasured queries per client before the measured ones.
const WARMUP_PER_CLIENT: u64 = 4;

/// The engine under test.
enum Target {
    Provider(Arc<dyn SearchIndex>),
    Fts5(fts5::Fts5),
}

/// A query ready for its engine.
enum Prepared {
    Provider(SearchQuery),
    Fts5(String),
}

impl Target {
    async fn index(&self, batch: Vec<(u64, Doc)>) -> anyhow::Result<()> {
        match self {
            Target::Provider(p) => {
                let docs = batch
                    .into_iter()
                    .map(|(i, d)| SearchDocument {
                        id: format!("d{i}"),
                        fields: BTreeMap::from([("title".to_string(), d.title), ("body".to_string(), d.body)]),
                        ..Default::default()
                    })
                    .collect();
                p.upsert(INDEX, docs).await?;
                // As the free-standing indexes' API does: durable before it answers.
                p.sync(INDEX).await?;
            }
            Target::Fts5(f) => f.insert(&batch).await?,
        }
        Ok(())
    }

    fn prepare(&self, q: &BenchQuery) -> anyhow::Result<Prepared> {
        Ok(match self {
            Target::Provider(_) => Prepared::Provider(
                SearchQuery::parse(&q.keel).with_context(|| format!("the generated query {:?}", q.keel))?,
            ),
            Target::Fts5(_) => Prepared::Fts5(q.fts5.clone()),
        })
    }

    /// The best [`TOP`] matches of `q`: how many there were.
    async fn search(&self, q: &Prepared) -> anyhow::Result<usize> {
        match (self, q) {
            (Target::Provider(p), Prepared::Provider(q)) => Ok(p.search(INDEX, q, TOP).await?.len()),
            (Target::Fts5(f), Prepared::Fts5(q)) => f.search(q, TOP as u32).await,
            _ => anyhow::bail!("a query prepared for another engine"),
        }
    }
}

/// What the run made, to remove at the end.
#[derive(Default)]
struct Scratch {
    dir: Option<PathBuf>,
    /// The admin URL and name of the fresh database.
    database: Option<(String, String)>,
}

impl Scratch {
    async fn remove(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                eprintln!("keel bench: could not remove {}: {e}", dir.display());
            }
        }
        if let Some((admin, name)) = self.database.take() {
            if let Err(e) = drop_database(&admin, &name).await {
                eprintln!("keel bench: could not drop the bench database {name}: {e}");
            }
        }
    }
}

fn random_suffix() -> String {
    keel_core::id::random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789")
}

pub async fn run(cfg: &Config, args: BenchSearchArgs) -> anyhow::Result<()> {
    let mut scratch = Scratch::default();
    let outcome = measure(cfg, &args, &mut scratch).await;
    scratch.remove().await;
    let figures = outcome?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = match args.queries {
        Some(n) => format!("{n} queries"),
        None => format!("{} s of queries", args.duration.unwrap_or(DEFAULT_DURATION)),
    };
    eprintln!(
        "keel bench search: engine {}, {} documents in batches of {}, {load} from {} clients (top {TOP}), {cores} cores",
        args.engine, args.docs, args.batch, args.clients
    );
    print!("{figures}");
    Ok(())
}

fn bytes_under(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.filter_map(Result::ok).map(|e| bytes_under(&e.path())).sum())
        .unwrap_or(0)
}

async fn open(cfg: &Config, args: &BenchSearchArgs, scratch: &mut Scratch) -> anyhow::Result<(Target, Option<String>)> {
    let settings = SearchSettings {
        fields: BTreeMap::from([("title".to_string(), 3), ("body".to_string(), 1)]),
        language: Language::English,
        filterable: Vec::new(),
    };
    let suffix = random_suffix();
    if args.engine == "postgres" {
        let admin = args
            .postgres_url
            .clone()
            .unwrap_or_else(|| cfg.engines.postgres_url.clone());
        anyhow::ensure!(!admin.is_empty(), "give --postgres-url (or set [engines] postgres_url)");
        let name = format!("bench_search_{suffix}");
        let url = create_database(&admin, &name).await?;
        scratch.database = Some((admin, name));
        let clients = u32::try_from(args.clients).unwrap_or(u32::MAX);
        let engine = keel_sql::postgres::PgEngine::connect(&url, clients.saturating_add(1))
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the bench database: {e}"))?;
        let provider = keel_search::postgres::PostgresSearch::open(Arc::new(engine))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL search provider: {e}"))?;
        if !provider.capabilities().typo_tolerance {
            eprintln!("keel bench search: pg_trgm is not available: typo tolerance is off");
        }
        provider.ensure(INDEX, &settings).await?;
        return Ok((Target::Provider(provider), Some(url)));
    }
    let dir = std::env::temp_dir().join(format!("keel-bench-search-{suffix}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    scratch.dir = Some(dir.clone());
    let target = if args.engine == "fts5" {
        let clients = u32::try_from(args.clients).unwrap_or(u32::MAX);
        Target::Fts5(fts5::Fts5::open(&dir.join("fts5.db"), clients).await?)
    } else {
        let provider = keel_search::embedded::EmbeddedSearch::new(dir.join("search"))
            .map_err(|e| anyhow::anyhow!("cannot open the embedded search provider: {e}"))?;
        provider.ensure(INDEX, &settings).await?;
        Target::Provider(provider)
    };
    Ok((target, None))
}

async fn measure(cfg: &Config, args: &BenchSearchArgs, scratch: &mut Scratch) -> anyhow::Result<String> {
    let (target, pg_url) = open(cfg, args, scratch).await?;
    let corpus = Arc::new(Corpus::new());

    // 1. Index.
    let mut index_secs = 0.0;
    let mut next = 0;
    while next < args.docs {
        let end = (next + args.batch).min(args.docs);
        let batch: Vec<(u64, Doc)> = (next..end).map(|i| (i, corpus.document(i))).collect();
        let started = Instant::now();
        target
            .index(batch)
            .await
            .with_context(|| format!("indexing documents {next}..{end} failed"))?;
        index_secs += started.elapsed().as_secs_f64();
        next = end;
    }
    let index_bytes = match &pg_url {
        Some(url) => analyze(url).await?,
        None => scratch.dir.as_deref().map_or(0, bytes_under),
    };

    // 2. Query.
    let target = Arc::new(target);
    run_clients(&target, &corpus, args, WARMUP_PER_CLIENT * args.clients, None, 1 << 32).await?;
    let (limit, deadline) = match args.queries {
        Some(n) => (n, None),
        None => (
            u64::MAX,
            Some(Instant::now() + Duration::from_secs(args.duration.unwrap_or(DEFAULT_DURATION))),
        ),
    };
    let started = Instant::now();
    let timings = run_clients(&target, &corpus, args, limit, deadline, 0).await?;
    let query_secs = started.elapsed().as_secs_f64();
    let target = Arc::into_inner(target).context("a query client outlived the run")?;
    match target {
        Target::Provider(p) => p.close().await?,
        Target::Fts5(f) => f.close().await,
    }
    Ok(figures(args.docs, index_secs, index_bytes, &timings, query_secs))
}

/// `ANALYZE`s the bench database; its size in bytes.
async fn analyze(url: &str) -> anyhow::Result<u64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(u64::try_from(size).unwrap_or(0))
}

/// One measured query: its kind, its latency in µs, whether it found anything.
type Timing = (Kind, u64, bool);

/// Runs `args.clients` clients until `limit` queries in all were sent or `deadline` passed.
/// Client c draws its queries from a generator seeded by `seed + c`.
async fn run_clients(
    target: &Arc<Target>,
    corpus: &Arc<Corpus>,
    args: &BenchSearchArgs,
    limit: u64,
    deadline: Option<Instant>,
    seed: u64,
) -> anyhow::Result<Vec<Timing>> {
    let sent = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..args.clients {
        let (target, corpus, sent) = (target.clone(), corpus.clone(), sent.clone());
        let docs = args.docs;
        clients.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed + c);
            let mut timings = Vec::new();
            let mut kinds = Kind::ALL.iter().cycle().skip(c as usize % Kind::ALL.len());
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) || sent.fetch_add(1, Ordering::Relaxed) >= limit {
                    return Ok::<_, anyhow::Error>(timings);
                }
                let kind = *kinds.next().unwrap_or(&Kind::Words);
                let query = corpus.query(&mut rng, kind, docs);
                let prepared = target.prepare(&query)?;
                let started = Instant::now();
                let hits = target.search(&prepared).await?;
                timings.push((kind, started.elapsed().as_micros() as u64, hits > 0));
            }
        }));
    }
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await.context("a query client panicked")??);
    }
    Ok(all)
}

fn figures(docs: u64, index_secs: f64, index_bytes: u64, timings: &[Timing], query_secs: f64) -> String {
    let per_s = |n: f64, secs: f64| if secs > 0.0 { (n / secs).round() as u64 } else { 0 };
    let ms = |sorted: &[u64], p: f64| percentile(sorted, p).map_or(0.0, |us| us as f64 / 1000.0);
    let mut all: Vec<u64> = timings.iter().map(|t| t.1).collect();
    all.sort_unstable();
    let mut out = format!(
        "docs {docs}\nindex_secs {index_secs:.2}\nindex_docs_per_s {}\nindex_mb {:.1}\n\
         queries {}\nqueries_per_s {}\nquery_p50_ms {:.2}\nquery_p99_ms {:.2}\nquery_max_ms {:.2}\n",
        per_s(docs as f64, index_secs),
        index_bytes as f64 / 1_048_576.0,
        all.len(),
        per_s(all.len() as f64, query_secs),
        ms(&all, 0.50),
        ms(&all, 0.99),
        ms(&all, 1.0),
    );
    for kind in Kind::ALL {
        let mut of_kind: Vec<u64> = timings.iter().filter(|t| t.0 == kind).map(|t| t.1).collect();
        of_kind.sort_unstable();
        out.push_str(&format!(
            "query_{0}_p50_ms {1:.2}\nquery_{0}_p99_ms {2:.2}\n",
            kind.name(),
            ms(&of_kind, 0.50),
            ms(&of_kind, 0.99)
        ));
    }
    let without = timings.iter().filter(|t| !t.2).count();
    out.push_str(&format!("queries_without_hits {without}\n"));
    for kind in Kind::ALL {
        let without = timings.iter().filter(|t| t.0 == kind && !t.2).count();
        out.push_str(&format!("query_{}_without_hits {without}\n", kind.name()));
    }
    out
}
