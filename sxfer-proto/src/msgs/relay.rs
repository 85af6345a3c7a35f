//! Rendezvous and relay messages (PROTOCOL.md §12): a client asks the
//! server for a nameplate (`RelayCreate`), another joins it (`RelayJoin`),
//! and once both are there the server says `RelayStart` to each. After
//! `RelayStart` neither side sends another record in that session: the
//! bytes that follow on the connection are the raw relayed stream.
//!
//! They travel in the application envelope (`kind ‖ transfer ‖ body`, §7.2)
//! as [`Message::Relay`](super::Message::Relay), kinds `0x0400..=0x0403`.

use std::fmt;
use std::str::FromStr;

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};

/// The largest nameplate: nine decimal digits.
pub const MAX_NAMEPLATE: u32 = 999_999_999;

pub(super) const KIND_RELAY_CREATE: u16 = 0x0400;
pub(super) const KIND_RELAY_JOIN: u16 = 0x0401;
pub(super) const KIND_RELAY_NAMEPLATE: u16 = 0x0402;
pub(super) const KIND_RELAY_START: u16 = 0x0403;

/// The public first part of a relay code: 1 to [`MAX_NAMEPLATE`], written
/// in decimal without leading zeros (`42`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nameplate(u32);

impl Nameplate {
    /// `None` for 0 or a value above [`MAX_NAMEPLATE`].
    pub fn new(value: u32) -> Option<Nameplate> {
        (1..=MAX_NAMEPLATE).contains(&value).then_some(Nameplate(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Nameplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Nameplate {
    type Err = Error;

    /// Only the canonical form: ASCII digits, no sign, no leading zero.
    fn from_str(text: &str) -> Result<Nameplate> {
        let bad = Error::Malformed("nameplate (1 to 999999999, decimal, no leading zero)");
        if text.is_empty() || text.len() > 9 || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        text.parse().ok().and_then(Nameplate::new).ok_or(bad)
    }
}

/// One rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    /// c→s: give me a nameplate and pair me with whoever joins it.
    Create,
    /// c→s: pair me with the creator of `nameplate`.
    Join { nameplate: Nameplate },
    /// s→c, the answer to Create: the nameplate to pass on, and how long
    /// the server waits for a joiner.
    Nameplate { nameplate: Nameplate, expires_in_secs: u32 },
    /// s→c, to both sides once paired: the raw relayed stream follows.
    Start,
}

impl Relay {
    pub(super) fn kind(&self) -> u16 {
        match self {
            Relay::Create => KIND_RELAY_CREATE,
            Relay::Join { .. } => KIND_RELAY_JOIN,
            Relay::Nameplate { .. } => KIND_RELAY_NAMEPLATE,
            Relay::Start => KIND_RELAY_START,
        }
    }

    pub(super) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Relay::Create | Relay::Start => {}
            Relay::Join { nameplate } => out.put_u32(nameplate.get()),
            Relay::Nameplate { nameplate, expires_in_secs } => {
                out.put_u32(nameplate.get());
                out.put_u32(*expires_in_secs);
            }
        }
    }

    /// The body of a message of `kind`, or `None` if `kind` is not a
    /// relay kind.
    pub(super) fn read_body(kind: u16, r: &mut Reader<'_>) -> Result<Option<Relay>> {
        Ok(Some(match kind {
            KIND_RELAY_CREATE => Relay::Create,
            KIND_RELAY_JOIN => Relay::Join { nameplate: read_nameplate(r)? },
            KIND_RELAY_NAMEPLATE => Relay::Nameplate { nameplate: read_nameplate(r)?, expires_in_secs: r.u32()? },
            KIND_RELAY_START => Relay::Start,
            _ => return Ok(None),
        }))
    }
}

fn read_nameplate(r: &mut Reader<'_>) -> Result<Nameplate> {
    Nameplate::new(r.u32()?).ok_or(Error::Malformed("nameplate out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::msgs::Message;

    fn relay(transfer: u32, relay: Relay) -> Message {
        Message::Relay { transfer, relay }
    }

    #[test]
    fn golden_bytes_and_round_trips() {
        let plate = Nameplate::new(42).unwrap();
        let cases = [
            (relay(1, Relay::Create), "040000000001"),
            (relay(2, Relay::Join { nameplate: plate }), "0401000000020000002a"),
            (relay(1, Relay::Nameplate { nameplate: plate, expires_in_secs: 300 }), "0402000000010000002a0000012c"),
            (relay(2, Relay::Start), "040300000002"),
        ];
        for (message, hex) in cases {
            let bytes = message.to_bytes();
            let shown: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(shown, hex, "{message:?}");
            assert_eq!(Message::decode(&bytes).unwrap(), message);
            assert_eq!(message.transfer(), u32::from_str_radix(&hex[4..12], 16).unwrap());
        }
    }

    #[test]
    fn decode_errors() {
        let bad: [&[u8]; 7] = [
            // Join with nameplate 0, and with 1 000 000 000.
            &[0x04, 0x01, 0, 0, 0, 1, 0, 0, 0, 0],
            &[0x04, 0x01, 0, 0, 0, 1, 0x3b, 0x9a, 0xca, 0x00],
            // Join with a truncated nameplate.
            &[0x04, 0x01, 0, 0, 0, 1, 0, 0, 0x2a],
            // Create and Start with a body; Nameplate without its expiry.
            &[0x04, 0x00, 0, 0, 0, 1, 0],
            &[0x04, 0x03, 0, 0, 0, 1, 9, 9],
            &[0x04, 0x02, 0, 0, 0, 1, 0, 0, 0, 0x2a],
            // The next kind in the range does not exist.
            &[0x04, 0x04, 0, 0, 0, 1],
        ];
        for bytes in bad {
            assert!(Message::decode(bytes).is_err(), "{bytes:02x?} must not decode");
        }
        let highest = relay(7, Relay::Join { nameplate: Nameplate::new(MAX_NAMEPLATE).unwrap() });
        assert_eq!(Message::decode(&highest.to_bytes()).unwrap(), highest);
    }

    #[test]
    fn nameplates_parse_only_in_canonical_form() {
        assert_eq!("42".parse::<Nameplate>().unwrap().get(), 42);
        assert_eq!("999999999".parse::<Nameplate>().unwrap().to_string(), "999999999");
        for bad in ["", "0", "042", "+4", "-4", "4a", "1000000000", " 4", "٤"] {
            assert!(bad.parse::<Nameplate>().is_err(), "{bad:?}");
        }
        assert!(Nameplate::new(0).is_none() && Nameplate::new(MAX_NAMEPLATE + 1).is_none());
    }
}
