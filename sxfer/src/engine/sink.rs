//! Where a receiver's bytes go. The pump hands each Data record to a
//! [`Sink`] after the [`Receiver`](sxfer_proto::transfer::Receiver) has
//! checked it; what happens after the Commit (verify, make durable,
//! publish) is the sink's own, called by its owner.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

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

/// A partial file written to the end: open and locked, its length and
/// the BLAKE3 of all of it.
pub struct Written {
    pub file: File,
    pub length: u64,
    pub digest: [u8; 32],
}

/// A local partial file (`.NAME.sxfer-part`) appended to by a blocking
/// thread, which re-reads and hashes any resumed prefix (not assumed) and
/// every [`SYNC_INTERVAL`] has a second thread fsync while writing goes on,
/// so an interrupted download keeps most of its progress.
pub struct PartialFile {
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    writer: tokio::task::JoinHandle<Result<Written>>,
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

    /// All data arrived: waits for the writer; returns the partial file,
    /// still locked, with its length and BLAKE3.
    pub async fn finish(mut self) -> Result<Written> {
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
) -> Result<Written> {
    let mut file = open_locked(partial)?;
    let mut hasher = blake3::Hasher::new();
    if offset > 0 {
        let hashed = std::io::copy(&mut (&mut file).take(offset), &mut hasher)?;
        if hashed != offset {
            bail!("{} changed during the resume", partial.display());
        }
    }
    // Nothing past the verified prefix is kept (from 0: nothing at all).
    file.set_len(offset).with_context(|| format!("truncating {}", partial.display()))?;
    file.seek(SeekFrom::Start(offset))?;
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
    // What is on disk is what was counted and hashed.
    let on_disk = file.metadata().with_context(|| format!("reading {}", partial.display()))?.len();
    if on_disk != length {
        bail!("{} changed while being written", partial.display());
    }
    Ok(Written { file, length, digest: *hasher.finalize().as_bytes() })
}

/// How long a download waits for another one to let go of its partial.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens (creating, not truncating) a partial file for reading and writing
/// and takes an exclusive lock on it, held until the file is closed: two
/// downloads never write one partial at once. A second one waits up to
/// [`LOCK_WAIT`] for the first, then fails.
pub fn open_locked(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => bail!("{} is being written by another download ({e})", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait_for_len(path: &Path, len: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(path).map_or(0, |m| m.len()) < len {
            assert!(Instant::now() < deadline, "the first writer never wrote");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_writer_of_one_partial_waits_and_keeps_only_the_verified_prefix() {
        // A killed download's writer thread may still be appending when
        // the next run resumes from the partial's length; the result must
        // be that prefix plus the new bytes, never a mixture.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".f.sxfer-part");
        let pool = BufferPool::default();
        let mut first = PartialFile::start(&path, 0, pool.clone());
        first.write(Chunk::Owned(vec![1; 1000])).await.unwrap();
        wait_for_len(&path, 1000).await;
        let mut second = PartialFile::start(&path, 1000, pool.clone());
        first.write(Chunk::Owned(vec![2; 500])).await.unwrap();
        drop(first.finish().await.unwrap());
        second.write(Chunk::Owned(vec![3; 100])).await.unwrap();
        let written = second.finish().await.unwrap();
        let expected: Vec<u8> = [vec![1; 1000], vec![3; 100]].concat();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert_eq!(written.length, 1100);
        assert_eq!(written.digest, *blake3::hash(&expected).as_bytes());
    }
}
