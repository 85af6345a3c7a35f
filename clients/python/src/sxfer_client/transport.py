"""Frames over a TCP socket (PROTOCOL.md §2): a 4-byte length, checked before the body is read."""

from __future__ import annotations

import contextlib
import select
import socket
import struct

from .errors import ConnectionLost, DecodeError, TimedOut, Truncated


class Transport:
    """Blocking frame reads and writes on one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except TimeoutError as e:
            raise TimedOut("the server took nothing for too long") from e
        except OSError as e:
            raise ConnectionLost(f"connection lost while sending: {e.strerror or e}") from e

    def _read_exact(self, n: int) -> bytes | None:
        """Exactly n bytes, or None on a clean end of stream before the first byte."""
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = self.sock.recv_into(view[got:])
            except TimeoutError as e:
                raise TimedOut("the server sent nothing for too long") from e
            except OSError as e:
                raise ConnectionLost(f"connection lost: {e.strerror or e}") from e
            if k == 0:
                if got == 0:
                    return None
                raise Truncated("connection ended in the middle of a frame")
            got += k
        return bytes(buf)

    def read_frame(self, max_body: int) -> tuple[bytes, bytes]:
        """(the 4 length bytes, the body); Truncated if the stream ends first."""
        header = self._read_exact(4)
        if header is None:
            raise Truncated("connection closed without an authenticated Close")
        (length,) = struct.unpack(">I", header)
        if length > max_body:
            raise DecodeError(f"frame of {length} bytes exceeds the maximum {max_body}")
        body = self._read_exact(length) if length else b""
        if body is None:
            raise Truncated("connection ended in the middle of a frame")
        return header, body

    def readable(self) -> bool:
        """Whether a read would not block (used to drain replies while writing)."""
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
