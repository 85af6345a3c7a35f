//! A receive buffer that yields complete frames from an async stream.
//!
//! Records are opened in place in this buffer; it grows to hold one maximum
//! record and compacts only when the next frame would not fit.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt};

use sxfer_proto::record::{FRAME_HEADER_LEN, MAX_RECORD_BODY};

const READ_CHUNK: usize = 256 * 1024;

pub struct FrameBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameBuffer {
    fn default() -> Self {
        FrameBuffer { buf: vec![0; 2 * (FRAME_HEADER_LEN + MAX_RECORD_BODY) + READ_CHUNK], start: 0, end: 0 }
    }
}

impl FrameBuffer {
    /// Read until `frame_len` finds a complete frame at the front; returns
    /// its length, or `None` on a clean end of stream between frames. The
    /// idle timeout applies to each read.
    pub async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        frame_len: impl Fn(&[u8]) -> sxfer_proto::Result<Option<usize>>,
        idle: Duration,
    ) -> Result<Option<usize>> {
        loop {
            if let Some(len) = frame_len(&self.buf[self.start..self.end])? {
                return Ok(Some(len));
            }
            if self.buf.len() - self.start < FRAME_HEADER_LEN + MAX_RECORD_BODY || self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
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
    pub async fn require<R: AsyncRead + Unpin>(
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
}
