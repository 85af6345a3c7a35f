"""Application messages (PROTOCOL.md §7.2, §7.3)."""

from __future__ import annotations

from dataclasses import dataclass

from .codec import Reader, Writer
from .errors import DecodeError
from .names import MAX_NAME, check_name, name_problem

K_ERROR = 0x0100
K_ACK = 0x0101
K_COMMIT = 0x0102
K_UPLOAD = 0x0200
K_UPLOAD_READY = 0x0201
K_COMMITTED = 0x0202
K_DOWNLOAD = 0x0203
K_DOWNLOAD_START = 0x0204
K_LIST = 0x0205
K_LISTING = 0x0206
K_STAT = 0x0207
K_DELETE = 0x0208
K_RENAME = 0x0209
K_DONE = 0x020A

MAX_LISTING = 4096

# Error codes (§7.4).
NOT_FOUND = 0x0001
EXISTS = 0x0002
QUOTA = 0x0003
TOO_LARGE = 0x0004
BAD_NAME = 0x0005
INTEGRITY = 0x0006
INTERNAL = 0x0007
BAD_REQUEST = 0x0008
SHUTTING_DOWN = 0x0009


@dataclass(frozen=True)
class FileMeta:
    size: int
    mode: int
    mtime: int
    mtime_nanos: int = 0

    def encode(self, w: Writer) -> None:
        w.u64(self.size).u32(self.mode).i64(self.mtime).u32(self.mtime_nanos)

    @staticmethod
    def decode(r: Reader) -> FileMeta:
        size, mode, mtime, nanos = r.u64(), r.u32(), r.i64(), r.u32()
        if mode > 0o7777:
            raise DecodeError("file mode above 0o7777")
        if nanos >= 1_000_000_000:
            raise DecodeError("mtime_nanos of a second or more")
        return FileMeta(size, mode, mtime, nanos)


@dataclass(frozen=True)
class FileEntry:
    name: str
    meta: FileMeta
    digest: bytes
    stored: int

    @staticmethod
    def decode(r: Reader) -> FileEntry:
        name = _name(r)
        meta = FileMeta.decode(r)
        return FileEntry(name, meta, r.fixed(32), r.i64())


def _name(r: Reader) -> str:
    name = r.string16(MAX_NAME, 1)
    problem = name_problem(name)
    if problem is not None:
        raise DecodeError(f"bad file name from the server: {problem}")
    return name


def _head(kind: int, transfer: int) -> Writer:
    return Writer().u16(kind).u32(transfer)


def upload(t: int, name: str, meta: FileMeta, resume: bool) -> bytes:
    w = _head(K_UPLOAD, t).string16(check_name(name), MAX_NAME, 1)
    meta.encode(w)
    return w.boolean(resume).getvalue()


def commit(t: int, length: int, digest: bytes) -> bytes:
    return _head(K_COMMIT, t).u64(length).raw(digest).getvalue()


def download(t: int, name: str, offset: int) -> bytes:
    return _head(K_DOWNLOAD, t).string16(check_name(name), MAX_NAME, 1).u64(offset).getvalue()


def list_(t: int, prefix: str) -> bytes:
    return _head(K_LIST, t).string16(prefix, 1024).getvalue()


def stat(t: int, name: str) -> bytes:
    return _head(K_STAT, t).string16(check_name(name), MAX_NAME, 1).getvalue()


def delete(t: int, name: str) -> bytes:
    return _head(K_DELETE, t).string16(check_name(name), MAX_NAME, 1).getvalue()


def rename(t: int, src: str, dst: str) -> bytes:
    w = _head(K_RENAME, t).string16(check_name(src), MAX_NAME, 1)
    return w.string16(check_name(dst), MAX_NAME, 1).getvalue()


@dataclass(frozen=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True)
class Ack:
    offset: int


@dataclass(frozen=True)
class Commit:
    length: int
    digest: bytes


@dataclass(frozen=True)
class UploadReady:
    offset: int


@dataclass(frozen=True)
class Committed:
    entry: FileEntry


@dataclass(frozen=True)
class DownloadStart:
    entry: FileEntry
    offset: int


@dataclass(frozen=True)
class Listing:
    entries: tuple[FileEntry, ...]
    more: bool


@dataclass(frozen=True)
class Done:
    pass


Reply = Error | Ack | Commit | UploadReady | Committed | DownloadStart | Listing | Done

_CLIENT_KINDS = {K_UPLOAD, K_DOWNLOAD, K_LIST, K_STAT, K_DELETE, K_RENAME}
# Peer-mode (§13.3, §13.10), relay (§12.2) and drop (§14.4) kinds: known, but never sent to this client.
_OTHER_KINDS = {*range(0x0300, 0x0304), *range(0x0400, 0x0404), *range(0x0500, 0x050D)}


def decode_reply(payload: bytes) -> tuple[int, Reply | None]:
    """(transfer, reply) of a server→client message; None for a known kind a client never gets."""
    r = Reader(payload)
    kind, t = r.u16(), r.u32()
    msg: Reply | None
    if kind == K_ERROR:
        msg = Error(r.u16(), r.string16(1024))
    elif kind == K_ACK:
        msg = Ack(r.u64())
    elif kind == K_COMMIT:
        msg = Commit(r.u64(), r.fixed(32))
    elif kind == K_UPLOAD_READY:
        msg = UploadReady(r.u64())
    elif kind == K_COMMITTED:
        msg = Committed(FileEntry.decode(r))
    elif kind == K_DOWNLOAD_START:
        msg = DownloadStart(FileEntry.decode(r), r.u64())
    elif kind == K_LISTING:
        count = r.u16()
        if count > MAX_LISTING:
            raise DecodeError("Listing with more than 4096 entries")
        entries = tuple(FileEntry.decode(r) for _ in range(count))
        msg = Listing(entries, r.boolean())
    elif kind == K_DONE:
        msg = Done()
    elif kind in _CLIENT_KINDS or kind in _OTHER_KINDS:
        msg = None  # a well-formed kind in the wrong direction: the caller's protocol violation
        return t, msg
    else:
        raise DecodeError(f"unknown message kind 0x{kind:04x}")
    r.done()
    return t, msg
