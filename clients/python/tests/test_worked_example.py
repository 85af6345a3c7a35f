"""The worked example of PROTOCOL.md §11, recomputed with this package, byte for byte.

The hex block in the spec is the only input: the test builds the
ClientHello from the documented random and X25519 scalar, checks the
server's signature and every derived key, and opens every record.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from sxfer_client import auth, suites
from sxfer_client.handshake import (
    KEX_X25519,
    KexPrivate,
    client_hello,
    hkdf_expand,
    parse_server_hello,
    verify_server_hello,
)
from sxfer_client.identity import fingerprint
from sxfer_client.record import T_CLOSE, T_MESSAGE, RecordLayer

SPEC = Path(__file__).resolve().parents[3] / "docs" / "PROTOCOL.md"


def _block() -> str:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("<!-- worked-example:begin -->")
    end = text.index("<!-- worked-example:end -->")
    return text[start:end]


def _section(block: str, heading: str) -> str:
    start = block.index("## " + heading)
    nxt = block.find("\n## ", start + 3)
    return block[start : nxt if nxt >= 0 else len(block)]


def _hex_lines(section: str) -> bytes:
    """Every leading hex column of the lines of one section, concatenated."""
    out = bytearray()
    for line in section.splitlines()[1:]:
        m = re.match(r"^\s*([0-9a-f]+)(\s|$)", line)
        if m and len(m.group(1)) % 2 == 0:
            out += bytes.fromhex(m.group(1))
    return bytes(out)


def _value(block: str, label: str) -> bytes:
    """The hex lines that follow a line containing `label`."""
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if label in line:
            out = bytearray()
            for nxt in lines[i + 1 :]:
                m = re.fullmatch(r"\s*([0-9a-f]+)\s*", nxt)
                if not m:
                    break
                out += bytes.fromhex(m.group(1))
            return bytes(out)
    raise KeyError(label)


def _frame(section: str) -> bytes:
    """A frame's wire bytes: the hex lines between the heading and any 'plaintext' line."""
    wire = section.split("plaintext =")[0]
    if "wire:" in wire:
        wire = "\n" + wire.split("wire:")[1]
    return _hex_lines(wire)


@pytest.fixture(scope="module")
def block() -> str:
    if not SPEC.exists():
        pytest.skip("docs/PROTOCOL.md not found")
    return _block()


def test_worked_example(block: str) -> None:
    random = _value(block, "client random = block(0x01, 0)")
    scalar = _value(block, "client X25519 private scalar")
    ch_frame = _frame(_section(block, "ClientHello frame"))
    sh_frame = _frame(_section(block, "ServerHello frame"))
    assert len(ch_frame) == 4 + 79 and len(sh_frame) == 4 + 197

    offer = KexPrivate(KEX_X25519, x25519.X25519PrivateKey.from_private_bytes(scalar))
    ch = client_hello(random, [offer], [suites.AES_256_GCM])
    assert ch == ch_frame[4:]

    sh = parse_server_hello(sh_frame[4:], [KEX_X25519], [suites.AES_256_GCM])
    assert sh.identity.fingerprint() == "SHA256:f27N9ieNe1OuxkSu7vM2ExcyrsLqhbNTSz/QjmmmPio"
    assert fingerprint(sh.identity.blob) == sh.identity.fingerprint()
    secrets = verify_server_hello(ch, sh, offer)
    assert secrets.th == _value(block, "TH = SHA-256(ClientHello body ‖ ServerHello body)")
    assert secrets.c2s == _value(block, "c2s_secret = ")
    assert secrets.s2c == _value(block, "s2c_secret = ")
    assert secrets.exporter == _value(block, "exporter = ")
    assert hkdf_expand(secrets.c2s, b"SXFR/1 key", 32) == _value(block, "c2s key = ")
    assert hkdf_expand(secrets.s2c, b"SXFR/1 iv", 12) == _value(block, "s2c iv = ")

    # Client side: our records must equal the documented ones exactly.
    client = RecordLayer(suites.AES_256_GCM, secrets.c2s, secrets.s2c)
    cred = auth.Credential("alice", "correct horse battery staple")
    assert client.seal(T_MESSAGE, cred.client_auth(secrets.th)) == _frame(
        _section(block, "ClientAuth record")
    )
    ack = bytes.fromhex("0101000000010000000000100000")
    assert client.seal(T_MESSAGE, ack) == _frame(_section(block, "Ack message record"))
    assert client.seal(T_CLOSE, b"\x00\x00") == _frame(_section(block, "Close record (client"))

    # Server side: we open its records.
    auth_frame = _frame(_section(block, "AuthResult record"))
    ctype, payload = client.open(auth_frame[:4], auth_frame[4:])
    assert ctype == T_MESSAGE
    assert auth.parse_auth_result(payload) == bytes(range(16))
    close_frame = _frame(_section(block, "Close record (server"))
    assert client.open(close_frame[:4], close_frame[4:]) == (T_CLOSE, b"\x00\x00")
