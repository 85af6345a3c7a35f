"""Errors, one class per failure a caller may want to tell apart (PROTOCOL.md §8)."""

from __future__ import annotations

# Close codes (PROTOCOL.md §8).
CLOSE_NORMAL = 0x0000
CLOSE_DECODE = 0x0001
CLOSE_PROTOCOL = 0x0002
CLOSE_BAD_RECORD = 0x0003
CLOSE_HANDSHAKE = 0x0004
CLOSE_AUTH = 0x0005
CLOSE_INTERNAL = 0x0006
CLOSE_APPLICATION = 0x0007

CLOSE_NAMES = {
    CLOSE_NORMAL: "normal",
    CLOSE_DECODE: "decode error",
    CLOSE_PROTOCOL: "protocol violation",
    CLOSE_BAD_RECORD: "bad record",
    CLOSE_HANDSHAKE: "handshake failure",
    CLOSE_AUTH: "authentication failed",
    CLOSE_INTERNAL: "internal error",
    CLOSE_APPLICATION: "application",
}


def close_name(code: int) -> str:
    """The name of a close code, or its number when it is unknown (§8: accept any)."""
    return CLOSE_NAMES.get(code, f"unknown close code 0x{code:04x}")


class SxferError(Exception):
    """Base of every error this package raises on purpose."""

    #: the close code this error would be reported with (§8)
    close_code = CLOSE_INTERNAL


class DecodeError(SxferError):
    """Bytes from the peer did not parse (§3)."""

    close_code = CLOSE_DECODE


class ProtocolViolation(SxferError):
    """Bytes parsed but broke the protocol."""

    close_code = CLOSE_PROTOCOL


class Truncated(ProtocolViolation):
    """The stream ended without an authenticated Close (§5.5)."""


class ConnectionLost(SxferError):
    """The transport failed (reset, broken pipe, timeout) before an orderly end."""


class TimedOut(ConnectionLost):
    """The peer sent nothing for longer than the timeout."""


class CryptoFailure(SxferError):
    """A record failed to open, or a signature or key exchange failed."""

    close_code = CLOSE_BAD_RECORD


class OffersRefused(SxferError):
    """The server's HelloRefusal: it accepts none of some offers (§4.7)."""

    close_code = CLOSE_HANDSHAKE


class IdentityMismatch(SxferError):
    """The server's key does not match the pin (§4.4.5 step 8)."""

    close_code = CLOSE_AUTH


class UnknownHost(SxferError):
    """No pin for this server and nobody to confirm its key."""

    close_code = CLOSE_AUTH


class AuthRejected(SxferError):
    """The server rejected the credential (§4.6.2)."""

    close_code = CLOSE_AUTH


class PeerClosed(SxferError):
    """The peer sent a Close record with a non-normal code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"peer closed the connection: {close_name(code)}")
        self.code = code


class KeyFileError(SxferError):
    """A key file or key could not be used."""


class RequestFailed(SxferError):
    """The server answered a request with an Error message (§7.4)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IntegrityError(SxferError):
    """A length or whole-file digest check failed (§7.6)."""


class UsageError(SxferError):
    """The caller asked for something impossible (a bad name, a bad target)."""
