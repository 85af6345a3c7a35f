//! Where a sender's bytes come from. Sources are blocking (files, stored
//! blobs): [`produce`] runs one on a blocking thread.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::CHUNK;
use crate::net::record_buffer;
use sxfer_proto::record::PAYLOAD_OFFSET;

/// A file's bytes, read in order after one [`seek`](Source::seek).
pub trait Source: Send + 'static {
    /// Position at `offset` before the first read; a source that computes
    /// the digest hashes the prefix it skips.
    fn seek(&mut self, offset: u64) -> Result<()>;
    /// Fill all of `buf` with the next bytes (the file ending early is an
    /// error: it shrank, or a stored file is damaged).
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()>;
    /// After the last byte: the BLAKE3 of the whole file, checking that
    /// nothing follows.
    fn finish(&mut self) -> Result<[u8; 32]>;
}

/// Reads bytes `offset .. size` of `source` into record buffers (payload
/// at `PAYLOAD_OFFSET`, sized to what is left, reusing `spare` ones) and
/// hands each to `emit`, which returns false to stop (the connection is
/// gone: `Ok(None)`). Returns the whole file's digest.
pub fn produce(
    source: &mut impl Source,
    offset: u64,
    size: u64,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
    mut emit: impl FnMut(Vec<u8>) -> bool,
) -> Result<Option<[u8; 32]>> {
    source.seek(offset)?;
    let mut remaining = size - offset.min(size);
    while remaining > 0 {
        let len = remaining.min(CHUNK as u64) as usize;
        let mut buf = record_buffer(spare, len);
        source.read_exact(&mut buf[PAYLOAD_OFFSET..])?;
        remaining -= len as u64;
        if !emit(buf) {
            return Ok(None);
        }
    }
    source.finish().map(Some)
}

/// A local file, hashed while it is read; it must not change size.
pub struct LocalFile {
    path: PathBuf,
    file: File,
    hasher: blake3::Hasher,
}

impl LocalFile {
    pub fn open(path: &Path) -> Result<LocalFile> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(LocalFile { path: path.to_owned(), file, hasher: blake3::Hasher::new() })
    }
}

impl Source for LocalFile {
    /// The prefix the receiver already holds is hashed here, not sent.
    fn seek(&mut self, offset: u64) -> Result<()> {
        if offset > 0 {
            let copied = std::io::copy(&mut (&mut self.file).take(offset), &mut self.hasher)
                .with_context(|| format!("reading {}", self.path.display()))?;
            if copied != offset {
                bail!("{} shrank while being uploaded", self.path.display());
            }
        }
        self.file.seek(SeekFrom::Start(offset)).with_context(|| format!("reading {}", self.path.display()))?;
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact(buf).with_context(|| format!("{} shrank while being uploaded", self.path.display()))?;
        self.hasher.update(buf);
        Ok(())
    }

    fn finish(&mut self) -> Result<[u8; 32]> {
        if self.file.read(&mut [0u8; 1]).with_context(|| format!("reading {}", self.path.display()))? != 0 {
            bail!("{} grew while being uploaded", self.path.display());
        }
        Ok(*self.hasher.finalize().as_bytes())
    }
}
