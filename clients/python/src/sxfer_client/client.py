"""The file-transfer client (PROTOCOL.md §7): upload, download, ls, stat, rm, mv."""

from __future__ import annotations

import os
import stat as stat_mod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import blake3

from . import messages as m
from .errors import (
    IntegrityError,
    ProtocolViolation,
    RequestFailed,
    SxferError,
    UsageError,
)
from .names import check_name, escape
from .record import MAX_PAYLOAD, T_DATA, T_MESSAGE
from .session import Handshake, Session

SMALL_FILE = 4 * 1024 * 1024
CHUNK = MAX_PAYLOAD
PART_SUFFIX = ".sxfer-part"

#: Called with (bytes done, total bytes) as a transfer moves.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class UploadResult:
    entry: m.FileEntry
    #: the byte the upload continued from (the UploadReady offset; 0 for a fresh one)
    resumed_from: int


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    entry: m.FileEntry
    #: how many bytes of a partial file were reused
    resumed_from: int


def local_meta(path: Path) -> m.FileMeta:
    st = path.stat()
    if not stat_mod.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: not a regular file")
    secs, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    return m.FileMeta(st.st_size, stat_mod.S_IMODE(st.st_mode), secs, nanos)


def partial_name(name: str) -> str:
    """`.NAME.sxfer-part`, shortened to 255 bytes as PROTOCOL.md §7.7.2 says."""
    full = "." + name + PART_SUFFIX
    if len(full.encode("utf-8")) <= 255:
        return full
    tail = "~" + blake3.blake3(name.encode("utf-8")).hexdigest()[:16] + PART_SUFFIX
    room = 255 - 1 - len(tail)
    prefix = name.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return "." + prefix + tail


def partial_path(dest: Path) -> Path:
    """Where a download into `dest` keeps its bytes until verified, beside it."""
    return dest.with_name(partial_name(dest.name))


def _fail_request(err: m.Error, what: str) -> RequestFailed:
    return RequestFailed(err.code, f"{what}: {escape(err.message)}")


