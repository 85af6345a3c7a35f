//! Long-term identities: OpenSSH key files, signatures, SHA256 fingerprints.
//!
//! An identity is an `ssh-ed25519` or `ssh-rsa` key kept in the files
//! `ssh-keygen` writes, so existing keys can be reused and checked with the
//! stock tools. The split of work:
//!
//! - [`ssh_key`] reads and writes the file formats (the
//!   `-----BEGIN OPENSSH PRIVATE KEY-----` container and `.pub` lines) and
//!   nothing else: its crypto backends are disabled.
//! - aws-lc-rs does every cryptographic operation: key generation, signing,
//!   verification and the SHA-256 behind fingerprints. Loading a key builds
//!   the aws-lc-rs key pair, which checks that the parts are consistent.
//!
//! Signatures: Ed25519 keys sign with `ssh-ed25519` (code `0x0807`); RSA keys
//! sign with `rsa-sha2-256`, RSASSA-PKCS1-v1_5 over SHA-256 (code `0x0401`).
//! The SHA-1 `ssh-rsa` signature scheme is never produced or accepted.
//!
//! A [`Fingerprint`] is the SHA-256 of the key's SSH wire encoding (RFC 4253
//! §6.6), shown exactly as `ssh-keygen -l -E sha256` shows it:
//! `SHA256:` followed by unpadded base64.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPairComponents, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use base64ct::Encoding as _;
use crypto_bigint::{Encoding as _, NonZero, U8192};
use pkcs1::der::Decode as _;
use ssh_key::private::{Ed25519Keypair, Ed25519PrivateKey, KeypairData, RsaKeypair};
use ssh_key::public::{Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::{LineEnding, Mpint};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Smallest RSA modulus accepted anywhere, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted anywhere, in bits (the limit of the verifier).
pub const RSA_MAX_BITS: usize = 8192;
/// RSA modulus size for newly generated server keys, in bits.
pub const RSA_DEFAULT_BITS: usize = 3072;

/// The kinds of long-term key sxfer uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KeyType {
    Ed25519,
    Rsa,
}

impl KeyType {
    /// The short name used on the command line: `ed25519` or `rsa`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
        }
    }

    /// The SSH algorithm name in key blobs and `.pub` lines.
    pub fn ssh_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ssh-ed25519",
            KeyType::Rsa => "ssh-rsa",
        }
    }

    /// The label `ssh-keygen -l` puts in parentheses: `ED25519` or `RSA`.
    pub fn label(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ED25519",
            KeyType::Rsa => "RSA",
        }
    }

    /// The one signature scheme keys of this type sign with.
    pub fn signature_scheme(self) -> SignatureScheme {
        match self {
            KeyType::Ed25519 => SignatureScheme::Ed25519,
            KeyType::Rsa => SignatureScheme::RsaSha256,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "ed25519" => Ok(KeyType::Ed25519),
            "rsa" => Ok(KeyType::Rsa),
            other => Err(Error::Key(format!("unknown key type `{other}` (expected `ed25519` or `rsa`)"))),
        }
    }
}

/// How a [`Signature`] was made. The wire codes are TLS SignatureScheme code points.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SignatureScheme {
    /// Ed25519 (RFC 8032), SSH name `ssh-ed25519`.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256, SSH name `rsa-sha2-256`.
    RsaSha256,
}

impl SignatureScheme {
    pub fn code(self) -> u16 {
        match self {
            SignatureScheme::Ed25519 => 0x0807,
            SignatureScheme::RsaSha256 => 0x0401,
        }
    }

    /// `None` for codes this implementation does not know.
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0x0807 => Some(SignatureScheme::Ed25519),
            0x0401 => Some(SignatureScheme::RsaSha256),
            _ => None,
        }
    }

    /// The SSH name: `ssh-ed25519` or `rsa-sha2-256`.
    pub fn name(self) -> &'static str {
        match self {
            SignatureScheme::Ed25519 => "ssh-ed25519",
            SignatureScheme::RsaSha256 => "rsa-sha2-256",
        }
    }
}

/// A signature and the scheme that made it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Signature {
    pub scheme: SignatureScheme,
    pub bytes: Vec<u8>,
}

