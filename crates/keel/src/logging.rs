//! Structured logs: JSON when stderr is not a terminal, human-readable when it is.

use std::io::IsTerminal;

use keel_core::config::Config;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` overrides `log_level`. Lines are written to
/// stderr by a background thread so request handling never waits on the terminal or a pipe,
/// in batches (flushed whenever no line is waiting); keep the returned guard alive until exit
/// so buffered lines are flushed.
pub fn init(cfg: &Config) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(16_384)
        // Buffered: the writer thread drains every queued line into the buffer and flushes
        // once the queue is empty, so a busy server makes one `write` per batch of lines
        // instead of one per line (stderr itself is unbuffered).
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    let json = match cfg.log_format.as_str() {
        "json" => true,
        "pretty" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    if let Err(e) = result {
        eprintln!("keel: logging already initialised: {e}");
    }
    guard
}
