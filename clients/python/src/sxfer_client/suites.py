"""The five record suites of PROTOCOL.md §6, each a seal/open pair over one key.

aes-256-gcm and chacha20-poly1305 are pyca `cryptography`'s AEADs. The
two compositions (aes-256-cbc-hmac-sha256, hmac-sha256-ctr) are built from
pyca's AES, PKCS7 and HMAC exactly as §6.4 and §6.6 define them. EAX is not
in pyca, so aes-256-eax uses pycryptodome's EAX mode (§6.5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from Crypto.Cipher import AES as CryptodomeAES
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from .errors import CryptoFailure


class Sealer(Protocol):
    """One direction's cipher under one key."""

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes: ...

    def open(self, nonce: bytes, aad: bytes, sealed: bytes) -> bytes: ...


@dataclass(frozen=True)
class Suite:
    code: int
    name: str
    key_len: int
    key_update_after_bytes: int

    def sealed_len(self, plaintext_len: int) -> int:
        """`len(sealed)` for a plaintext of this length (§6.1)."""
        if self.code == AES_256_CBC_HMAC_SHA256.code:
            return 16 * (plaintext_len // 16 + 1) + 32
        if self.code == HMAC_SHA256_CTR.code:
            return plaintext_len + 32
        return plaintext_len + 16

    def sealer(self, key: bytes) -> Sealer:
        if len(key) != self.key_len:
            raise ValueError("wrong key length for the suite")
        return _MAKERS[self.code](key)


AES_256_GCM = Suite(0x0001, "aes-256-gcm", 32, 1 << 34)
CHACHA20_POLY1305 = Suite(0x0002, "chacha20-poly1305", 32, 1 << 38)
AES_256_CBC_HMAC_SHA256 = Suite(0x0003, "aes-256-cbc-hmac-sha256", 64, 1 << 34)
AES_256_EAX = Suite(0x0004, "aes-256-eax", 32, 1 << 34)
HMAC_SHA256_CTR = Suite(0x0005, "hmac-sha256-ctr", 64, 1 << 38)

ALL = (AES_256_GCM, CHACHA20_POLY1305, AES_256_CBC_HMAC_SHA256, AES_256_EAX, HMAC_SHA256_CTR)
BY_CODE = {s.code: s for s in ALL}
BY_NAME = {s.name: s for s in ALL}
DEFAULT = (AES_256_GCM, CHACHA20_POLY1305)


def by_name(name: str) -> Suite:
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(BY_NAME)
        raise ValueError(f"unknown record suite {name!r} (known: {known})") from None


class _Gcm:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise CryptoFailure("record failed to open") from None


class _ChaCha:
    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise CryptoFailure("record failed to open") from None


def _mac(k_mac: bytes, *parts: bytes) -> hmac.HMAC:
    h = hmac.HMAC(k_mac, hashes.SHA256())
    for p in parts:
        h.update(p)
    return h


class _CbcHmac:
    """§6.4: AES-256-CBC with PKCS#7, IV = AES(k_enc, nonce ‖ 0⁴), then HMAC-SHA256."""

    def __init__(self, key: bytes) -> None:
        self._k_enc, self._k_mac = key[:32], key[32:]
        self._ecb = Cipher(algorithms.AES(self._k_enc), modes.ECB())

    def _iv(self, nonce: bytes) -> bytes:
        enc = self._ecb.encryptor()
        return enc.update(nonce + b"\x00\x00\x00\x00") + enc.finalize()

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        iv = self._iv(nonce)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.AES(self._k_enc), modes.CBC(iv)).encryptor()
        c = enc.update(padded) + enc.finalize()
        t = _mac(self._k_mac, nonce, struct.pack(">Q", len(aad)), aad, iv, c).finalize()
        return c + t

    def open(self, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
        if len(sealed) < 48 or (len(sealed) - 32) % 16 != 0:
            raise CryptoFailure("record failed to open")
        c, t = sealed[:-32], sealed[-32:]
        iv = self._iv(nonce)
        try:
            _mac(self._k_mac, nonce, struct.pack(">Q", len(aad)), aad, iv, c).verify(t)
        except InvalidSignature:
            raise CryptoFailure("record failed to open") from None
        dec = Cipher(algorithms.AES(self._k_enc), modes.CBC(iv)).decryptor()
        padded = dec.update(c) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise CryptoFailure("record failed to open") from None


class _Eax:
    """§6.5: EAX with the 16-byte nonce ‖ 0⁴ (pycryptodome; pyca has no EAX)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        cipher = CryptodomeAES.new(self._key, CryptodomeAES.MODE_EAX, nonce=nonce + b"\0\0\0\0", mac_len=16)
        cipher.update(aad)
        c, t = cipher.encrypt_and_digest(plaintext)
        return c + t

    def open(self, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
        if len(sealed) < 16:
            raise CryptoFailure("record failed to open")
        cipher = CryptodomeAES.new(self._key, CryptodomeAES.MODE_EAX, nonce=nonce + b"\0\0\0\0", mac_len=16)
        cipher.update(aad)
        try:
            return cipher.decrypt_and_verify(sealed[:-16], sealed[-16:])
        except ValueError:
            raise CryptoFailure("record failed to open") from None


class _HmacCtr:
    """§6.6: keystream S_i = HMAC(k_enc, nonce ‖ u64be(i)), tag HMAC(k_mac, …)."""

    def __init__(self, key: bytes) -> None:
        self._k_enc, self._k_mac = key[:32], key[32:]
        self._prf = hmac.HMAC(self._k_enc, hashes.SHA256())

    def _xor(self, nonce: bytes, data: bytes) -> bytes:
        blocks = []
        for i in range((len(data) + 31) // 32):
            h = self._prf.copy()
            h.update(nonce + struct.pack(">Q", i))
            blocks.append(h.finalize())
        stream = b"".join(blocks)[: len(data)]
        n = len(data)
        x = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
        return x.to_bytes(n, "big")

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        c = self._xor(nonce, plaintext)
        t = _mac(self._k_mac, nonce, struct.pack(">Q", len(aad)), aad, c).finalize()
        return c + t

    def open(self, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
        if len(sealed) < 32:
            raise CryptoFailure("record failed to open")
        c, t = sealed[:-32], sealed[-32:]
        try:
            _mac(self._k_mac, nonce, struct.pack(">Q", len(aad)), aad, c).verify(t)
        except InvalidSignature:
            raise CryptoFailure("record failed to open") from None
        return self._xor(nonce, c)


_MAKERS: dict[int, type[_Gcm] | type[_ChaCha] | type[_CbcHmac] | type[_Eax] | type[_HmacCtr]] = {
    AES_256_GCM.code: _Gcm,
    CHACHA20_POLY1305.code: _ChaCha,
    AES_256_CBC_HMAC_SHA256.code: _CbcHmac,
    AES_256_EAX.code: _Eax,
    HMAC_SHA256_CTR.code: _HmacCtr,
}
