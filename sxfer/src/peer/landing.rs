//! Where an accepted offer lands (PROTOCOL.md §13.5): every entry under
//! `--out`, decided before anything is accepted.
//!
//! A [`Manifest`] already holds only relative names without `..`, empty
//! segments or control characters; here each becomes a path under `out`
//! built from those segments alone, and is refused if any component on
//! the way is a symbolic link (none is ever followed, nor created), if it
//! would replace something without `--force` (a file with the offered
//! size and mtime is skipped instead: a resumed run already placed it),
//! or if its name is one of our partial files. Only regular files and
//! directories are made; a file's permission bits are kept without
//! setuid, setgid and sticky, and so are a directory's, for directories
//! this run created, set last (deepest first) with their mtimes.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::client::download::{check_destination, mtime, partial_length, partial_name};
use sxfer_proto::manifest::Manifest;
use sxfer_proto::msgs::{EntryKind, FileMeta, OfferEntry, Want};
use sxfer_proto::names::RemoteName;

/// One offered entry and its place under `--out`.
pub struct Target {
    pub entry: OfferEntry,
    pub local: PathBuf,
    /// Files: the hidden partial file next to `local`.
    pub partial: PathBuf,
    pub want: Want,
    received: bool,
}

/// The plan for landing one manifest.
pub struct Landing {
    out: PathBuf,
    targets: Vec<Target>,
    by_name: HashMap<RemoteName, usize>,
    /// Directories this run made (only these get the offered mode and mtime).
    created: HashSet<PathBuf>,
}

