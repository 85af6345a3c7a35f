"""Server pinning: an explicit fingerprint, or a key remembered in known_hosts (PROTOCOL.md §9.4)."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path

from .errors import IdentityMismatch, UnknownHost
from .identity import PublicKey, public_key_from_line


def default_known_hosts() -> Path:
    return Path(os.path.expanduser("~")) / ".sxfer" / "known_hosts"


def host_id(host: str, port: int) -> str:
    return f"{host}:{port}"


class KnownHosts:
    """The file of remembered server keys: one `HOST:PORT TYPE BASE64` line per server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, host: str) -> list[PublicKey]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 3 and not line.startswith("#") and parts[0] == host:
                out.append(public_key_from_line(" ".join(parts[1:3])))
        return out

    def add(self, host: str, key: PublicKey) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f"{host} {key.openssh_line()}\n")


def same_fingerprint(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class Pin:
    """The check of §4.4.5 step 8 for one host."""

    def __init__(
        self,
        store: KnownHosts,
        host: str,
        port: int,
        fingerprint: str | None,
        confirm: Callable[[PublicKey], bool] | None,
    ) -> None:
        self._store = store
        self._host = host_id(host, port)
        self._fingerprint = fingerprint
        self._confirm = confirm

    def check(self, identity: PublicKey) -> None:
        fp = identity.fingerprint()
        known = self._store.lookup(self._host)
        if self._fingerprint is not None:
            if not same_fingerprint(fp, self._fingerprint):
                raise IdentityMismatch(
                    f"the server's key {fp} does not match the fingerprint given ({self._fingerprint})"
                )
        elif known:
            if not any(same_fingerprint(fp, k.fingerprint()) for k in known):
                raise IdentityMismatch(f"the server's key changed: {fp} is not the key remembered")
            return
        elif self._confirm is None or not self._confirm(identity):
            raise UnknownHost(f"unknown server {self._host} with key {fp}: pass its fingerprint")
        if not any(k.blob == identity.blob for k in known):
            self._store.add(self._host, identity)
