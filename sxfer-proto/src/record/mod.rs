//! Record layer (PROTOCOL.md §5): `length ‖ AEAD(type ‖ payload)`.

pub mod suite;
