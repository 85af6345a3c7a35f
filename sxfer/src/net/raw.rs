//! The raw byte stream left on a connection after its session handed it
//! over (a relayed stream, PROTOCOL.md §12): the two halves, and the bytes
//! the session's receive buffer had already read past its last record,
//! which come out first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Result;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::{ReadStream, SessionReader, SessionWriter, WriteStream};

pub struct RawStream {
    read: ReadStream,
    /// Read from the stream before the hand-over; `consumed` of it given out.
    leftover: Vec<u8>,
    consumed: usize,
    write: WriteStream,
}

impl RawStream {
    pub fn new(read: ReadStream, leftover: Vec<u8>, write: WriteStream) -> RawStream {
        RawStream { read, leftover, consumed: 0, write }
    }

    /// What follows `reader` and `writer`'s session on their stream.
    pub async fn after_session(reader: SessionReader, writer: SessionWriter) -> Result<RawStream> {
        let write = writer.into_stream().await?;
        let (read, leftover) = reader.into_stream();
        Ok(RawStream::new(read, leftover, write))
    }

    /// The read half, the bytes to deliver before anything read from it,
    /// and the write half.
    pub fn into_parts(mut self) -> (ReadStream, Vec<u8>, WriteStream) {
        self.leftover.drain(..self.consumed);
        (self.read, self.leftover, self.write)
    }
}

impl AsyncRead for RawStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.consumed < this.leftover.len() {
            let rest = &this.leftover[this.consumed..];
            let len = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..len]);
            this.consumed += len;
            if this.consumed == this.leftover.len() {
                this.leftover = Vec::new();
                this.consumed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for RawStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.write.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn leftover_bytes_come_first_then_the_stream() {
        let (near, mut far) = tokio::io::duplex(64);
        let (read, write) = tokio::io::split(near);
        let mut raw = RawStream::new(Box::new(read), b"left".to_vec(), Box::new(write));
        far.write_all(b"over").await.unwrap();
        let mut got = [0; 3];
        raw.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"lef");
        let mut got = [0; 5];
        raw.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"tover");
        raw.write_all(b"back").await.unwrap();
        let mut got = [0; 4];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"back");
    }

    #[test]
    fn parts_keep_only_what_was_not_read() {
        let (near, _far) = tokio::io::duplex(64);
        let (read, write) = tokio::io::split(near);
        let mut raw = RawStream::new(Box::new(read), b"abc".to_vec(), Box::new(write));
        raw.consumed = 1;
        let (_, leftover, _) = raw.into_parts();
        assert_eq!(leftover, b"bc");
    }
}
