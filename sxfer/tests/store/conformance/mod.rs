//! The storage conformance suite: what every [`MetaStore`] and
//! [`BlobStore`] must do, and the crash points `docs/STORAGE.md` §7
//! promises to survive, checked through a [`Store`](sxfer::store::Store)
//! built over them.
//!
//! Each test is a function taking a [`Backend`]; [`conformance!`] turns the
//! whole list into `#[test]`s for one backend. Adding a backend is one line
//! at the bottom of this file (e.g. `conformance!(postgres_s3, ...)`).
//! A backend is "restarted" by opening its stores again on the same
//! persistent state: that, plus `mem::forget` (no destructors run, as in a
//! crash), is how the crash tests cut the write protocol short.

mod blob;
mod crash;
mod meta;
mod wrappers;

use std::path::PathBuf;
use std::sync::Arc;

use sxfer::store::blobdir::BlobDir;
use sxfer::store::sqlite::{SqliteMeta, DATABASE_FILE};
use sxfer::store::{BlobStore, MetaStore};

/// One storage backend under test.
pub trait Backend {
    /// A metadata store on this backend's persistent state. Every call
    /// opens it anew, as after a restart.
    fn meta(&self) -> Arc<dyn MetaStore>;
    /// A blob store on this backend's persistent state, opened anew.
    fn blobs(&self) -> Arc<dyn BlobStore>;
}

/// Generates the suite's `#[test]`s for one backend.
macro_rules! conformance {
    ($backend:ident, $new:expr) => {
        conformance!(@tests $backend, $new,
            meta::accounts_are_created_once_and_listed_by_name,
            meta::passwords_and_quotas_change_existing_accounts_only,
            meta::keys_belong_to_one_user_oldest_first,
            meta::invites_admit_as_many_accounts_as_they_have_uses,
            meta::deleting_a_user_takes_files_and_partials_and_keeps_audit,
            meta::files_commit_replace_rename_and_delete,
            meta::listing_is_a_byte_prefix_in_byte_order,
            meta::quotas_count_replacements_and_are_checked_again_at_commit,
            meta::partials_are_one_per_name_and_capped_oldest_first,
            meta::a_batch_commits_in_order_with_quota_and_audit_rows,
            meta::audit_records_come_back_in_order,
            blob::staged_blobs_are_invisible_until_committed,
            blob::committed_blobs_read_from_any_offset,
            blob::a_sync_handle_makes_earlier_bytes_durable,
            blob::a_group_commits_many_blobs,
            blob::removal_is_per_state_and_idempotent,
            blob::an_open_reader_outlives_removal,
            blob::listing_shows_every_blob_with_a_recent_time,
            crash::an_upload_cut_off_mid_write_is_invisible_and_resumes,
            crash::staged_blobs_never_committed_are_invisible_and_collected,
            crash::committed_blobs_without_rows_are_invisible_and_collected,
            crash::a_blob_is_committed_before_its_row_and_removed_after_it,
            crash::a_failed_blob_commit_leaves_no_row_and_nothing_behind,
            crash::a_failed_row_commit_leaves_no_blob_behind,
            crash::a_removal_cut_off_after_the_row_is_collected,
            crash::a_resume_cut_off_before_the_old_blob_is_removed_recovers,
            crash::stale_partials_expire_unless_written_recently,
            crash::audit_events_survive_dropping_the_store_in_order,
            crash::a_full_audit_queue_refuses_without_blocking_and_says_so,
        );
    };
    (@tests $backend:ident, $new:expr, $($module:ident :: $test:ident),+ $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $test() {
                    let backend = $new;
                    super::$module::$test(&backend);
                }
            )+
        }
    };
}

/// SQLite metadata and a blob directory, in one tempdir (as `Store::open`
/// lays them out).
pub struct Local {
    _temp: tempfile::TempDir,
    dir: PathBuf,
}

impl Local {
    pub fn new() -> Local {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("sxfer-data");
        Local { _temp: temp, dir }
    }
}

impl Backend for Local {
    fn meta(&self) -> Arc<dyn MetaStore> {
        std::fs::create_dir_all(&self.dir).expect("data dir");
        Arc::new(SqliteMeta::open(&self.dir.join(DATABASE_FILE)).expect("open database"))
    }

    fn blobs(&self) -> Arc<dyn BlobStore> {
        Arc::new(BlobDir::open(&self.dir).expect("open blob directory"))
    }
}

conformance!(sqlite_blobdir, Local::new());