/// The SHA-256 of a public key's SSH wire encoding.
///
/// Displays (and `Debug`s) exactly as `ssh-keygen -l -E sha256` prints it,
/// e.g. `SHA256:wZD659BXzJZTlceezj6tr+i7LVIYEsgrP8r3ygmNUYM`, and parses back
/// from that form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares in constant time (for checking a received key against a pin).
    pub fn ct_eq(&self, other: &Fingerprint) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&ssh_key::Fingerprint::Sha256(self.0), f)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = || {
            Error::Key(format!(
                "invalid fingerprint `{text}`: expected `SHA256:` and 43 base64 characters, \
                 as printed by `ssh-keygen -l -E sha256`"
            ))
        };
        if text.starts_with("MD5:") || text.starts_with("SHA512:") {
            return Err(Error::Key(format!(
                "unsupported fingerprint `{text}`: only SHA256 fingerprints are accepted \
                 (`ssh-keygen -l -E sha256`)"
            )));
        }
        if !text.starts_with("SHA256:") {
            return Err(invalid());
        }
        match text.parse::<ssh_key::Fingerprint>() {
            Ok(ssh_key::Fingerprint::Sha256(bytes)) => Ok(Fingerprint(bytes)),
            _ => Err(invalid()),
        }
    }
}

/// A public key: `ssh-ed25519`, or `ssh-rsa` with a 2048- to 8192-bit modulus.
///
/// Equality compares the key only, never the comment.
#[derive(Clone)]
pub struct PublicIdentity {
    key: ssh_key::PublicKey,
    key_type: KeyType,
    bits: usize,
    /// The wire encoding, made once: what is hashed, sent and compared.
    wire: Vec<u8>,
    fingerprint: Fingerprint,
}

impl PublicIdentity {
    /// Parses a `.pub` / `authorized_keys` style line:
    /// `ssh-ed25519 AAAA… comment`.
    pub fn from_openssh(line: &str) -> Result<Self> {
        let key = ssh_key::PublicKey::from_openssh(line.trim()).map_err(|err| {
            Error::Key(format!("not an OpenSSH public key line (`ssh-ed25519 AAAA… comment`): {err}"))
        })?;
        Self::new(key).map_err(|unsupported| Error::Key(unsupported.to_string()))
    }

    /// The `.pub` line, with the comment if there is one.
    pub fn to_openssh(&self) -> String {
        // Encoding a key that was decoded or built from valid parts cannot fail.
        self.key.to_openssh().unwrap_or_default()
    }

    /// Parses the SSH wire encoding (RFC 4253 §6.6), what a `.pub` line holds
    /// in base64. Rejects trailing bytes and non-canonical encodings.
    pub fn from_wire(blob: &[u8]) -> Result<Self> {
        let key = ssh_key::PublicKey::from_bytes(blob).map_err(|_| Error::Malformed("public key blob"))?;
        let identity = Self::new(key).map_err(|unsupported| match unsupported {
            Unsupported::KeyType(_) => Error::Malformed("public key blob: unsupported key type"),
            Unsupported::RsaSize(_) | Unsupported::RsaNumbers => {
                Error::Malformed("public key blob: unacceptable RSA key")
            }
            Unsupported::Unencodable => Error::Malformed("public key blob"),
        })?;
        if identity.wire != blob {
            return Err(Error::Malformed("public key blob: non-canonical encoding"));
        }
        Ok(identity)
    }

