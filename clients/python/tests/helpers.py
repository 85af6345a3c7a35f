"""Small helpers shared by the server tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import blake3

import sxfer_client

from conftest import PASSWORD, Server


def connect(server: Server, tmp: Path, port: int | None = None, **kw: Any) -> sxfer_client.Client:
    """Log in as alice with the server's fingerprint and a private known_hosts file."""
    kw.setdefault("user", "alice")
    if "key" not in kw:
        kw.setdefault("password", PASSWORD)
    kw.setdefault("known_hosts", tmp / "known_hosts")
    kw.setdefault("timeout", 30)
    if "confirm" not in kw:
        kw.setdefault("fingerprint", server.fingerprint)
    return sxfer_client.connect("127.0.0.1", port or server.port, **kw)


def random_file(path: Path, size: int, mode: int = 0o644, mtime: tuple[int, int] | None = None) -> bytes:
    """A file of random bytes with the given mode and mtime (seconds, nanoseconds); its BLAKE3."""
    h = blake3.blake3()
    with path.open("wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    path.chmod(mode)
    if mtime is not None:
        ns = mtime[0] * 1_000_000_000 + mtime[1]
        os.utime(path, ns=(ns, ns))
    return h.digest()


def same_file(a: Path, b: Path) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
