"""The record layer (PROTOCOL.md §5): sealing, opening, sequence numbers, key update."""

from __future__ import annotations

import struct

from .errors import DecodeError, ProtocolViolation
from .handshake import L_IV, L_KEY, L_KEY_UPDATE, hkdf_expand
from .suites import Sealer, Suite

MAX_PAYLOAD = 1 << 20
MAX_OVERHEAD = 48
MAX_RECORD_BODY = 1 + MAX_PAYLOAD + MAX_OVERHEAD
MAX_AUTH_RECORD_BODY = 16384
MAX_RECORDS_PER_KEY = 1 << 24

T_MESSAGE = 0x01
T_DATA = 0x02
T_KEY_UPDATE = 0x03
T_CLOSE = 0x04


class Direction:
    """One direction under its current traffic secret (§4.5, §5.4)."""

    def __init__(self, suite: Suite, secret: bytes) -> None:
        self.suite = suite
        self._install(secret)

    def _install(self, secret: bytes) -> None:
        self._secret = secret
        self._sealer: Sealer = self.suite.sealer(hkdf_expand(secret, L_KEY, self.suite.key_len))
        self._iv = hkdf_expand(secret, L_IV, 12)
        self.seq = 0
        self.bytes = 0

    def update(self) -> None:
        self._install(hkdf_expand(self._secret, L_KEY_UPDATE, 32))

    def nonce(self) -> bytes:
        head, tail = self._iv[:4], int.from_bytes(self._iv[4:], "big")
        return head + struct.pack(">Q", tail ^ self.seq)

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        out = self._sealer.seal(self.nonce(), aad, plaintext)
        self.seq += 1
        return out

    def open(self, aad: bytes, sealed: bytes) -> bytes:
        out = self._sealer.open(self.nonce(), aad, sealed)
        self.seq += 1
        return out


class RecordLayer:
    """Both directions of one connection; frames in, frames out."""

    def __init__(self, suite: Suite, send_secret: bytes, recv_secret: bytes) -> None:
        self.suite = suite
        self._send = Direction(suite, send_secret)
        self._recv = Direction(suite, recv_secret)
        self.sent_close = False
        self.got_close = False

    def seal(self, ctype: int, payload: bytes) -> bytes:
        """One record frame, followed by a KeyUpdate frame when one is due (§5.4 rule 2)."""
        if self.sent_close:
            raise ProtocolViolation("nothing may be sent after Close")
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("payload larger than MAX_PAYLOAD")
        out = self._seal_one(ctype, payload)
        self._send.bytes += len(payload)
        if ctype == T_CLOSE:
            self.sent_close = True
            return out
        d = self._send
        if d.bytes >= self.suite.key_update_after_bytes or d.seq >= MAX_RECORDS_PER_KEY:
            out += self._seal_one(T_KEY_UPDATE, b"")
            d.update()
        return out

    def _seal_one(self, ctype: int, payload: bytes) -> bytes:
        header = struct.pack(">I", self.suite.sealed_len(1 + len(payload)))
        return header + self._send.seal(header, bytes([ctype]) + payload)

    def open(self, header: bytes, body: bytes) -> tuple[int, bytes]:
        """Open one record; KeyUpdates are handled here and returned as such."""
        if self.got_close:
            raise ProtocolViolation("bytes after the peer's Close")
        plain = self._recv.open(header, body)
        if not plain:
            raise DecodeError("empty record plaintext")
        ctype, payload = plain[0], plain[1:]
        if len(payload) > MAX_PAYLOAD:
            raise DecodeError("record payload larger than MAX_PAYLOAD")
        d = self._recv
        d.bytes += len(payload)
        if d.bytes > self.suite.key_update_after_bytes + MAX_PAYLOAD or d.seq > MAX_RECORDS_PER_KEY + 1:
            raise ProtocolViolation("peer went past the key-usage limit without a key update")
        if ctype == T_KEY_UPDATE:
            if payload:
                raise DecodeError("non-empty KeyUpdate")
            d.update()
        elif ctype == T_CLOSE:
            if len(payload) != 2:
                raise DecodeError("Close payload is not 2 bytes")
            self.got_close = True
        elif ctype not in (T_MESSAGE, T_DATA):
            raise DecodeError(f"unknown record content type 0x{ctype:02x}")
        return ctype, payload
