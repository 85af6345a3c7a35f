//! Where a receiver's bytes go. The pump hands each Data record to a
//! [`Sink`] after the [`Receiver`](sxfer_proto::transfer::Receiver) has
//! checked it; what happens after the Commit (verify, make durable,
//! publish) is the sink's own, called by its owner.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::mpsc;

use super::{BufferPool, Chunk};

/// Takes a transfer's bytes in order.
pub trait Sink: Send {
    fn write(&mut self, chunk: Chunk<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Bytes durable so far, for the Ack (`None`: nothing new to report).
    fn durable(&mut self) -> Option<u64> {
        None
    }
}

/// Drops what it is given (a refused upload's data).
pub struct Discard;

impl Sink for Discard {
    async fn write(&mut self, _chunk: Chunk<'_>) -> Result<()> {
        Ok(())
    }
}

/// A whole (small) file gathered in memory, hashed at the end.
pub struct Memory {
    pub data: Vec<u8>,
    /// Owned chunks go back here once copied.
    buffers: BufferPool,
}

impl Memory {
    pub fn with_capacity(size: u64, buffers: BufferPool) -> Memory {
        Memory { data: Vec::with_capacity(usize::try_from(size).unwrap_or(0)), buffers }
    }

    /// Length and BLAKE3 of what arrived.
    pub fn digest(&self) -> (u64, [u8; 32]) {
        (self.data.len() as u64, *blake3::hash(&self.data).as_bytes())
    }
}

impl Sink for Memory {
    async fn write(&mut self, chunk: Chunk<'_>) -> Result<()> {
        self.data.extend_from_slice(chunk.bytes());
        if let Chunk::Owned(buf) = chunk {
            self.buffers.recycle(buf);
        }
        Ok(())
    }
}

/// Bytes between background fsyncs of a partial file.
const SYNC_INTERVAL: u64 = 64 << 20;

/// A local partial file (`.NAME.sxfer-part`) appended to by a blocking
/// thread, which re-reads and hashes any resumed prefix (not assumed) and
/// every [`SYNC_INTERVAL`] has a second thread fsync while writing goes on,
/// so an interrupted download keeps most of its progress.
pub struct PartialFile {
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    writer: tokio::task::JoinHandle<Result<(u64, [u8; 32])>>,
    buffers: BufferPool,
}

impl PartialFile {
    /// Starts the writer: from `offset` 0 an existing partial is
    /// truncated; otherwise its first `offset` bytes are kept and hashed.
    /// Written buffers go back to `buffers`.
    pub fn start(path: &Path, offset: u64, buffers: BufferPool) -> PartialFile {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(4);
        let (path, pool) = (path.to_owned(), buffers.clone());
        let writer = tokio::task::spawn_blocking(move || write_partial(&path, offset, rx, &pool));
        PartialFile { chunks: Some(tx), writer, buffers }
    }

    /// All data arrived: waits for the writer; returns the length and
    /// BLAKE3 of the whole partial file.
    pub async fn finish(mut self) -> Result<(u64, [u8; 32])> {
        self.chunks = None;
        self.writer.await.map_err(|e| anyhow!("file writer: {e}"))?
    }
}

impl Sink for PartialFile {
    async fn write(&mut self, chunk: Chunk<'_>) -> Result<()> {
        let buf = chunk.into_owned(&self.buffers);
        // If the writer failed, keep reading to the Commit (so the next
        // pipelined reply is in step); finish() reports its error.
        if let Some(chunks) = &self.chunks {
            chunks.send(buf).await.ok();
        }
        Ok(())
    }
}

fn write_partial(
    partial: &Path,
    offset: u64,
    mut rx: mpsc::Receiver<Vec<u8>>,
    buffers: &BufferPool,
) -> Result<(u64, [u8; 32])> {
    let mut hasher = blake3::Hasher::new();
    if offset > 0 {
        let mut prefix = File::open(partial).with_context(|| format!("opening {}", partial.display()))?;
        let hashed = std::io::copy(&mut (&mut prefix).take(offset), &mut hasher)?;
        if hashed != offset {
            bail!("{} changed during the resume", partial.display());
        }
    }
    // From offset 0 nothing of an existing partial is kept.
    let mut file = OpenOptions::new()
        .create(true)
        .append(offset > 0)
        .write(true)
        .truncate(offset == 0)
        .open(partial)
        .with_context(|| format!("opening {}", partial.display()))?;
    let mut flusher: Option<(std::sync::mpsc::SyncSender<File>, std::thread::JoinHandle<std::io::Result<()>>)> = None;
    let mut length = offset;
    let mut since_sync = 0;
    while let Some(chunk) = rx.blocking_recv() {
        file.write_all(&chunk).with_context(|| format!("writing {}", partial.display()))?;
        hasher.update(&chunk);
        length += chunk.len() as u64;
        since_sync += chunk.len() as u64;
        buffers.recycle(chunk);
        if since_sync >= SYNC_INTERVAL {
            let (flush, _) = flusher.get_or_insert_with(|| {
                let (flush, flushes) = std::sync::mpsc::sync_channel::<File>(1);
                (flush, std::thread::spawn(move || flushes.into_iter().try_for_each(|file| file.sync_data())))
            });
            if flush.try_send(file.try_clone()?).is_ok() {
                since_sync = 0;
            }
        }
    }
    if let Some((flush, thread)) = flusher {
        drop(flush);
        thread.join().map_err(|_| anyhow!("the fsync thread panicked"))?.context("fsync")?;
    }
    Ok((length, *hasher.finalize().as_bytes()))
}
