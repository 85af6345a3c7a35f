"""Server pinning: an explicit fingerprint, or a key remembered in known_hosts.

The file and its rules are those of the reference client (PROTOCOL.md §9.4.1),
so both clients can share `~/.sxfer/known_hosts`.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import DecodeError, IdentityMismatch, UnknownHost, UsageError
from .identity import PublicKey, public_key_from_line

_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def default_known_hosts() -> Path:
    return Path(os.path.expanduser("~")) / ".sxfer" / "known_hosts"


def check_fingerprint(text: str) -> str:
    """A fingerprint as `ssh-keygen -l -E sha256` prints it, or UsageError (§4.4.4)."""
    if not _FINGERPRINT.fullmatch(text):
        raise UsageError(
            f"invalid fingerprint {text!r}: expected SHA256: and 43 base64 characters, "
            "as printed by ssh-keygen -l -E sha256"
        )
    return text


def same_fingerprint(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class Entry:
    key: PublicKey
    line: int  # 1-based, for messages


class KnownHosts:
    """`HOST:PORT KEYTYPE BASE64` lines; the first line for a HOST:PORT is its pin."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, host_port: str) -> Entry | None:
        if not self.path.exists():
            return None
        text = self.path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), start=1):
            parts = line.split()
            if not parts or parts[0].startswith("#") or parts[0] != host_port:
                continue
            try:
                return Entry(public_key_from_line(" ".join(parts[1:3])), n)
            except DecodeError as e:
                raise UsageError(f"{self.path} line {n}: not a usable key ({e})") from e
        return None

    def add(self, host_port: str, key: PublicKey) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = self.path.read_bytes() if self.path.exists() else b""
        with self.path.open("a", encoding="utf-8") as f:
            if existing and not existing.endswith(b"\n"):
                f.write("\n")
            f.write(f"{host_port} {key.openssh_line()}\n")


class Pin:
    """The check of PROTOCOL.md §4.4.5 step 8 for one HOST:PORT, with §9.4.1's rules."""

    def __init__(
        self,
        store: KnownHosts,
        host: str,
        port: int,
        fingerprint: str | None,
        confirm: Callable[[PublicKey], bool] | None,
        on_added: Callable[[str, Path], None] | None = None,
    ) -> None:
        self._store = store
        self.host_port = f"{host}:{port}"
        self._fingerprint = check_fingerprint(fingerprint) if fingerprint is not None else None
        self._confirm = confirm
        self._on_added = on_added

    def check(self, identity: PublicKey) -> None:
        fp = identity.fingerprint()
        entry = self._store.lookup(self.host_port)
        where = f"{self._store.path} line {entry.line}" if entry else ""
        if entry is not None:
            pinned = entry.key.fingerprint()
            if self._fingerprint is not None and not same_fingerprint(self._fingerprint, pinned):
                raise IdentityMismatch(
                    f"--fingerprint {self._fingerprint} disagrees with the key pinned for "
                    f"{self.host_port} in {where}"
                )
            if not same_fingerprint(fp, pinned):
                raise IdentityMismatch(
                    f"WARNING: THE SERVER KEY FOR {self.host_port} HAS CHANGED (pinned {pinned}, "
                    f"presented {fp}); this may be an attack. If the change is expected, remove line "
                    f"{entry.line} of {self._store.path}"
                )
            return
        if self._fingerprint is not None:
            if not same_fingerprint(fp, self._fingerprint):
                raise IdentityMismatch(
                    f"server {self.host_port} presented {fp}, not the expected {self._fingerprint}; "
                    "nothing was sent"
                )
        elif self._confirm is None or not self._confirm(identity):
            raise UnknownHost(
                f"unknown server {self.host_port} with key {fp}; pass --fingerprint {fp} "
                "after checking it with the server's operator"
            )
        self._store.add(self.host_port, identity)
        if self._on_added is not None:
            self._on_added(self.host_port, self._store.path)
