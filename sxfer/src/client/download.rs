//! `sxfer download`: fetch files into a destination directory.
//!
//! Bytes land in a hidden partial file next to the destination
//! (`.NAME.sxfer-part`); a rerun resumes from its length. The whole file,
//! partial prefix included, is hashed and must match the server's BLAKE3
//! before the partial is fsynced, given its permission bits (never
//! setuid/setgid/sticky) and mtime, and renamed. More bytes than announced
//! are refused as they arrive.
//! Paths are built only from validated name segments, and nothing is
//! written through a symbolic link or outside the destination.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::mpsc;

use super::{BufferPool, Event, Remote};
use crate::durable;
use crate::output::Output;
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, Message};
use sxfer_proto::names::{display_safe, RemoteName};

pub struct Job {
    pub remote: RemoteName,
    /// Final local path, inside the destination directory.
    pub local: PathBuf,
}

/// Where `name` goes under `dest`: its last segment, or with `keep_from`
/// the segments after that many leading ones (recursive downloads).
pub fn local_path(dest: &Path, name: &RemoteName, keep_from: usize) -> Result<PathBuf> {
    let segments: Vec<&str> = name.segments().collect();
    let start = keep_from.min(segments.len() - 1);
    let mut path = dest.to_path_buf();
    for segment in &segments[start..] {
        // RemoteName already excludes '', '.', '..', '/', '\\' and controls.
        path.push(segment);
    }
    Ok(path)
}

/// Download requests kept in flight. The server answers in order, so the
/// replies for the next files are already on their way while one is being
/// written: no round trip per file.
const WINDOW: usize = 32;

/// Download every job into `dest`; returns how many bytes came from
/// partial files of earlier attempts (verified, not re-sent).
pub async fn run(remote: &mut Remote, jobs: &[Job], dest: &Path, force: bool, output: &Output) -> Result<u64> {
    let mut targets = std::collections::HashSet::new();
    for job in jobs {
        check_destination(dest, &job.local, force)?;
        // Two names for one local file would share its partial and race.
        if !targets.insert(job.local.as_path()) {
            bail!("{} and another requested file would both be saved as {}", job.remote, job.local.display());
        }
    }
    let mut failures = Vec::new();
    let mut resumed = 0;
    let mut queue: VecDeque<&Job> = jobs.iter().collect();
    let mut in_flight: VecDeque<Request> = VecDeque::new();
    let mut small = SmallWriter::start(force, *output);
    loop {
        while in_flight.len() < WINDOW {
            let Some(job) = queue.pop_front() else { break };
            in_flight.push_back(request(remote, job, dest)?);
        }
        let Some(request) = in_flight.pop_front() else { break };
        remote.writer.flush().await?;
        let job = request.job;
        match receive(remote, request, force, output).await {
            Ok(Received::Placed(offset)) => resumed += offset,
            Ok(Received::Small(file)) => small.write(file).await?,
            Ok(Received::Stale) => queue.push_back(job),
            Err(e) => {
                let message = format!("{}: {e:#}", job.remote);
                output.failure(&message);
                if remote.is_gone() {
                    // What was verified is still put in place.
                    small.finish().await;
                    return Err(e);
                }
                failures.push(message);
            }
        }
    }
    failures.extend(small.finish().await);
    match failures.len() {
        0 => Ok(resumed),
        1 => Err(anyhow!("{}", failures[0])),
        n => Err(anyhow!("{n} of {} downloads failed; first: {}", jobs.len(), failures[0])),
    }
}

/// Refuse before any transfer: existing targets without --force, and any
/// path component that is a symbolic link or escapes `dest`.
fn check_destination(dest: &Path, local: &Path, force: bool) -> Result<()> {
    let relative =
        local.strip_prefix(dest).map_err(|_| anyhow!("{} is outside {}", local.display(), dest.display()))?;
    let mut at = dest.to_path_buf();
    for component in relative.components() {
        let std::path::Component::Normal(part) = component else {
            bail!("refusing path {}", local.display());
        };
        at.push(part);
        if let Ok(metadata) = fs::symlink_metadata(&at) {
            if metadata.file_type().is_symlink() {
                bail!("refusing to write through the symbolic link {}", at.display());
            }
        }
    }
    if local.exists() && !force {
        bail!("{} exists (use --force to overwrite)", local.display());
    }
    Ok(())
}

