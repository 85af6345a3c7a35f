//! `sxfer upload`: stream local files to the server.
//!
//! A blocking thread reads and hashes (BLAKE3) each chunk straight into a
//! record buffer; the async side seals it in place and writes it, so disk,
//! hash, cipher and socket overlap. Small files are pipelined (request,
//! data and commit back to back, many files per write, no round trip per
//! file; the server commits them in groups); large ones first ask where to
//! resume.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::mpsc;

use super::{Event, Inbound, Remote};
use crate::engine::{self, LocalFile, Sent};
use crate::output::{Output, Progress};
use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::{display_safe, RemoteName};
use sxfer_proto::transfer::{Reply, Sender};

/// Files up to this size are pipelined without a resume round trip.
pub const SMALL_FILE: u64 = 4 << 20;

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
    Ok(meta_of(&metadata))
}

fn meta_of(metadata: &std::fs::Metadata) -> FileMeta {
    FileMeta {
        size: metadata.len(),
        mode: metadata.mode() & 0o7777,
        mtime: metadata.mtime(),
        mtime_nanos: u32::try_from(metadata.mtime_nsec()).unwrap_or(0),
    }
}

/// Expand the command line into jobs: files map to `dir/basename` (or to
/// `dest` exactly for a single file), directories (with `-r`) to
/// `dir/basename/relative/path`.
pub fn plan(sources: &[PathBuf], dest: Option<&str>, recursive: bool) -> Result<Vec<Job>> {
    Ok(plan_tree(sources, dest, recursive)?.files)
}

/// What [`plan_tree`] found: the files to send and the directories they
/// came from (each directory before what it holds), both named as sent.
#[derive(Debug, Default)]
pub struct Tree {
    pub files: Vec<Job>,
    /// Directories, with `meta.size` 0.
    pub directories: Vec<Job>,
}

/// [`plan`], keeping the directories too (peer mode recreates them).
/// Symbolic links inside a directory are skipped with a warning, and so
/// is anything neither a file nor a directory.
pub fn plan_tree(sources: &[PathBuf], dest: Option<&str>, recursive: bool) -> Result<Tree> {
    let dest = dest.unwrap_or("");
    let as_dir = dest.is_empty() || dest.ends_with('/') || sources.len() > 1 || sources.iter().any(|s| s.is_dir());
    let prefix = dest.trim_end_matches('/');
    let mut tree = Tree::default();
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
            walk(source, &remote_base, &metadata, &mut tree)?;
        } else {
            tree.files.push(job(source.clone(), &remote_base)?);
        }
    }
    let mut seen = HashSet::new();
    if let Some(duplicate) = tree.files.iter().find(|job| !seen.insert(job.remote.clone())) {
        bail!("two sources would be stored as {}", duplicate.remote);
    }
    Ok(tree)
}

fn walk(dir: &Path, remote: &str, metadata: &std::fs::Metadata, tree: &mut Tree) -> Result<()> {
    tree.directories.push(Job {
        local: dir.to_owned(),
        remote: remote_name(dir, remote)?,
        meta: FileMeta { size: 0, ..meta_of(metadata) },
    });
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
            let metadata = entry.metadata().with_context(|| format!("reading {}", path.display()))?;
            walk(&path, &join(remote, name), &metadata, tree)?;
        } else if kind.is_file() {
            tree.files.push(job(path, &join(remote, name))?);
        }
    }
    Ok(())
}

fn job(local: PathBuf, remote: &str) -> Result<Job> {
    let remote = remote_name(&local, remote)?;
    let meta = file_meta(&local)?;
    Ok(Job { local, remote, meta })
}

fn remote_name(local: &Path, remote: &str) -> Result<RemoteName> {
    RemoteName::parse(remote).with_context(|| format!("cannot store {} as {remote:?}", local.display()))
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
        let (mut sender, request) = Sender::upload(transfer, job.remote.clone(), job.meta, true);
        remote.writer.queue(&request)?;
        remote.flush(|message| results.handle(message, output)).await?;
        let Some(offset) = wait_ready(remote, &mut sender, &mut results, output).await? else {
            continue;
        };
        if offset > 0 {
            results.resumed_bytes += offset;
            progress.inc(offset);
            output.note(&format!("resuming {} at byte {offset}", job.remote));
        }
        let Remote { writer, inbound, .. } = &mut *remote;
        let source = LocalFile::open(&job.local)?;
        let mut shown = offset;
        let sent = engine::send(writer, &mut sender, source, |sender| {
            progress.inc(sender.sent() - shown);
            shown = sender.sent();
            drain(inbound, &mut results, Some(sender), output)
        })
        .await?;
        if let Sent::SourceFailed(e) = sent {
            // No way to cancel an upload but to end the connection.
            return Err(e);
        }
        results.pending.insert(transfer, sender);
        // A large file is confirmed before the next one starts.
        remote.flush(|message| results.handle(message, output)).await?;
        while results.pending.contains_key(&transfer) {
            let message = remote.next_message().await?;
            results.handle(message, output)?;
        }
    }
    remote.flush(|message| results.handle(message, output)).await?;
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

