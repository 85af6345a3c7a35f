"""ClientHello, ServerHello, HelloRefusal, key exchanges and key schedule (PROTOCOL.md §4.2–§4.5, §4.7)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from . import suites as suites_mod
from .codec import Reader, Writer
from .errors import CryptoFailure, DecodeError, OffersRefused, ProtocolViolation
from .identity import MAX_KEY_BLOB, MAX_SIGNATURE, PublicKey, parse_public_key
from .suites import Suite

MAGIC = b"SXFR"
VERSION_1 = 0x0001
MAX_HANDSHAKE_BODY = 16384
MAX_SHARE = 4096

KEX_X25519 = 0x001D
KEX_MLKEM768X25519 = 0x11EC
KEX_NAMES = {KEX_X25519: "x25519", KEX_MLKEM768X25519: "mlkem768x25519"}
KEX_BY_NAME = {v: k for k, v in KEX_NAMES.items()}
DEFAULT_KEX = (KEX_MLKEM768X25519, KEX_X25519)

MLKEM_EK_LEN = 1184
MLKEM_CT_LEN = 1088
X25519_LEN = 32

# Labels of §4.5, exactly.
L_HANDSHAKE = b"SXFR/1 handshake"
L_C2S = b"SXFR/1 c2s traffic"
L_S2C = b"SXFR/1 s2c traffic"
L_EXPORTER = b"SXFR/1 exporter"
L_KEY = b"SXFR/1 key"
L_IV = b"SXFR/1 iv"
L_KEY_UPDATE = b"SXFR/1 key update"
L_SERVER_SIG = b"SXFR/1 server handshake signature"
L_CLIENT_SIG = b"SXFR/1 client authentication signature"


def kex_by_name(name: str) -> int:
    try:
        return KEX_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown key exchange {name!r} (known: {', '.join(KEX_BY_NAME)})") from None


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return HKDF.extract(hashes.SHA256(), salt, ikm)


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


class KexPrivate:
    """The client's ephemeral key pair for one offered key exchange (§4.4.1)."""

    def __init__(self, kex: int, x_priv: x25519.X25519PrivateKey | None = None) -> None:
        self.kex = kex
        self._x = x_priv if x_priv is not None else x25519.X25519PrivateKey.generate()
        x_pub = self._x.public_key().public_bytes_raw()
        self._kem: mlkem.MLKEM768PrivateKey | None = None
        if kex == KEX_MLKEM768X25519:
            self._kem = mlkem.MLKEM768PrivateKey.generate()
            self.share = hybrid_client_share(self._kem.public_key().public_bytes_raw(), x_pub)
        elif kex == KEX_X25519:
            self.share = x_pub
        else:
            raise ValueError(f"unknown key exchange 0x{kex:04x}")

    def _x25519(self, peer: bytes) -> bytes:
        try:
            ss = self._x.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
        except ValueError:
            raise CryptoFailure("key exchange failed") from None
        if ss == bytes(32):
            raise CryptoFailure("key exchange failed")
        return ss

    def complete(self, server_share: bytes) -> bytes:
        """The shared secret `ss` from the server's share (exact lengths, §4.4.1)."""
        if self._kem is None:
            if len(server_share) != X25519_LEN:
                raise ProtocolViolation("x25519 share of the wrong length")
            return self._x25519(server_share)
        ciphertext, x_pub = split_hybrid_share(server_share)
        return hybrid_secret(self._kem.decapsulate(ciphertext), self._x25519(x_pub))


def split_hybrid_share(server_share: bytes) -> tuple[bytes, bytes]:
    """(ML-KEM-768 ciphertext, X25519 public key) of a server's mlkem768x25519 share."""
    if len(server_share) != MLKEM_CT_LEN + X25519_LEN:
        raise ProtocolViolation("mlkem768x25519 share of the wrong length")
    return server_share[:MLKEM_CT_LEN], server_share[MLKEM_CT_LEN:]


def hybrid_secret(mlkem_secret: bytes, x25519_secret: bytes) -> bytes:
    """`ss` of mlkem768x25519: the ML-KEM part first, as TLS's X25519MLKEM768 (§4.4.1)."""
    return mlkem_secret + x25519_secret


def hybrid_client_share(encapsulation_key: bytes, x25519_public: bytes) -> bytes:
    """The client's mlkem768x25519 share: ML-KEM-768 encapsulation key ‖ X25519 public key."""
    return encapsulation_key + x25519_public