/// A download asked for and not yet received.
struct Request<'j> {
    job: &'j Job,
    transfer: u32,
    partial: PathBuf,
    offset: u64,
}

/// Queues the request for `job`, resuming from its partial file if any.
fn request<'j>(remote: &mut Remote, job: &'j Job, dest: &Path) -> Result<Request<'j>> {
    let parent = job.local.parent().unwrap_or(dest).to_path_buf();
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let file_name = job.local.file_name().and_then(|n| n.to_str()).context("destination has no file name")?;
    let partial = parent.join(format!(".{file_name}.sxfer-part"));
    let offset = match fs::symlink_metadata(&partial) {
        Ok(metadata) if metadata.is_file() => metadata.len(),
        Ok(_) => bail!("{} is not a regular file", partial.display()),
        Err(_) => 0,
    };
    let transfer = remote.transfer_id();
    remote.writer.queue(&Message::Download { transfer, name: job.remote.clone(), offset })?;
    Ok(Request { job, transfer, partial, offset })
}

/// What became of one download request.
enum Received {
    /// In place (a large file), with the bytes resumed from a partial.
    Placed(u64),
    /// A small file, verified in memory; the group writer puts it in place.
    Small(SmallFile),
    /// The partial was stale (longer than the stored file) and was
    /// removed: ask again.
    Stale,
}

/// Receives one file.
async fn receive(remote: &mut Remote, request: Request<'_>, force: bool, output: &Output) -> Result<Received> {
    let Request { job, transfer, partial, offset } = request;
    let (entry, start) = match remote.next_message().await? {
        Message::DownloadStart { transfer: t, entry, offset } if t == transfer => (entry, offset),
        Message::Error { transfer: t, code, .. } if t == transfer && code == error_code::BAD_REQUEST && offset > 0 => {
            // The partial is longer than the file now stored (it was
            // replaced): it cannot be a prefix. Start over.
            fs::remove_file(&partial).with_context(|| format!("removing {}", partial.display()))?;
            output.note(&format!("discarding a stale partial download of {}", job.remote));
            return Ok(Received::Stale);
        }
        Message::Error { transfer: t, message, .. } if t == transfer => bail!("{}", display_safe(&message)),
        other => bail!("unexpected reply to a download: {other:?}"),
    };
    if start != offset {
        bail!("server resumed at {start}, asked for {offset}");
    }
    if offset > 0 {
        output.note(&format!("resuming {} at byte {offset}", job.remote));
    }
    let progress = output.progress(entry.meta.size, job.remote.as_str());
    progress.inc(offset);

    if entry.meta.size <= GROUPED_SIZE && offset == 0 {
        // Small: gathered in memory, verified here, written by the group writer.
        let mut data = Vec::with_capacity(entry.meta.size as usize);
        let buffers = remote.buffers();
        let received = receive_data(remote, transfer, &entry, 0, &progress, |bytes| {
            data.extend_from_slice(&bytes);
            buffers.recycle(bytes);
            async { Ok(()) }
        })
        .await;
        progress.finish();
        check_commit(received?, &entry)?;
        if blake3::hash(&data) != blake3::Hash::from_bytes(entry.digest) {
            bail!("downloaded bytes do not match the server's digest; run again");
        }
        return Ok(Received::Small(SmallFile { partial, local: job.local.clone(), entry, data }));
    }

    let (tx, rx) = mpsc::channel::<Vec<u8>>(4);
    let (path, buffers) = (partial.clone(), remote.buffers());
    let writer = tokio::task::spawn_blocking(move || write_side(&path, offset, rx, &buffers));
    // If the writer failed, read on to the Commit (so the next pipelined
    // reply is in step); its error is reported below.
    let sink = &tx;
    let received = receive_data(remote, transfer, &entry, offset, &progress, |bytes| async move {
        sink.send(bytes).await.ok();
        Ok(())
    })
    .await;
    drop(tx);
    let written = writer.await.map_err(|e| anyhow!("file writer: {e}"))?;
    progress.finish();
    let length = check_commit(received?, &entry)?;
    let (written_len, local_digest) = written?;
    if written_len != length || local_digest != entry.digest {
        fs::remove_file(&partial).ok();
        bail!("downloaded bytes do not match the server's digest; the partial file was removed, run again");
    }
    finish(&partial, &job.local, &entry, force)?;
    output.downloaded(&entry, &job.local);
    Ok(Received::Placed(offset))
}

