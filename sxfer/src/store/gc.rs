//! Recovery at open: remove what a crash (or a failed removal) left behind,
//! written once over the two traits:
//!
//! * partial uploads not touched for [`PARTIAL_EXPIRY`] (row and blob);
//! * committed blobs no file names (crash between the blob's commit and the
//!   row's, or after a delete/replace committed but before the removal);
//! * staged blobs no partial names (crash while a resume copied, or a group
//!   commit's blobs before they were published);
//! * drops past their expiry (blob; the row ends as expired), and the rows
//!   of drops that ended long ago ([`Store::collect_drops`]).
//!
//! The server runs this at open and then every [`GC_INTERVAL`].
//!
//! Another process may use the same storage at the same time (an admin
//! command while the server runs). Its in-flight blob is briefly
//! unreferenced: written and committed, its row not yet. So an unreferenced
//! blob is removed only once it is [`ORPHAN_GRACE`] old; blobs being written
//! or just committed are always fresh.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::blob::{BlobState, ListedBlob};
use super::error::Result;
use super::{now, Inner, Store};

/// Unreferenced blobs younger than this are left alone.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(60 * 60);
/// How often a running server collects.
pub const GC_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Partial uploads older than this are dropped.
pub const PARTIAL_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What one recovery pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Partial uploads dropped for age (row and blob).
    pub expired_partials: usize,
    /// Committed blobs no file named.
    pub orphan_blobs: usize,
    /// Staged blobs no partial upload named.
    pub orphan_staged: usize,
    /// Files whose committed blob is missing (reported, not deleted).
    pub missing_blobs: usize,
    /// Drops ended by their expiry (blob removed).
    pub expired_drops: usize,
}

impl Store {
    /// Garbage-collects what a crash may have left behind, removing
    /// unreferenced blobs at least `grace` old ([`ORPHAN_GRACE`] at open).
    /// A shorter grace may remove the blob of a commit in flight in
    /// another process sharing the storage: use it only when none runs.
    pub fn recover(&self, grace: Duration) -> Result<Recovered> {
        let (expired_drops, _) = self.collect_drops(now())?;
        Ok(Recovered { expired_drops, ..collect(&self.inner, grace)? })
    }
}

pub(super) fn collect(inner: &Inner, grace: Duration) -> Result<Recovered> {
    let mut recovered = Recovered::default();
    let listed = inner.blobs.list()?;
    let staged_ages: HashMap<_, _> = listed
        .iter()
        .filter(|blob| blob.state == BlobState::Staged)
        .map(|blob| (blob.id.clone(), blob.modified))
        .collect();
    let cutoff = now() - PARTIAL_EXPIRY.as_secs() as i64;
    let mut expired = HashSet::new();
    for id in inner.meta.stale_partials(cutoff)? {
        // Begun long ago but written recently: keep (a slow upload).
        if let Some(modified) = staged_ages.get(&id) {
            if !old_enough(*modified, PARTIAL_EXPIRY) {
                continue;
            }
        }
        inner.meta.forget_partial(&id)?;
        inner.remove_blob(&id, BlobState::Staged);
        tracing::info!(blob = %id, "dropped a partial upload older than 7 days");
        expired.insert(id);
    }
    recovered.expired_partials = expired.len();
    let references = inner.meta.references()?;
    let mut present = 0;
    for ListedBlob { id, state, modified } in &listed {
        let named = match state {
            BlobState::Committed => references.files.contains(id),
            BlobState::Staged => references.partials.contains(id),
        };
        if expired.contains(id) {
            continue;
        }
        if named {
            present += usize::from(*state == BlobState::Committed);
            continue;
        }
        if !old_enough(*modified, grace) {
            continue;
        }
        match state {
            BlobState::Committed => {
                tracing::info!(blob = %id, "removing a blob no file refers to (left by a crash)");
                recovered.orphan_blobs += 1;
            }
            BlobState::Staged => {
                tracing::info!(blob = %id, "removing a partial upload no row refers to (left by a crash)");
                recovered.orphan_staged += 1;
            }
        }
        inner.remove_blob(id, *state);
    }
    recovered.missing_blobs = references.files.len().saturating_sub(present);
    if recovered.missing_blobs > 0 {
        tracing::error!(
            missing = recovered.missing_blobs,
            "committed files whose blob is missing; restore them from a backup"
        );
    }
    Ok(recovered)
}

/// True if `modified` is at least `age` ago. Unknown times (and times in
/// the future) count as young: when unsure, keep the blob.
fn old_enough(modified: Option<SystemTime>, age: Duration) -> bool {
    modified.and_then(|modified| SystemTime::now().duration_since(modified).ok()).is_some_and(|elapsed| elapsed >= age)
}