    /// The SSH wire encoding (RFC 4253 §6.6).
    pub fn to_wire(&self) -> Vec<u8> {
        self.wire.clone()
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key size as `ssh-keygen -l` reports it: 256 for Ed25519, the
    /// modulus length for RSA.
    pub fn bits(&self) -> usize {
        self.bits
    }

    pub fn comment(&self) -> &str {
        self.key.comment()
    }

    pub fn set_comment(&mut self, comment: impl Into<String>) {
        self.key.set_comment(comment);
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Checks `signature` over `message`. The scheme must be the one for this
    /// key type; any failure is [`Error::Crypto`].
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<()> {
        let verified = match (self.key.key_data(), signature.scheme) {
            (KeyData::Ed25519(key), SignatureScheme::Ed25519) => {
                UnparsedPublicKey::new(&signature::ED25519, key.as_ref()).verify(message, &signature.bytes)
            }
            (KeyData::Rsa(key), SignatureScheme::RsaSha256) => {
                let (Some(n), Some(e)) = (key.n.as_positive_bytes(), key.e.as_positive_bytes()) else {
                    return Err(Error::Crypto);
                };
                PublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, &signature.bytes)
            }
            _ => return Err(Error::Crypto),
        };
        verified.map_err(|_| Error::Crypto)
    }

    /// Accepts only the key types and sizes sxfer supports.
    fn new(key: ssh_key::PublicKey) -> Result<Self, Unsupported> {
        let (key_type, bits) = match key.key_data() {
            KeyData::Ed25519(_) => (KeyType::Ed25519, 256),
            KeyData::Rsa(rsa) => (KeyType::Rsa, check_rsa_public(rsa)?),
            other => return Err(Unsupported::KeyType(other.algorithm().to_string())),
        };
        // Encoding into a Vec fails only on lengths over 4 GiB.
        let wire = key.to_bytes().map_err(|_| Unsupported::Unencodable)?;
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest::digest(&digest::SHA256, &wire).as_ref());
        Ok(PublicIdentity { key, key_type, bits, wire, fingerprint: Fingerprint(fingerprint) })
    }
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.key.key_data() == other.key.key_data()
    }
}

impl Eq for PublicIdentity {}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({} {} {})", self.key_type.ssh_name(), self.bits, self.fingerprint())
    }
}

/// A key pair that can sign: an OpenSSH private key plus its aws-lc-rs form.
///
/// Never printed: `Debug` shows only the public half. On drop the secret
/// parts are wiped: `ssh_key` zeroizes its private key types, and aws-lc
/// cleanses key memory when it frees it.
pub struct PrivateIdentity {
    /// The file form (key material and comment), kept for `to_openssh`.
    key: ssh_key::PrivateKey,
    signer: Signer,
    public: PublicIdentity,
}

