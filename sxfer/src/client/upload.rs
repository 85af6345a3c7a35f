//! `sxfer upload`: stream local files to the server.
//!
//! A blocking thread reads and hashes (BLAKE3) each chunk straight into a
//! record buffer; the async side seals it in place and writes it, so disk,
//! hash, cipher and socket overlap. Small files are pipelined (request,
//! data and commit back to back, many files per write, no round trip per
//! file; the server commits them in groups); large ones first ask where to
//! resume.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::mpsc;

use super::{Event, Remote};
use crate::net::record_buffer;
use crate::output::{Output, Progress};
use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::{display_safe, RemoteName};
use sxfer_proto::record::{MAX_PAYLOAD, PAYLOAD_OFFSET};

/// Files up to this size are pipelined without a resume round trip.
pub const SMALL_FILE: u64 = 4 << 20;
const CHUNK: usize = MAX_PAYLOAD;

#[derive(Debug, Clone)]
pub struct Job {
    pub local: PathBuf,
    pub remote: RemoteName,
    pub meta: FileMeta,
}

/// Local metadata as the protocol carries it.
pub fn file_meta(path: &Path) -> Result<FileMeta> {
    let metadata = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a regular file (use -r for directories)", path.display());
    }
    Ok(FileMeta {
        size: metadata.len(),
        mode: metadata.mode() & 0o7777,
        mtime: metadata.mtime(),
        mtime_nanos: u32::try_from(metadata.mtime_nsec()).unwrap_or(0),
    })
}

/// Expand the command line into jobs: files map to `dir/basename` (or to
/// `dest` exactly for a single file), directories (with `-r`) to
/// `dir/basename/relative/path`.
pub fn plan(sources: &[PathBuf], dest: Option<&str>, recursive: bool) -> Result<Vec<Job>> {
    let dest = dest.unwrap_or("");
    let as_dir = dest.is_empty() || dest.ends_with('/') || sources.len() > 1 || sources.iter().any(|s| s.is_dir());
    let prefix = dest.trim_end_matches('/');
    let mut jobs = Vec::new();
    for source in sources {
        let metadata = std::fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
        let base = source
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name (names must be UTF-8)", source.display()))?;
        let remote_base = if as_dir { join(prefix, base) } else { prefix.to_owned() };
        if metadata.is_dir() {
            if !recursive {
                bail!("{} is a directory (use -r)", source.display());
            }
            walk(source, &remote_base, &mut jobs)?;
        } else {
            jobs.push(job(source.clone(), &remote_base)?);
        }
    }
    let mut seen = HashSet::new();
    if let Some(duplicate) = jobs.iter().find(|job| !seen.insert(job.remote.clone())) {
        bail!("two sources would be stored as {}", duplicate.remote);
    }
    Ok(jobs)
}

fn walk(dir: &Path, remote: &str, jobs: &mut Vec<Job>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().with_context(|| format!("{} is not a UTF-8 name", path.display()))?;
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            tracing::warn!(path = %path.display(), "skipping symbolic link");
            eprintln!("sxfer: skipping symbolic link {}", path.display());
        } else if kind.is_dir() {
            walk(&path, &join(remote, name), jobs)?;
        } else if kind.is_file() {
            jobs.push(job(path, &join(remote, name))?);
        }
    }
    Ok(())
}