class Client:
    """A logged-in session; use as a context manager so the connection ends in order."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self._next_transfer = 1

    # -- plumbing ------------------------------------------------------------

    @property
    def handshake(self) -> Handshake:
        return self._s.info

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        elif isinstance(exc, SxferError):
            self._s.fail(exc)
        else:
            self._s.abort()

    def close(self) -> None:
        self._s.close()

    def abort(self) -> None:
        """Cut the connection without a Close (what an interruption looks like to the server)."""
        self._s.abort()

    def _transfer(self) -> int:
        t = self._next_transfer
        self._next_transfer += 1
        return t

    def _send(self, payload: bytes) -> None:
        self._s.send(T_MESSAGE, payload)

    def _reply(self, t: int) -> m.Reply:
        """The next message about request `t` (Data is a protocol violation here)."""
        ctype, payload = self._s.recv()
        if ctype != T_MESSAGE:
            raise ProtocolViolation("a Data record outside a download")
        return self._decode(t, payload)

    def _decode(self, t: int, payload: bytes) -> m.Reply:
        rt, msg = m.decode_reply(payload)
        if msg is None:
            raise ProtocolViolation("a client-to-server message from the server")
        if rt == 0 and isinstance(msg, m.Error):
            raise _fail_request(msg, "the server ended the connection")
        if rt != t:
            raise ProtocolViolation(f"a reply for transfer {rt} while waiting for {t}")
        return msg

    # -- small requests (§7.5.4, §7.5.5) -------------------------------------

    def ls(self, prefix: str = "") -> list[m.FileEntry]:
        """Every file whose name starts with the bytes of `prefix`, in bytewise order."""
        t = self._transfer()
        self._send(m.list_(t, prefix))
        out: list[m.FileEntry] = []
        while True:
            msg = self._reply(t)
            if isinstance(msg, m.Error):
                raise _fail_request(msg, "ls")
            if not isinstance(msg, m.Listing):
                raise ProtocolViolation("unexpected reply to List")
            out.extend(msg.entries)
            if not msg.more:
                return out

    def stat(self, name: str) -> m.FileEntry:
        t = self._transfer()
        self._send(m.stat(t, name))
        msg = self._reply(t)
        if isinstance(msg, m.Error):
            raise _fail_request(msg, f"stat {escape(name)}")
        if not isinstance(msg, m.Listing) or len(msg.entries) != 1 or msg.more:
            raise ProtocolViolation("unexpected reply to Stat")
        return msg.entries[0]

    def _done(self, t: int, what: str) -> None:
        msg = self._reply(t)
        if isinstance(msg, m.Error):
            raise _fail_request(msg, what)
        if not isinstance(msg, m.Done):
            raise ProtocolViolation("unexpected reply to " + what)

    def rm(self, name: str) -> None:
        t = self._transfer()
        self._send(m.delete(t, name))
        self._done(t, f"rm {escape(name)}")

    def mv(self, src: str, dst: str) -> None:
        t = self._transfer()
        self._send(m.rename(t, src, dst))
        self._done(t, f"mv {escape(src)}")

    # -- upload (§7.5.1, §7.5.2, §7.7.1) -------------------------------------

    def upload(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        resume: bool | None = None,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Store the local file `path` as `name` (default: its file name).

        Files over 4 MiB (or with resume=True) ask the server where to continue
        and send only the rest; the whole file is hashed either way.
        """
        src = Path(path)
        remote = check_name(name if name is not None else src.name)
        meta = local_meta(src)
        resumable = meta.size > SMALL_FILE if resume is None else resume
        t = self._transfer()
        with src.open("rb") as f:
            self._send(m.upload(t, remote, meta, resumable))
            offset = 0
            early: m.Reply | None = None
            if resumable:
                msg = self._reply(t)
                if isinstance(msg, m.Error):
                    raise _fail_request(msg, f"upload {escape(remote)}")
                if not isinstance(msg, m.UploadReady) or msg.offset > meta.size:
                    raise ProtocolViolation("unexpected reply to a resumable Upload")
                offset = msg.offset
            hasher = blake3.blake3()
            _hash_prefix(f, hasher, offset, src)
            done = offset
            while done < meta.size:
                chunk = f.read(min(CHUNK, meta.size - done))
                if not chunk:
                    self._s.abort()
                    raise IntegrityError(f"{src} shrank while it was being uploaded")
                hasher.update(chunk)
                self._s.send(T_DATA, chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, meta.size)
                early = self._drain(t, early)
            if f.read(1):
                self._s.abort()
                raise IntegrityError(f"{src} grew while it was being uploaded")
            self._send(m.commit(t, meta.size, hasher.digest()))
        msg = early if early is not None else self._final(t)
        if isinstance(msg, m.Error):
            raise _fail_request(msg, f"upload {escape(remote)}")
        if not isinstance(msg, m.Committed):
            raise ProtocolViolation("unexpected reply to an upload")
        return UploadResult(msg.entry, offset)

    def upload_many(
        self, jobs: Sequence[tuple[str | os.PathLike[str], str]]
    ) -> list[UploadResult | RequestFailed]:
        """Upload (local path, remote name) pairs; one result per job, in order.

        Files of at most 4 MiB are pipelined (§7.5.1): each Upload, its Data and its
        Commit go out back to back without waiting, and the replies are read as they
        come, in request order. Larger files follow, one resumable upload each. A
        request the server refuses is a RequestFailed in the list; a failure of the
        connection raises.
        """
        results: dict[int, UploadResult | RequestFailed] = {}
        small: list[tuple[int, Path, str, m.FileMeta]] = []
        large: list[tuple[int, Path, str]] = []
        for i, (path, name) in enumerate(jobs):
            src = Path(path)
            meta = local_meta(src)
            if meta.size <= SMALL_FILE:
                small.append((i, src, check_name(name), meta))
            else:
                large.append((i, src, check_name(name)))
        pending: deque[tuple[int, int, str]] = deque()  # (transfer, job, name), in request order
        for i, src, name, meta in small:
            t = self._transfer()
            pending.append((t, i, name))
            self._send(m.upload(t, name, meta, False))
            hasher = blake3.blake3()
            with src.open("rb") as f:
                done = 0
                while done < meta.size:
                    chunk = f.read(min(CHUNK, meta.size - done))
                    if not chunk:
                        self._s.abort()
                        raise IntegrityError(f"{src} shrank while it was being uploaded")
                    hasher.update(chunk)
                    self._s.send(T_DATA, chunk)
                    done += len(chunk)
                    self._collect(pending, results, block=False)
                if f.read(1):
                    self._s.abort()
                    raise IntegrityError(f"{src} grew while it was being uploaded")
            self._send(m.commit(t, meta.size, hasher.digest()))
            self._collect(pending, results, block=False)
        while pending:
            self._collect(pending, results, block=True)
        for i, src, name in large:
            try:
                results[i] = self.upload(src, name)
            except RequestFailed as e:
                results[i] = e
        return [results[i] for i in range(len(jobs))]

    def _collect(
        self,
        pending: deque[tuple[int, int, str]],
        results: dict[int, UploadResult | RequestFailed],
        block: bool,
    ) -> None:
        """Read the replies that have arrived (or, blocking, the next one) for pipelined uploads."""
        while pending and (block or self._s.readable()):
            t, job, name = pending[0]
            msg = self._reply(t)
            block = False
            if isinstance(msg, m.Ack):
                continue
            if isinstance(msg, m.Error):
                results[job] = _fail_request(msg, f"upload {escape(name)}")
            elif isinstance(msg, m.Committed):
                results[job] = UploadResult(msg.entry, 0)
            else:
                raise ProtocolViolation("unexpected reply to a pipelined upload")
            pending.popleft()

    def _drain(self, t: int, early: m.Reply | None) -> m.Reply | None:
        """Read replies that arrived while we write (§7.2 rule 2): Acks, or an early Error."""
        while early is None and self._s.readable():
            msg = self._reply(t)
            if isinstance(msg, m.Ack):
                continue
            if isinstance(msg, m.Error):
                return msg
            raise ProtocolViolation("unexpected message during an upload's data")
        return early

    def _final(self, t: int) -> m.Reply:
        while True:
            msg = self._reply(t)
            if not isinstance(msg, m.Ack):
                return msg

    # -- download (§7.5.3, §7.7.2) -------------------------------------------

    def download(
        self,
        name: str,
        dest: str | os.PathLike[str],
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Fetch `name` into the local file `dest`, via `.DEST.sxfer-part` and a whole-file check.

        A partial file left by an interrupted download is continued.
        """
        check_name(name)
        target = Path(dest)
        if target.is_symlink() or (target.exists() and not force):
            raise UsageError(f"{target} exists (use force to replace it)")
        part = partial_path(target)
        if part.is_symlink():
            raise UsageError(f"{part} is a symbolic link")
        have = part.stat().st_size if part.exists() else 0
        t = self._transfer()
        self._send(m.download(t, name, have))
        msg = self._reply(t)
        if isinstance(msg, m.Error):
            if msg.code == m.BAD_REQUEST and have > 0:
                part.unlink()  # the prefix belongs to a longer version: start over next time
            raise _fail_request(msg, f"download {escape(name)}")
        if not isinstance(msg, m.DownloadStart) or msg.offset != have or msg.entry.meta.size < have:
            raise ProtocolViolation("unexpected reply to Download")
        entry = msg.entry
        size = entry.meta.size
        hasher = blake3.blake3()
        with part.open("ab" if have else "wb") as f:
            if have:
                with part.open("rb") as prefix:
                    _hash_prefix(prefix, hasher, have, part)
            done = have
            while True:
                ctype, payload = self._s.recv()
                if ctype == T_DATA:
                    if len(payload) > size - done:
                        raise ProtocolViolation("more file data than the DownloadStart announced")
                    f.write(payload)
                    hasher.update(payload)
                    done += len(payload)
                    if progress is not None:
                        progress(done, size)
                    continue
                reply = self._decode(t, payload)
                if isinstance(reply, m.Error):
                    raise _fail_request(reply, f"download {escape(name)}")
                if not isinstance(reply, m.Commit):
                    raise ProtocolViolation("unexpected message during a download")
                break
            if reply.length != size or reply.digest != entry.digest:
                raise ProtocolViolation("the download's Commit disagrees with its DownloadStart")
            if done != size or hasher.digest() != entry.digest:
                f.close()
                part.unlink()
                raise IntegrityError(f"download {escape(name)}: the file does not match its digest")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(part, entry.meta.mode & 0o777)
        mtime_ns = entry.meta.mtime * 1_000_000_000 + entry.meta.mtime_nanos
        os.utime(part, ns=(mtime_ns, mtime_ns))
        os.replace(part, target)
        _fsync_dir(target.parent)
        return DownloadResult(target, entry, have)


def _hash_prefix(f: BinaryIO, hasher: blake3.blake3, n: int, path: Path) -> None:
    """Hash the first n bytes of an open file (the prefix a resume does not move)."""
    left = n
    while left:
        chunk = f.read(min(CHUNK, left))
        if not chunk:
            raise IntegrityError(f"{path} is shorter than the part already transferred")
        hasher.update(chunk)
        left -= len(chunk)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d if str(d) else ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
