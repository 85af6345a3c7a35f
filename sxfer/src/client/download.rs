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
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::mpsc;

use super::Remote;
use crate::durable;
use crate::engine::{self, Chunk, Memory, PartialFile, Sink};
use crate::output::{Output, Progress};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::{display_safe, RemoteName};
use sxfer_proto::transfer::{Commit, Receiver};

pub struct Job {
    pub remote: RemoteName,
    /// Final local path, inside the destination directory.
    pub local: PathBuf,
    /// The server's entry, when a listing gave it (recursive downloads): a
    /// local file that already holds exactly these bytes is skipped.
    pub listed: Option<FileEntry>,
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

/// Download requests kept in flight, by their bytes on the wire: the
/// server answers in order, so the replies for the next files are already
/// on their way while one is being written, and a tree costs a round trip
/// per some 700 files, not per file. The bound keeps the requests the
/// server has not read yet within what the two sockets' buffers hold
/// (loopback and typical links: ≥ 128 KiB), so writing them never waits
/// for a server that is itself waiting for us to read its replies.
const WINDOW_BYTES: usize = 64 << 10;
/// And by count, whatever their size.
const WINDOW_FILES: usize = 4096;
/// What a request costs beyond its message: frame header, content type,
/// the largest AEAD tag and padding (generous).
const RECORD_OVERHEAD: usize = 64;

/// Download every job into `dest`; returns how many bytes came from
/// partial files of earlier attempts (verified, not re-sent).
pub async fn run(remote: &mut Remote, jobs: &[Job], dest: &Path, force: bool, output: &Output) -> Result<u64> {
    let present = if force { vec![false; jobs.len()] } else { already_here(jobs).await? };
    let mut targets = std::collections::HashSet::new();
    let mut todo = Vec::with_capacity(jobs.len());
    for (job, present) in jobs.iter().zip(present) {
        if present {
            output.done("skipped", &format!("{} (already in {}, same BLAKE3)", job.remote, job.local.display()));
            continue;
        }
        todo.push(job);
        check_destination(dest, &job.local, force)?;
        // Two names for one local file would share its partial and race.
        if !targets.insert(job.local.as_path()) {
            bail!("{} and another requested file would both be saved as {}", job.remote, job.local.display());
        }
    }
    let mut failures = Vec::new();
    let mut resumed = 0;
    let mut queue: VecDeque<&Job> = todo.into_iter().collect();
    let mut in_flight: VecDeque<Request> = VecDeque::new();
    let mut window = 0;
    let mut small = SmallWriter::start(force, *output);
    loop {
        while in_flight.len() < WINDOW_FILES {
            let Some(&job) = queue.front() else { break };
            let cost = request_cost(job);
            if !in_flight.is_empty() && window + cost > WINDOW_BYTES {
                break;
            }
            queue.pop_front();
            window += cost;
            in_flight.push_back(request(remote, job, dest)?);
        }
        let Some(request) = in_flight.pop_front() else { break };
        window -= request_cost(request.job);
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

/// Which jobs' local files already hold the server's bytes: a regular
/// file (not a link) of the listed size whose BLAKE3 is the listed digest.
/// Rerunning `download -r` after a cut so skips what completed (and the
/// rest resumes from its partials). Hashing is on a blocking thread.
async fn already_here(jobs: &[Job]) -> Result<Vec<bool>> {
    let candidates: Vec<Option<(PathBuf, u64, [u8; 32])>> = jobs
        .iter()
        .map(|job| job.listed.as_ref().map(|entry| (job.local.clone(), entry.meta.size, entry.digest)))
        .collect();
    tokio::task::spawn_blocking(move || {
        candidates
            .into_iter()
            .map(|candidate| candidate.is_some_and(|(local, size, digest)| holds(&local, size, &digest)))
            .collect()
    })
    .await
    .context("checking the files already here")
}

fn holds(local: &Path, size: u64, digest: &[u8; 32]) -> bool {
    let regular = fs::symlink_metadata(local).is_ok_and(|m| m.is_file() && m.len() == size);
    if !regular {
        return false;
    }
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(match File::open(local) {
            Ok(file) => file,
            Err(_) => return false,
        })
        .is_ok_and(|hasher| hasher.finalize().as_bytes() == digest)
}

/// Refuse before any transfer: existing targets without --force, and any
/// path component that is a symbolic link or escapes `dest`.
pub(crate) fn check_destination(dest: &Path, local: &Path, force: bool) -> Result<()> {
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

/// The bytes a Download request for `job` takes on the wire (at most).
fn request_cost(job: &Job) -> usize {
    // kind, transfer, name length, name, offset
    2 + 4 + 2 + job.remote.as_str().len() + 8 + RECORD_OVERHEAD
}

/// A download asked for and not yet received.
struct Request<'j> {
    job: &'j Job,
    receiver: Receiver,
    partial: PathBuf,
}

/// Queues the request for `job`, resuming from its partial file if any.
fn request<'j>(remote: &mut Remote, job: &'j Job, dest: &Path) -> Result<Request<'j>> {
    let parent = job.local.parent().unwrap_or(dest).to_path_buf();
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let file_name = job.local.file_name().and_then(|n| n.to_str()).context("destination has no file name")?;
    let partial = parent.join(partial_name(file_name));
    let offset = partial_length(&partial)?;
    let (receiver, request) = Receiver::download(remote.transfer_id(), job.remote.clone(), offset);
    remote.writer.queue(&request)?;
    Ok(Request { job, receiver, partial })
}

/// How many bytes an earlier attempt left in `partial` (0: none); a
/// symbolic link or anything else not a regular file there is refused.
pub(crate) fn partial_length(partial: &Path) -> Result<u64> {
    match fs::symlink_metadata(partial) {
        Ok(metadata) if metadata.is_file() => Ok(metadata.len()),
        Ok(_) => bail!("{} is not a regular file", partial.display()),
        Err(_) => Ok(0),
    }
}

/// The longest file name most file systems take (ext4, XFS, btrfs: 255 bytes).
const NAME_MAX: usize = 255;

/// The hidden partial file of `file_name`: `.NAME.sxfer-part`, or, where
/// that would pass [`NAME_MAX`], the name shortened (at a character
/// boundary) and made unique again with a hash of the whole name:
/// `.SHORTENED~HASH.sxfer-part`. Every legal name (a segment is at most
/// 255 bytes) has a partial that fits.
pub(crate) fn partial_name(file_name: &str) -> String {
    const SUFFIX: &str = ".sxfer-part";
    let plain = format!(".{file_name}{SUFFIX}");
    if plain.len() <= NAME_MAX {
        return plain;
    }
    let hash = blake3::hash(file_name.as_bytes());
    let tag: String = hash.as_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let room = NAME_MAX - 1 - SUFFIX.len() - 1 - tag.len();
    let mut end = room.min(file_name.len());
    while !file_name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}~{tag}{SUFFIX}", &file_name[..end])
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
    let Request { job, mut receiver, partial } = request;
    let offset = receiver.start();
    let entry = match engine::started(&mut remote.inbound, &mut receiver).await? {
        Ok(entry) => entry,
        Err((code, _)) if code == error_code::BAD_REQUEST && offset > 0 => {
            // The partial is longer than the file now stored (it was
            // replaced): it cannot be a prefix. Start over.
            fs::remove_file(&partial).with_context(|| format!("removing {}", partial.display()))?;
            output.note(&format!("discarding a stale partial download of {}", job.remote));
            return Ok(Received::Stale);
        }
        Err((_, message)) => bail!("{}", display_safe(&message)),
    };
    if offset > 0 {
        output.note(&format!("resuming {} at byte {offset}", job.remote));
    }
    let progress = output.progress(entry.meta.size, job.remote.as_str());
    progress.inc(offset);
    if entry.meta.size <= GROUPED_SIZE && offset == 0 {
        // Small: gathered in memory, verified here, written by the group writer.
        let mut sink = Counted { progress: &progress, inner: Memory::with_capacity(entry.meta.size, remote.buffers()) };
        let received = engine::receive(&mut remote.inbound, None, &mut receiver, &mut sink).await;
        progress.finish();
        let commit = completed(received?)?;
        let (length, digest) = sink.inner.digest();
        receiver.verify(&commit, length, &digest).context("run again")?;
        let data = sink.inner.data;
        return Ok(Received::Small(SmallFile { partial, local: job.local.clone(), entry, data }));
    }

