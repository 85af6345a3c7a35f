//! The server's ends of the transfer engine: a stored blob as a
//! [`Source`] (downloads: a file decrypted from its at-rest age stream, or
//! a drop's ciphertext as stored) and a store upload or a drop's
//! ciphertext as a [`Sink`]. The file side (BLAKE3, age, disk) runs on blocking threads,
//! so record decryption and at-rest encryption overlap on two cores.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::TrySendError;

use anyhow::{anyhow, bail, Result};
use tokio::sync::mpsc;

use crate::engine::{BufferPool, Chunk, Sink, Source};
use crate::store::{BlobRead, Staging, StoreError, SyncPoint};
use sxfer_proto::msgs::FileEntry;

/// The receiver makes its data durable and acknowledges at least this often.
const ACK_INTERVAL: u64 = 32 << 20;

/// A stored file read for a download. A file's every 64 KiB chunk is
/// authenticated by age as it is read (`store::Download`); from offset 0
/// the length and digest are checked against the recorded ones as well.
pub struct BlobSource {
    blob: Box<dyn BlobRead>,
    digest: [u8; 32],
    hasher: Option<blake3::Hasher>,
}

impl BlobSource {
    pub fn new(blob: Box<dyn BlobRead>, entry: &FileEntry) -> BlobSource {
        BlobSource { blob, digest: entry.digest, hasher: None }
    }
}

/// What the client hears of a damaged stored file; details go to the log.
fn damaged(e: std::io::Error) -> anyhow::Error {
    tracing::error!(error = %e, "reading a stored file failed");
    anyhow!("stored file is damaged (integrity check failed)")
}

impl Source for BlobSource {
    fn seek(&mut self, offset: u64) -> Result<()> {
        self.blob.seek(SeekFrom::Start(offset)).map_err(damaged)?;
        self.hasher = (offset == 0).then(blake3::Hasher::new);
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        if read_full(&mut self.blob, buf).map_err(damaged)? != buf.len() {
            bail!("stored file does not match its recorded length and digest");
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(buf);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<[u8; 32]> {
        let longer = read_full(&mut self.blob, &mut [0u8; 1]).map_err(damaged)? > 0;
        let hashed = self.hasher.take().map(|h| *h.finalize().as_bytes());
        if longer || hashed.is_some_and(|h| h != self.digest) {
            bail!("stored file does not match its recorded length and digest");
        }
        Ok(self.digest)
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The upload's writer thread has stopped (its store error comes from
/// [`UploadSink::finish`]): the data phase stops feeding it.
#[derive(Debug, thiserror::Error)]
#[error("the storage writer stopped")]
pub struct WriterStopped;

/// An upload being written into the store (a file: hashed and
/// age-encrypted into its partial; a drop: hashed into its staged blob)
/// on a blocking thread; every [`ACK_INTERVAL`] a second thread fsyncs
/// while writing goes on and reports the durable offset (the Ack).
pub struct UploadSink<U> {
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    acks: mpsc::UnboundedReceiver<u64>,
    worker: tokio::task::JoinHandle<Result<U, StoreError>>,
    buffers: BufferPool,
}

impl<U: Staging> UploadSink<U> {
    pub fn start(upload: U) -> UploadSink<U> {
        let (chunks, chunks_rx) = mpsc::channel::<Vec<u8>>(8);
        let (acks_tx, acks) = mpsc::unbounded_channel::<u64>();
        let buffers = BufferPool::default();
        let pool = buffers.clone();
        let worker = tokio::task::spawn_blocking(move || write_side(upload, chunks_rx, acks_tx, &pool));
        UploadSink { chunks: Some(chunks), acks, worker, buffers }
    }

    /// All data arrived (or the connection ended): waits for the writer,
    /// which has synced what it wrote, and returns the upload to commit
    /// (or to leave for a resume).
    pub async fn finish(mut self) -> Result<U, StoreError> {
        self.chunks = None;
        self.worker.await.unwrap_or_else(|e| Err(StoreError::Internal(format!("storage writer: {e}"))))
    }
}

impl<U: Staging> Sink for UploadSink<U> {
    async fn write(&mut self, chunk: Chunk<'_>) -> Result<()> {
        let buf = chunk.into_owned(&self.buffers);
        let sent = match &self.chunks {
            Some(chunks) => chunks.send(buf).await.is_ok(),
            None => false,
        };
        if !sent {
            return Err(WriterStopped.into());
        }
        Ok(())
    }

    fn durable(&mut self) -> Option<u64> {
        let mut latest = None;
        while let Ok(durable) = self.acks.try_recv() {
            latest = Some(durable);
        }
        latest
    }
}

/// The blocking half of an upload: write, hash and encrypt. Every
/// `ACK_INTERVAL` a sync point goes to a second thread (started on first
/// need, so small files never pay for it) that fsyncs and reports the
/// durable offset; at most one fsync is in flight. At the end, one more
/// sync so an interrupted upload resumes as late as possible.
fn write_side<U: Staging>(
    mut upload: U,
    mut chunks: mpsc::Receiver<Vec<u8>>,
    acks: mpsc::UnboundedSender<u64>,
    buffers: &BufferPool,
) -> Result<U, StoreError> {
    let mut syncer: Option<Syncer> = None;
    let mut since_sync = 0u64;
    let written = (|| {
        while let Some(chunk) = chunks.blocking_recv() {
            upload.write(&chunk)?;
            since_sync += chunk.len() as u64;
            buffers.recycle(chunk);
            if since_sync >= ACK_INTERVAL {
                let syncer = syncer.get_or_insert_with(|| Syncer::start(acks.clone()));
                // Skipped (and retried at the next chunk) while one is in flight.
                if let Err(TrySendError::Full(_)) = syncer.points.try_send(upload.sync_point()?) {
                    continue;
                }
                since_sync = 0;
            }
        }
        Ok(())
    })();
    let synced = syncer.map_or(Ok(()), Syncer::finish);
    written.and(synced)?;
    upload.sync()?;
    Ok(upload)
}

/// The fsync thread of one upload.
struct Syncer {
    points: std::sync::mpsc::SyncSender<SyncPoint>,
    thread: std::thread::JoinHandle<Result<(), StoreError>>,
}

impl Syncer {
    fn start(acks: mpsc::UnboundedSender<u64>) -> Self {
        let (points, pending) = std::sync::mpsc::sync_channel::<SyncPoint>(1);
        let thread = std::thread::spawn(move || -> Result<(), StoreError> {
            for point in pending {
                acks.send(point.sync()?).ok();
            }
            Ok(())
        });
        Syncer { points, thread }
    }

    fn finish(self) -> Result<(), StoreError> {
        drop(self.points);
        self.thread.join().unwrap_or_else(|_| Err(StoreError::Internal("the fsync thread panicked".into())))
    }
}
