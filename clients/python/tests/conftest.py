"""Fixtures: real `sxfer serve` processes on 127.0.0.1:0, started by the suite itself.

The server binary comes from $SXFER_BIN (default target/release/sxfer under
the repository root). Each server gets its own data directory and HOME.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

REPO = Path(__file__).resolve().parents[3]
ALL_SUITES = "aes-256-gcm,chacha20-poly1305,aes-256-cbc-hmac-sha256,aes-256-eax,hmac-sha256-ctr"
PASSWORD = "correct horse battery staple"


def sxfer_bin() -> Path:
    b = Path(os.environ.get("SXFER_BIN", "target/release/sxfer"))
    return b if b.is_absolute() else REPO / b


@dataclass
class Server:
    """One running `sxfer serve`."""

    data: Path
    home: Path
    port: int
    fingerprint: str
    key_kind: str
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SXFER_")}
        env["HOME"] = str(self.home)
        env.update(extra)
        return env

    def admin(self, *args: str, password: str | None = None) -> str:
        """`sxfer user … --data-dir DATA`, the password (if any) from SXFER_PASSWORD."""
        extra = {"SXFER_PASSWORD": password} if password is not None else {}
        out = subprocess.run(
            [str(sxfer_bin()), "user", *args, "--data-dir", str(self.data)],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def cli(self, *args: str, home: Path, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        """The Rust client, with its own HOME (known_hosts) and the password in SXFER_PASSWORD."""
        env = self.env(SXFER_PASSWORD=password)
        env["HOME"] = str(home)
        return subprocess.run(
            [str(sxfer_bin()), *args],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(
    root: Path, key_kind: str, *flags: str, users: tuple[str, ...] = ("alice",), suites: str = ALL_SUITES
) -> Server:
    binary = sxfer_bin()
    if not binary.exists():
        pytest.fail(f"no sxfer binary at {binary} (set SXFER_BIN)")
    data, home = root / "data", root / "home"
    data.mkdir(parents=True)
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SXFER_")}
    env["HOME"] = str(home)
    if key_kind == "ED25519":
        subprocess.run(
            [str(binary), "keygen", "-t", "ed25519", "-f", str(data / "host_key"), "-C", "test"],
            env=env,
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    for user in users:
        subprocess.run(
            [str(binary), "user", "add", user, "--data-dir", str(data)],
            env={**env, "SXFER_PASSWORD": PASSWORD},
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    proc = subprocess.Popen(
        [
            str(binary),
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            "127.0.0.1:0",
            "--suites",
            suites,
            *flags,
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    port = fingerprint = kind = None
    log: list[str] = []
    for line in proc.stderr:  # the server prints its address and key on start-up
        log.append(line)
        if m := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if m := re.search(r"host key (\w+) (SHA256:[A-Za-z0-9+/]{43})", line):
            kind, fingerprint = m.group(1), m.group(2)
        if port is not None and fingerprint is not None:
            break
    else:
        pytest.fail("sxfer serve exited before listening:\n" + "".join(log))
    assert kind == key_kind
    server = Server(data, home, port, fingerprint, kind, proc, log)
    threading.Thread(target=lambda: log.extend(proc.stderr or []), daemon=True).start()
    return server


@pytest.fixture(scope="session")
def rsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with its default RSA-3072 identity, registration by invite only."""
    s = start_server(tmp_path_factory.mktemp("rsa"), "RSA")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def ed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with an Ed25519 identity and open registration."""
    s = start_server(tmp_path_factory.mktemp("ed25519"), "ED25519", "--allow-registration")
    yield s
    s.stop()


@pytest.fixture(params=["RSA", "ED25519"])
def server(request: pytest.FixtureRequest) -> Server:
    name = "rsa_server" if request.param == "RSA" else "ed_server"
    s: Server = request.getfixturevalue(name)
    return s


def write_key(path: Path, kind: str) -> Path:
    """An unencrypted OpenSSH private key file and its .pub, as ssh-keygen would write them."""
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    Path(str(path) + ".pub").write_bytes(pub + b" test\n")
    return path
