//! Long-term identities: OpenSSH key files, signatures, SHA256 fingerprints.
// (being written)
