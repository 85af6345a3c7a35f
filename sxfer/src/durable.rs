//! Making many files durable at once, for group commits on both sides.
//!
//! On Linux, one `syncfs(2)` per filesystem writes every dirty file and
//! inode in one round; an fdatasync per small file costs a serial inode
//! write each (3–4× slower for a few hundred files here, see
//! PERFORMANCE.md). `syncfs` also flushes whatever else is dirty on that
//! filesystem, which costs only time, and reports writeback errors
//! (Linux ≥ 5.8). Elsewhere each path is fsynced.

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes the contents and metadata of every path (files or directories)
/// durable.
///
/// After the `syncfs`, each path is fsynced as well: by then it is clean,
/// so this costs no I/O, but it reports a write error of that file which
/// another process's `syncfs` may already have collected from the
/// filesystem (or which a kernel before 5.8 would not report at all).
#[cfg(target_os = "linux")]
pub fn sync_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let paths: Vec<&Path> = paths.into_iter().collect();
    let mut synced = Vec::new();
    for path in &paths {
        let device = std::fs::metadata(path)?.dev();
        if !synced.contains(&device) {
            rustix::fs::syncfs(File::open(path)?)?;
            synced.push(device);
        }
    }
    for path in paths {
        File::open(path)?.sync_data()?;
    }
    Ok(())
}

/// Makes the contents and metadata of every path (files or directories)
/// durable.
#[cfg(not(target_os = "linux"))]
pub fn sync_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
    for path in paths {
        File::open(path)?.sync_all()?;
    }
    Ok(())
}
