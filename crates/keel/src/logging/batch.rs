//! A log writer that batches lines in memory and writes them to stderr from one thread.
//!
//! Request handlers append their line to a shared buffer (one short lock, no allocation
//! once the buffer has grown) and return. The writer thread wakes when lines arrive, waits
//! up to `LINGER` for more (or until `FLUSH_AT` bytes are waiting), then writes them with
//! one `write` call. A busy server thus makes a few dozen writes and wake-ups a second
//! instead of one per request. A line reaches stderr at most `LINGER` after it was logged;
//! a `kill -9` can lose that much. When stderr cannot keep up and `MAX_PENDING` bytes are
//! waiting, loggers block until the writer has caught up: lines are never dropped.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer waits for more lines after the first one of a batch.
const LINGER: Duration = Duration::from_millis(20);
/// Bytes waiting that make the writer write at once.
const FLUSH_AT: usize = 64 * 1024;
/// Bytes waiting past which loggers block until the writer catches up.
const MAX_PENDING: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writer is waiting for the first line of a batch.
    idle: bool,
    /// The writer is lingering until the batch is full (or `LINGER` has passed).
    lingering: bool,
    /// Loggers waiting for room.
    blocked: usize,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer.
    wake: Condvar,
    /// Wakes loggers blocked on a full buffer.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` for the fmt layer; cheap to clone.
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

/// Flushes what is buffered and stops the writer thread when dropped.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `out` (stderr in production).
pub fn start<W: Write + Send + 'static>(out: W) -> (BatchWriter, Guard) {
    let shared = Arc::new(Shared::default());
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name("keel-log".into())
        .spawn(move || run(&for_thread, out))
        .map_err(|e| eprintln!("keel: cannot start the log writer thread ({e}); logging to stderr directly"))
        .ok();
    if thread.is_none() {
        shared.lock().closed = true;
    }
    (BatchWriter(shared.clone()), Guard { shared, thread })
}

fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::with_capacity(FLUSH_AT);
    loop {
        {
            let mut st = shared.lock();
            while st.pending.is_empty() && !st.closed {
                st.idle = true;
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.idle = false;
            let deadline = Instant::now() + LINGER;
            while st.pending.len() < FLUSH_AT && !st.closed {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                st.lingering = true;
                st = shared.wake.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
            }
            st.lingering = false;
            std::mem::swap(&mut st.pending, &mut batch);
            if st.blocked > 0 {
                shared.room.notify_all();
            }
            if batch.is_empty() && st.closed {
                return;
            }
        }
        // A failed write (stderr closed) has nowhere to be reported; the lines are dropped.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if batch.capacity() > 4 * FLUSH_AT {
            batch.shrink_to(FLUSH_AT);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One event's line, appended to the shared buffer.
pub struct LineWriter<'a>(&'a Shared);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = self.0;
        let mut st = shared.lock();
        if st.closed {
            // No writer thread (it could not start, or the app is exiting): write directly.
            drop(st);
            return std::io::stderr().write(line);
        }
        while st.pending.len() > MAX_PENDING && !st.closed {
            st.blocked += 1;
            st = shared.room.wait(st).unwrap_or_else(|e| e.into_inner());
            st.blocked -= 1;
        }
        st.pending.extend_from_slice(line);
        if st.idle || (st.lingering && st.pending.len() >= FLUSH_AT) {
            st.idle = false;
            st.lingering = false;
            shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Capture as Sink;

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let line = format!("{t} {i}\n");
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0u32; 4];
        for line in text.lines() {
            let (t, i) = line.split_once(' ').unwrap();
            let (t, i): (usize, u32) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "lines of one thread stay in order and none is lost");
            next[t] += 1;
        }
        assert_eq!(next, [5_000; 4]);
    }

    #[test]
    fn a_single_line_is_written_without_waiting_for_the_guard() {
        let sink = Sink::default();
        let (writer, _guard) = start(sink.clone());
        writer.make_writer().write_all(b"hello\n").unwrap();
        // The writer flushes within LINGER; poll (bounded) for it instead of sleeping a guess.
        let until = Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().is_empty() {
            assert!(Instant::now() < until, "the line never reached the output");
            std::thread::yield_now();
        }
        assert_eq!(sink.0.lock().unwrap().as_slice(), b"hello\n");
    }
}
