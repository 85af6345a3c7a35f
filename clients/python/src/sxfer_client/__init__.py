"""sxfer_client: a Python client for SXFR/1, written from docs/PROTOCOL.md.

with sxfer_client.connect("files.example.org", user="alice", password="…",
                          fingerprint="SHA256:…") as c:
    c.upload("report.pdf", "backup/report.pdf")
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from . import suites
from .auth import Credential
from .client import Client, DownloadResult, UploadResult
from .errors import (
    AuthRejected,
    IdentityMismatch,
    IntegrityError,
    OffersRefused,
    PeerClosed,
    RequestFailed,
    SxferError,
    UnknownHost,
)
from .handshake import DEFAULT_KEX, kex_by_name
from .identity import PrivateKey, PublicKey
from .messages import FileEntry, FileMeta
from .pins import KnownHosts, Pin, default_known_hosts
from .session import handshake

DEFAULT_PORT = 7272
DEFAULT_TIMEOUT = 300.0

__all__ = [
    "DEFAULT_PORT",
    "AuthRejected",
    "Client",
    "DownloadResult",
    "FileEntry",
    "FileMeta",
    "IdentityMismatch",
    "IntegrityError",
    "KnownHosts",
    "OffersRefused",
    "PeerClosed",
    "PrivateKey",
    "PublicKey",
    "RequestFailed",
    "SxferError",
    "UnknownHost",
    "UploadResult",
    "connect",
]


def connect(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    user: str,
    password: str | None = None,
    key: str | os.PathLike[str] | PrivateKey | None = None,
    fingerprint: str | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    confirm: Callable[[PublicKey], bool] | None = None,
    register: bool = False,
    invite: bytes | None = None,
    kex: Sequence[str] | None = None,
    suite_names: Sequence[str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_added: Callable[[str, Path], None] | None = None,
) -> Client:
    """Connect, check the server's key against the pin, log in (or register) and return a Client.

    The pin is `fingerprint` (`SHA256:…`) if given, else the key remembered
    for `host:port` in `known_hosts` (default `~/.sxfer/known_hosts`). A
    server not remembered there is accepted only if `fingerprint` matches or
    `confirm(key)` returns True; it is then remembered. A changed key is
    always refused. Nothing is sent to a server that fails the pin.
    `on_added(HOST:PORT, file)` is told when a key is newly remembered.
    """
    private = PrivateKey.load(key) if isinstance(key, (str, os.PathLike)) else key
    credential = Credential(user, password, private, register, invite)
    store = KnownHosts(Path(known_hosts) if known_hosts is not None else default_known_hosts())
    pin = Pin(store, host, port, fingerprint, confirm, on_added)
    kex_codes = [kex_by_name(k) for k in kex] if kex else list(DEFAULT_KEX)
    suite_list = [suites.by_name(s) for s in suite_names] if suite_names else list(suites.DEFAULT)
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    session = handshake(sock, credential, pin.check, kex_codes, suite_list)
    return Client(session)
