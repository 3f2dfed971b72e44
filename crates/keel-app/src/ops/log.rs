//! A run's log: every piece of output of every step on every target, in the order it arrived,
//! as `_opsRunLogs` rows numbered by `seq` (the cursor `GET /api/ops/runs/{id}/log?after=`
//! pages by), each also published on the event bus as `ops.runs.<run>` for live tails
//! (realtime topic `ops/runs/{id}`): a late subscriber reads what it missed by cursor, then
//! follows. Secret values the run read are replaced by `***` before anything is kept or sent.
//!
//! The log is capped per run ([`LOG_CAP`]): past it, one line says so and later output is not
//! kept (each step's own `stdout`/`stderr` still keep their last [`STEP_CAP`] bytes).
//! Output is cut only between whole UTF-8 characters.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use keel_core::Result;
use keel_data::system::{OPS_RUNS, OPS_RUN_LOGS};
use keel_ops::{OutputSink, OutputStream};
use keel_vault::{Redactor, StreamRedactor};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::rows::{get, insert, patch};
use crate::App;

/// The most output one run keeps in its log (bytes).
pub const LOG_CAP: u64 = 16 * 1024 * 1024;
/// The most of each stream one step on one target keeps in its own row (the tail, bytes).
pub const STEP_CAP: usize = 64 * 1024;
/// Output of a step is kept and sent in pieces of at most about this many bytes...
pub const FLUSH_BYTES: usize = 16 * 1024;
/// ...or at least this often while a step runs (a chatty command costs one row per piece,
/// not one per line it printed).
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
/// The bus topic prefix of runs' live logs and state changes.
pub const TOPIC: &str = "ops.runs.";

struct State {
    seq: i64,
    bytes: u64,
    truncated: bool,
}

/// One run's log.
pub struct RunLog {
    app: App,
    run: String,
    redactor: std::sync::RwLock<(Vec<String>, Redactor)>,
    state: Mutex<State>,
}

