//! A peer-mode manifest (PROTOCOL.md §13.3): the checked list of what a
//! sender offers, built once from the Offer parts (receiver) or the local
//! files (sender), and the checks on the answer to it.
//!
//! A [`Manifest`] cannot hold an offer a receiver should not see: at most
//! [`MAX_OFFER`] entries, every name a [`RemoteName`] (relative, no `..`,
//! no control characters), no name twice, nothing under a file, sizes
//! that add up within `u64`.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::msgs::peer::{MAX_OFFER, MAX_OFFER_PART};
use crate::msgs::{EntryKind, Message, OfferEntry, Want};

/// What a sender offers, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<OfferEntry>,
    total: u64,
}

impl Manifest {
    pub fn new(entries: Vec<OfferEntry>) -> Result<Manifest> {
        if entries.is_empty() {
            return Err(Error::PeerMisbehaved("an empty offer"));
        }
        if entries.len() > MAX_OFFER {
            return Err(Error::PeerMisbehaved("an offer of more than 100 000 entries"));
        }
        let mut names = HashSet::with_capacity(entries.len());
        let mut files = HashSet::new();
        let mut total = 0u64;
        for entry in &entries {
            if !names.insert(entry.name.as_str()) {
                return Err(Error::PeerMisbehaved("an offer names one entry twice"));
            }
            if entry.kind == EntryKind::File {
                files.insert(entry.name.as_str());
                total = total.checked_add(entry.meta.size).ok_or(Error::PeerMisbehaved("an offer too large"))?;
            }
        }
        for entry in &entries {
            let name = entry.name.as_str();
            let mut ancestors = name.match_indices('/').map(|(at, _)| &name[..at]);
            if ancestors.any(|ancestor| files.contains(ancestor)) {
                return Err(Error::PeerMisbehaved("an offer has an entry under a file"));
            }
        }
        Ok(Manifest { entries, total })
    }

    pub fn entries(&self) -> &[OfferEntry] {
        &self.entries
    }

    /// How many of the entries are files.
    pub fn file_count(&self) -> usize {
        self.entries.iter().filter(|entry| entry.kind == EntryKind::File).count()
    }

    /// The sum of the files' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// The Offer messages that carry this manifest, in order.
    pub fn offer(&self, transfer: u32) -> Vec<Message> {
        let parts = self.entries.chunks(MAX_OFFER_PART);
        let count = parts.len();
        parts
            .enumerate()
            .map(|(index, part)| Message::Offer { transfer, entries: part.to_vec(), more: index + 1 < count })
            .collect()
    }

    /// (Sender) Check an accepting answer: one want per entry, a
    /// directory never skipped or resumed, no resume point beyond a file.
    pub fn check_wants(&self, wants: &[Want]) -> Result<()> {
        if wants.len() != self.entries.len() {
            return Err(Error::PeerMisbehaved("the offer reply does not answer every entry"));
        }
        for (entry, want) in self.entries.iter().zip(wants) {
            match (entry.kind, *want) {
                (EntryKind::Directory, Want::Send { from: 0 }) | (EntryKind::File, Want::Skip) => {}
                (EntryKind::Directory, _) => {
                    return Err(Error::PeerMisbehaved("the offer reply skips or resumes a directory"))
                }
                (EntryKind::File, Want::Send { from }) if from > entry.meta.size => {
                    return Err(Error::PeerMisbehaved("the offer reply resumes beyond the end of a file"))
                }
                (EntryKind::File, Want::Send { .. }) => {}
            }
        }
        Ok(())
    }
}

/// (Receiver) Gathers the Offer parts of one offer into a [`Manifest`].
#[derive(Debug, Default)]
pub struct OfferReader {
    transfer: Option<u32>,
    entries: Vec<OfferEntry>,
}

impl OfferReader {
    /// The next message from the sender: `Ok(None)` while more parts are
    /// due, the manifest after the last one. Anything but an Offer of the
    /// same transfer is out of place.
    pub fn on_message(&mut self, message: Message) -> Result<Option<Manifest>> {
        let Message::Offer { transfer, entries, more } = message else {
            return Err(Error::PeerMisbehaved("expected the sender's offer"));
        };
        if *self.transfer.get_or_insert(transfer) != transfer {
            return Err(Error::PeerMisbehaved("offer parts with different transfer ids"));
        }
        if self.entries.len() + entries.len() > MAX_OFFER {
            return Err(Error::PeerMisbehaved("an offer of more than 100 000 entries"));
        }
        self.entries.extend(entries);
        if more {
            return Ok(None);
        }
        Manifest::new(std::mem::take(&mut self.entries)).map(Some)
    }

