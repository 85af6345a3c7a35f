"""`[user@]host[:port][:path]` targets and the saved default server, as the Rust CLI spells them."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

DEFAULT_PORT = 7272


@dataclass(frozen=True)
class Target:
    user: str
    host: str
    port: int
    path: str | None  # None: no ':path' part at all


def profile_path() -> Path:
    return Path(os.path.expanduser("~")) / ".sxfer" / "profile.toml"


def load_profile() -> tuple[str, str] | None:
    """(user, "host:port") saved by `login`, shared with the Rust client."""
    p = profile_path()
    if not p.exists():
        return None
    data = tomllib.loads(p.read_text(encoding="utf-8"))
    user, server = data.get("user"), data.get("server")
    if isinstance(user, str) and isinstance(server, str):
        return user, server
    return None


def save_profile(t: Target) -> None:
    p = profile_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    host = f"[{t.host}]" if ":" in t.host else t.host
    p.write_text(f'server = "{host}:{t.port}"\nuser = "{t.user}"\n', encoding="utf-8")


def _split_host(rest: str) -> tuple[str, str | None]:
    """(host, what follows its ':'), with `[v6]` brackets."""
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise UsageError(f"unclosed '[' in {rest!r}")
        host, tail = rest[1:end], rest[end + 1 :]
        if tail and not tail.startswith(":"):
            raise UsageError(f"unexpected text after ']' in {rest!r}")
        return host, tail[1:] if tail else None
    host, sep, tail = rest.partition(":")
    return host, tail if sep else None


def parse(text: str) -> Target:
    """Parse `[user@]host[:port][:path]`, or `:path` for the saved default server."""
    profile = load_profile()
    if text.startswith(":") or text == "":
        if profile is None:
            raise UsageError("no default server: give [user@]host, or run login first")
        user, server = profile
        base = parse_plain(f"{user}@{server}", user)
        return Target(base.user, base.host, base.port, text[1:] if text else None)
    return parse_plain(text, profile[0] if profile else None)


def parse_plain(text: str, default_user: str | None) -> Target:
    user_part, at, rest = text.rpartition("@")
    user = user_part if at else (default_user or os.environ.get("USER", ""))
    if not user:
        raise UsageError("no user given (user@host)")
    host, tail = _split_host(rest)
    if not host:
        raise UsageError(f"no host in {text!r}")
    port = DEFAULT_PORT
    path: str | None = None
    if tail is not None:
        head, sep, after = tail.partition(":")
        if head.isdigit() and head:
            port = int(head)
            path = after if sep else None
        else:
            path = tail
    if not 0 < port < 65536:
        raise UsageError(f"bad port in {text!r}")
    return Target(user, host, port, path)
