"""One authenticated SXFR/1 connection: handshake, pin check, ClientAuth, records (PROTOCOL.md §4, §5)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import suites as suites_mod
from .auth import Credential, parse_auth_result
from .errors import (
    CLOSE_NORMAL,
    PeerClosed,
    ProtocolViolation,
    SxferError,
)
from .handshake import (
    DEFAULT_KEX,
    MAX_HANDSHAKE_BODY,
    KexPrivate,
    client_hello,
    new_random,
    parse_server_hello,
    verify_server_hello,
)
from .identity import PublicKey
from .record import (
    MAX_AUTH_RECORD_BODY,
    MAX_RECORD_BODY,
    T_CLOSE,
    T_KEY_UPDATE,
    T_MESSAGE,
    RecordLayer,
)
from .suites import Suite
from .transport import Transport

#: Checks the server's identity; raises (IdentityMismatch, UnknownHost) to refuse it.
PinCheck = Callable[[PublicKey], None]


@dataclass(frozen=True)
class Handshake:
    """What the handshake settled, for callers and tests."""

    kex: int
    suite: Suite
    identity: PublicKey
    exporter: bytes
    client_id: bytes


class Session:
    """Records over one connection after a successful login."""

    def __init__(self, transport: Transport, records: RecordLayer, info: Handshake) -> None:
        self._t = transport
        self._rec = records
        self.info = info
        self._closed = False

    def send(self, ctype: int, payload: bytes) -> None:
        self._t.send(self._rec.seal(ctype, payload))

    def send_many(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Several records in one transport write (pipelining)."""
        self._t.send(b"".join(self._rec.seal(c, p) for c, p in frames))

    def recv(self) -> tuple[int, bytes]:
        """The next Message or Data record; a Close raises (normal: ConnectionClosed)."""
        while True:
            header, body = self._t.read_frame(MAX_RECORD_BODY)
            ctype, payload = self._rec.open(header, body)
            if ctype == T_KEY_UPDATE:
                continue
            if ctype == T_CLOSE:
                (code,) = struct.unpack(">H", payload)
                if code == CLOSE_NORMAL:
                    raise ConnectionEnded()
                raise PeerClosed(code)
            return ctype, payload

    def readable(self) -> bool:
        return self._t.readable()

    def fail(self, err: SxferError) -> None:
        """§5.6: send a Close with the error's code if we still can, then drop the transport."""
        if not self._closed:
            self._closed = True
            try:
                if not self._rec.sent_close:
                    self.send(T_CLOSE, struct.pack(">H", err.close_code))
            except (OSError, SxferError):
                pass
            self._t.close()

    def close(self) -> None:
        """Orderly end (§7.5.6): our Close, then the server's Close, then the TCP close."""
        if self._closed:
            return
        self._closed = True
        try:
            self.send(T_CLOSE, struct.pack(">H", CLOSE_NORMAL))
            while True:
                try:
                    self.recv()
                except ConnectionEnded:
                    break
        finally:
            self._t.close()

    def abort(self) -> None:
        """Drop the connection without a Close (the server keeps a partial upload)."""
        self._closed = True
        self._t.close()


class ConnectionEnded(SxferError):
    """The server sent Close(0x0000)."""


def handshake(
    sock: socket.socket,
    credential: Credential,
    pin: PinCheck,
    kex: Sequence[int] = DEFAULT_KEX,
    suite_list: Sequence[Suite] = suites_mod.DEFAULT,
) -> Session:
    """Run §4 on a connected socket and return the logged-in session."""
    t = Transport(sock)
    try:
        return _handshake(t, credential, pin, kex, suite_list)
    except BaseException:
        t.close()
        raise


def _handshake(
    t: Transport, credential: Credential, pin: PinCheck, kex: Sequence[int], suite_list: Sequence[Suite]
) -> Session:
    offers = [KexPrivate(k) for k in kex]
    ch = client_hello(new_random(), offers, suite_list)
    t.send(struct.pack(">I", len(ch)) + ch)
    _, body = t.read_frame(MAX_HANDSHAKE_BODY)
    sh = parse_server_hello(body, kex, suite_list)
    chosen = next(o for o in offers if o.kex == sh.kex)
    secrets = verify_server_hello(ch, sh, chosen)
    # §4.4.5 step 8: nothing secret leaves before the pin check; on failure we send nothing.
    pin(sh.identity)
    records = RecordLayer(sh.suite, secrets.c2s, secrets.s2c)
    t.send(records.seal(T_MESSAGE, credential.client_auth(secrets.th)))
    header, rbody = t.read_frame(MAX_AUTH_RECORD_BODY)
    ctype, payload = records.open(header, rbody)
    if ctype == T_CLOSE:
        (code,) = struct.unpack(">H", payload)
        raise PeerClosed(code)
    if ctype != T_MESSAGE:
        raise ProtocolViolation("the server's first record is not an AuthResult")
    client_id = parse_auth_result(payload)
    info = Handshake(sh.kex, sh.suite, sh.identity, secrets.exporter, client_id)
    return Session(t, records, info)


__all__ = ["ConnectionEnded", "Handshake", "PinCheck", "Session", "handshake"]
