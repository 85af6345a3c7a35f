//! The messages of peer mode (PROTOCOL.md §13): the sender's manifest
//! (`Offer`, in one or more parts) and the receiver's answer
//! (`OfferReply`). The file data then moves as uploads (§7.5.1, §7.5.2).
//!
//! ```text
//! OfferEntry  = name:Name ‖ kind:u8 ‖ meta:FileMeta       kind 0x00 file, 0x01 directory
//! Offer       = count:u16 ‖ count × OfferEntry ‖ more:bool            count ≤ 512
//! OfferReply  = 0x00 ‖ count:u32 ‖ count × (want:u8 ‖ from:u64)     accept, count ≤ 100 000
//!             | 0x01 ‖ message:string16<0..1024>                    decline
//! ```

use super::fields::{put_name, read_bool, read_name, FileMeta, MAX_ERROR_MESSAGE};
use crate::codec::{bounded_str, Codec, Reader, Writer};
use crate::error::{Error, Result};
use crate::names::RemoteName;

/// Entries in one Offer message: with the longest names (1 024 bytes) a
/// part is 9 + 512 × 1 051 bytes, well within one record.
pub const MAX_OFFER_PART: usize = 512;
/// Entries in a whole offer (all its parts).
pub const MAX_OFFER: usize = 100_000;

const KIND_FILE: u8 = 0x00;
const KIND_DIRECTORY: u8 = 0x01;
const WANT_SEND: u8 = 0x00;
const WANT_SKIP: u8 = 0x01;
const ANSWER_ACCEPT: u8 = 0x00;
const ANSWER_DECLINE: u8 = 0x01;

/// What an offered entry is. There is no kind for symbolic links, devices
/// or other special files: a receiver can only be asked for these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
}

/// One entry of a manifest. A directory's `meta.size` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferEntry {
    pub name: RemoteName,
    pub kind: EntryKind,
    pub meta: FileMeta,
}

/// What the receiver wants of one offered entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Send it; the receiver already holds the first `from` bytes in a
    /// partial file (0: none). Directories: always `Send { from: 0 }`.
    Send { from: u64 },
    /// The receiver already has this file and will not take it.
    Skip,
}

/// The receiver's answer to a whole offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferAnswer {
    /// One [`Want`] per offered entry, in manifest order.
    Accept(Vec<Want>),
    /// Nothing will be received; the message says why (for the sender's user).
    Decline(String),
}

impl Codec for OfferEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        put_name(out, &self.name);
        out.put_u8(match self.kind {
            EntryKind::File => KIND_FILE,
            EntryKind::Directory => KIND_DIRECTORY,
        });
        self.meta.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let name = read_name(r)?;
        let kind = match r.u8()? {
            KIND_FILE => EntryKind::File,
            KIND_DIRECTORY => EntryKind::Directory,
            _ => return Err(Error::Malformed("unknown offer entry kind")),
        };
        let meta = FileMeta::read(r)?;
        if kind == EntryKind::Directory && meta.size != 0 {
            return Err(Error::Malformed("a directory entry with a size"));
        }
        Ok(OfferEntry { name, kind, meta })
    }
}

/// The body of an Offer after `kind ‖ transfer`.
pub(crate) fn encode_offer(out: &mut Vec<u8>, entries: &[OfferEntry], more: bool) {
    out.put_u16(entries.len() as u16);
    for entry in entries {
        entry.encode(out);
    }
    out.put_u8(u8::from(more));
}

pub(crate) fn read_offer(r: &mut Reader<'_>) -> Result<(Vec<OfferEntry>, bool)> {
    let count = usize::from(r.u16()?);
    if count > MAX_OFFER_PART {
        return Err(Error::Malformed("offer part longer than its maximum"));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(OfferEntry::read(r)?);
    }
    Ok((entries, read_bool(r)?))
}

