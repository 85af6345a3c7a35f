"""`sxfer-py`, run as a user would, against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import PASSWORD, Server
from helpers import random_file, same_file


def run(home: Path, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SXFER_")}
    env.update(HOME=str(home), SXFER_PASSWORD=password)
    return subprocess.run(
        [sys.executable, "-m", "sxfer_client.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_cli_round_trip(server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    src = tmp_path / "report.pdf"
    digest = random_file(src, 5 << 20, mode=0o600)
    target = f"alice@127.0.0.1:{server.port}"
    r = run(home, "upload", str(src), f"{target}:cli-{server.key_kind}/", "--fingerprint", server.fingerprint)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"uploaded cli-{server.key_kind}/report.pdf ({5 << 20} bytes)\n"
    assert f"Permanently added 127.0.0.1:{server.port}" in r.stderr
    # Pinned now; --json lists it with its digest.
    r = run(home, "ls", "--json", f"{target}:cli-{server.key_kind}/")
    assert r.returncode == 0, r.stderr
    [entry] = [json.loads(line) for line in r.stdout.splitlines()]
    assert entry["name"] == f"cli-{server.key_kind}/report.pdf" and entry["blake3"] == digest.hex()
    assert entry["mode"] == 0o600
    out = tmp_path / "out"
    out.mkdir()
    r = run(home, "download", f"{target}:cli-{server.key_kind}/report.pdf", str(out))
    assert r.returncode == 0, r.stderr
    assert same_file(src, out / "report.pdf")
    r = run(home, "download", f"{target}:cli-{server.key_kind}/report.pdf", str(out))
    assert r.returncode == 1 and "exists" in r.stderr
    r = run(home, "mv", f"{target}:cli-{server.key_kind}/report.pdf", f"cli-{server.key_kind}/old.pdf")
    assert r.returncode == 0, r.stderr
    r = run(home, "rm", f"{target}:cli-{server.key_kind}/old.pdf")
    assert r.returncode == 0, r.stderr
    r = run(home, "stat", f"{target}:cli-{server.key_kind}/old.pdf")
    assert r.returncode == 1 and r.stderr.startswith("sxfer-py: error: ") and r.stderr.count("\n") == 1


def test_cli_errors_are_one_line(ed_server: Server, rsa_server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = f"alice@127.0.0.1:{ed_server.port}"
    r = run(home, "ls", target, "--fingerprint", rsa_server.fingerprint)
    assert r.returncode == 1
    assert r.stderr == (
        f"sxfer-py: error: server 127.0.0.1:{ed_server.port} presented {ed_server.fingerprint}, "
        f"not the expected {rsa_server.fingerprint}; nothing was sent\n"
    )
    r = run(home, "ls", target)  # not pinned, no terminal to ask on
    assert r.returncode == 1 and "unknown server" in r.stderr
    r = run(home, "ls", target, "--fingerprint", ed_server.fingerprint, password="wrong")
    # As with the Rust client, the key passed the check and is remembered even though the login failed.
    assert r.returncode == 1
    assert r.stderr.endswith("\nsxfer-py: error: authentication rejected: login failed\n")
    r = run(home, "ls", target, "--fingerprint", "SHA256:short")
    assert r.returncode == 1 and "invalid fingerprint" in r.stderr
    r = run(home, "frobnicate")
    assert r.returncode == 2


def test_cli_register_with_an_invite_file(rsa_server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    token_file = tmp_path / "invite"
    token_file.write_text(rsa_server.admin("invite"))  # as printed: the token and a line end
    target = f"carol@127.0.0.1:{rsa_server.port}"
    r = run(
        home,
        "register",
        target,
        "--invite-file",
        str(token_file),
        "--fingerprint",
        rsa_server.fingerprint,
        password="carol's pw",
    )
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"registered {target} \(client id [0-9a-f]{{32}}\)\n", r.stdout)
    # The account works for the Rust client too.
    r2 = rsa_server.cli(
        "ls", target, "--fingerprint", rsa_server.fingerprint, home=tmp_path / "rust", password="carol's pw"
    )
    assert r2.returncode == 0, r2.stderr
    # The token is spent.
    r = run(home, "register", f"dave@127.0.0.1:{rsa_server.port}", "--invite-file", str(token_file))
    assert r.returncode == 1 and "authentication rejected" in r.stderr