/// Reads one download's Data records up to its Commit, handing each to
/// `sink`; returns the Commit's length and digest. More bytes than
/// announced are refused as they arrive: a hostile server must not be able
/// to fill the disk.
async fn receive_data<F, Fut>(
    remote: &mut Remote,
    transfer: u32,
    entry: &FileEntry,
    offset: u64,
    progress: &crate::output::Progress,
    mut sink: F,
) -> Result<(u64, [u8; 32])>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut expected_rest = entry.meta.size - offset;
    loop {
        match remote.next().await? {
            Event::Data(bytes) => {
                let Some(rest) = expected_rest.checked_sub(bytes.len() as u64) else {
                    bail!("the server sent more than the announced {} bytes", entry.meta.size);
                };
                expected_rest = rest;
                progress.inc(bytes.len() as u64);
                sink(bytes).await?;
            }
            Event::Message(Message::Commit { transfer: t, length, digest }) if t == transfer => {
                return Ok((length, digest));
            }
            Event::Message(Message::Error { message, .. }) => bail!("server: {}", display_safe(&message)),
            other => bail!("unexpected event during a download: {other:?}"),
        }
    }
}

/// The Commit must repeat what the DownloadStart announced.
fn check_commit((length, digest): (u64, [u8; 32]), entry: &FileEntry) -> Result<u64> {
    if length != entry.meta.size || digest != entry.digest {
        bail!("the server's commit disagrees with the file it announced");
    }
    Ok(length)
}

/// Bytes between background fsyncs of the partial file.
const SYNC_INTERVAL: u64 = 64 << 20;

