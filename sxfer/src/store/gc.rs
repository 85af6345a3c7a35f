//! Recovery at open: remove what a crash (or a failed unlink) left behind.
//!
//! * blob files no `files` row names (crash between rename and commit, or
//!   after a delete/replace committed but before the unlink);
//! * partial files no `partials` row names (crash while a resume copied);
//! * partial uploads not touched for [`PARTIAL_EXPIRY`] (row and file).
//!
//! Another process may use the same data directory at the same time (an
//! admin command while the server runs). Its in-flight blob is briefly
//! unreferenced: written and renamed, its row not yet committed. So an
//! unreferenced file is removed only once its mtime is [`ORPHAN_GRACE`]
//! old; files being written or just renamed always have a fresh mtime.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::blobs::{self, BlobId, BLOBS_DIR, PARTIAL_DIR};
use super::error::Result;
use super::{io_context, now, Inner};

/// Unreferenced files younger than this are left alone.
pub(super) const ORPHAN_GRACE: Duration = Duration::from_secs(60 * 60);
/// Partial uploads older than this are dropped.
pub(super) const PARTIAL_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

pub(super) fn collect(inner: &Inner) -> Result<()> {
    expire_partials(inner)?;
    let (committed, partial) = {
        let db = inner.db();
        (ids(&db, "SELECT blob_id FROM files")?, ids(&db, "SELECT blob_id FROM partials")?)
    };
    let mut seen = HashSet::new();
    let blobs_dir = inner.dir.join(BLOBS_DIR);
    for fan_out in io_context(fs::read_dir(&blobs_dir), "cannot list", &blobs_dir)? {
        let fan_out = io_context(fan_out, "cannot list", &blobs_dir)?.path();
        if !fan_out.is_dir() {
            tracing::warn!(path = %fan_out.display(), "unexpected file in the blob directory; leaving it");
            continue;
        }
        for entry in io_context(fs::read_dir(&fan_out), "cannot list", &fan_out)? {
            let path = io_context(entry, "cannot list", &fan_out)?.path();
            let id = file_name(&path).and_then(BlobId::parse);
            let expected_dir = id.as_ref().map(|id| blobs_dir.join(id.fan_out()));
            match id {
                Some(id) if expected_dir.as_deref() == Some(fan_out.as_path()) => {
                    if committed.contains(&id) {
                        seen.insert(id);
                    } else if old_enough(&path, ORPHAN_GRACE) {
                        tracing::info!(path = %path.display(), "removing a blob no file refers to (left by a crash)");
                        blobs::remove_unreferenced(&path);
                    }
                }
                _ => tracing::warn!(path = %path.display(), "unexpected file in the blob directory; leaving it"),
            }
        }
    }
    let missing = committed.len() - seen.len();
    if missing > 0 {
        tracing::error!(missing, "committed files whose blob is missing; restore them from a backup");
    }
    let partial_dir = inner.dir.join(PARTIAL_DIR);
    for entry in io_context(fs::read_dir(&partial_dir), "cannot list", &partial_dir)? {
        let path = io_context(entry, "cannot list", &partial_dir)?.path();
        match file_name(&path).and_then(BlobId::parse) {
            Some(id) if partial.contains(&id) => {}
            Some(_) if old_enough(&path, ORPHAN_GRACE) => {
                tracing::info!(path = %path.display(), "removing a partial upload no row refers to (left by a crash)");
                blobs::remove_unreferenced(&path);
            }
            Some(_) => {}
            None => tracing::warn!(path = %path.display(), "unexpected file in the partial directory; leaving it"),
        }
    }
    Ok(())
}

/// Drops partial uploads begun (or last resumed) more than
/// [`PARTIAL_EXPIRY`] ago whose file has not been written since.
fn expire_partials(inner: &Inner) -> Result<()> {
    let cutoff = now() - PARTIAL_EXPIRY.as_secs() as i64;
    let stale = {
        let db = inner.db();
        let mut statement = db.prepare("SELECT blob_id FROM partials WHERE created < ?1")?;
        let rows = statement.query_map([cutoff], |row| row.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    for blob_id in stale {
        let id = BlobId::from_db(blob_id)?;
        let path = inner.partial_path(&id);
        if path.exists() && !old_enough(&path, PARTIAL_EXPIRY) {
            continue;
        }
        inner.db().execute("DELETE FROM partials WHERE blob_id = ?1", [id.as_str()])?;
        blobs::remove_unreferenced(&path);
        tracing::info!(blob = id.as_str(), "dropped a partial upload older than 7 days");
    }
    Ok(())
}

fn ids(db: &rusqlite::Connection, sql: &str) -> Result<HashSet<BlobId>> {
    let mut statement = db.prepare(sql)?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(BlobId::from_db).collect()
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()
}

/// True if the file was last modified at least `age` ago. Unknown times
/// (and times in the future) count as young: when unsure, keep the file.
fn old_enough(path: &Path, age: Duration) -> bool {
    let modified = fs::symlink_metadata(path).and_then(|metadata| metadata.modified());
    modified
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed >= age)
}