    /// The transfer id of the offer (the reply echoes it).
    pub fn transfer(&self) -> u32 {
        self.transfer.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::FileMeta;
    use crate::names::RemoteName;

    fn entry(name: &str, kind: EntryKind, size: u64) -> OfferEntry {
        let meta = FileMeta { size, mode: 0o644, mtime: 0, mtime_nanos: 0 };
        OfferEntry { name: RemoteName::parse(name).unwrap(), kind, meta }
    }

    fn file(name: &str, size: u64) -> OfferEntry {
        entry(name, EntryKind::File, size)
    }

    fn dir(name: &str) -> OfferEntry {
        entry(name, EntryKind::Directory, 0)
    }

    #[test]
    fn a_manifest_refuses_what_cannot_land() {
        assert!(Manifest::new(vec![]).is_err());
        assert!(Manifest::new(vec![file("a", 1), file("a", 2)]).is_err(), "twice");
        assert!(Manifest::new(vec![file("a", 1), dir("a")]).is_err(), "a file and a directory of one name");
        assert!(Manifest::new(vec![file("a/b/c", 1), file("a", 2)]).is_err(), "under a file");
        assert!(Manifest::new(vec![file("a", u64::MAX), file("b", 1)]).is_err(), "sizes overflow");
        let ok = Manifest::new(vec![dir("a"), file("a/b", 3), dir("a/c"), file("ab", 4)]).unwrap();
        assert_eq!((ok.file_count(), ok.total_bytes()), (2, 7));
    }

    #[test]
    fn parts_go_back_together() {
        let entries: Vec<_> = (0..MAX_OFFER_PART * 2 + 1).map(|i| file(&format!("f{i}"), 1)).collect();
        let manifest = Manifest::new(entries).unwrap();
        let parts = manifest.offer(1);
        assert_eq!(parts.len(), 3);
        let mut reader = OfferReader::default();
        let mut got = None;
        for part in parts {
            assert!(got.is_none(), "nothing after the last part");
            got = reader.on_message(part).unwrap();
        }
        assert_eq!(got, Some(manifest));
    }

    #[test]
    fn the_reader_refuses_other_messages_and_mixed_ids() {
        let mut reader = OfferReader::default();
        assert!(reader.on_message(Message::Done { transfer: 1 }).is_err());
        let mut reader = OfferReader::default();
        assert_eq!(
            reader.on_message(Message::Offer { transfer: 1, entries: vec![file("a", 1)], more: true }),
            Ok(None)
        );
        assert!(reader.on_message(Message::Offer { transfer: 2, entries: vec![file("b", 1)], more: false }).is_err());
    }

    #[test]
    fn the_reader_stops_counting_at_the_maximum() {
        let mut reader = OfferReader::default();
        let part: Vec<_> = (0..MAX_OFFER_PART).map(|i| file(&format!("f{i}"), 0)).collect();
        let mut result = Ok(None);
        for _ in 0..=MAX_OFFER / MAX_OFFER_PART {
            result = reader.on_message(Message::Offer { transfer: 1, entries: part.clone(), more: true });
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(Error::PeerMisbehaved("an offer of more than 100 000 entries")));
    }

    #[test]
    fn wants_must_fit_the_manifest() {
        let manifest = Manifest::new(vec![dir("d"), file("d/f", 10)]).unwrap();
        assert!(manifest.check_wants(&[Want::Send { from: 0 }, Want::Send { from: 10 }]).is_ok());
        assert!(manifest.check_wants(&[Want::Send { from: 0 }, Want::Skip]).is_ok());
        assert!(manifest.check_wants(&[Want::Send { from: 0 }]).is_err(), "too few");
        assert!(manifest.check_wants(&[Want::Skip, Want::Skip]).is_err(), "a skipped directory");
        assert!(manifest.check_wants(&[Want::Send { from: 0 }, Want::Send { from: 11 }]).is_err(), "beyond");
    }
}