enum Signer {
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl PrivateIdentity {
    /// A new Ed25519 key from a 32-byte seed drawn from `rng`.
    pub fn generate_ed25519(rng: &mut impl rand_core::CryptoRngCore) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| Error::Key("Ed25519 key generation failed".into()))?;
        let public = Ed25519PublicKey::try_from(pair.public_key().as_ref())
            .map_err(|_| Error::Key("Ed25519 key generation failed".into()))?;
        let keypair = Ed25519Keypair { public, private: Ed25519PrivateKey::from_bytes(&seed) };
        Self::assemble(KeypairData::Ed25519(keypair), Signer::Ed25519(pair))
    }

    /// A new RSA key of `bits` bits: 2048, 3072 (the server default,
    /// [`RSA_DEFAULT_BITS`]), 4096 or 8192.
    ///
    /// Unlike [`generate_ed25519`](Self::generate_ed25519) this takes no RNG:
    /// aws-lc generates RSA primes with its own internal DRBG, seeded from
    /// the operating system.
    pub fn generate_rsa(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => {
                return Err(Error::Key(format!("RSA key size must be 2048, 3072, 4096 or 8192 bits, not {other}")))
            }
        };
        let failed = || Error::Key("RSA key generation failed".into());
        let pair = RsaKeyPair::generate(size).map_err(|_| failed())?;
        // aws-lc-rs does not hand out the private numbers directly; read them
        // back from its PKCS#8 encoding (the buffer is zeroized on drop).
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(|_| failed())?;
        let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref()).map_err(|_| failed())?;
        let der = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(|_| failed())?;
        let mpint = |uint: pkcs1::UintRef<'_>| Mpint::from_positive_bytes(uint.as_bytes());
        let keypair = (|| -> ssh_key::Result<RsaKeypair> {
            Ok(RsaKeypair {
                public: RsaPublicKey { e: mpint(der.public_exponent)?, n: mpint(der.modulus)? },
                private: ssh_key::private::RsaPrivateKey {
                    d: mpint(der.private_exponent)?,
                    iqmp: mpint(der.coefficient)?,
                    p: mpint(der.prime1)?,
                    q: mpint(der.prime2)?,
                },
            })
        })()
        .map_err(|_| failed())?;
        Self::assemble(KeypairData::Rsa(keypair), Signer::Rsa(pair))
    }

    /// Loads an unencrypted OpenSSH private key
    /// (`-----BEGIN OPENSSH PRIVATE KEY-----`) of type `ssh-ed25519` or
    /// `ssh-rsa` (at least 2048 bits).
    pub fn from_openssh(text: &str) -> Result<Self> {
        if !text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            let hint = if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
                " (a PEM key; convert it with `ssh-keygen -p -f FILE`)"
            } else {
                ""
            };
            return Err(Error::Key(format!(
                "not an OpenSSH private key: no `-----BEGIN OPENSSH PRIVATE KEY-----` line{hint}"
            )));
        }
        let key =
            ssh_key::PrivateKey::from_openssh(text.trim()).map_err(|err| match peek_private_key_algorithm(text) {
                Some(name) if name != "ssh-ed25519" && name != "ssh-rsa" => unsupported_type(&name),
                _ => Error::Key(format!("not a valid OpenSSH private key: {err}")),
            })?;
        if key.is_encrypted() {
            return Err(Error::Key(format!(
                "the {} private key is encrypted with a passphrase; passphrase-protected keys \
                 are not supported yet (remove the passphrase with `ssh-keygen -p -N ''`)",
                key.algorithm().as_str()
            )));
        }
        let signer = match key.key_data() {
            KeypairData::Ed25519(pair) => {
                Ed25519KeyPair::from_seed_and_public_key(pair.private.as_ref(), pair.public.as_ref())
                    .map(Signer::Ed25519)
                    .map_err(|_| Error::Key("the Ed25519 private key does not match its public key".into()))?
            }
            KeypairData::Rsa(pair) => Signer::Rsa(rsa_key_pair(pair)?),
            _ => return Err(unsupported_type(key.algorithm().as_str())),
        };
        let public =
            PublicIdentity::new(key.public_key().clone()).map_err(|unsupported| Error::Key(unsupported.to_string()))?;
        Ok(PrivateIdentity { key, signer, public })
    }

    /// The OpenSSH private key file text, comment included, unencrypted.
    pub fn to_openssh(&self) -> Result<Zeroizing<String>> {
        self.key.to_openssh(LineEnding::LF).map_err(|err| Error::Key(format!("cannot encode the private key: {err}")))
    }

    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    pub fn key_type(&self) -> KeyType {
        self.public.key_type
    }

    pub fn comment(&self) -> &str {
        self.key.comment()
    }

    pub fn set_comment(&mut self, comment: impl Into<String>) {
        let comment = comment.into();
        self.public.set_comment(comment.clone());
        self.key.set_comment(comment);
    }

    /// RSA-OAEP decryption with SHA-256 (and MGF1-SHA-256) under `label`,
    /// by aws-lc (constant time): how age's `ssh-rsa` stanza wraps a file
    /// key. `Error::Crypto` if it does not decrypt, `Error::Misuse` for an
    /// Ed25519 key.
    pub fn rsa_oaep_sha256_decrypt(&self, ciphertext: &[u8], label: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256};
        let Signer::Rsa(pair) = &self.signer else {
            return Err(Error::Misuse("RSA-OAEP needs an RSA key"));
        };
        let pkcs8 = pair.as_der().map_err(|_| Error::Crypto)?;
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).map_err(|_| Error::Crypto)?;
        let key = OaepPrivateDecryptingKey::new(key).map_err(|_| Error::Crypto)?;
        let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let length =
            key.decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, Some(label)).map_err(|_| Error::Crypto)?.len();
        out.truncate(length);
        Ok(out)
    }

    /// Signs `message`: `ssh-ed25519` for Ed25519 keys, `rsa-sha2-256` for RSA.
    pub fn sign(&self, message: &[u8]) -> Result<Signature> {
        match &self.signer {
            Signer::Ed25519(pair) => {
                Ok(Signature { scheme: SignatureScheme::Ed25519, bytes: pair.sign(message).as_ref().to_vec() })
            }
            Signer::Rsa(pair) => {
                let mut bytes = vec![0u8; pair.public_modulus_len()];
                // PKCS#1 v1.5 is deterministic: aws-lc-rs ignores this RNG.
                let unused_rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&signature::RSA_PKCS1_SHA256, &unused_rng, message, &mut bytes)
                    .map_err(|_| Error::Key("RSA signing failed".into()))?;
                Ok(Signature { scheme: SignatureScheme::RsaSha256, bytes })
            }
        }
    }

    fn assemble(data: KeypairData, signer: Signer) -> Result<Self> {
        let key = ssh_key::PrivateKey::new(data, "")
            .map_err(|err| Error::Key(format!("cannot build the private key: {err}")))?;
        let public =
            PublicIdentity::new(key.public_key().clone()).map_err(|unsupported| Error::Key(unsupported.to_string()))?;
        Ok(PrivateIdentity { key, signer, public })
    }
}