def client_hello(random: bytes, offers: Sequence[KexPrivate], suite_list: Sequence[Suite]) -> bytes:
    """The ClientHello body (§4.2); versions are exactly [SXFR/1]."""
    if not 1 <= len(offers) <= 4 or len({o.kex for o in offers}) != len(offers):
        raise ValueError("1 to 4 distinct key exchanges must be offered")
    if not 1 <= len(suite_list) <= 16 or len({s.code for s in suite_list}) != len(suite_list):
        raise ValueError("1 to 16 distinct suites must be offered")
    w = Writer().raw(MAGIC).u8(1).u16(VERSION_1).raw(random).u8(len(offers))
    for o in offers:
        w.u16(o.kex).bytes16(o.share, MAX_SHARE)
    w.u8(len(suite_list))
    for s in suite_list:
        w.u16(s.code)
    return w.getvalue()


@dataclass(frozen=True)
class ServerHello:
    body: bytes
    version: int
    random: bytes
    kex: int
    share: bytes
    suite: Suite
    identity: PublicKey
    scheme: int
    signature: bytes

    @property
    def unsigned(self) -> bytes:
        return self.body[: len(self.body) - 4 - len(self.signature)]


_NEGOTIATED = {1: "protocol versions", 2: "key exchanges", 3: "record suites"}


def parse_server_hello(
    body: bytes, offered_kex: Sequence[int], offered_suites: Sequence[Suite]
) -> ServerHello:
    """Decode and check a ServerHello (§4.4.5 steps 1–5), or raise on a HelloRefusal (§4.7)."""
    r = Reader(body)
    if r.fixed(4) != MAGIC:
        raise DecodeError("bad magic in the server's hello")
    version = r.u16()
    if version == 0x0000:
        code = r.u16()
        negotiated = r.u8()
        r.done()
        raise _refusal(code, negotiated, offered_kex, offered_suites)
    random = r.fixed(32)
    kex = r.u16()
    if kex not in KEX_NAMES:
        raise DecodeError(f"unknown key exchange 0x{kex:04x}")
    share = r.bytes16(MAX_SHARE)
    suite_code = r.u16()
    if suite_code not in suites_mod.BY_CODE:
        raise DecodeError(f"unknown record suite 0x{suite_code:04x}")
    identity_blob = r.bytes16(MAX_KEY_BLOB)
    scheme = r.u16()
    if scheme not in (0x0807, 0x0401):
        raise DecodeError(f"unknown signature scheme 0x{scheme:04x}")
    signature = r.bytes16(MAX_SIGNATURE)
    r.done()
    suite = suites_mod.BY_CODE[suite_code]
    if version != VERSION_1:
        raise ProtocolViolation("server chose a version that was not offered")
    if suite not in offered_suites:
        raise ProtocolViolation("server chose a suite that was not offered")
    if kex not in offered_kex:
        raise ProtocolViolation("server chose a key exchange that was not offered")
    identity = parse_public_key(identity_blob)
    return ServerHello(body, version, random, kex, share, suite, identity, scheme, signature)


def _refusal(
    code: int, negotiated: int, offered_kex: Sequence[int], offered_suites: Sequence[Suite]
) -> OffersRefused:
    what = _NEGOTIATED.get(negotiated)
    if code != 0x0004 or what is None:
        return OffersRefused("peer closed the connection: handshake failure")
    if negotiated == 1:
        offered = "SXFR/1"
    elif negotiated == 2:
        offered = ", ".join(KEX_NAMES[k] for k in offered_kex)
    else:
        offered = ", ".join(s.name for s in offered_suites)
    return OffersRefused(f"the server accepts none of the offered {what} (offered: {offered})")


def signed_message(client_hello_body: bytes, sh: ServerHello) -> bytes:
    signed_hash = hashlib.sha256(client_hello_body + sh.unsigned).digest()
    return L_SERVER_SIG + b"\x00" + signed_hash


@dataclass(frozen=True)
class Secrets:
    c2s: bytes
    s2c: bytes
    exporter: bytes
    th: bytes


def key_schedule(ss: bytes, th: bytes) -> Secrets:
    prk = hkdf_extract(L_HANDSHAKE, ss)
    return Secrets(
        hkdf_expand(prk, L_C2S + th, 32),
        hkdf_expand(prk, L_S2C + th, 32),
        hkdf_expand(prk, L_EXPORTER + th, 32),
        th,
    )


def verify_server_hello(client_hello_body: bytes, sh: ServerHello, kex: KexPrivate) -> Secrets:
    """§4.4.5 steps 6–7: signature over what we sent, then the key exchange and keys."""
    sh.identity.verify(sh.scheme, sh.signature, signed_message(client_hello_body, sh))
    ss = kex.complete(sh.share)
    th = hashlib.sha256(client_hello_body + sh.body).digest()
    return key_schedule(ss, th)


def new_random() -> bytes:
    return os.urandom(32)
