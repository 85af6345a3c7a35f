"""Uploads and downloads between this client and the Rust CLI, resume both ways, ls/stat/rm/mv."""

from __future__ import annotations

import os
import stat
import tracemalloc
from pathlib import Path

import blake3
import pytest

import sxfer_client
from sxfer_client import messages
from sxfer_client.client import partial_name

from conftest import Server, start_server
from helpers import connect, random_file, same_file

MIB = 1 << 20


class Interrupt(Exception):
    """Raised from a progress callback to cut a transfer in the middle."""


def cut_after(limit: int) -> sxfer_client.client.Progress:
    def progress(done: int, total: int) -> None:
        if done >= limit:
            raise Interrupt

    return progress


def rust_home(tmp: Path) -> Path:
    home = tmp / "rust-home"
    home.mkdir(exist_ok=True)
    return home


@pytest.mark.parametrize("size", [0, 1000, 6 * MIB + 7], ids=["empty", "small", "resumable"])
def test_python_upload_rust_download(server: Server, tmp_path: Path, size: int) -> None:
    src = tmp_path / "src.bin"
    digest = random_file(src, size, mode=0o640, mtime=(1767225600, 123456789))
    name = f"py-up/{server.key_kind}/{size}.bin"
    with connect(server, tmp_path) as c:
        entry = c.upload(src, name).entry
    assert entry.digest == digest
    assert entry.meta == messages.FileMeta(size, 0o640, 1767225600, 123456789)
    out = tmp_path / "out"
    out.mkdir()
    r = server.cli(
        "download",
        f"alice@127.0.0.1:{server.port}:{name}",
        str(out),
        "--fingerprint",
        server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    got = out / f"{size}.bin"
    assert same_file(src, got)
    st = got.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_mtime_ns == 1767225600_123456789


@pytest.mark.parametrize("size", [1000, 6 * MIB + 7], ids=["small", "resumable"])
def test_rust_upload_python_download(server: Server, tmp_path: Path, size: int) -> None:
    src = tmp_path / f"rust-{size}.bin"
    digest = random_file(src, size, mode=0o600, mtime=(1700000000, 5))
    r = server.cli(
        "upload",
        str(src),
        f"alice@127.0.0.1:{server.port}:rust-up/{server.key_kind}/",
        "--fingerprint",
        server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    dest = tmp_path / "down.bin"
    with connect(server, tmp_path) as c:
        res = c.download(f"rust-up/{server.key_kind}/{src.name}", dest)
    assert res.entry.digest == digest
    assert res.resumed_from == 0
    assert same_file(src, dest)
    st = dest.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_mtime_ns == 1700000000_000000005


def test_interrupted_upload_resumes(rsa_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    digest = random_file(src, 20 * MIB + 3)
    name = "resume/upload.bin"
    c = connect(rsa_server, tmp_path)
    with pytest.raises(Interrupt), c:
        c.upload(src, name, progress=cut_after(12 * MIB))
    with connect(rsa_server, tmp_path) as c:
        with pytest.raises(sxfer_client.RequestFailed) as nothing:
            c.stat(name)
        assert nothing.value.code == messages.NOT_FOUND  # nothing visible before the Commit
        res = c.upload(src, name)
    assert 0 < res.resumed_from <= 12 * MIB
    assert res.entry.digest == digest
    # The Rust client gets the whole file.
    out = tmp_path / "out"
    out.mkdir()
    r = rsa_server.cli(
        "download",
        f"alice@127.0.0.1:{rsa_server.port}:{name}",
        str(out),
        "--fingerprint",
        rsa_server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert same_file(src, out / "upload.bin")


def test_interrupted_download_resumes(ed_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    digest = random_file(src, 9 * MIB + 11)
    name = "resume/download.bin"
    with connect(ed_server, tmp_path) as c:
        c.upload(src, name)
    dest = tmp_path / "dl.bin"
    part = tmp_path / ".dl.bin.sxfer-part"
    c = connect(ed_server, tmp_path)
    with pytest.raises(Interrupt), c:
        c.download(name, dest, progress=cut_after(4 * MIB))
    assert not dest.exists()
    held = part.stat().st_size
    assert 4 * MIB <= held < 9 * MIB
    with connect(ed_server, tmp_path) as c:
        res = c.download(name, dest)
    assert res.resumed_from == held
    assert res.entry.digest == digest
    assert same_file(src, dest)
    assert not part.exists()


def test_rust_resumes_a_python_partial_download(ed_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    random_file(src, 7 * MIB)
    name = "resume/shared.bin"
    with connect(ed_server, tmp_path) as c:
        c.upload(src, name)
    out = tmp_path / "out"
    out.mkdir()
    c = connect(ed_server, tmp_path)
    with pytest.raises(Interrupt), c:
        c.download(name, out / "shared.bin", progress=cut_after(2 * MIB))
    held = (out / ".shared.bin.sxfer-part").stat().st_size
    r = ed_server.cli(
        "download",
        f"alice@127.0.0.1:{ed_server.port}:{name}",
        str(out),
        "--fingerprint",
        ed_server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert f"resuming {name} at byte {held}" in r.stderr
    assert same_file(src, out / "shared.bin")


def test_a_damaged_partial_download_is_caught_and_removed(ed_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    random_file(src, 3 * MIB)
    with connect(ed_server, tmp_path) as c:
        c.upload(src, "damaged/f.bin")
    dest = tmp_path / "f.out"
    (tmp_path / ".f.out.sxfer-part").write_bytes(os.urandom(MIB))  # not a prefix of the file
    with connect(ed_server, tmp_path) as c:
        with pytest.raises(sxfer_client.IntegrityError):
            c.download("damaged/f.bin", dest)
        assert not dest.exists()
        assert not (tmp_path / ".f.out.sxfer-part").exists()
        assert c.download("damaged/f.bin", dest).resumed_from == 0
    assert same_file(src, dest)


def test_ls_stat_rm_mv(server: Server, tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    digest = random_file(src, 100)
    base = f"cmds-{server.key_kind}/"
    with connect(server, tmp_path) as c:
        for n in ("b", "a", "sub/c"):
            c.upload(src, base + n)
        assert [e.name for e in c.ls(base)] == [base + "a", base + "b", base + "sub/c"]
        assert [e.name for e in c.ls(base + "sub/")] == [base + "sub/c"]
        st = c.stat(base + "a")
        assert (st.meta.size, st.digest) == (100, digest)
        c.mv(base + "a", base + "z")
        with pytest.raises(sxfer_client.RequestFailed) as e:
            c.mv(base + "b", base + "z")
        assert e.value.code == messages.EXISTS
        c.rm(base + "b")
        with pytest.raises(sxfer_client.RequestFailed) as e:
            c.stat(base + "b")
        assert e.value.code == messages.NOT_FOUND
        with pytest.raises(sxfer_client.RequestFailed) as e:
            c.rm(base + "b")
        assert e.value.code == messages.NOT_FOUND
        assert [e.name for e in c.ls(base)] == [base + "sub/c", base + "z"]
        assert c.stat(base + "z").digest == digest
    # The Rust CLI sees the same listing.
    r = server.cli(
        "ls",
        "--json",
        f"alice@127.0.0.1:{server.port}:{base}",
        "--fingerprint",
        server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert '"name":"' + base + 'z"' in r.stdout and blake3.blake3(src.read_bytes()).hexdigest() in r.stdout


def test_bad_names_never_leave_the_client(server: Server, tmp_path: Path) -> None:
    with connect(server, tmp_path) as c:
        for bad in ["", "/etc/passwd", "a/", "a//b", "../x", "a\\b", "a\nb", "x" * 256]:
            with pytest.raises(sxfer_client.SxferError):
                c.stat(bad)
        assert c.ls("no-such-prefix/") == []


def test_partial_names_match_the_rust_client() -> None:
    """The examples of PROTOCOL.md §7.7.2, observed from the Rust client."""
    assert partial_name("f.bin") == ".f.bin.sxfer-part"
    assert partial_name("A" * 243) == "." + "A" * 243 + ".sxfer-part"
    assert partial_name("B" * 244) == "." + "B" * 226 + "~d57affe41b95dd82.sxfer-part"
    long = partial_name("L" + "é" * 126)  # the cut falls inside a two-byte character
    assert long == ".L" + "é" * 112 + "~6ff8a5a59b5daf15.sxfer-part"
    assert len(long.encode()) == 254


def test_rust_resumes_a_python_partial_download_of_a_long_name(ed_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    random_file(src, 6 * MIB)
    name = "long/" + "N" * 250
    with connect(ed_server, tmp_path) as c:
        c.upload(src, name)
    out = tmp_path / "out"
    out.mkdir()
    c = connect(ed_server, tmp_path)
    with pytest.raises(Interrupt), c:
        c.download(name, out / ("N" * 250), progress=cut_after(2 * MIB))
    held = (out / partial_name("N" * 250)).stat().st_size
    r = ed_server.cli(
        "download",
        f"alice@127.0.0.1:{ed_server.port}:{name}",
        str(out),
        "--fingerprint",
        ed_server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert f"at byte {held}" in r.stderr
    assert same_file(src, out / ("N" * 250))


def test_rust_resumes_an_interrupted_python_upload(rsa_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "handover.bin"
    digest = random_file(src, 12 * MIB + 5)
    c = connect(rsa_server, tmp_path)
    with pytest.raises(Interrupt), c:
        c.upload(src, "handover.bin", progress=cut_after(8 * MIB))
    r = rsa_server.cli(
        "upload",
        str(src),
        f"alice@127.0.0.1:{rsa_server.port}",
        "--fingerprint",
        rsa_server.fingerprint,
        home=rust_home(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "resuming handover.bin at byte" in r.stderr, r.stderr
    with connect(rsa_server, tmp_path) as c:
        assert c.stat("handover.bin").digest == digest


def test_transfers_run_in_constant_memory(ed_server: Server, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    random_file(src, 40 * MIB)
    with connect(ed_server, tmp_path) as c:
        tracemalloc.start()
        try:
            c.upload(src, "memory/big.bin")
            _, up_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            c.download("memory/big.bin", tmp_path / "back.bin")
            _, down_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # A few 1 MiB records in flight, never the file.
    assert up_peak < 8 * MIB, up_peak
    assert down_peak < 8 * MIB, down_peak
    assert same_file(src, tmp_path / "back.bin")


def test_many_small_files_are_pipelined(server: Server, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    jobs: list[tuple[str | os.PathLike[str], str]] = []
    digests = {}
    for i in range(300):
        p = tree / f"f{i:03}"
        name = f"many-{server.key_kind}/f{i:03}"
        digests[name] = random_file(p, i * 37)
        jobs.append((p, name))
    big = tmp_path / "big"
    digests[f"many-{server.key_kind}/big"] = random_file(big, 5 * MIB)
    jobs.insert(150, (big, f"many-{server.key_kind}/big"))
    with connect(server, tmp_path) as c:
        results = c.upload_many(jobs)
        assert [r.entry.name for r in results if isinstance(r, sxfer_client.UploadResult)] == [
            n for _, n in jobs
        ]
        listed = {e.name: e.digest for e in c.ls(f"many-{server.key_kind}/")}
    assert listed == digests


def test_a_refused_pipelined_upload_fails_alone(tmp_path: Path) -> None:
    s = start_server(tmp_path / "small", "ED25519", "--max-file-size", "4096")
    try:
        for n, size in (("a", 10), ("too-big", 5000), ("b", 20)):
            random_file(tmp_path / n, size)
        jobs: list[tuple[str | os.PathLike[str], str]] = [(tmp_path / n, n) for n in ("a", "too-big", "b")]
        with connect(s, tmp_path) as c:
            a, big, b = c.upload_many(jobs)
            assert isinstance(a, sxfer_client.UploadResult) and isinstance(b, sxfer_client.UploadResult)
            assert isinstance(big, sxfer_client.RequestFailed) and big.code == messages.TOO_LARGE
            assert [e.name for e in c.ls()] == ["a", "b"]
    finally:
        s.stop()
