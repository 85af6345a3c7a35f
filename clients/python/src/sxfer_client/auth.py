"""ClientAuth and AuthResult (PROTOCOL.md §4.6.1, §4.6.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .codec import Reader, Writer
from .errors import AuthRejected, DecodeError, ProtocolViolation, UsageError
from .handshake import L_CLIENT_SIG
from .identity import MAX_KEY_BLOB, PrivateKey
from .names import escape

M_PASSWORD = 0x01
M_PUBLIC_KEY = 0x02
M_REGISTER = 0x03
M_ANONYMOUS = 0x04

R_ACCEPTED = 0x00
R_REJECTED = 0x01
R_PAKE = 0x02

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_username(name: str) -> bytes:
    """The username rule of §4.6.1; the UTF-8 (= ASCII) bytes."""
    if not _USERNAME.fullmatch(name):
        raise UsageError(f"bad user name {name!r}: 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit")
    return name.encode("ascii")


def check_password(password: str) -> bytes:
    raw = password.encode("utf-8")
    if not 1 <= len(raw) <= 1024:
        raise UsageError("a password must be 1 to 1024 bytes of UTF-8")
    return raw


def key_proof(key: PrivateKey, th: bytes, username: bytes) -> bytes:
    """`KeyProof = public_key ‖ Signature` over the client's signed message (§4.6.1)."""
    message = L_CLIENT_SIG + b"\x00" + th + bytes([len(username)]) + username
    return Writer().bytes16(key.public.blob, MAX_KEY_BLOB).raw(key.signature_field(message)).getvalue()


@dataclass(frozen=True)
class Credential:
    """What the client proves: a password, a key, or a registration of either or both."""

    username: str
    password: str | None = None
    key: PrivateKey | None = None
    register: bool = False
    invite: bytes | None = None

    def __post_init__(self) -> None:
        check_username(self.username)
        if self.password is not None:
            check_password(self.password)
        if self.password is None and self.key is None:
            raise UsageError("a login needs a password or a key")
        if not self.register and self.password is not None and self.key is not None:
            raise UsageError("log in with a password or a key, not both")
        if self.invite is not None and not (self.register and 1 <= len(self.invite) <= 128):
            raise UsageError("an invite token is 1 to 128 bytes and only for a registration")

    def client_auth(self, th: bytes) -> bytes:
        user = check_username(self.username)
        w = Writer()
        if not self.register:
            if self.password is not None:
                w.u8(M_PASSWORD).bytes8(user).bytes16(check_password(self.password))
            else:
                assert self.key is not None
                w.u8(M_PUBLIC_KEY).bytes8(user).raw(key_proof(self.key, th, user))
            return w.getvalue()
        w.u8(M_REGISTER).bytes8(user)
        if self.password is not None:
            w.u8(1).bytes16(check_password(self.password))
        else:
            w.u8(0)
        if self.key is not None:
            w.u8(1).raw(key_proof(self.key, th, user))
        else:
            w.u8(0)
        if self.invite is not None:
            w.u8(1).bytes8(self.invite, 128, 1)
        else:
            w.u8(0)
        return w.getvalue()


def parse_auth_result(payload: bytes) -> bytes:
    """The client id of an accepted AuthResult; AuthRejected with the server's text otherwise."""
    r = Reader(payload)
    result = r.u8()
    if result == R_ACCEPTED:
        client_id = r.fixed(16)
        r.done()
        return client_id
    if result == R_REJECTED:
        message = r.string16(1024)
        r.done()
        raise AuthRejected(f"authentication rejected: {escape(message)}")
    if result == R_PAKE:
        raise ProtocolViolation("a PAKE answer to a login that was not a PAKE")
    raise DecodeError(f"unknown AuthResult code 0x{result:02x}")
