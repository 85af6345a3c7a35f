//! The sender's manifest, built from the files and directories named on
//! the command line before anything connects: a file is offered under
//! its base name, a directory as itself and everything under it (symbolic
//! links and special files inside are skipped with a warning).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::client::upload::{self, Job};
use sxfer_proto::manifest::Manifest;
use sxfer_proto::msgs::{EntryKind, OfferEntry};

/// What a sender offers and where each file's bytes come from.
pub struct Plan {
    pub manifest: Manifest,
    /// The files, by their offered names.
    pub files: Vec<Job>,
}

/// The plan for `sources`: directories first (each before what it holds),
/// then the files.
pub fn plan(sources: &[PathBuf]) -> Result<Plan> {
    let tree = upload::plan_tree(sources, None, true)?;
    let entry = |job: &Job, kind| OfferEntry { name: job.remote.clone(), kind, meta: job.meta };
    let entries = tree
        .directories
        .iter()
        .map(|job| entry(job, EntryKind::Directory))
        .chain(tree.files.iter().map(|job| entry(job, EntryKind::File)))
        .collect();
    let manifest = Manifest::new(entries).context("cannot offer these files")?;
    Ok(Plan { manifest, files: tree.files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_offered_directories_first_with_relative_names() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(top.join("sub/empty")).unwrap();
        std::fs::write(top.join("sub/a.txt"), b"abc").unwrap();
        std::fs::write(dir.path().join("single"), b"12345").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", top.join("link")).unwrap();
        let plan = plan(&[top, dir.path().join("single")]).unwrap();
        let names: Vec<(&str, EntryKind)> =
            plan.manifest.entries().iter().map(|entry| (entry.name.as_str(), entry.kind)).collect();
        assert_eq!(
            names,
            [
                ("top", EntryKind::Directory),
                ("top/sub", EntryKind::Directory),
                ("top/sub/empty", EntryKind::Directory),
                ("top/sub/a.txt", EntryKind::File),
                ("single", EntryKind::File),
            ],
            "the symbolic link is not offered"
        );
        assert_eq!(plan.manifest.total_bytes(), 8);
        assert_eq!(plan.files.len(), 2);
    }
}
