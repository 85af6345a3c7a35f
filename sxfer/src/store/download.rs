//! Downloads: a committed blob, decrypted as it is read.

use std::io::{self, Read, Seek, SeekFrom};

use age::stream::StreamReader;
use sxfer_proto::msgs::FileEntry;
use sxfer_proto::names::RemoteName;

use super::blob::BlobRead;
use super::error::{Result, StoreError};
use super::meta::UserId;
use super::Store;

/// How often to look the file up again when its blob vanished between the
/// lookup and the open (a concurrent replace or delete).
const OPEN_ATTEMPTS: usize = 3;

/// The plaintext of one stored file: `Read + Seek` over age's StreamReader
/// over the blob store's ranged reader.
///
/// Every 64 KiB chunk is authenticated before any of it is returned. A
/// tampered or truncated blob makes `read` (or `seek`) fail with an
/// `io::Error` of kind `InvalidData` or `UnexpectedEof`; the caller reports
/// it as an integrity error. The whole-file digest in the [`FileEntry`] is
/// what the client checks at the end, end to end.
pub struct Download {
    reader: StreamReader<Box<dyn BlobRead>>,
    size: u64,
}

impl Store {
    /// Opens `name` for reading. `None` if there is no such file. The open
    /// blob stays readable even if the file is deleted or replaced meanwhile.
    /// A blob whose header does not decrypt is an `Integrity` error.
    pub fn open_download(&self, user: UserId, name: &RemoteName) -> Result<Option<(FileEntry, Download)>> {
        let mut previous = None;
        for _ in 0..OPEN_ATTEMPTS {
            let Some((entry, blob_id)) = self.inner.meta.file(user, name)? else {
                return Ok(None);
            };
            if previous.as_ref() == Some(&blob_id) {
                break;
            }
            match self.inner.blobs.open(&blob_id)? {
                Some(blob) => {
                    let reader = self.inner.decrypt(blob, &blob_id)?;
                    let size = entry.meta.size;
                    return Ok(Some((entry, Download { reader, size })));
                }
                None => {
                    tracing::debug!(user = %user, %name, "blob vanished while opening; looking the file up again");
                    previous = Some(blob_id);
                }
            }
        }
        tracing::error!(user = %user, %name, "a committed file's blob is missing");
        Err(StoreError::Internal(format!("the blob of {name} is missing")))
    }
}

impl Download {
    /// The plaintext size recorded when the file was committed.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Seek for Download {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.reader.seek(position)
    }
}
