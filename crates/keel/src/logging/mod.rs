//! Structured logs: JSON when stderr is not a terminal, human-readable when it is.

use std::io::IsTerminal;

use keel_core::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

mod batch;
mod json;

/// Flushes buffered log lines when dropped; keep it alive until exit.
pub type LogGuard = batch::Guard;

/// Installs the global subscriber. `RUST_LOG` overrides `log_level`. Lines go to stderr
/// through `batch` (request handling never waits on the terminal or a pipe, and a busy server
/// writes them in batches); keep the returned guard alive until exit so buffered lines are
/// flushed.
pub fn init(cfg: &Config) -> LogGuard {
    let (writer, guard) = batch::start(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    let json = match cfg.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = if json {
        builder
            .fmt_fields(json::SpanFields)
            .event_format(json::JsonLines)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    if let Err(e) = result {
        eprintln!("keel: logging already initialised: {e}");
    }
    guard
}

/// A writer that keeps what it is given, for the logging tests.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Capture(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}
