//! Making many files durable at once, for group commits on both sides.
//!
//! On Linux, one `syncfs(2)` per filesystem writes every dirty file and
//! inode in one round; an fdatasync per small file costs a serial inode
//! write and a device flush each (3–4× slower for a few hundred files
//! here, see PERFORMANCE.md). `syncfs` also flushes whatever else is dirty
//! on that filesystem, which costs only time.
//!
//! Errors: since Linux 5.8 every writeback error is also recorded on the
//! filesystem, and `syncfs` reports each one to every descriptor that was
//! open before it happened (an `errseq_t` cursor per open file, so one
//! caller seeing an error does not hide it from another); since 5.17 it
//! also passes on the filesystem's own sync failure (a journal commit). A
//! [`Watch`] is that descriptor: opened before the files are written, its
//! `syncfs` reports a failed write of any of them. That holds for local
//! filesystems that record errors on their own superblock; it does not for
//! overlayfs (Docker's default), whose files' errors land on the upper
//! filesystem. So one `syncfs` stands for the fsyncs only on ext4, XFS,
//! btrfs and tmpfs, on Linux 5.17 or later; otherwise, and elsewhere, each
//! path is fsynced.

use std::fs::File;
use std::io;
use std::path::Path;

/// A filesystem watched for writeback errors from the moment the watch
/// was made. Make it before writing the files that [`Watch::sync`] is to
/// make durable.
pub struct Watch {
    /// The filesystem's device and a descriptor opened on it, when one
    /// `syncfs` can stand for an fsync of each file on it.
    #[cfg(target_os = "linux")]
    fs: Option<(u64, File)>,
}

impl Watch {
    /// Watches the filesystem that holds `anchor` (a file or directory).
    /// If `anchor` cannot be opened, [`sync`](Self::sync) fsyncs each path.
    #[cfg(target_os = "linux")]
    pub fn new(anchor: &Path) -> Watch {
        use std::os::unix::fs::MetadataExt;
        let open = || -> io::Result<(u64, File)> {
            let file = File::open(anchor)?;
            Ok((file.metadata()?.dev(), file))
        };
        let fs = if syncfs_reports_errors() { open().ok() } else { None };
        Watch { fs: fs.filter(|(_, file)| rustix::fs::fstatfs(file).is_ok_and(|fs| syncfs_trusted(fs.f_type))) }
    }

    /// Watches the filesystem that holds `anchor` (a file or directory).
    #[cfg(not(target_os = "linux"))]
    pub fn new(_anchor: &Path) -> Watch {
        Watch {}
    }

    /// Makes the contents and metadata of every path (files or
    /// directories) durable, and fails if a write of any file on the
    /// watched filesystem failed since the watch was made. Paths on
    /// another filesystem are fsynced one by one.
    pub fn sync<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some((device, fs)) = &self.fs {
            use std::os::unix::fs::MetadataExt;
            let mut elsewhere = Vec::new();
            for path in paths {
                if std::fs::metadata(path)?.dev() != *device {
                    elsewhere.push(path);
                }
            }
            rustix::fs::syncfs(fs)?;
            return sync_each(elsewhere);
        }
        sync_each(paths)
    }
}

fn sync_each<'a>(paths: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
    for path in paths {
        File::open(path)?.sync_all()?;
    }
    Ok(())
}

/// Linux 5.17 and later: `syncfs` reports writeback errors (5.8) and the
/// filesystem's own sync errors (5.17).
#[cfg(target_os = "linux")]
fn syncfs_reports_errors() -> bool {
    static REPORTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REPORTS.get_or_init(|| {
        let uname = rustix::system::uname();
        kernel_at_least(&uname.release().to_string_lossy(), (5, 17))
    })
}

/// Filesystems (`statfs` magic numbers) that record writeback errors on
/// their own superblock, where `syncfs` finds them.
#[cfg(target_os = "linux")]
fn syncfs_trusted(kind: rustix::fs::FsWord) -> bool {
    const EXT4: u32 = 0xEF53; // also ext2 and ext3
    const XFS: u32 = 0x5846_5342;
    const BTRFS: u32 = 0x9123_683E;
    const TMPFS: u32 = 0x0102_1994;
    // f_type is a signed word on some targets: compare its low 32 bits.
    [EXT4, XFS, BTRFS, TMPFS].contains(&(kind as u32))
}

/// Whether a kernel release string (`6.1.0-13-amd64`) is at least
/// `major.minor`; an unparsable one is not.
#[cfg(any(target_os = "linux", test))]
fn kernel_at_least(release: &str, wanted: (u32, u32)) -> bool {
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(str::parse::<u32>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= wanted,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("5.8.0", (5, 8)));
        assert!(!kernel_at_least("5.15.0-91-generic", (5, 17)));
        assert!(kernel_at_least("5.17.1", (5, 17)));
        assert!(kernel_at_least("6.1.0-13-amd64", (5, 8)));
        assert!(kernel_at_least("6.18.44-fc-v782", (5, 8)));
        assert!(kernel_at_least("5.10", (5, 8)));
        assert!(!kernel_at_least("5.7.19", (5, 8)));
        assert!(!kernel_at_least("4.19.0-26-amd64", (5, 8)));
        assert!(!kernel_at_least("", (5, 8)));
        assert!(!kernel_at_least("linux", (5, 8)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_local_filesystems_are_trusted_with_one_syncfs() {
        assert!(syncfs_trusted(0xEF53));
        assert!(syncfs_trusted(0x5846_5342));
        assert!(!syncfs_trusted(0x794C_7630), "overlayfs");
        assert!(!syncfs_trusted(0x6969), "NFS");
    }

    #[test]
    fn a_watch_syncs_files_and_directories() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let watch = Watch::new(dir.path());
        let file = dir.path().join("a");
        std::fs::write(&file, b"x")?;
        watch.sync([file.as_path(), dir.path()])?;
        let missing = dir.path().join("missing");
        assert!(watch.sync([missing.as_path()]).is_err());
        // Without a usable anchor every path is fsynced on its own.
        let fallback = Watch::new(&missing);
        fallback.sync([file.as_path()])?;
        assert!(fallback.sync([missing.as_path()]).is_err());
        Ok(())
    }
}
