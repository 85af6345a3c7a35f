"""Password and public-key login, registration with and without an invite, against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

import sxfer_client

from conftest import PASSWORD, Server, write_key
from helpers import connect


def test_password_login(server: Server, tmp_path: Path) -> None:
    with connect(server, tmp_path) as c:
        assert len(c.handshake.client_id) == 16
        assert c.handshake.client_id != bytes(16)


def test_wrong_password_and_unknown_user_are_refused_alike(server: Server, tmp_path: Path) -> None:
    with pytest.raises(sxfer_client.AuthRejected) as wrong:
        connect(server, tmp_path, password="not the password")
    with pytest.raises(sxfer_client.AuthRejected) as unknown:
        connect(server, tmp_path, user="nobody-here", password=PASSWORD)
    assert str(wrong.value) == str(unknown.value)


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_public_key_login(server: Server, tmp_path: Path, kind: str) -> None:
    user = f"key-{kind}-{server.key_kind.lower()}"
    key = write_key(tmp_path / "id", kind)
    server.admin("add", user, "--no-password", "--key", str(key) + ".pub")
    with connect(server, tmp_path, user=user, key=key) as c:
        assert c.ls() == []
    other = write_key(tmp_path / "other", kind)
    with pytest.raises(sxfer_client.AuthRejected):
        connect(server, tmp_path, user=user, key=other)


def test_open_registration(ed_server: Server, tmp_path: Path) -> None:
    with connect(ed_server, tmp_path, user="newcomer", password="fresh pw", register=True) as c:
        client_id = c.handshake.client_id
        assert c.ls() == []
    with connect(ed_server, tmp_path, user="newcomer", password="fresh pw") as c:
        assert c.handshake.client_id == client_id
    # The name is taken now.
    with pytest.raises(sxfer_client.AuthRejected):
        connect(ed_server, tmp_path, user="newcomer", password="other", register=True)


def test_open_registration_with_a_key_only(ed_server: Server, tmp_path: Path) -> None:
    key = write_key(tmp_path / "id", "ed25519")
    with connect(ed_server, tmp_path, user="keyonly", key=key, register=True) as c:
        assert c.ls() == []
    with connect(ed_server, tmp_path, user="keyonly", key=key) as c:
        assert c.ls() == []


def test_registration_needs_an_invite(rsa_server: Server, tmp_path: Path) -> None:
    with pytest.raises(sxfer_client.AuthRejected):
        connect(rsa_server, tmp_path, user="invitee", password="pw", register=True)
    token = rsa_server.admin("invite", password=None).strip().encode("ascii")
    with connect(rsa_server, tmp_path, user="invitee", password="pw", register=True, invite=token) as c:
        assert c.ls() == []
    with connect(rsa_server, tmp_path, user="invitee", password="pw") as c:
        assert c.ls() == []
    # One use: the token is spent.
    with pytest.raises(sxfer_client.AuthRejected):
        connect(rsa_server, tmp_path, user="invitee2", password="pw", register=True, invite=token)