/// A small file read whole: its record buffers and BLAKE3.
type WholeFile = (Vec<Vec<u8>>, [u8; 32]);

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
    let (tx, mut rx) = mpsc::channel::<Result<WholeFile>>(READ_AHEAD);
    let files: Vec<(PathBuf, u64)> = jobs.iter().map(|job| (job.local.clone(), job.meta.size)).collect();
    let reader = tokio::task::spawn_blocking(move || {
        // Whole files stay with the sender: no buffers come back.
        let (_, spare) = std::sync::mpsc::channel();
        for (path, size) in files {
            let whole = LocalFile::open(&path).and_then(|mut file| {
                let mut records = Vec::new();
                let digest = engine::produce(&mut file, 0, size, &spare, |buf| {
                    records.push(buf);
                    true
                })?;
                Ok((records, digest.context("the file reader stopped")?))
            });
            if tx.blocking_send(whole).is_err() {
                return;
            }
        }
    });
    for job in jobs {
        let (records, digest) = rx.recv().await.context("the file reader stopped")??;
        let transfer = remote.transfer_id();
        progress.set_message(job.remote.as_str());
        let (mut sender, request) = Sender::upload(transfer, job.remote.clone(), job.meta, false);
        remote.writer.queue(&request)?;
        engine::queue_whole(&mut remote.writer, &mut sender, &records, digest)?;
        results.pending.insert(transfer, sender);
        progress.inc(job.meta.size);
        if remote.writer.queued() >= FLUSH_AT || rx.is_empty() {
            remote.flush(|message| results.handle(message, output)).await?;
            drain(&mut remote.inbound, results, None, output)?;
        }
    }
    remote.flush(|message| results.handle(message, output)).await?;
    reader.await.map_err(|e| anyhow!("file reader: {e}"))
}

/// Handle acknowledgements and pipelined results that have arrived; those
/// for the upload being sent go to its `current` sender.
fn drain(inbound: &mut Inbound, results: &mut Results, current: Option<&mut Sender>, output: &Output) -> Result<()> {
    let mut current = current;
    while let Some(event) = inbound.try_next()? {
        let Event::Message(message) = event else {
            bail!("the server sent data during an upload");
        };
        match current.as_deref_mut() {
            Some(sender) if message.transfer() == sender.transfer() => match sender.on_message(message)? {
                Reply::Progress(_) => {}
                Reply::Refused { message, .. } => bail!("{}", display_safe(&message)),
                other => bail!("unexpected reply during an upload: {other:?}"),
            },
            _ => results.handle(message, output)?,
        }
    }
    Ok(())
}

/// One resumable upload whose request (`resume = 1`) is queued, for a
/// request of another kind on the same data phase (a DropPut, PROTOCOL.md
/// §14.4): waits for the resume point, streams `local` from there and
/// returns the verdict (or the refusal).
pub async fn send_resumable(
    remote: &mut Remote,
    sender: &mut Sender,
    local: &Path,
    progress: &Progress,
) -> Result<Reply> {
    let mut early = Vec::new();
    remote
        .flush(|message| {
            early.push(message);
            Ok(())
        })
        .await?;
    let first = match early.len() {
        0 => remote.next_message().await?,
        1 => early.remove(0),
        _ => bail!("the server answered an upload request twice"),
    };
    match sender.on_message(first)? {
        Reply::Ready(offset) => progress.inc(offset),
        refused @ Reply::Refused { .. } => return Ok(refused),
        other => bail!("unexpected reply to an upload request: {other:?}"),
    }
    let Remote { writer, inbound, .. } = &mut *remote;
    let mut shown = sender.sent();
    let sent = engine::send(writer, sender, LocalFile::open(local)?, |sender| {
        progress.inc(sender.sent() - shown);
        shown = sender.sent();
        drain(inbound, &mut Results::default(), Some(sender), &Output::default())
    })
    .await?;
    if let Sent::SourceFailed(e) = sent {
        return Err(e);
    }
    remote
        .flush(|message| {
            early.push(message);
            Ok(())
        })
        .await?;
    let mut replies = early.into_iter();
    loop {
        let message = match replies.next() {
            Some(message) => message,
            None => remote.next_message().await?,
        };
        match sender.on_message(message)? {
            Reply::Progress(_) => {}
            verdict => return Ok(verdict),
        }
    }
}

/// Waits for the resume point of a resumable upload; `None` if the server
/// refused it (the failure is recorded).
async fn wait_ready(
    remote: &mut Remote,
    sender: &mut Sender,
    results: &mut Results,
    output: &Output,
) -> Result<Option<u64>> {
    loop {
        let message = remote.next_message().await?;
        if message.transfer() != sender.transfer() {
            results.handle(message, output)?;
            continue;
        }
        return match sender.on_message(message)? {
            Reply::Ready(offset) => Ok(Some(offset)),
            Reply::Refused { message, .. } => {
                results.fail(&message, output);
                Ok(None)
            }
            other => bail!("unexpected reply to an upload request: {other:?}"),
        };
    }
}

/// The uploads whose verdict is still owed, by transfer id, and what came
/// back so far.
#[derive(Default)]
struct Results {
    pending: HashMap<u32, Sender>,
    committed: Vec<FileEntry>,
    failures: Vec<String>,
    resumed_bytes: u64,
}

impl Results {
    fn handle(&mut self, message: Message, output: &Output) -> Result<()> {
        let transfer = message.transfer();
        let Some(sender) = self.pending.get_mut(&transfer) else {
            match message {
                Message::Error { message, .. } => bail!("server: {}", display_safe(&message)),
                other => bail!("unexpected reply during upload: {other:?}"),
            }
        };
        match sender.on_message(message)? {
            Reply::Progress(_) => {}
            Reply::Committed(entry) => {
                self.pending.remove(&transfer);
                output.uploaded(&entry);
                self.committed.push(entry);
            }
            Reply::Refused { message, .. } => {
                self.pending.remove(&transfer);
                self.fail(&message, output);
            }
            Reply::Ready(_) => bail!("an UploadReady for a pipelined upload"),
            Reply::Stored { .. } => bail!("a drop reply to an upload"),
        }
        Ok(())
    }

    fn fail(&mut self, message: &str, output: &Output) {
        let message = display_safe(message);
        output.failure(&message);
        self.failures.push(message);
    }
}
