//! Where a command's output goes while it runs.

use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

/// Which of a command's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One piece of output, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: OutputStream,
    pub data: Bytes,
}

/// Receives a command's output as it arrives (the run engine stores it and publishes it for
/// live tails). A slow sink slows the reading of the command's output, never loses it.
#[async_trait]
pub trait OutputSink: Send + Sync {
    async fn chunk(&self, stream: OutputStream, data: Bytes);
}

/// Forwards chunks to a channel; a closed receiver drops them (the command still runs to
/// its end).
#[async_trait]
impl OutputSink for tokio::sync::mpsc::Sender<OutputChunk> {
    async fn chunk(&self, stream: OutputStream, data: Bytes) {
        let _ = self.send(OutputChunk { stream, data }).await;
    }
}

/// Keeps every chunk in memory, in arrival order: for short commands and tests.
#[derive(Debug, Default)]
pub struct CollectSink {
    chunks: Mutex<Vec<OutputChunk>>,
}

impl CollectSink {
    pub fn new() -> CollectSink {
        CollectSink::default()
    }

    /// Every chunk so far, in arrival order.
    pub fn chunks(&self) -> Vec<OutputChunk> {
        self.chunks.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// One stream's bytes so far, joined, as text (invalid UTF-8 replaced).
    pub fn text(&self, stream: OutputStream) -> String {
        let bytes: Vec<u8> = self
            .chunks()
            .into_iter()
            .filter(|c| c.stream == stream)
            .flat_map(|c| c.data.to_vec())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn stdout(&self) -> String {
        self.text(OutputStream::Stdout)
    }

    pub fn stderr(&self) -> String {
        self.text(OutputStream::Stderr)
    }
}

#[async_trait]
impl OutputSink for CollectSink {
    async fn chunk(&self, stream: OutputStream, data: Bytes) {
        if let Ok(mut chunks) = self.chunks.lock() {
            chunks.push(OutputChunk { stream, data });
        }
    }
}
