//! Peer mode's direct upgrade (PROTOCOL.md §13.10): inside a relayed
//! session the peers tell each other where they can be reached
//! (`Candidates`), and the creator says which path the transfer takes
//! (`Path`), on the relayed session and on the direct connection it chose.
//!
//! ```text
//! Candidates = count:u8 ‖ count × Address                  count ≤ 8; 0: relay only
//! Address    = 0x04 ‖ ip:4 bytes ‖ port:u16 | 0x06 ‖ ip:16 bytes ‖ port:u16
//! Path       = 0x00 (relayed) | 0x01 (direct)
//! ```
//!
//! They travel in the application envelope as
//! [`Message::Direct`](super::Message::Direct), kinds `0x0302`, `0x0303`.

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};

/// Most addresses one side offers.
pub const MAX_CANDIDATES: usize = 8;

pub(super) const KIND_CANDIDATES: u16 = 0x0302;
pub(super) const KIND_PATH: u16 = 0x0303;

const FAMILY_V4: u8 = 0x04;
const FAMILY_V6: u8 = 0x06;
const PATH_RELAYED: u8 = 0x00;
const PATH_DIRECT: u8 = 0x01;

/// A candidate address as bytes (the core does no I/O; the application
/// turns it into its socket address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    V4 { ip: [u8; 4], port: u16 },
    V6 { ip: [u8; 16], port: u16 },
}

impl Candidate {
    /// Whether anyone could connect to it: a port, and an address that is
    /// neither unspecified nor multicast.
    fn reachable(&self) -> bool {
        match self {
            Candidate::V4 { ip, port } => *port != 0 && *ip != [0; 4] && !(224..=239).contains(&ip[0]),
            Candidate::V6 { ip, port } => *port != 0 && *ip != [0; 16] && ip[0] != 0xff,
        }
    }
}

/// One message of the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direct {
    /// Where this side listens for the direct connection, at most
    /// [`MAX_CANDIDATES`]; none: it neither listens nor dials (relay only).
    Candidates(Vec<Candidate>),
    /// The creator's choice: `true` on the direct connection it took and on
    /// the relayed session; `false` on the relayed session: stay relayed.
    Path { direct: bool },
}

impl Direct {
    pub(super) fn kind(&self) -> u16 {
        match self {
            Direct::Candidates(_) => KIND_CANDIDATES,
            Direct::Path { .. } => KIND_PATH,
        }
    }

    pub(super) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Direct::Candidates(addresses) => {
                let addresses = &addresses[..addresses.len().min(MAX_CANDIDATES)];
                out.put_u8(addresses.len() as u8);
                for address in addresses {
                    let port = match address {
                        Candidate::V4 { ip, port } => {
                            out.put_u8(FAMILY_V4);
                            out.extend_from_slice(ip);
                            port
                        }
                        Candidate::V6 { ip, port } => {
                            out.put_u8(FAMILY_V6);
                            out.extend_from_slice(ip);
                            port
                        }
                    };
                    out.put_u16(*port);
                }
            }
            Direct::Path { direct } => out.put_u8(if *direct { PATH_DIRECT } else { PATH_RELAYED }),
        }
    }

    /// The body of a message of `kind`, or `None` if `kind` is not one of
    /// these.
    pub(super) fn read_body(kind: u16, r: &mut Reader<'_>) -> Result<Option<Direct>> {
        Ok(Some(match kind {
            KIND_CANDIDATES => {
                let count = usize::from(r.u8()?);
                if count > MAX_CANDIDATES {
                    return Err(Error::Malformed("more candidate addresses than allowed"));
                }
                let mut addresses = Vec::with_capacity(count);
                for _ in 0..count {
                    let address = match r.u8()? {
                        FAMILY_V4 => Candidate::V4 { ip: r.array()?, port: r.u16()? },
                        FAMILY_V6 => Candidate::V6 { ip: r.array()?, port: r.u16()? },
                        _ => return Err(Error::Malformed("unknown address family")),
                    };
                    if !address.reachable() {
                        return Err(Error::Malformed("a candidate address no one can connect to"));
                    }
                    addresses.push(address);
                }
                Direct::Candidates(addresses)
            }
            KIND_PATH => match r.u8()? {
                PATH_RELAYED => Direct::Path { direct: false },
                PATH_DIRECT => Direct::Path { direct: true },
                _ => return Err(Error::Malformed("unknown path")),
            },
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Message;
    use super::*;
    use crate::codec::Codec;

    fn message(direct: Direct) -> Message {
        Message::Direct { transfer: 0, direct }
    }

    #[test]
    fn candidates_bytes_are_as_specified() {
        let mut loopback6 = [0; 16];
        loopback6[15] = 1;
        let addresses =
            vec![Candidate::V4 { ip: [127, 0, 0, 1], port: 7273 }, Candidate::V6 { ip: loopback6, port: 5 }];
        let bytes = message(Direct::Candidates(addresses.clone())).to_bytes();
        let mut want = vec![0x03, 0x02, 0, 0, 0, 0, 2, FAMILY_V4, 127, 0, 0, 1, 0x1c, 0x69, FAMILY_V6];
        want.extend_from_slice(&loopback6);
        want.extend_from_slice(&[0, 5]);
        assert_eq!(bytes, want);
        assert_eq!(Message::decode(&bytes).unwrap(), message(Direct::Candidates(addresses)));
        assert_eq!(message(Direct::Candidates(vec![])).to_bytes(), [0x03, 0x02, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_candidates_are_decode_errors() {
        let mut too_many = vec![0x03, 0x02, 0, 0, 0, 0, 9];
        for _ in 0..9 {
            too_many.extend_from_slice(&[FAMILY_V4, 10, 0, 0, 1, 0, 80]);
        }
        assert_eq!(Message::decode(&too_many), Err(Error::Malformed("more candidate addresses than allowed")));
        let family = [0x03, 0x02, 0, 0, 0, 0, 1, 0x05, 10, 0, 0, 1, 0, 80];
        assert_eq!(Message::decode(&family), Err(Error::Malformed("unknown address family")));
        for bad in [[FAMILY_V4, 10, 0, 0, 1, 0, 0], [FAMILY_V4, 0, 0, 0, 0, 0, 80], [FAMILY_V4, 224, 0, 0, 1, 0, 80]] {
            let mut bytes = vec![0x03, 0x02, 0, 0, 0, 0, 1];
            bytes.extend_from_slice(&bad);
            assert_eq!(Message::decode(&bytes), Err(Error::Malformed("a candidate address no one can connect to")));
        }
        assert!(Message::decode(&[0x03, 0x02, 0, 0, 0, 0, 1, FAMILY_V4, 10, 0]).is_err());
    }

    #[test]
    fn path_is_one_of_two() {
        assert_eq!(message(Direct::Path { direct: true }).to_bytes(), [0x03, 0x03, 0, 0, 0, 0, 1]);
        assert_eq!(message(Direct::Path { direct: false }).to_bytes(), [0x03, 0x03, 0, 0, 0, 0, 0]);
        assert_eq!(Message::decode(&[0x03, 0x03, 0, 0, 0, 0, 2]), Err(Error::Malformed("unknown path")));
    }
}