impl fmt::Debug for PrivateIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateIdentity").field("public", &self.public).finish_non_exhaustive()
    }
}

/// Why a well-formed public key is not one sxfer accepts.
#[derive(Debug)]
enum Unsupported {
    KeyType(String),
    RsaSize(usize),
    RsaNumbers,
    Unencodable,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::KeyType(name) => {
                write!(f, "unsupported key type {name}; sxfer uses ssh-ed25519 or ssh-rsa keys")
            }
            Unsupported::RsaSize(bits) => {
                write!(f, "the RSA key has {bits} bits; sxfer accepts {RSA_MIN_BITS} to {RSA_MAX_BITS}")
            }
            Unsupported::RsaNumbers => f.write_str("the RSA public key numbers are invalid"),
            Unsupported::Unencodable => f.write_str("the public key cannot be encoded"),
        }
    }
}

fn unsupported_type(name: &str) -> Error {
    Error::Key(Unsupported::KeyType(name.to_owned()).to_string())
}

/// The modulus size in bits, if the key is one the verifier can use:
/// 2048..=8192 bits, odd modulus, odd exponent of 2 to 33 bits (aws-lc's limit).
fn check_rsa_public(key: &RsaPublicKey) -> Result<usize, Unsupported> {
    let (Some(n), Some(e)) = (key.n.as_positive_bytes(), key.e.as_positive_bytes()) else {
        return Err(Unsupported::RsaNumbers);
    };
    let bits = bit_length(n);
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(Unsupported::RsaSize(bits));
    }
    let odd = |bytes: &[u8]| bytes.last().is_some_and(|byte| byte & 1 == 1);
    if !odd(n) || !odd(e) || !(2..=33).contains(&bit_length(e)) {
        return Err(Unsupported::RsaNumbers);
    }
    Ok(bits)
}

/// Bits in a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Builds the aws-lc-rs key pair from OpenSSH's `n, e, d, iqmp, p, q`.
///
/// aws-lc-rs wants the CRT exponents too, which OpenSSH does not store, and
/// rejects keys without them; they are computed here. aws-lc then checks
/// every part against every other (`n = pq`, `de ≡ 1`, `dP = d mod (p-1)`,
/// …), so an inconsistent key is refused rather than used.
fn rsa_key_pair(pair: &RsaKeypair) -> Result<RsaKeyPair> {
    let public = &pair.public;
    let private = &pair.private;
    if let Err(unsupported) = check_rsa_public(public) {
        return Err(Error::Key(unsupported.to_string()));
    }
    let invalid = || Error::Key("the RSA private key is invalid".into());
    fn positive(mpint: &Mpint) -> Result<&[u8]> {
        mpint.as_positive_bytes().ok_or_else(|| Error::Key("the RSA private key is invalid".into()))
    }
    let (n, e) = (positive(&public.n)?, positive(&public.e)?);
    let (d, p, q, q_inv) =
        (positive(&private.d)?, positive(&private.p)?, positive(&private.q)?, positive(&private.iqmp)?);
    let d_p = crt_exponent(d, p).ok_or_else(invalid)?;
    let d_q = crt_exponent(d, q).ok_or_else(invalid)?;
    let components = KeyPairComponents {
        public_key: PublicKeyComponents { n, e },
        d,
        p,
        q,
        dP: d_p.as_slice(),
        dQ: d_q.as_slice(),
        qInv: q_inv,
    };
    RsaKeyPair::from_components(&components)
        .map_err(|_| Error::Key("the RSA private key is invalid (its parts do not match)".into()))
}

