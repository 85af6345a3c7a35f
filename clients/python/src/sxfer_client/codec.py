"""The binary codec of PROTOCOL.md §3: big-endian integers, bounded lengths, exact consumption."""

from __future__ import annotations

import struct

from .errors import DecodeError


class Reader:
    """Reads one message; every length is checked against its maximum before use."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def _take(self, n: int) -> bytes:
        if n > len(self._data) - self._pos:
            raise DecodeError("truncated field")
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self._take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self._take(8))[0])

    def i64(self) -> int:
        return int(struct.unpack(">q", self._take(8))[0])

    def fixed(self, n: int) -> bytes:
        return self._take(n)

    def boolean(self) -> bool:
        b = self.u8()
        if b > 1:
            raise DecodeError(f"boolean byte 0x{b:02x} is neither 0 nor 1")
        return b == 1

    def _var(self, length: int, lo: int, hi: int) -> bytes:
        if length > hi:
            raise DecodeError(f"field of {length} bytes exceeds its maximum {hi}")
        if length < lo:
            raise DecodeError(f"field of {length} bytes is below its minimum {lo}")
        return self._take(length)

    def bytes8(self, hi: int, lo: int = 0) -> bytes:
        return self._var(self.u8(), lo, hi)

    def bytes16(self, hi: int, lo: int = 0) -> bytes:
        return self._var(self.u16(), lo, hi)

    def bytes32(self, hi: int, lo: int = 0) -> bytes:
        return self._var(self.u32(), lo, hi)

    def string8(self, hi: int, lo: int = 0) -> str:
        return _utf8(self.bytes8(hi, lo))

    def string16(self, hi: int, lo: int = 0) -> str:
        return _utf8(self.bytes16(hi, lo))

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def done(self) -> None:
        """Rule 2 of §3: a message fills its container exactly."""
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} trailing bytes")


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("invalid UTF-8") from e


class Writer:
    """Builds one message; refuses to emit a field longer than its maximum (§3)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def u8(self, v: int) -> Writer:
        self._buf += struct.pack(">B", v)
        return self

    def u16(self, v: int) -> Writer:
        self._buf += struct.pack(">H", v)
        return self

    def u32(self, v: int) -> Writer:
        self._buf += struct.pack(">I", v)
        return self

    def u64(self, v: int) -> Writer:
        self._buf += struct.pack(">Q", v)
        return self

    def i64(self, v: int) -> Writer:
        self._buf += struct.pack(">q", v)
        return self

    def raw(self, b: bytes) -> Writer:
        self._buf += b
        return self

    def boolean(self, v: bool) -> Writer:
        return self.u8(1 if v else 0)

    def _check(self, b: bytes, hi: int, lo: int) -> None:
        if not lo <= len(b) <= hi:
            raise ValueError(f"field of {len(b)} bytes is outside {lo}..{hi}")

    def bytes8(self, b: bytes, hi: int = 0xFF, lo: int = 0) -> Writer:
        self._check(b, hi, lo)
        return self.u8(len(b)).raw(b)

    def bytes16(self, b: bytes, hi: int = 0xFFFF, lo: int = 0) -> Writer:
        self._check(b, hi, lo)
        return self.u16(len(b)).raw(b)

    def string8(self, s: str, hi: int = 0xFF, lo: int = 0) -> Writer:
        return self.bytes8(s.encode("utf-8"), hi, lo)

    def string16(self, s: str, hi: int = 0xFFFF, lo: int = 0) -> Writer:
        return self.bytes16(s.encode("utf-8"), hi, lo)

    def getvalue(self) -> bytes:
        return bytes(self._buf)
