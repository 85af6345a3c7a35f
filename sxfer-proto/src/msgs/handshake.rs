//! ClientHello and ServerHello (PROTOCOL.md §4.2, §4.3). Sent in plaintext
//! frames; everything in them is covered by the transcript hash, which the
//! server signs and both key schedules absorb. In place of a ServerHello the
//! server may send a HelloRefusal (§4.7): plaintext, unsigned, and so only
//! ever a reason to stop.

use crate::codec::{Codec, Reader, Writer};
pub use crate::error::Negotiated;
use crate::error::{CloseCode, Error, Result};
use crate::identity::{Signature, SignatureScheme};
use crate::kx::KexId;
use crate::record::suite::SuiteId;

/// The first four bytes of every ClientHello and ServerHello body.
pub const MAGIC: [u8; 4] = *b"SXFR";
/// Protocol version SXFR/1.
pub const VERSION_1: u16 = 0x0001;

/// The version field of a HelloRefusal: never a protocol version.
pub const REFUSAL: u16 = 0x0000;

pub const MAX_VERSIONS: usize = 8;
pub const MAX_KEX_OFFERS: usize = 4;
pub const MAX_SUITES: usize = 16;
pub const MAX_KEX_SHARE: usize = 4096;
pub const MAX_IDENTITY: usize = 2048;
pub const MAX_SIGNATURE: usize = 1024;

/// One offered key exchange and the client's public share for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexShare {
    pub kex: KexId,
    pub share: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// Offered versions, most preferred first.
    pub versions: Vec<u16>,
    pub random: [u8; 32],
    /// Offered key exchanges with shares, most preferred first.
    pub kex_offers: Vec<KexShare>,
    /// Offered record suites, most preferred first.
    pub suites: Vec<SuiteId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    pub version: u16,
    pub random: [u8; 32],
    pub kex: KexId,
    pub kex_share: Vec<u8>,
    pub suite: SuiteId,
    /// The server identity public key, SSH wire encoding (RFC 4253 §6.6).
    pub identity: Vec<u8>,
    /// Signature over the transcript hash (PROTOCOL.md §4.4). Last field:
    /// the signed bytes are the received body up to, not including, it.
    pub signature: Signature,
}

/// The server's answer to a ClientHello it cannot agree with (PROTOCOL.md
/// §4.7), sent in the hello frame in place of a ServerHello:
///
/// ```text
/// HelloRefusal = magic ‖ version:u16 = 0x0000 ‖ code:u16 ‖ negotiated:u8
/// ```
///
/// Nothing authenticates it: a client stops on it as on a cut connection,
/// and never retries with other offers because of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloRefusal {
    /// A close code (§8); `HandshakeFailure` from this implementation.
    pub code: CloseCode,
    /// What found no common choice; `None` if the server did not say (0x00)
    /// or said something this implementation does not know.
    pub negotiated: Option<Negotiated>,
}

impl HelloRefusal {
    /// Whether a hello frame body is a refusal rather than a ServerHello:
    /// the magic, then the version field 0x0000.
    pub fn is_refusal(body: &[u8]) -> bool {
        body.len() >= 6 && body[..4] == MAGIC && body[4..6] == REFUSAL.to_be_bytes()
    }
}

impl Codec for HelloRefusal {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.put_u16(REFUSAL);
        out.put_u16(self.code.to_u16());
        out.put_u8(self.negotiated.map_or(0x00, Negotiated::code));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        read_magic(r)?;
        if r.u16()? != REFUSAL {
            return Err(Error::Malformed("hello refusal"));
        }
        let code = CloseCode::from_u16(r.u16()?);
        let negotiated = Negotiated::from_code(r.u8()?);
        Ok(HelloRefusal { code, negotiated })
    }
}

impl Codec for ClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.put_u8(self.versions.len() as u8);
        for version in &self.versions {
            out.put_u16(*version);
        }
        out.extend_from_slice(&self.random);
        out.put_u8(self.kex_offers.len() as u8);
        for offer in &self.kex_offers {
            out.put_u16(offer.kex.code());
            out.put_bytes_u16(&offer.share);
        }
        out.put_u8(self.suites.len() as u8);
        for suite in &self.suites {
            out.put_u16(suite.code());
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        read_magic(r)?;
        let versions = read_list(r, MAX_VERSIONS, "versions", |r| r.u16())?;
        let random = r.array()?;
        let kex_offers = read_list(r, MAX_KEX_OFFERS, "key exchange offers", |r| {
            let kex = KexId::from_code(r.u16()?).ok_or(Error::Malformed("unknown key exchange"))?;
            let share = r.bytes_u16(MAX_KEX_SHARE)?.to_vec();
            Ok(KexShare { kex, share })
        })?;
        if (1..kex_offers.len()).any(|i| kex_offers[..i].iter().any(|o| o.kex == kex_offers[i].kex)) {
            return Err(Error::Malformed("key exchange offers"));
        }
        let suites = read_list(r, MAX_SUITES, "suites", |r| {
            SuiteId::from_code(r.u16()?).ok_or(Error::Malformed("unknown suite"))
        })?;
        Ok(ClientHello { versions, random, kex_offers, suites })
    }
}

impl ServerHello {
    /// Encode every field but the signature: the bytes the signature covers.
    pub fn encode_unsigned(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.put_u16(self.version);
        out.extend_from_slice(&self.random);
        out.put_u16(self.kex.code());
        out.put_bytes_u16(&self.kex_share);
        out.put_u16(self.suite.code());
        out.put_bytes_u16(&self.identity);
    }
}

impl Codec for ServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.encode_unsigned(out);
        self.signature.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        read_magic(r)?;
        let version = r.u16()?;
        let random = r.array()?;
        let kex = KexId::from_code(r.u16()?).ok_or(Error::Malformed("unknown key exchange"))?;
        let kex_share = r.bytes_u16(MAX_KEX_SHARE)?.to_vec();
        let suite = SuiteId::from_code(r.u16()?).ok_or(Error::Malformed("unknown suite"))?;
        let identity = r.bytes_u16(MAX_IDENTITY)?.to_vec();
        let signature = Signature::read(r)?;
        Ok(ServerHello { version, random, kex, kex_share, suite, identity, signature })
    }
}

impl Codec for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u16(self.scheme.code());
        out.put_bytes_u16(&self.bytes);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let scheme = SignatureScheme::from_code(r.u16()?).ok_or(Error::Malformed("unknown signature scheme"))?;
        let bytes = r.bytes_u16(MAX_SIGNATURE)?.to_vec();
        Ok(Signature { scheme, bytes })
    }
}

fn read_magic(r: &mut Reader<'_>) -> Result<()> {
    if r.array::<4>()? != MAGIC {
        return Err(Error::Malformed("not an SXFR hello (bad magic)"));
    }
    Ok(())
}

/// A list with a 1-byte count of 1..=max items; duplicates are an error.
fn read_list<T: PartialEq>(
    r: &mut Reader<'_>,
    max: usize,
    what: &'static str,
    mut item: impl FnMut(&mut Reader<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let count = usize::from(r.u8()?);
    if count == 0 || count > max {
        return Err(Error::Malformed(what));
    }
    let mut items: Vec<T> = Vec::with_capacity(count);
    for _ in 0..count {
        let next = item(r)?;
        if items.contains(&next) {
            return Err(Error::Malformed(what));
        }
        items.push(next);
    }
    Ok(items)
}