impl Landing {
    /// Where each entry of `manifest` goes under `out`, and what is wanted
    /// of it. An entry that cannot land is an error: the offer is declined.
    pub fn plan(manifest: &Manifest, out: &Path, force: bool) -> Result<Landing> {
        let mut targets = Vec::with_capacity(manifest.entries().len());
        let mut by_name = HashMap::with_capacity(manifest.entries().len());
        for entry in manifest.entries() {
            let target = target(out, entry, force)?;
            by_name.insert(entry.name.clone(), targets.len());
            targets.push(target);
        }
        Ok(Landing { out: out.to_owned(), targets, by_name, created: HashSet::new() })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The answer for each entry, in manifest order.
    pub fn wants(&self) -> Vec<Want> {
        self.targets.iter().map(|target| target.want).collect()
    }

    /// Files still to come.
    pub fn pending(&self) -> usize {
        self.targets.iter().filter(|t| t.entry.kind == EntryKind::File && t.want != Want::Skip && !t.received).count()
    }

    /// The bytes of the files wanted (the whole of each, resumed or not).
    pub fn bytes_wanted(&self) -> u64 {
        let wanted = self.targets.iter().filter(|t| t.entry.kind == EntryKind::File && t.want != Want::Skip);
        wanted.map(|t| t.entry.meta.size).sum()
    }

    /// Creates the offered directories and every file's parent, refusing
    /// to pass through anything but a real directory.
    pub fn make_directories(&mut self) -> Result<()> {
        for target in &self.targets {
            let dir = match target.entry.kind {
                EntryKind::Directory => target.local.as_path(),
                EntryKind::File => target.local.parent().unwrap_or(&self.out),
            };
            make_directory(&self.out, dir, &mut self.created)?;
        }
        Ok(())
    }

    /// An Upload arrived for `name`: the target it is for. Only a file that
    /// was offered with exactly this `meta`, is wanted and has not arrived
    /// yet may be uploaded; anything else breaks the protocol.
    pub fn start(&mut self, name: &RemoteName, meta: &FileMeta) -> Result<&Target> {
        let index =
            *self.by_name.get(name).ok_or_else(|| anyhow!("the sender uploads {name}, which it did not offer"))?;
        let target = &mut self.targets[index];
        if target.entry.kind != EntryKind::File || target.want == Want::Skip || target.received {
            bail!("the sender uploads {name}, which is not due");
        }
        if target.entry.meta != *meta {
            bail!("the sender uploads {name} with other metadata than it offered");
        }
        target.received = true;
        Ok(target)
    }

    /// Gives the directories this run created their offered mode and mtime,
    /// deepest first, after everything in them is in place.
    pub fn finish_directories(&self) -> Result<()> {
        let mut made: Vec<&Target> = self
            .targets
            .iter()
            .filter(|t| t.entry.kind == EntryKind::Directory && self.created.contains(&t.local))
            .collect();
        made.sort_by_key(|t| std::cmp::Reverse(t.entry.name.segments().count()));
        for target in made {
            let dir = open_directory(&target.local)?;
            dir.set_permissions(fs::Permissions::from_mode(target.entry.meta.mode & 0o777))
                .with_context(|| format!("setting the mode of {}", target.local.display()))?;
            dir.set_modified(mtime(&target.entry.meta)).ok();
        }
        Ok(())
    }
}

/// Where `entry` lands and what is wanted of it. The reasons for refusing
/// name the entry, not the local path: they go to the sender too.
fn target(out: &Path, entry: &OfferEntry, force: bool) -> Result<Target> {
    let name = &entry.name;
    let mut local = out.to_path_buf();
    local.extend(name.segments());
    let file_name = name.segments().last().unwrap_or_default();
    if file_name.starts_with('.') && file_name.ends_with(".sxfer-part") {
        bail!("{name}: the receiver keeps its partial files under such names");
    }
    // No symbolic link anywhere on the way, the last component included.
    if check_destination(out, &local, true).is_err() {
        bail!("{name}: a symbolic link is in the way");
    }
    let partial = local.with_file_name(partial_name(file_name));
    let existing = fs::symlink_metadata(&local).ok();
    let want = match (entry.kind, existing) {
        (EntryKind::Directory, None) => Want::Send { from: 0 },
        (EntryKind::Directory, Some(found)) if found.is_dir() => Want::Send { from: 0 },
        (EntryKind::Directory, Some(_)) => bail!("{name} exists here and is not a directory"),
        (EntryKind::File, Some(found)) if found.is_file() && same_file(&found, &entry.meta) => Want::Skip,
        (EntryKind::File, Some(found)) if !found.is_file() => bail!("{name} exists here and is not a regular file"),
        (EntryKind::File, Some(_)) if !force => bail!("{name} exists here (use --force to overwrite)"),
        (EntryKind::File, _) => {
            let held =
                partial_length(&partial).map_err(|_| anyhow!("{name}: its partial file is not a regular file"))?;
            Want::Send { from: if held <= entry.meta.size { held } else { 0 } }
        }
    };
    Ok(Target { entry: entry.clone(), local, partial, want, received: false })
}

/// The quick check for a file an earlier run already placed: its size
/// and modification time are the offered ones.
fn same_file(found: &fs::Metadata, meta: &FileMeta) -> bool {
    found.len() == meta.size && found.mtime() == meta.mtime && found.mtime_nsec() == i64::from(meta.mtime_nanos)
}

/// Makes `dir` (under `out`) and the directories on the way, each only
/// if nothing is there; a symbolic link or a file on the way is refused.
fn make_directory(out: &Path, dir: &Path, created: &mut HashSet<PathBuf>) -> Result<()> {
    let relative = dir.strip_prefix(out).map_err(|_| anyhow!("{} is outside {}", dir.display(), out.display()))?;
    let mut at = out.to_path_buf();
    for component in relative.components() {
        at.push(component);
        match fs::symlink_metadata(&at) {
            Ok(found) if found.is_dir() => {}
            Ok(_) => bail!("{} is in the way (not a directory)", at.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&at).with_context(|| format!("creating {}", at.display()))?;
                created.insert(at.clone());
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", at.display())),
        }
    }
    Ok(())
}

/// A directory opened without following a symbolic link.
fn open_directory(path: &Path) -> Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).with_context(|| format!("opening {}", path.display()))?;
    Ok(File::from(fd))
}