fn job(local: PathBuf, remote: &str) -> Result<Job> {
    let remote =
        RemoteName::parse(remote).with_context(|| format!("cannot store {} as {remote:?}", local.display()))?;
    let meta = file_meta(&local)?;
    Ok(Job { local, remote, meta })
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// What an upload run achieved.
#[derive(Debug, Default)]
pub struct Uploaded {
    pub entries: Vec<FileEntry>,
    /// Bytes the server already held from earlier attempts (not re-sent).
    pub resumed_bytes: u64,
}

/// Upload every job; returns the committed entries, or the first failure
/// after all results are in. Small files go first, all pipelined; then
/// each large file, after asking where to resume.
pub async fn run(remote: &mut Remote, jobs: &[Job], output: &Output) -> Result<Uploaded> {
    match send_all(remote, jobs, output).await {
        // A pipelining client may be mid-write when the server hangs up:
        // report the server's reason (shutting down, a limit) if it gave one.
        Err(e) => Err(remote.reason_for(e).await),
        uploaded => uploaded,
    }
}

async fn send_all(remote: &mut Remote, jobs: &[Job], output: &Output) -> Result<Uploaded> {
    let total: u64 = jobs.iter().map(|j| j.meta.size).sum();
    let progress = output.progress(total, "upload");
    let mut results = Results::default();
    let (small, large): (Vec<&Job>, Vec<&Job>) = jobs.iter().partition(|job| job.meta.size <= SMALL_FILE);
    send_small(remote, &small, &progress, &mut results, output).await?;
    for job in large {
        let transfer = remote.transfer_id();
        progress.set_message(job.remote.as_str());
        remote.writer.queue(&Message::Upload { transfer, name: job.remote.clone(), meta: job.meta, resume: true })?;
        remote.writer.flush().await?;
        let Some(offset) = wait_ready(remote, transfer, &mut results, output).await? else {
            continue;
        };
        if offset > 0 {
            results.resumed_bytes += offset;
            progress.inc(offset);
            output.note(&format!("resuming {} at byte {offset}", job.remote));
        }
        results.pending.insert(transfer);
        send_file(remote, job, transfer, offset, &progress, &mut results, output).await?;
        // A large file is confirmed before the next one starts.
        remote.writer.flush().await?;
        while results.pending.contains(&transfer) {
            let message = remote.next_message().await?;
            results.handle(message, output)?;
        }
    }
    remote.writer.flush().await?;
    while !results.pending.is_empty() {
        let message = remote.next_message().await?;
        results.handle(message, output)?;
    }
    progress.finish();
    match results.failures.first() {
        Some(first) if results.failures.len() == 1 => Err(anyhow!("{first}")),
        Some(first) => Err(anyhow!("{} of {} uploads failed; first: {first}", results.failures.len(), jobs.len())),
        None => Ok(Uploaded { entries: results.committed, resumed_bytes: results.resumed_bytes }),
    }
}

/// Files read ahead of the sender (each at most `SMALL_FILE`).
const READ_AHEAD: usize = 4;
/// Queued records are written once this much has built up, or when the
/// next file is not read yet.
const FLUSH_AT: usize = 256 << 10;

/// Pipelines small files: a blocking thread reads and hashes each whole
/// file ahead of the sender, which queues request, data and commit for
/// many files into one write. Nothing waits for the server.
async fn send_small(
    remote: &mut Remote,
    jobs: &[&Job],
    progress: &Progress,
    results: &mut Results,
    output: &Output,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Result<(Vec<u8>, [u8; 32])>>(READ_AHEAD);
    let files: Vec<(PathBuf, u64)> = jobs.iter().map(|job| (job.local.clone(), job.meta.size)).collect();
    let reader = tokio::task::spawn_blocking(move || {
        for (path, size) in files {
            if tx.blocking_send(read_small(&path, size)).is_err() {
                return;
            }
        }
    });
    for job in jobs {
        let (data, digest) = rx.recv().await.context("the file reader stopped")??;
        let transfer = remote.transfer_id();
        progress.set_message(job.remote.as_str());
        remote.writer.queue(&Message::Upload { transfer, name: job.remote.clone(), meta: job.meta, resume: false })?;
        for chunk in data.chunks(CHUNK) {
            remote.writer.queue_data(chunk)?;
        }
        remote.writer.queue(&Message::Commit { transfer, length: job.meta.size, digest })?;
        results.pending.insert(transfer);
        progress.inc(job.meta.size);
        if remote.writer.queued() >= FLUSH_AT || rx.is_empty() {
            remote.writer.flush().await?;
            drain(remote, results, output)?;
        }
    }
    remote.writer.flush().await?;
    reader.await.map_err(|e| anyhow!("file reader: {e}"))
}

/// One whole small file and its BLAKE3; it must still be `size` bytes.
fn read_small(path: &Path, size: u64) -> Result<(Vec<u8>, [u8; 32])> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut data = Vec::with_capacity(size as usize);
    file.take(size + 1).read_to_end(&mut data).with_context(|| format!("reading {}", path.display()))?;
    if data.len() as u64 != size {
        bail!("{} changed size while being uploaded", path.display());
    }
    let digest = *blake3::hash(&data).as_bytes();
    Ok((data, digest))
}

