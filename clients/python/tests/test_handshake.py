"""Every key exchange × record suite × server identity type, against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from sxfer_client import suites
from sxfer_client.handshake import KEX_BY_NAME

from conftest import Server
from helpers import connect

KEXES = ["x25519", "mlkem768x25519"]


@pytest.mark.parametrize("kex", KEXES)
@pytest.mark.parametrize("suite", [s.name for s in suites.ALL])
def test_handshake(server: Server, tmp_path: Path, kex: str, suite: str) -> None:
    name = f"hs/{server.key_kind}-{kex}-{suite}"
    payload = tmp_path / "p"
    payload.write_bytes(bytes(range(256)) * 33 + b"tail")  # records both ways, not a block multiple
    with connect(server, tmp_path, kex=[kex], suite_names=[suite]) as c:
        assert c.handshake.kex == KEX_BY_NAME[kex]
        assert c.handshake.suite.name == suite
        assert c.handshake.identity.kind == server.key_kind
        assert c.handshake.identity.fingerprint() == server.fingerprint
        stored = c.upload(payload, name).entry
        out = tmp_path / "back"
        got = c.download(name, out)
        assert got.entry.digest == stored.digest
        assert out.read_bytes() == payload.read_bytes()
        c.rm(name)


def test_default_offer_gets_the_hybrid(server: Server, tmp_path: Path) -> None:
    with connect(server, tmp_path) as c:
        assert c.handshake.kex == KEX_BY_NAME["mlkem768x25519"]
        assert c.handshake.suite == suites.AES_256_GCM