/// Append chunks to the partial file; return its length and the BLAKE3 of
/// all of it (prefix re-read and hashed, not assumed). Every
/// `SYNC_INTERVAL` a second thread (started on first need, so small files
/// never pay for it) fsyncs while writing goes on, so an interrupted
/// download keeps most of its progress and the fsync in [`finish`] has
/// little left to do.
fn write_side(
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

/// A small download, verified, not yet on disk.
struct SmallFile {
    partial: PathBuf,
    local: PathBuf,
    entry: FileEntry,
    data: Vec<u8>,
}

/// Files up to this size are received into memory, then written and put
/// in place by one thread in groups of up to [`GROUP`]: one durability
/// round for the group ([`durable::Watch`]) instead of two fsyncs
/// per file, and no wait for the disk between files.
const GROUPED_SIZE: u64 = super::upload::SMALL_FILE;
const GROUP: usize = 256;
/// Small files queued for the writer (each at most `GROUPED_SIZE`).
const WRITE_AHEAD: usize = 4;

/// The group writer: a blocking thread that writes small files to their
/// partials and puts each group in place.
struct SmallWriter {
    /// The queue to the thread and the thread, once the first file came.
    running: Option<(mpsc::Sender<SmallFile>, tokio::task::JoinHandle<Vec<String>>)>,
    force: bool,
    output: Output,
}

impl SmallWriter {
    fn start(force: bool, output: Output) -> SmallWriter {
        SmallWriter { running: None, force, output }
    }

    async fn write(&mut self, file: SmallFile) -> Result<()> {
        let (force, output) = (self.force, self.output);
        let (files, _) = self.running.get_or_insert_with(|| {
            let (files, received) = mpsc::channel::<SmallFile>(WRITE_AHEAD);
            (files, tokio::task::spawn_blocking(move || write_groups(received, force, output)))
        });
        files.send(file).await.map_err(|_| anyhow!("the file writer stopped"))
    }

    /// Waits until every file is in place; returns the failures.
    async fn finish(self) -> Vec<String> {
        match self.running {
            Some((files, thread)) => {
                drop(files);
                thread.await.unwrap_or_else(|e| vec![format!("file writer: {e}")])
            }
            None => Vec::new(),
        }
    }
}

fn write_groups(mut files: mpsc::Receiver<SmallFile>, force: bool, output: Output) -> Vec<String> {
    let mut failures = Vec::new();
    let mut group = Vec::new();
    let mut fail = |message: String| {
        output.failure(&message);
        message
    };
    // Made before a group's first file is written (see durable::Watch).
    let mut watch = None;
    while let Some(file) = files.blocking_recv() {
        let group_watch =
            watch.get_or_insert_with(|| durable::Watch::new(file.partial.parent().unwrap_or(Path::new("."))));
        let written = File::create(&file.partial)
            .and_then(|mut out| out.write_all(&file.data))
            .with_context(|| format!("writing {}", file.partial.display()))
            .and_then(|()| prepare(&file.partial, &file.entry));
        match written {
            Ok(_) => group.push(file),
            Err(e) => failures.push(fail(format!("{}: {e:#}", file.entry.name))),
        }
        if group.len() >= GROUP {
            let placed = finish_group(std::mem::take(&mut group), group_watch, force, output);
            failures.extend(placed.into_iter().map(&mut fail));
            watch = None;
        }
    }
    if let Some(watch) = &watch {
        failures.extend(finish_group(group, watch, force, output).into_iter().map(&mut fail));
    }
    failures
}

/// Give the verified partial its mode and mtime (permission bits only: a
/// server cannot make a download setuid/setgid).
fn prepare(partial: &Path, entry: &FileEntry) -> Result<File> {
    let file = File::options().write(true).open(partial)?;
    let mtime = UNIX_EPOCH + Duration::new(entry.meta.mtime.max(0) as u64, entry.meta.mtime_nanos);
    file.set_modified(mtime).ok();
    file.set_permissions(fs::Permissions::from_mode(entry.meta.mode & 0o777))?;
    Ok(file)
}

/// Rename a durable partial to its final name, unless that appeared
/// meanwhile and `force` is off.
fn place(partial: &Path, local: &Path, force: bool) -> Result<()> {
    if !force && local.exists() {
        bail!("{} appeared during the download (use --force to overwrite)", local.display());
    }
    fs::rename(partial, local).with_context(|| format!("moving into {}", local.display()))
}

/// Make one large file durable and move it into place.
fn finish(partial: &Path, local: &Path, entry: &FileEntry, force: bool) -> Result<()> {
    prepare(partial, entry)?.sync_all()?;
    place(partial, local, force)?;
    if let Some(parent) = local.parent() {
        File::open(parent).and_then(|dir| dir.sync_all()).ok();
    }
    Ok(())
}

/// Make a group of small files durable, move each into place, make the
/// renames durable; prints each file placed and returns the failures.
fn finish_group(group: Vec<SmallFile>, watch: &durable::Watch, force: bool, output: Output) -> Vec<String> {
    if group.is_empty() {
        return Vec::new();
    }
    let synced = watch.sync(group.iter().map(|file| file.partial.as_path()));
    if let Err(e) = synced {
        let message = format!("cannot make the downloaded files durable: {e}");
        return group.iter().map(|file| format!("{}: {message}", file.entry.name)).collect();
    }
    let (mut placed, mut failures) = (Vec::new(), Vec::new());
    for file in group {
        match place(&file.partial, &file.local, force) {
            Ok(()) => placed.push(file),
            Err(e) => failures.push(format!("{}: {e:#}", file.entry.name)),
        }
    }
    let mut dirs: Vec<&Path> = placed.iter().filter_map(|file| file.local.parent()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    match watch.sync(dirs) {
        Ok(()) => placed.iter().for_each(|file| output.downloaded(&file.entry, &file.local)),
        Err(e) => failures.push(format!("cannot make the downloaded files durable: {e}")),
    }
    failures
}
