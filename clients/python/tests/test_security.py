"""Pinning before any credential, known_hosts shared with the Rust client, tampered records."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import sxfer_client
from sxfer_client import messages
from sxfer_client.errors import CryptoFailure, TimedOut
from sxfer_client.identity import PublicKey

from conftest import Server, start_server
from helpers import connect, random_file
from proxy import Proxy

MIB = 1 << 20


def only_a_client_hello(sent: bytes) -> bool:
    """Whether the client's whole stream is exactly one hello frame holding a ClientHello."""
    if len(sent) < 8:
        return False
    (length,) = struct.unpack(">I", sent[:4])
    return len(sent) == 4 + length and sent[4:8] == b"SXFR"


def test_wrong_fingerprint_is_refused_before_any_credential(
    rsa_server: Server, ed_server: Server, tmp_path: Path
) -> None:
    with Proxy(("127.0.0.1", rsa_server.port)) as proxy:
        with pytest.raises(sxfer_client.IdentityMismatch):
            connect(rsa_server, tmp_path, port=proxy.port, fingerprint=ed_server.fingerprint)
        assert proxy.client_done.wait(30)
        assert only_a_client_hello(bytes(proxy.c2s)), len(proxy.c2s)
    assert not (tmp_path / "known_hosts").exists()


def test_a_changed_key_is_refused_before_any_credential(
    rsa_server: Server, ed_server: Server, tmp_path: Path
) -> None:
    # Pin the Ed25519 server's key, then reach the RSA server under the same HOST:PORT.
    with Proxy(("127.0.0.1", ed_server.port)) as first:
        with connect(ed_server, tmp_path, port=first.port) as c:
            c.ls()
        port = first.port
    lines = (tmp_path / "known_hosts").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"127.0.0.1:{port} ssh-ed25519 AAAA")
    (tmp_path / "known_hosts").write_text(lines[0].replace(str(port), "PORT") + "\n")
    with Proxy(("127.0.0.1", rsa_server.port)) as proxy:
        kh = tmp_path / "known_hosts"
        kh.write_text(kh.read_text().replace("PORT", str(proxy.port)))
        with pytest.raises(sxfer_client.IdentityMismatch) as e:
            connect(rsa_server, tmp_path, port=proxy.port, fingerprint=None, confirm=lambda k: True)
        assert "CHANGED" in str(e.value)
        assert proxy.client_done.wait(30)
        assert only_a_client_hello(bytes(proxy.c2s))


def test_unknown_server_needs_a_fingerprint_or_a_yes(ed_server: Server, tmp_path: Path) -> None:
    with pytest.raises(sxfer_client.UnknownHost):
        connect(ed_server, tmp_path, fingerprint=None, confirm=lambda k: False)
    seen: list[PublicKey] = []

    def yes(key: PublicKey) -> bool:
        seen.append(key)
        return True

    with connect(ed_server, tmp_path, fingerprint=None, confirm=yes) as c:
        c.ls()
    assert [k.fingerprint() for k in seen] == [ed_server.fingerprint]
    # Remembered now: no question, no fingerprint needed.
    with connect(ed_server, tmp_path, fingerprint=None, confirm=None) as c:
        c.ls()


def test_known_hosts_is_shared_with_the_rust_client(rsa_server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    kh = home / ".sxfer" / "known_hosts"
    with connect(rsa_server, tmp_path, known_hosts=kh) as c:
        c.ls()
    # The Rust client trusts the entry we wrote: no --fingerprint needed.
    r = rsa_server.cli("ls", f"alice@127.0.0.1:{rsa_server.port}", home=home)
    assert r.returncode == 0, r.stderr
    assert "Permanently added" not in r.stderr
    # And we trust one the Rust client wrote.
    home2 = tmp_path / "home2"
    r = rsa_server.cli(
        "ls", f"alice@127.0.0.1:{rsa_server.port}", "--fingerprint", rsa_server.fingerprint, home=home2
    )
    assert r.returncode == 0, r.stderr
    with connect(rsa_server, tmp_path, known_hosts=home2 / ".sxfer" / "known_hosts", fingerprint=None) as c:
        c.ls()
    assert kh.read_text() == (home2 / ".sxfer" / "known_hosts").read_text()


@pytest.mark.parametrize("size", [2 * MIB, 6 * MIB], ids=["pipelined", "resumable"])
def test_a_flipped_bit_makes_the_server_close_and_store_nothing(
    server: Server, tmp_path: Path, size: int
) -> None:
    src = tmp_path / "f.bin"
    random_file(src, size)
    name = f"tampered/{server.key_kind}-{size}"
    # Byte 100 000 of the client's stream is inside the first Data record's ciphertext.
    with Proxy(("127.0.0.1", server.port), flip_c2s_at=100_000) as proxy:
        c = connect(server, tmp_path, port=proxy.port)
        with pytest.raises(sxfer_client.SxferError) as e, c:
            c.upload(src, name)
        assert not isinstance(e.value, TimedOut), "the server did not end the connection:\n" + "".join(
            server.log[-30:]
        )
        assert proxy.server_done.wait(30)  # the server ended the connection
        assert len(proxy.c2s) > 100_000
    with connect(server, tmp_path) as c:
        with pytest.raises(sxfer_client.RequestFailed) as e:
            c.stat(name)
        assert e.value.code == messages.NOT_FOUND
        assert c.ls("tampered/" + server.key_kind + f"-{size}") == []
        # Nothing was kept to resume from either: a resumable upload starts at 0.
        if size > 4 * MIB:
            assert c.upload(src, name).resumed_from == 0


def test_a_flipped_bit_from_the_server_fails_the_download(ed_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    random_file(src, 3 * MIB)
    with connect(ed_server, tmp_path) as c:
        c.upload(src, "tampered/download.bin")
    dest = tmp_path / "out.bin"
    # Byte 200 000 of the server's stream is inside the first Data record of the download.
    with Proxy(("127.0.0.1", ed_server.port), flip_s2c_at=200_000) as proxy:
        c = connect(ed_server, tmp_path, port=proxy.port)
        with pytest.raises(CryptoFailure), c:
            c.download("tampered/download.bin", dest)
    assert not dest.exists()


def test_hello_refusal_names_what_was_refused(tmp_path: Path) -> None:
    s = start_server(tmp_path / "strict", "ED25519", suites="aes-256-gcm")
    try:
        with pytest.raises(sxfer_client.OffersRefused) as e:
            connect(s, tmp_path, suite_names=["aes-256-eax"])
        assert str(e.value) == "the server accepts none of the offered record suites (offered: aes-256-eax)"
        with connect(s, tmp_path, suite_names=["aes-256-eax", "aes-256-gcm"]) as c:
            assert c.handshake.suite.name == "aes-256-gcm"
    finally:
        s.stop()