    let mut sink = Counted { progress: &progress, inner: PartialFile::start(&partial, offset, remote.buffers()) };
    let received = engine::receive(&mut remote.inbound, None, &mut receiver, &mut sink).await;
    let written = sink.inner.finish().await;
    progress.finish();
    let commit = completed(received?)?;
    let written = written?;
    if let Err(e) = receiver.verify(&commit, written.length, &written.digest) {
        fs::remove_file(&partial).ok();
        bail!("{e}; the partial file was removed, run again");
    }
    let (local, placed) = (job.local.clone(), entry.clone());
    tokio::task::spawn_blocking(move || finish(written.file, &partial, &local, &placed, force))
        .await
        .map_err(|e| anyhow!("file writer: {e}"))??;
    output.downloaded(&entry, &job.local);
    Ok(Received::Placed(offset))
}

/// The Commit of a download, or why there is none.
fn completed(received: engine::Received) -> Result<Commit> {
    match received {
        engine::Received::Complete(commit) => Ok(commit),
        engine::Received::Invalid(e) => bail!("{e}"),
        engine::Received::Refused { message, .. } => bail!("server: {}", display_safe(&message)),
        engine::Received::Discarded => bail!("the download ended out of step"),
    }
}

/// A sink that shows its bytes on the progress bar.
pub(crate) struct Counted<'p, K> {
    pub progress: &'p Progress,
    pub inner: K,
}