impl Codec for OfferAnswer {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OfferAnswer::Accept(wants) => {
                out.put_u8(ANSWER_ACCEPT);
                out.put_u32(wants.len() as u32);
                for want in wants {
                    let (code, from) = match *want {
                        Want::Send { from } => (WANT_SEND, from),
                        Want::Skip => (WANT_SKIP, 0),
                    };
                    out.put_u8(code);
                    out.put_u64(from);
                }
            }
            OfferAnswer::Decline(message) => {
                out.put_u8(ANSWER_DECLINE);
                out.put_bytes_u16(bounded_str(message, MAX_ERROR_MESSAGE).as_bytes());
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8()? {
            ANSWER_ACCEPT => {
                let count = usize::try_from(r.u32()?).map_err(|_| Error::Malformed("length"))?;
                if count > MAX_OFFER {
                    return Err(Error::Malformed("offer reply longer than its maximum"));
                }
                // Each want is 9 bytes: refuse a count the record cannot hold.
                if r.remaining() < count.saturating_mul(9) {
                    return Err(Error::Malformed("truncated field"));
                }
                let mut wants = Vec::with_capacity(count);
                for _ in 0..count {
                    let code = r.u8()?;
                    let from = r.u64()?;
                    wants.push(match code {
                        WANT_SEND => Want::Send { from },
                        WANT_SKIP if from == 0 => Want::Skip,
                        WANT_SKIP => return Err(Error::Malformed("a skipped entry with an offset")),
                        _ => return Err(Error::Malformed("unknown want")),
                    });
                }
                Ok(OfferAnswer::Accept(wants))
            }
            ANSWER_DECLINE => Ok(OfferAnswer::Decline(r.str_u16(MAX_ERROR_MESSAGE)?.to_owned())),
            _ => Err(Error::Malformed("unknown offer answer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> FileMeta {
        FileMeta { size, mode: 0o644, mtime: 1_700_000_000, mtime_nanos: 5 }
    }

    #[test]
    fn entry_bytes_are_as_specified() {
        let entry = OfferEntry { name: RemoteName::parse("a/b").unwrap(), kind: EntryKind::File, meta: meta(7) };
        let bytes = entry.to_bytes();
        assert_eq!(&bytes[..6], &[0x00, 0x03, b'a', b'/', b'b', KIND_FILE]);
        assert_eq!(bytes.len(), 2 + 3 + 1 + 24);
        assert_eq!(OfferEntry::decode(&bytes).unwrap(), entry);
    }

    #[test]
    fn kinds_other_than_file_and_directory_are_decode_errors() {
        let entry = OfferEntry { name: RemoteName::parse("link").unwrap(), kind: EntryKind::File, meta: meta(0) };
        let mut bytes = entry.to_bytes();
        bytes[6] = 0x02; // what a symbolic link would have to be
        assert_eq!(OfferEntry::decode(&bytes), Err(Error::Malformed("unknown offer entry kind")));
    }

    #[test]
    fn a_directory_has_no_size() {
        let entry = OfferEntry { name: RemoteName::parse("d").unwrap(), kind: EntryKind::Directory, meta: meta(1) };
        assert_eq!(OfferEntry::decode(&entry.to_bytes()), Err(Error::Malformed("a directory entry with a size")));
    }

    #[test]
    fn a_huge_accept_count_is_refused_before_allocating() {
        let mut bytes = vec![ANSWER_ACCEPT];
        bytes.put_u32(u32::MAX);
        assert_eq!(OfferAnswer::decode(&bytes), Err(Error::Malformed("offer reply longer than its maximum")));
        let mut bytes = vec![ANSWER_ACCEPT];
        bytes.put_u32(MAX_OFFER as u32);
        assert_eq!(OfferAnswer::decode(&bytes), Err(Error::Malformed("truncated field")));
    }

    #[test]
    fn a_skip_carries_no_offset_and_wants_are_known() {
        let mut bytes = vec![ANSWER_ACCEPT];
        bytes.put_u32(1);
        bytes.put_u8(WANT_SKIP);
        bytes.put_u64(3);
        assert_eq!(OfferAnswer::decode(&bytes), Err(Error::Malformed("a skipped entry with an offset")));
        bytes[5] = 0x07;
        assert_eq!(OfferAnswer::decode(&bytes), Err(Error::Malformed("unknown want")));
        assert_eq!(OfferAnswer::decode(&[0x02]), Err(Error::Malformed("unknown offer answer")));
    }
}
