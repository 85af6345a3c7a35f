"""Remote names (PROTOCOL.md §7.1) and how they are shown."""

from __future__ import annotations

import unicodedata

from .errors import UsageError

MAX_NAME = 1024
MAX_SEGMENT = 255
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid remote name, or None if it is."""
    raw = name.encode("utf-8", errors="surrogatepass")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    if not 1 <= len(raw) <= MAX_NAME:
        return f"must be 1 to {MAX_NAME} bytes"
    for seg in name.split("/"):
        if seg == "":
            return "has an empty segment (leading, trailing or double '/')"
        if seg in (".", ".."):
            return "has a '.' or '..' segment"
        if len(seg.encode("utf-8")) > MAX_SEGMENT:
            return f"has a segment longer than {MAX_SEGMENT} bytes"
        if "\\" in seg:
            return "contains a backslash"
        if any(unicodedata.category(c) == "Cc" for c in seg):
            return "contains a control character"
    return None


def check_name(name: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise UsageError(f"bad remote name {escape(name)!r}: {problem}")
    return name


def escape(text: str) -> str:
    """Text safe to print: control and bidirectional characters as `\\u{…}` (§7.1, §9.3)."""
    out = []
    for c in text:
        if unicodedata.category(c) == "Cc" or ord(c) in _BIDI:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return "".join(out)