impl RunLog {
    /// The log of `run`, continuing after what it holds (a run resumed after an approval).
    pub async fn open(app: &App, run: &str, values: Vec<String>) -> Result<RunLog> {
        let redactor = Redactor::new(&values);
        let row = get(app, OPS_RUNS, run).await?;
        let num = |f: &str| {
            row.as_ref()
                .and_then(|r| r.data.get(f))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        Ok(RunLog {
            app: app.clone(),
            run: run.to_string(),
            redactor: std::sync::RwLock::new((values, redactor)),
            state: Mutex::new(State {
                seq: num("logSeq"),
                bytes: u64::try_from(num("logBytes")).unwrap_or(0),
                truncated: false,
            }),
        })
    }

    /// The redactor of every secret value the run read so far.
    pub fn redactor(&self) -> Redactor {
        self.redactor.read().map(|r| r.1.clone()).unwrap_or_default()
    }

    /// Adds the values of a secret read while the run goes (a target's credential): hidden
    /// from everything written after.
    pub fn add_secret(&self, values: impl IntoIterator<Item = String>) {
        if let Ok(mut r) = self.redactor.write() {
            r.0.extend(values);
            r.1 = Redactor::new(&r.0);
        }
    }

    /// Appends `text` (redacted here) from `step` on `target`'s `stream` (`stdout`, `stderr`,
    /// or `keel` for what the engine itself says).
    pub async fn append(&self, step: &str, target: &str, stream: &str, text: &str) {
        let text = self.redactor().redact(text).into_owned();
        self.append_redacted(step, target, stream, text).await;
    }

    async fn append_redacted(&self, step: &str, target: &str, stream: &str, text: String) {
        if text.is_empty() {
            return;
        }
        let mut st = self.state.lock().await;
        if st.truncated {
            return;
        }
        let (text, stream) = if st.bytes + text.len() as u64 > LOG_CAP {
            st.truncated = true;
            (
                format!("[the run's log reached its cap of {LOG_CAP} bytes: later output is not kept here]\n"),
                "keel",
            )
        } else {
            (text, stream)
        };
        st.seq += 1;
        st.bytes += text.len() as u64;
        let entry =
            json!({"run": self.run, "seq": st.seq, "step": step, "target": target, "stream": stream, "text": text});
        if let Err(e) = insert(&self.app, OPS_RUN_LOGS, entry.clone()).await {
            tracing::warn!(run = %self.run, error = %e, "cannot store a piece of a run's log");
        }
        publish(&self.app, &self.run, json!({"type": "log", "entry": entry})).await;
    }

    /// Records how far the log got on the run's row (so a resumed run continues after it).
    pub async fn save(&self) {
        let st = self.state.lock().await;
        let set = json!({"logSeq": st.seq, "logBytes": st.bytes});
        if let Err(e) = patch(&self.app, OPS_RUNS, &self.run, set).await {
            tracing::warn!(run = %self.run, error = %e, "cannot record a run's log position");
        }
    }
}

/// The output of one step on one target: redacted as a stream (a secret split across two
/// chunks is caught), into the run's log as it arrives, and the last [`STEP_CAP`] bytes of
/// each stream kept for the step's row. What arrives is gathered into pieces of up to
/// [`FLUSH_BYTES`], written by [`StepSink::flush`] (call it every [`FLUSH_EVERY`]) and
/// [`StepSink::finish`] (call it once the command ended).
pub struct StepSink {
    log: Arc<RunLog>,
    step: String,
    target: String,
    inner: std::sync::Mutex<[StreamState; 2]>,
    /// Text not yet in the log, in arrival order (a stream index and its text).
    gathered: std::sync::Mutex<Vec<(usize, String)>>,
}

struct StreamState {
    redactor: StreamRedactor,
    /// Bytes of an incomplete UTF-8 character at the end of what arrived.
    pending: Vec<u8>,
    kept: String,
}

impl StepSink {
    pub fn new(log: Arc<RunLog>, step: &str, target: &str) -> StepSink {
        let state = || StreamState {
            redactor: log.redactor().stream(),
            pending: Vec::new(),
            kept: String::new(),
        };
        let inner = std::sync::Mutex::new([state(), state()]);
        StepSink {
            log,
            step: step.to_string(),
            target: target.to_string(),
            inner,
            gathered: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Adds `text` of stream `index` to what is not yet in the log; answers whether that is
    /// now a piece worth writing.
    fn gather(&self, index: usize, text: String) -> bool {
        let Ok(mut g) = self.gathered.lock() else {
            return false;
        };
        if !text.is_empty() {
            match g.last_mut() {
                Some((i, t)) if *i == index => t.push_str(&text),
                _ => g.push((index, text)),
            }
        }
        g.iter().map(|(_, t)| t.len()).sum::<usize>() >= FLUSH_BYTES
    }

    /// Writes what was gathered to the run's log.
    pub async fn flush(&self) {
        let pieces = match self.gathered.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(_) => return,
        };
        for (index, text) in pieces {
            let name = if index == 0 { "stdout" } else { "stderr" };
            self.log.append_redacted(&self.step, &self.target, name, text).await;
        }
    }

    /// What each stream kept (stdout, stderr).
    pub fn kept(&self) -> (String, String) {
        match self.inner.lock() {
            Ok(s) => (s[0].kept.clone(), s[1].kept.clone()),
            Err(_) => (String::new(), String::new()),
        }
    }

    /// Redacted whole characters of `data` (after what was held back of `stream`); with
    /// `end`, everything held back too.
    fn take_text(&self, index: usize, data: &[u8], end: bool) -> String {
        let Ok(mut all) = self.inner.lock() else {
            return String::new();
        };
        let s = &mut all[index];
        let mut clean = s.redactor.push(data);
        if end {
            clean.extend(s.redactor.finish());
        }
        s.pending.extend_from_slice(&clean);
        let cut = match std::str::from_utf8(&s.pending) {
            Ok(_) => s.pending.len(),
            Err(e) if e.error_len().is_none() && !end => e.valid_up_to(),
            Err(_) => s.pending.len(),
        };
        let whole: Vec<u8> = s.pending.drain(..cut).collect();
        let text = String::from_utf8_lossy(&whole).into_owned();
        s.kept.push_str(&text);
        if s.kept.len() > STEP_CAP {
            let mut from = s.kept.len() - STEP_CAP;
            while !s.kept.is_char_boundary(from) {
                from += 1;
            }
            s.kept.drain(..from);
        }
        text
    }

    /// Flushes what each stream held back (the command ended).
    pub async fn finish(&self) {
        for index in [0, 1] {
            let text = self.take_text(index, &[], true);
            self.gather(index, text);
        }
        self.flush().await;
    }
}

#[async_trait]
impl OutputSink for StepSink {
    async fn chunk(&self, stream: OutputStream, data: Bytes) {
        let index = match stream {
            OutputStream::Stdout => 0,
            OutputStream::Stderr => 1,
        };
        let text = self.take_text(index, &data, false);
        if self.gather(index, text) {
            self.flush().await;
        }
    }
}

/// Publishes `message` for the live followers of `run` (best effort: a follower that missed
/// it reads the log by cursor).
pub async fn publish(app: &App, run: &str, message: Value) {
    let topic = format!("{TOPIC}{run}");
    if let Err(e) = app.bus.publish(&topic, Bytes::from(message.to_string())).await {
        tracing::debug!(run, error = %e, "cannot publish a run's live message");
    }
}
