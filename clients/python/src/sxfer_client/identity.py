"""OpenSSH public keys in SSH wire encoding, fingerprints and signatures (PROTOCOL.md §4.4.4)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from .codec import Reader, Writer
from .errors import CryptoFailure, DecodeError, KeyFileError

SCHEME_ED25519 = 0x0807
SCHEME_RSA_SHA256 = 0x0401

MAX_KEY_BLOB = 2048
MAX_SIGNATURE = 1024


def fingerprint(blob: bytes) -> str:
    """`SHA256:` + unpadded base64 of SHA-256(blob), as `ssh-keygen -l -E sha256` prints."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _ssh_string(r: Reader) -> bytes:
    return r.bytes32(MAX_KEY_BLOB)


def _mpint(r: Reader) -> int:
    raw = _ssh_string(r)
    if raw and raw[0] & 0x80:
        raise DecodeError("negative mpint in a key blob")
    return int.from_bytes(raw, "big")


def _enc_mpint(v: int) -> bytes:
    if v == 0:
        return b""
    raw = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return raw


def _enc_string(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


@dataclass(frozen=True)
class PublicKey:
    """A parsed, canonical `ssh-ed25519` or `ssh-rsa` public key blob."""

    blob: bytes
    key: ed25519.Ed25519PublicKey | rsa.RSAPublicKey

    @property
    def kind(self) -> str:
        return "ED25519" if isinstance(self.key, ed25519.Ed25519PublicKey) else "RSA"

    @property
    def scheme(self) -> int:
        return SCHEME_ED25519 if isinstance(self.key, ed25519.Ed25519PublicKey) else SCHEME_RSA_SHA256

    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    def openssh_line(self) -> str:
        name = "ssh-ed25519" if self.scheme == SCHEME_ED25519 else "ssh-rsa"
        return f"{name} {base64.b64encode(self.blob).decode('ascii')}"

    def verify(self, scheme: int, signature: bytes, message: bytes) -> None:
        """Raise CryptoFailure unless `signature` by this key over `message` verifies."""
        if scheme != self.scheme:
            raise CryptoFailure("signature scheme does not match the key type")
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, message)
            else:
                if len(signature) != (self.key.key_size + 7) // 8:
                    raise CryptoFailure("RSA signature of the wrong length")
                self.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise CryptoFailure("signature does not verify") from None


def parse_public_key(blob: bytes) -> PublicKey:
    """Parse an SSH wire public key under §4.4.4; anything else is a DecodeError."""
    r = Reader(blob)
    name = _ssh_string(r)
    key: ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    if name == b"ssh-ed25519":
        raw = _ssh_string(r)
        r.done()
        if len(raw) != 32:
            raise DecodeError("Ed25519 key of the wrong length")
        key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        canonical = _enc_string(name) + _enc_string(raw)
    elif name == b"ssh-rsa":
        e = _mpint(r)
        n = _mpint(r)
        r.done()
        if not (2048 <= n.bit_length() <= 8192) or n % 2 == 0:
            raise DecodeError("RSA modulus outside 2048..8192 bits or even")
        if not (3 <= e < (1 << 33)) or e % 2 == 0:
            raise DecodeError("RSA exponent out of range or even")
        try:
            key = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as err:
            raise DecodeError("unusable RSA key") from err
        canonical = _enc_string(name) + _enc_string(_enc_mpint(e)) + _enc_string(_enc_mpint(n))
    else:
        raise DecodeError("key type is neither ssh-ed25519 nor ssh-rsa")
    if canonical != blob:
        raise DecodeError("key blob is not canonical")
    return PublicKey(blob, key)


def public_key_from_line(line: str) -> PublicKey:
    """Parse `TYPE BASE64 [comment]`, the form of a `.pub` file and a known-hosts entry."""
    parts = line.split()
    if len(parts) < 2:
        raise DecodeError("not an OpenSSH public key line")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError as e:
        raise DecodeError("bad base64 in a public key line") from e
    key = parse_public_key(blob)
    if parts[0] != key.openssh_line().split()[0]:
        raise DecodeError("key type name does not match the blob")
    return key


class PrivateKey:
    """A client key for public-key login, loaded from an OpenSSH private key file."""

    def __init__(self, key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> None:
        self._key = key
        line = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        self.public = public_key_from_line(line.decode("ascii"))

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: bytes | None = None) -> PrivateKey:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from e
        try:
            key = serialization.load_ssh_private_key(data, passphrase)
        except (ValueError, TypeError) as e:
            raise KeyFileError(f"{path}: not a usable OpenSSH private key ({e})") from e
        if not isinstance(key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)):
            raise KeyFileError(f"{path}: only ssh-ed25519 and ssh-rsa keys are accepted")
        if isinstance(key, rsa.RSAPrivateKey) and not 2048 <= key.key_size <= 8192:
            raise KeyFileError(f"{path}: RSA keys must have 2048..8192 bits")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(message)
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def signature_field(self, message: bytes) -> bytes:
        """`Signature = scheme:u16 ‖ signature:opaque16` (§4.3) over `message`."""
        return Writer().u16(self.public.scheme).bytes16(self.sign(message), MAX_SIGNATURE).getvalue()