/// A CRT exponent, `d mod (prime − 1)` (dP or dQ), as a big-endian
/// number of `RSA_MAX_BITS / 8` bytes (leading zeros allowed).
///
/// crypto-bigint's remainder runs in time that depends only on the bit
/// length of `prime − 1` (public: about half the modulus) and is constant
/// in the value of `d`, which is secret. The operands are zeroized. `None`
/// for numbers no valid key has: a `d` or prime longer than 8192 bits, or
/// a prime below 3.
fn crt_exponent(d: &[u8], prime: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let d = Zeroizing::new(widen(d)?);
    let prime = Zeroizing::new(widen(prime)?);
    if prime.bits_vartime() < 2 {
        return None;
    }
    let prime_minus_one = Zeroizing::new(prime.wrapping_sub(&U8192::ONE));
    let modulus = Option::<NonZero<U8192>>::from(NonZero::new(*prime_minus_one))?;
    let reduced = Zeroizing::new(d.rem(&modulus));
    Some(Zeroizing::new(reduced.to_be_bytes().to_vec()))
}

/// A big-endian number of at most 8192 bits as a `U8192`.
fn widen(bytes: &[u8]) -> Option<U8192> {
    const WIDTH: usize = RSA_MAX_BITS / 8;
    let start = WIDTH.checked_sub(bytes.len())?;
    let mut padded = Zeroizing::new([0u8; WIDTH]);
    padded[start..].copy_from_slice(bytes);
    Some(U8192::from_be_slice(padded.as_slice()))
}

/// The algorithm name in an OpenSSH private key's public section, read
/// without decoding the rest, so unsupported key types can be named.
fn peek_private_key_algorithm(text: &str) -> Option<String> {
    let body: String = text
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "-----BEGIN OPENSSH PRIVATE KEY-----")
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    let bytes = base64ct::Base64::decode_vec(&body).ok()?;
    let mut rest = bytes.strip_prefix(b"openssh-key-v1\0")?;
    let _cipher = take_string(&mut rest)?;
    let _kdf = take_string(&mut rest)?;
    let _kdf_options = take_string(&mut rest)?;
    let _number_of_keys = rest.get(..4)?;
    let mut public = take_string(&mut rest.get(4..)?)?;
    let name = std::str::from_utf8(take_string(&mut public)?).ok()?;
    (name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic())).then(|| name.to_owned())
}