impl<K: Sink> Sink for Counted<'_, K> {
    async fn write(&mut self, chunk: Chunk<'_>) -> Result<()> {
        self.progress.inc(chunk.bytes().len() as u64);
        self.inner.write(chunk).await
    }
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
        let written = engine::open_locked(&file.partial).and_then(|mut out| {
            out.set_len(0)
                .and_then(|()| out.write_all(&file.data))
                .with_context(|| format!("writing {}", file.partial.display()))?;
            prepare(&out, &file.entry.meta)
        });
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
fn prepare(file: &File, meta: &FileMeta) -> Result<()> {
    file.set_modified(mtime(meta)).ok();
    file.set_permissions(fs::Permissions::from_mode(meta.mode & 0o777))?;
    Ok(())
}

/// The modification time `meta` carries: `mtime` whole seconds from the
/// epoch (negative before 1970, rounded down) plus `mtime_nanos` forward,
/// as `stat` gives them (PROTOCOL.md §7.3 FileMeta): −1.5 s is (−2, 0.5e9).
/// A time the system cannot represent becomes the epoch.
pub(crate) fn mtime(meta: &FileMeta) -> SystemTime {
    let seconds = Duration::from_secs(meta.mtime.unsigned_abs());
    let whole = if meta.mtime >= 0 { UNIX_EPOCH.checked_add(seconds) } else { UNIX_EPOCH.checked_sub(seconds) };
    whole.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(meta.mtime_nanos)))).unwrap_or(UNIX_EPOCH)
}

/// Rename a durable partial to its final name, unless that appeared
/// meanwhile and `force` is off.
fn place(partial: &Path, local: &Path, force: bool) -> Result<()> {
    if !force && local.exists() {
        bail!("{} appeared during the download (use --force to overwrite)", local.display());
    }
    fs::rename(partial, local).with_context(|| format!("moving into {}", local.display()))
}

/// Make one large file durable and move it into place (blocking; `file`
/// is the partial, still open and locked).
pub(crate) fn finish(file: File, partial: &Path, local: &Path, entry: &FileEntry, force: bool) -> Result<()> {
    finish_with(file, partial, local, &entry.meta, force)
}

/// [`finish`] with `meta`'s mode and mtime (a fetched drop's, whose entry
/// describes its ciphertext).
pub(crate) fn finish_with(file: File, partial: &Path, local: &Path, meta: &FileMeta, force: bool) -> Result<()> {
    prepare(&file, meta)?;
    file.sync_all()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_1970_are_kept() {
        let at = |mtime, mtime_nanos| super::mtime(&FileMeta { size: 0, mode: 0, mtime, mtime_nanos });
        assert_eq!(at(-2, 500_000_000), UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!(at(-3, 0), UNIX_EPOCH - Duration::from_secs(3));
        assert_eq!(at(-1, 999_999_999), UNIX_EPOCH - Duration::from_nanos(1));
        assert_eq!(at(1_700_000_000, 7), UNIX_EPOCH + Duration::new(1_700_000_000, 7));
        // The extremes are times or the epoch, never a panic.
        assert_eq!(at(i64::MIN, 0), UNIX_EPOCH - Duration::from_secs(1 << 63));
        at(i64::MAX, 999_999_999);
    }

    #[test]
    fn every_partial_name_fits_and_stays_distinct() {
        // Every length of a legal segment, in 1-, 2- and 3-byte characters.
        let names: std::collections::BTreeSet<String> = (1..=255)
            .flat_map(|len| ["a", "é", "名"].map(|fill| fill.repeat(len / fill.len())))
            .filter(|name| !name.is_empty())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for name in &names {
            let partial = partial_name(name);
            assert!(partial.len() <= NAME_MAX, "{} bytes: {} bytes", name.len(), partial.len());
            assert!(partial.starts_with('.') && partial.ends_with(".sxfer-part"));
            assert!(seen.insert(partial), "two names share a partial");
        }
        assert_eq!(partial_name("report.pdf"), ".report.pdf.sxfer-part");
    }
}
