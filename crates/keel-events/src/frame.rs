//! What crosses an engine: one frame per message, `[1][topic length][topic][payload]`, the
//! same bytes on every engine (PostgreSQL carries them base64-encoded, NOTIFY being text).
//!
//! An engine whose messages are smaller than a frame (NATS's `max_payload`) carries it in
//! chunks, `[2][sender][message][frame length][offset][bytes…]`, sent in order by one
//! publisher and put back together by [`Reassembly`].
#![cfg_attr(not(feature = "nats"), allow(dead_code))]

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

/// The largest frame: a tag, the topic's length, the topic, the payload.
pub(crate) const MAX_FRAME: usize = 2 + 200 + keel_core::bus::MAX_PAYLOAD;
const WHOLE: u8 = 1;
const CHUNK: u8 = 2;
/// The bytes in front of a chunk's data: tag, sender, message, frame length, offset.
pub(crate) const CHUNK_HEADER: usize = 1 + 8 + 8 + 4 + 4;

/// The frame of one message (the topic was checked: at most 200 bytes).
pub(crate) fn encode(topic: &str, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + topic.len() + payload.len());
    out.put_u8(WHOLE);
    out.put_u8(u8::try_from(topic.len()).unwrap_or(u8::MAX));
    out.put_slice(topic.as_bytes());
    out.put_slice(payload);
    out.freeze()
}

/// The topic and payload of a whole frame; `None` for anything else.
pub(crate) fn decode(frame: &Bytes) -> Option<(String, Bytes)> {
    let (&tag, rest) = frame.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != WHOLE || rest.len() < usize::from(len) {
        return None;
    }
    let topic = std::str::from_utf8(&rest[..usize::from(len)]).ok()?.to_string();
    Some((topic, frame.slice(2 + usize::from(len)..)))
}

/// `frame` cut into chunks of at most `max` bytes each (header included), or the frame
/// itself when it fits. `max` is larger than [`CHUNK_HEADER`].
pub(crate) fn chunks(frame: Bytes, max: usize, sender: u64, message: u64) -> Vec<Bytes> {
    if frame.len() <= max {
        return vec![frame];
    }
    let room = max.saturating_sub(CHUNK_HEADER).max(1);
    let total = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    frame
        .chunks(room)
        .enumerate()
        .map(|(i, data)| {
            let mut out = BytesMut::with_capacity(CHUNK_HEADER + data.len());
            out.put_u8(CHUNK);
            out.put_u64(sender);
            out.put_u64(message);
            out.put_u32(total);
            out.put_u32(u32::try_from(i * room).unwrap_or(u32::MAX));
            out.put_slice(data);
            out.freeze()
        })
        .collect()
}

/// What one received piece made of the message stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A message, whole.
    Message(String, Bytes),
    /// A chunk was kept; more are coming.
    Pending,
    /// Something was lost or malformed: a message may be missing.
    Lost,
}

/// Chunks being put back together, by sender and message. A chunk that does not continue
/// its message where the last one ended means a chunk was lost: the message is dropped and
/// reported as [`Piece::Lost`].
#[derive(Default)]
pub(crate) struct Reassembly {
    partial: HashMap<(u64, u64), BytesMut>,
}

/// Messages being put back together at once, at most (one per publishing process is usual).
const MAX_PARTIAL: usize = 64;

impl Reassembly {
    pub(crate) fn push(&mut self, piece: Bytes) -> Piece {
        match piece.first() {
            Some(&WHOLE) => match decode(&piece) {
                Some((topic, payload)) => Piece::Message(topic, payload),
                None => Piece::Lost,
            },
            Some(&CHUNK) if piece.len() > CHUNK_HEADER => self.chunk(piece),
            _ => Piece::Lost,
        }
    }

    fn chunk(&mut self, piece: Bytes) -> Piece {
        let mut header = [0u8; CHUNK_HEADER - 1];
        header.copy_from_slice(&piece[1..CHUNK_HEADER]);
        let word = |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().unwrap_or_default());
        let half = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().unwrap_or_default()) as usize;
        let (key, total, offset) = ((word(0), word(8)), half(16), half(20));
        let data = &piece[CHUNK_HEADER..];
        if total > MAX_FRAME || offset + data.len() > total {
            self.partial.remove(&key);
            return Piece::Lost;
        }
        let mut lost = false;
        if offset == 0 {
            // A new message; one left unfinished by the same key lost its tail.
            lost |= self.partial.remove(&key).is_some();
            if self.partial.len() >= MAX_PARTIAL {
                self.partial.clear();
                lost = true;
            }
            self.partial.insert(key, BytesMut::with_capacity(total));
        }
        let Some(buf) = self.partial.get_mut(&key) else {
            return Piece::Lost;
        };
        if buf.len() != offset {
            self.partial.remove(&key);
            return Piece::Lost;
        }
        buf.put_slice(data);
        if buf.len() < total {
            return if lost { Piece::Lost } else { Piece::Pending };
        }
        let frame = self.partial.remove(&key).map(BytesMut::freeze).unwrap_or_default();
        match decode(&frame) {
            Some((topic, payload)) if !lost => Piece::Message(topic, payload),
            _ => Piece::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips() {
        let f = encode("records.users", b"\0{}");
        assert_eq!(decode(&f), Some(("records.users".into(), Bytes::from_static(b"\0{}"))));
        assert_eq!(decode(&Bytes::from_static(&[1, 9, b'a'])), None);
        assert_eq!(decode(&Bytes::new()), None);
    }

    #[test]
    fn chunks_reassemble_and_a_lost_chunk_is_reported() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let frame = encode("t", &payload);
        let parts = chunks(frame.clone(), 1000, 7, 1);
        assert!(parts.len() > 10);
        let mut r = Reassembly::default();
        let (last, init) = parts.split_last().unwrap();
        for p in init {
            assert_eq!(r.push(p.clone()), Piece::Pending);
        }
        assert_eq!(r.push(last.clone()), Piece::Message("t".into(), Bytes::from(payload)));

        let parts = chunks(frame, 1000, 7, 2);
        assert_eq!(r.push(parts[0].clone()), Piece::Pending);
        assert_eq!(r.push(parts[2].clone()), Piece::Lost);
        assert_eq!(
            r.push(encode("small", b"x")),
            Piece::Message("small".into(), Bytes::from_static(b"x"))
        );
    }
}