/// Reads one SSH `string` (u32 length, then bytes) off the front of `input`.
fn take_string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, tail) = input.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let value = tail.get(..len)?;
    *input = tail.get(len..)?;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `crt_exponent` as a u128, for comparing with `%`.
    fn crt_u128(value: u128, prime: u128) -> Option<u128> {
        let bytes = prime.to_be_bytes();
        let trimmed = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
        let got = crt_exponent(&value.to_be_bytes(), trimmed)?;
        let (high, low) = got.split_at(got.len() - 16);
        assert!(high.iter().all(|b| *b == 0), "the remainder is below the modulus");
        Some(u128::from_be_bytes(low.try_into().ok()?))
    }

    #[test]
    fn crt_exponent_matches_integer_remainder() {
        let cases: [(u128, u128); 7] = [
            (0, 7),
            (6, 7),
            (7, 7),
            (u128::MAX, 0xffff_ffff_ffff_ffff),
            (0x1234_5678_9abc_def0_1122_3344_5566_7788, 0x0f0f_0f0f_0f0f),
            (0x8000_0000_0000_0000_0000_0000_0000_0001, 0x1_0000_0000_0000_0001),
            (1 << 100, (1 << 99) + 3),
        ];
        for (value, prime) in cases {
            assert_eq!(crt_u128(value, prime), Some(value % (prime - 1)), "{value:#x} mod ({prime:#x} - 1)");
        }
    }

    #[test]
    fn crt_exponent_refuses_numbers_no_key_has() {
        assert_eq!(crt_u128(5, 0), None, "no prime - 1");
        assert_eq!(crt_u128(5, 1), None, "prime - 1 = 0");
        assert_eq!(crt_u128(5, 2), Some(0));
        let too_long = vec![0xff; RSA_MAX_BITS / 8 + 1];
        assert!(crt_exponent(&too_long, &[0x0b]).is_none());
        assert!(crt_exponent(&[0x0b], &too_long).is_none());
        let longest = vec![0xff; RSA_MAX_BITS / 8];
        assert!(crt_exponent(&longest, &longest).is_some());
    }

    proptest::proptest! {
        #[test]
        fn crt_exponent_agrees_with_u128(value: u128, prime in 2u128..) {
            proptest::prop_assert_eq!(crt_u128(value, prime), Some(value % (prime - 1)));
        }
    }

    #[test]
    fn peek_names_the_algorithm_of_any_openssh_key() {
        let ecdsa = include_str!("../tests/data/ecdsa_p256");
        let name = peek_private_key_algorithm(ecdsa);
        assert_eq!(name.as_deref(), Some("ecdsa-sha2-nistp256"));
        let rsa = include_str!("../tests/data/rsa3072");
        assert_eq!(peek_private_key_algorithm(rsa).as_deref(), Some("ssh-rsa"));
        assert_eq!(peek_private_key_algorithm("garbage"), None);
    }

    fn strip(bytes: &[u8]) -> Vec<u8> {
        bytes.iter().skip_while(|b| **b == 0).copied().collect()
    }

    #[test]
    fn crt_exponents_match_openssh_for_a_known_key() -> Result<()> {
        // The same key as `tests/data/rsa3072`, exported by ssh-keygen as
        // PKCS#1 with the dP and dQ that OpenSSH computed (README there).
        let pkcs1 = include_bytes!("../tests/data/rsa3072.pkcs1.der");
        let known = pkcs1::RsaPrivateKey::from_der(pkcs1).map_err(|_| Error::Crypto)?;
        let key =
            ssh_key::PrivateKey::from_openssh(include_str!("../tests/data/rsa3072")).map_err(|_| Error::Crypto)?;
        let KeypairData::Rsa(pair) = key.key_data() else { return Err(Error::Crypto) };
        let bytes = |mpint: &Mpint| mpint.as_positive_bytes().map(<[u8]>::to_vec).ok_or(Error::Crypto);
        assert_eq!(bytes(&pair.public.n)?, known.modulus.as_bytes(), "the same key");
        let (d, p, q) = (bytes(&pair.private.d)?, bytes(&pair.private.p)?, bytes(&pair.private.q)?);
        assert_eq!(strip(&crt_exponent(&d, &p).ok_or(Error::Crypto)?), known.exponent1.as_bytes(), "dP");
        assert_eq!(strip(&crt_exponent(&d, &q).ok_or(Error::Crypto)?), known.exponent2.as_bytes(), "dQ");
        Ok(())
    }

    #[test]
    fn crt_exponents_match_aws_lc() -> Result<()> {
        // aws-lc computes dP and dQ itself when generating; ours must agree.
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| Error::Crypto)?;
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(|_| Error::Crypto)?;
        let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref()).map_err(|_| Error::Crypto)?;
        let der = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(|_| Error::Crypto)?;
        let d = der.private_exponent.as_bytes();
        let d_p = crt_exponent(d, der.prime1.as_bytes()).ok_or(Error::Crypto)?;
        let d_q = crt_exponent(d, der.prime2.as_bytes()).ok_or(Error::Crypto)?;
        assert_eq!(strip(&d_p), der.exponent1.as_bytes());
        assert_eq!(strip(&d_q), der.exponent2.as_bytes());
        Ok(())
    }

    #[test]
    fn peek_needs_valid_base64() {
        let rsa = include_str!("../tests/data/rsa3072");
        // A character outside the alphabet, or the padding cut off.
        let bad_character = rsa.replacen("NhAAAAAwEAAQ", "NhAAAAAwEA*Q", 1);
        assert_ne!(bad_character, rsa);
        assert_eq!(peek_private_key_algorithm(&bad_character), None);
        let ecdsa = include_str!("../tests/data/ecdsa_p256");
        let unpadded = ecdsa.replace('=', "");
        assert!(ecdsa.contains('=') && peek_private_key_algorithm(&unpadded).is_none());
    }
}
