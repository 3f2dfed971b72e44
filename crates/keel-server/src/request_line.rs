//! Leniency for the request line PocketBase accepts and hyper refuses.
//!
//! A filter typed into a shell (`curl '…/records?filter=(views>0)'`) puts `<`, `>`, `"` or a
//! backtick into the URL as they are. Go's server (PocketBase) takes them; hyper answers such a
//! request with a bare 400 before any handler runs. [`FirstLine`] sits between the socket and
//! hyper and percent-encodes exactly those bytes in the request target of a connection's
//! **first** request line (a shell's one-shot request), so the handler sees the query PocketBase
//! would. Later requests on a kept-alive connection pass through untouched (clients that reuse
//! connections are SDKs and browsers, which encode their URLs); hyper still refuses theirs, and
//! `listen` logs why.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The longest first line (request line) buffered for the rewrite; a longer one passes as is.
const MAX_LINE: usize = 16 * 1024;

/// Bytes of a request target that hyper refuses but PocketBase accepts.
fn needs_encoding(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`')
}

/// Where a connection's first request line stands.
#[derive(Debug)]
pub(crate) enum FirstLine {
    /// Bytes read so far, before the first line break.
    Reading(Vec<u8>),
    /// The (rewritten) bytes still to hand to the reader, and how many were handed.
    Serving(Vec<u8>, usize),
    /// Everything else: straight from the socket.
    Passthrough,
}

impl Default for FirstLine {
    fn default() -> Self {
        FirstLine::Reading(Vec::new())
    }
}

impl FirstLine {
    /// Reads from `inner` into `buf`, rewriting the first request line on the way.
    pub(crate) fn poll_read<R: AsyncRead + Unpin>(
        &mut self,
        inner: &mut R,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            match self {
                FirstLine::Passthrough => return Pin::new(inner).poll_read(cx, buf),
                FirstLine::Serving(bytes, at) => {
                    let n = (bytes.len() - *at).min(buf.remaining());
                    buf.put_slice(&bytes[*at..*at + n]);
                    *at += n;
                    if *at == bytes.len() {
                        *self = FirstLine::Passthrough;
                    }
                    return Poll::Ready(Ok(()));
                }
                FirstLine::Reading(acc) => {
                    let mut chunk = [0u8; 4096];
                    let mut read = ReadBuf::new(&mut chunk);
                    match Pin::new(&mut *inner).poll_read(cx, &mut read) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => {}
                    }
                    let filled = read.filled();
                    let eof = filled.is_empty();
                    acc.extend_from_slice(filled);
                    if eof || acc.contains(&b'\n') || acc.len() >= MAX_LINE {
                        let bytes = rewrite(std::mem::take(acc));
                        *self = if bytes.is_empty() {
                            FirstLine::Passthrough
                        } else {
                            FirstLine::Serving(bytes, 0)
                        };
                        if eof && matches!(self, FirstLine::Passthrough) {
                            return Poll::Ready(Ok(()));
                        }
                    }
                }
            }
        }
    }
}

/// `bytes` with the request target of its first line percent-encoded where hyper would refuse
/// it; unchanged when there is no complete line or nothing to encode.
pub(crate) fn rewrite(bytes: Vec<u8>) -> Vec<u8> {
    let Some(line_end) = bytes.iter().position(|&b| b == b'\n') else {
        return bytes;
    };
    let line = &bytes[..line_end];
    let Some(start) = line.iter().position(|&b| b == b' ').map(|i| i + 1) else {
        return bytes;
    };
    let end = line[start..]
        .iter()
        .position(|&b| b == b' ')
        .map_or(line.len(), |i| start + i);
    if !line[start..end].iter().copied().any(needs_encoding) {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    out.extend_from_slice(&bytes[..start]);
    for &b in &bytes[start..end] {
        if needs_encoding(b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&bytes[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_lines_target_is_encoded() {
        let req = b"GET /api/x?filter=(views>0)&q=\"a<b\"&t=`x` HTTP/1.1\r\nX-H: <kept>\r\n\r\n".to_vec();
        let out = String::from_utf8(rewrite(req)).unwrap();
        assert_eq!(
            out,
            "GET /api/x?filter=(views%3E0)&q=%22a%3Cb%22&t=%60x%60 HTTP/1.1\r\nX-H: <kept>\r\n\r\n"
        );
        for same in [
            &b"GET /api/health HTTP/1.1\r\n\r\n"[..],
            b"GET /api/x?filter=(views>0)",
            b"",
            b"garbage>\r\n",
        ] {
            assert_eq!(rewrite(same.to_vec()), same, "{}", String::from_utf8_lossy(same));
        }
    }

    #[tokio::test]
    async fn a_request_split_across_reads_is_rewritten_and_the_rest_passes() {
        use tokio::io::AsyncReadExt;
        let (mut client, server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for part in [
                &b"GET /r?f=(a"[..],
                b">1) HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET /r?f=<2 HTTP/1.1\r\n",
            ] {
                client.write_all(part).await.unwrap();
            }
        });
        struct Reader<R> {
            inner: R,
            first: FirstLine,
        }
        impl<R: AsyncRead + Unpin> AsyncRead for Reader<R> {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let this = &mut *self;
                this.first.poll_read(&mut this.inner, cx, buf)
            }
        }
        let mut reader = Reader {
            inner: server,
            first: FirstLine::default(),
        };
        let mut all = String::new();
        reader.read_to_string(&mut all).await.unwrap();
        writer.await.unwrap();
        assert_eq!(
            all, "GET /r?f=(a%3E1) HTTP/1.1\r\nHost: h\r\n\r\nGET /r?f=<2 HTTP/1.1\r\n",
            "the second request of the connection is left as sent"
        );
    }
}
