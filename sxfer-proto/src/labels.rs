//! Every constant string that goes into a hash, KDF or signature
//! (PROTOCOL.md §4.5). One file, so a reviewer sees them all at once.

/// HKDF-Extract salt for the handshake secret.
pub const HANDSHAKE_SALT: &[u8] = b"SXFR/1 handshake";
/// HKDF-Expand info prefixes; the transcript hash follows each.
pub const CLIENT_TRAFFIC: &[u8] = b"SXFR/1 c2s traffic";
pub const SERVER_TRAFFIC: &[u8] = b"SXFR/1 s2c traffic";
pub const EXPORTER: &[u8] = b"SXFR/1 exporter";
/// Per-direction key and IV from a traffic secret.
pub const TRAFFIC_KEY: &[u8] = b"SXFR/1 key";
pub const TRAFFIC_IV: &[u8] = b"SXFR/1 iv";
/// Next traffic secret after a KeyUpdate.
pub const KEY_UPDATE: &[u8] = b"SXFR/1 key update";

/// Signature contexts: the signed message is context ‖ 0x00 ‖ hash.
pub const SERVER_SIGNATURE_CONTEXT: &[u8] = b"SXFR/1 server handshake signature";
pub const CLIENT_SIGNATURE_CONTEXT: &[u8] = b"SXFR/1 client authentication signature";

/// Short-code PAKE (PROTOCOL.md §4.6.3). SPAKE2 identities of the two sides.
pub const PAKE_CLIENT_IDENTITY: &[u8] = b"SXFR/1 pake client";
pub const PAKE_SERVER_IDENTITY: &[u8] = b"SXFR/1 pake server";
/// HKDF-Expand info prefixes under PRK' = HKDF-Extract(exporter, K); TH' follows the first three.
pub const PAKE_CLIENT_TRAFFIC: &[u8] = b"SXFR/1 pake c2s traffic";
pub const PAKE_SERVER_TRAFFIC: &[u8] = b"SXFR/1 pake s2c traffic";
pub const PAKE_EXPORTER: &[u8] = b"SXFR/1 pake exporter";
/// HMAC keys of the two key confirmations (each MACs TH').
pub const PAKE_SERVER_CONFIRM: &[u8] = b"SXFR/1 pake server confirm";
pub const PAKE_CLIENT_CONFIRM: &[u8] = b"SXFR/1 pake client confirm";

/// Peer mode's direct upgrade (PROTOCOL.md §13.10): the PAKE password of
/// the direct connection, from the relayed session's exporter.
pub const DIRECT_PASSWORD: &[u8] = b"SXFR/1 direct password";

/// Drops (PROTOCOL.md §14.2, §14.4): the signed message is context ‖ 0x00 ‖ …
pub const DROP_SIGNATURE_CONTEXT: &[u8] = b"SXFR/1 drop v1";
/// A drop receipt (PROTOCOL.md §14.10), signed by the recipient after a verified fetch.
pub const DROP_RECEIPT_CONTEXT: &[u8] = b"SXFR/1 drop receipt v1";
pub const KEY_PUBLISH_CONTEXT: &[u8] = b"SXFR/1 key publish v1";
