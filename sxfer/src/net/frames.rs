//! A receive buffer that yields complete frames from an async stream.
//!
//! Records are opened in place in this buffer. It starts small, large
//! enough for any hello frame or authentication record, so an idle or
//! unauthenticated connection costs 16 KiB; the first frame that does not
//! fit grows it to hold two maximum records and a read chunk, and from then
//! on it compacts only when the next frame would not fit.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt};

use sxfer_proto::record::{FRAME_HEADER_LEN, MAX_HANDSHAKE_BODY, MAX_RECORD_BODY};

/// Capacity until a larger frame arrives: one maximum hello frame (the
/// authentication records are bounded by the same maximum).
pub const INITIAL_CAPACITY: usize = FRAME_HEADER_LEN + MAX_HANDSHAKE_BODY;
const READ_CHUNK: usize = 256 * 1024;
/// Capacity after growing: room to read ahead while a maximum record is
/// still being opened.
pub const GROWN_CAPACITY: usize = 2 * (FRAME_HEADER_LEN + MAX_RECORD_BODY) + READ_CHUNK;

pub struct FrameBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameBuffer {
    fn default() -> Self {
        FrameBuffer { buf: vec![0; INITIAL_CAPACITY], start: 0, end: 0 }
    }
}

impl FrameBuffer {
    /// Read until `frame_len` finds a complete frame at the front; returns
    /// its length, or `None` on a clean end of stream between frames. The
    /// idle timeout applies to each read.
    pub async fn fill<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        stream: &mut R,
        frame_len: impl Fn(&[u8]) -> sxfer_proto::Result<Option<usize>>,
        idle: Duration,
    ) -> Result<Option<usize>> {
        loop {
            if let Some(len) = frame_len(&self.buf[self.start..self.end])? {
                return Ok(Some(len));
            }
            self.make_room();
            let read = tokio::time::timeout(idle, stream.read(&mut self.buf[self.end..]))
                .await
                .context("connection idle for too long")?
                .context("reading from the connection")?;
            if read == 0 {
                if self.start == self.end {
                    return Ok(None);
                }
                bail!("connection closed in the middle of a record");
            }
            self.end += read;
        }
    }

    /// Like `fill`, but the stream ending here is an error saying `when`.
    pub async fn require<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        stream: &mut R,
        frame_len: impl Fn(&[u8]) -> sxfer_proto::Result<Option<usize>>,
        idle: Duration,
        when: &str,
    ) -> Result<usize> {
        self.fill(stream, frame_len, idle).await?.with_context(|| format!("the peer closed the connection {when}"))
    }

    /// True if a complete frame is already buffered: reading it will not
    /// wait for the stream.
    pub fn has_frame(&self, frame_len: impl Fn(&[u8]) -> sxfer_proto::Result<Option<usize>>) -> bool {
        matches!(frame_len(&self.buf[self.start..self.end]), Ok(Some(_)))
    }

    /// The frame `fill` found, for opening in place.
    pub fn frame_mut(&mut self, len: usize) -> &mut [u8] {
        &mut self.buf[self.start..self.start + len]
    }

    pub fn consume(&mut self, len: usize) {
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Everything buffered and not consumed, taken out: the buffer is
    /// empty afterwards.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let taken = self.buf[self.start..self.end].to_vec();
        self.start = 0;
        self.end = 0;
        taken
    }

    /// Bytes the buffer holds (its allocation), for tests and measurements.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Make sure the incomplete frame at the front fits and there is room to
    /// read into. Called only after `frame_len` accepted the declared length,
    /// so the frame is at most one maximum record.
    fn make_room(&mut self) {
        let pending = &self.buf[self.start..self.end];
        let wanted = match pending.get(..FRAME_HEADER_LEN) {
            Some(header) => {
                FRAME_HEADER_LEN + u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize
            }
            None => FRAME_HEADER_LEN,
        };
        let grown = self.buf.len() >= GROWN_CAPACITY;
        // A grown buffer keeps a maximum record of room after `start`, so
        // bulk data is read in large chunks and compacted rarely.
        let reserve = if grown { FRAME_HEADER_LEN + MAX_RECORD_BODY } else { wanted };
        if self.buf.len() - self.start < reserve || self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < wanted {
            self.buf.resize(GROWN_CAPACITY.max(wanted), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sxfer_proto::handshake::next_record_frame;
    use tokio::io::AsyncWriteExt;

    fn frame(body_len: usize, fill: u8) -> Vec<u8> {
        let mut frame = (body_len as u32).to_be_bytes().to_vec();
        frame.resize(FRAME_HEADER_LEN + body_len, fill);
        frame
    }

    /// Frames of mixed sizes written in odd-sized pieces come out whole and
    /// in order; the buffer stays small until the first large frame.
    #[tokio::test]
    async fn starts_small_and_grows_only_for_a_large_frame() {
        let sizes = [10, 1000, INITIAL_CAPACITY - FRAME_HEADER_LEN, 3, MAX_RECORD_BODY, 70_000, MAX_RECORD_BODY, 1];
        let stream: Vec<u8> = sizes.iter().enumerate().flat_map(|(i, &len)| frame(len, i as u8)).collect();
        let (mut write, mut read) = tokio::io::duplex(4096);
        let writer = tokio::spawn(async move {
            for piece in stream.chunks(7919) {
                write.write_all(piece).await.unwrap();
            }
        });
        let mut buffer = FrameBuffer::default();
        let idle = Duration::from_secs(30);
        for (i, &len) in sizes.iter().enumerate() {
            let got = buffer.require(&mut read, next_record_frame, idle, "in the test").await.unwrap();
            assert_eq!(got, FRAME_HEADER_LEN + len, "frame {i}");
            assert!(buffer.frame_mut(got)[FRAME_HEADER_LEN..].iter().all(|&b| b == i as u8), "frame {i} bytes");
            let small = sizes[..=i].iter().all(|&len| FRAME_HEADER_LEN + len <= INITIAL_CAPACITY);
            let expected = if small { INITIAL_CAPACITY } else { GROWN_CAPACITY };
            assert_eq!(buffer.capacity(), expected, "after frame {i}");
            buffer.consume(got);
        }
        writer.await.unwrap();
        assert_eq!(buffer.fill(&mut read, next_record_frame, idle).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_buffering() {
        let mut header: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        let mut buffer = FrameBuffer::default();
        assert!(buffer.fill(&mut header, next_record_frame, Duration::from_secs(1)).await.is_err());
        assert_eq!(buffer.capacity(), INITIAL_CAPACITY);
    }
}