/// Handle acknowledgements and pipelined results that have arrived.
fn drain(remote: &mut Remote, results: &mut Results, output: &Output) -> Result<()> {
    while let Some(event) = remote.try_next()? {
        match event {
            Event::Message(message) => results.handle(message, output)?,
            _ => bail!("the server sent data during an upload"),
        }
    }
    Ok(())
}

async fn wait_ready(remote: &mut Remote, transfer: u32, results: &mut Results, output: &Output) -> Result<Option<u64>> {
    loop {
        match remote.next_message().await? {
            Message::UploadReady { transfer: t, offset } if t == transfer => return Ok(Some(offset)),
            Message::Error { transfer: t, message, .. } if t == transfer => {
                results.failures.push(display_safe(&message));
                output.failure(&display_safe(&message));
                return Ok(None);
            }
            other => results.handle(other, output)?,
        }
    }
}

async fn send_file(
    remote: &mut Remote,
    job: &Job,
    transfer: u32,
    offset: u64,
    progress: &Progress,
    results: &mut Results,
    output: &Output,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    let (path, size) = (job.local.clone(), job.meta.size);
    let producer = tokio::task::spawn_blocking(move || read_side(&path, size, offset, tx, &spare));
    while let Some(mut buf) = rx.recv().await {
        let len = (buf.len() - PAYLOAD_OFFSET) as u64;
        remote.writer.send_data(&mut buf).await?;
        spare_tx.send(buf).ok();
        progress.inc(len);
        drain(remote, results, output)?;
    }
    let digest = producer.await.map_err(|e| anyhow!("file reader: {e}"))??;
    remote.writer.queue(&Message::Commit { transfer, length: size, digest })?;
    Ok(())
}

/// Read, hash and hand over chunks with room for the record header. The
/// prefix the server already holds is hashed locally, not re-sent.
fn read_side(
    path: &Path,
    size: u64,
    offset: u64,
    tx: mpsc::Sender<Vec<u8>>,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<[u8; 32]> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    if offset > 0 {
        let copied = std::io::copy(&mut (&mut file).take(offset), &mut hasher)?;
        if copied != offset {
            bail!("{} shrank while being uploaded", path.display());
        }
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut remaining = size - offset;
    while remaining > 0 {
        let len = remaining.min(CHUNK as u64) as usize;
        let mut buf = record_buffer(spare, len);
        file.read_exact(&mut buf[PAYLOAD_OFFSET..])
            .with_context(|| format!("{} shrank while being uploaded", path.display()))?;
        hasher.update(&buf[PAYLOAD_OFFSET..]);
        remaining -= len as u64;
        if tx.blocking_send(buf).is_err() {
            bail!("upload cancelled");
        }
    }
    if file.read(&mut [0u8; 1])? != 0 {
        bail!("{} grew while being uploaded", path.display());
    }
    Ok(*hasher.finalize().as_bytes())
}

#[derive(Default)]
struct Results {
    pending: HashSet<u32>,
    committed: Vec<FileEntry>,
    failures: Vec<String>,
    resumed_bytes: u64,
}

impl Results {
    fn handle(&mut self, message: Message, output: &Output) -> Result<()> {
        match message {
            Message::Ack { .. } => {}
            Message::Committed { transfer, entry } => {
                self.pending.remove(&transfer);
                output.uploaded(&entry);
                self.committed.push(entry);
            }
            Message::Error { transfer, message, .. } if self.pending.remove(&transfer) => {
                let message = display_safe(&message);
                output.failure(&message);
                self.failures.push(message);
            }
            Message::Error { message, .. } => bail!("server: {}", display_safe(&message)),
            other => bail!("unexpected reply during upload: {other:?}"),
        }
        Ok(())
    }
}
