//! Fields several message families share (PROTOCOL.md §7.3): file
//! metadata, remote names, booleans, the longest error text. The
//! application messages (`app`), peer mode (`peer`) and drops (`drop`)
//! all build on these; none of them on each other for it.

use crate::codec::{Codec, Reader, Writer};
use crate::error::{Error, Result};
use crate::names::{RemoteName, MAX_NAME};

/// The longest Error message text, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 1024;

/// What a file is besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    /// Unix permission bits (0o7777 at most).
    pub mode: u32,
    /// Modification time: seconds since the Unix epoch and nanoseconds.
    pub mtime: i64,
    pub mtime_nanos: u32,
}

impl Codec for FileMeta {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.size);
        out.put_u32(self.mode);
        out.put_u64(self.mtime as u64);
        out.put_u32(self.mtime_nanos);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let size = r.u64()?;
        let mode = r.u32()?;
        let mtime = r.u64()? as i64;
        let mtime_nanos = r.u32()?;
        if mode > 0o7777 || mtime_nanos >= 1_000_000_000 {
            return Err(Error::Malformed("file metadata"));
        }
        Ok(FileMeta { size, mode, mtime, mtime_nanos })
    }
}

pub(crate) fn put_name(out: &mut Vec<u8>, name: &RemoteName) {
    out.put_bytes_u16(name.as_str().as_bytes());
}

pub(crate) fn read_name(r: &mut Reader<'_>) -> Result<RemoteName> {
    RemoteName::parse(r.str_u16(MAX_NAME)?)
}

pub(crate) fn read_bool(r: &mut Reader<'_>) -> Result<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Error::Malformed("boolean")),
    }
}
