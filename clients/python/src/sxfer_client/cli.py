"""`sxfer-py`: the command line, spelled like the Rust `sxfer` client where the two overlap."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import Client, PublicKey, SxferError, connect
from .client import partial_path
from .errors import UsageError
from .messages import FileEntry
from .names import check_name, escape
from .target import Target, parse, save_profile


class Out:
    """Human lines, or one JSON object per line with --json; -q prints errors only."""

    def __init__(self, as_json: bool, quiet: bool) -> None:
        self.json, self.quiet = as_json, quiet

    def event(self, event: str, human: str, **fields: object) -> None:
        if self.json:
            print(json.dumps({"event": event, **fields}, separators=(",", ":")), flush=True)
        elif not self.quiet:
            print(human, flush=True)


def entry_fields(e: FileEntry) -> dict[str, object]:
    return {
        "name": e.name,
        "size": e.meta.size,
        "mode": e.meta.mode,
        "mtime": e.meta.mtime,
        "stored": e.stored,
        "blake3": e.digest.hex(),
    }


def _time(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e


def _password(args: argparse.Namespace, prompt: str) -> str:
    if args.password_file:
        return _read_first_line(args.password_file)
    env = os.environ.get("SXFER_PASSWORD")
    if env is not None:
        return env
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    raise UsageError("no password: use --password-file, SXFER_PASSWORD or a terminal")


def _confirm(key: PublicKey) -> bool:
    if not sys.stdin.isatty():
        return False
    print(f"The server's {key.kind} key has fingerprint {key.fingerprint()}.", file=sys.stderr)
    answer = input("Is this the key its operator gave you (yes/no)? ")
    return answer.strip().lower() == "yes"


def _open(args: argparse.Namespace, t: Target, register: bool = False, invite: bytes | None = None) -> Client:
    key = args.identity
    password = None
    if register:
        if not getattr(args, "no_password", False):
            password = _password(args, f"new password for {t.user}: ")
    elif key is None:
        password = _password(args, f"password for {t.user}@{t.host}: ")

    def added(host_port: str, path: Path) -> None:
        print(f"Permanently added {host_port} to {path}", file=sys.stderr)

    return connect(
        t.host,
        t.port,
        user=t.user,
        password=password,
        key=key,
        fingerprint=args.fingerprint,
        confirm=_confirm,
        register=register,
        invite=invite,
        suite_names=args.suites.split(",") if args.suites else None,
        kex=args.kex.split(",") if args.kex else None,
        on_added=added,
    )


def cmd_login(args: argparse.Namespace, out: Out) -> None:
    t = parse(args.target)
    with _open(args, t):
        pass
    save_profile(t)
    out.event(
        "login",
        f"logged in {t.user}@{t.host}:{t.port} (saved as the default server)",
        user=t.user,
        server=f"{t.host}:{t.port}",
    )


def cmd_register(args: argparse.Namespace, out: Out) -> None:
    t = parse(args.target)
    token = None
    if args.invite_file:
        token = _read_first_line(args.invite_file).strip().encode("utf-8")
    elif os.environ.get("SXFER_INVITE"):
        token = os.environ["SXFER_INVITE"].strip().encode("utf-8")
    with _open(args, t, register=True, invite=token) as c:
        cid = c.handshake.client_id.hex()
    out.event(
        "registered", f"registered {t.user}@{t.host}:{t.port} (client id {cid})", user=t.user, client_id=cid
    )


def _upload_jobs(paths: Sequence[str], dest: str | None, recursive: bool) -> Iterator[tuple[Path, str]]:
    """(local file, remote name) pairs, named as the Rust client names them."""
    base = (dest or "").rstrip("/")
    single = len(paths) == 1 and not recursive and dest and not dest.endswith("/")
    for p in paths:
        src = Path(p)
        if src.is_dir():
            if not recursive:
                raise UsageError(f"{p} is a directory (use -r)")
            root = src.resolve().name
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                for f in sorted(filenames):
                    full = Path(dirpath) / f
                    rel = full.relative_to(src).as_posix()
                    yield full, check_name("/".join(x for x in (base, root, rel) if x))
        elif single:
            yield src, check_name(base)
        else:
            yield src, check_name("/".join(x for x in (base, src.name) if x))


def cmd_upload(args: argparse.Namespace, out: Out) -> None:
    *paths, target = args.paths
    t = parse(target)
    jobs = list(_upload_jobs(paths, t.path, args.recursive))
    failed = 0
    with _open(args, t) as c:
        # Small files pipelined first, then the large ones resumably, as the Rust client does.
        for (_, name), res in zip(jobs, c.upload_many(jobs), strict=True):
            if isinstance(res, SxferError):
                print(f"sxfer-py: error: {escape(str(res))}", file=sys.stderr)
                failed += 1
                continue
            if res.resumed_from:
                print(f"resuming {escape(name)} at byte {res.resumed_from}", file=sys.stderr)
            out.event(
                "uploaded",
                f"uploaded {escape(name)} ({res.entry.meta.size} bytes)",
                **entry_fields(res.entry),
            )
    if failed:
        raise UsageError(f"{failed} of {len(jobs)} uploads failed")


def _local_path(root: Path, name: str) -> Path:
    path = root
    for seg in name.split("/"):
        if path.is_symlink():
            raise UsageError(f"{path} is a symbolic link")
        path = path / seg
    return path


def cmd_download(args: argparse.Namespace, out: Out) -> None:
    paths = list(args.paths)
    dest = Path(".")
    if len(paths) > 1 and ":" not in paths[-1]:
        dest = Path(paths.pop())
    targets = [parse(p) for p in paths]
    first = targets[0]
    if any((x.user, x.host, x.port) != (first.user, first.host, first.port) for x in targets):
        raise UsageError("all remote files must be on one server")
    with _open(args, first) as c:
        for t in targets:
            if not t.path:
                raise UsageError("name the remote file: host:NAME")
            if args.recursive:
                todo = [(e.name, _local_path(dest, e.name)) for e in c.ls(t.path)]
            else:
                todo = [(t.path, dest / t.path.rsplit("/", 1)[-1])]
            for name, local in todo:
                local.parent.mkdir(parents=True, exist_ok=True)
                part = partial_path(local)
                if part.exists():
                    print(f"resuming {escape(name)} at byte {part.stat().st_size}", file=sys.stderr)
                res = c.download(name, local, force=args.force)
                out.event(
                    "downloaded",
                    f"downloaded {escape(name)} ({res.entry.meta.size} bytes)",
                    **entry_fields(res.entry),
                    local=str(local),
                )


def cmd_ls(args: argparse.Namespace, out: Out) -> None:
    t = parse(args.target or "")
    with _open(args, t) as c:
        for e in c.ls(t.path or ""):
            out.event(
                "entry",
                f"{e.meta.mode:04o} {e.meta.size:12} {_time(e.meta.mtime)} {escape(e.name)}",
                **entry_fields(e),
            )


def _named(text: str) -> tuple[Target, str]:
    t = parse(text)
    if not t.path:
        raise UsageError("name the remote file: host:NAME")
    return t, t.path


def cmd_stat(args: argparse.Namespace, out: Out) -> None:
    t, name = _named(args.target)
    with _open(args, t) as c:
        e = c.stat(name)
    human = "\n".join(
        [
            f"name:   {escape(e.name)}",
            f"size:   {e.meta.size}",
            f"mode:   {e.meta.mode:04o}",
            f"mtime:  {_time(e.meta.mtime)}",
            f"stored: {_time(e.stored)}",
            f"blake3: {e.digest.hex()}",
        ]
    )
    out.event("stat", human, **entry_fields(e))


def cmd_rm(args: argparse.Namespace, out: Out) -> None:
    t, name = _named(args.target)
    with _open(args, t) as c:
        c.rm(name)
    out.event("removed", f"removed {escape(name)}", name=name)


def cmd_mv(args: argparse.Namespace, out: Out) -> None:
    t, src = _named(args.src)
    with _open(args, t) as c:
        c.mv(src, args.dst)
    out.event("renamed", f"renamed {escape(src)} to {escape(args.dst)}", name=src, to=args.dst)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--identity", help="log in with this OpenSSH private key instead of a password")
    p.add_argument(
        "--password-file", help="read the password from this file (first line); or set SXFER_PASSWORD"
    )
    p.add_argument("--fingerprint", help="the server's fingerprint (SHA256:…) for first contact")
    p.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument(
        "--suites",
        default=os.environ.get("SXFER_SUITES"),
        help="record suites to offer, comma-separated, most preferred first "
        "[default: aes-256-gcm,chacha20-poly1305]",
    )
    p.add_argument("--kex", help="key exchanges to offer, comma-separated [default: mlkem768x25519,x25519]")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sxfer-py", description="SXFR/1 file transfer client (Python)")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("login", help="check credentials and remember user@host as the default server")
    p.add_argument("target", help="user@host[:port]")
    p.set_defaults(run=cmd_login)
    p = sub.add_parser("register", help="create an account on a server")
    p.add_argument("target", help="user@host[:port] to create")
    p.add_argument("--no-password", action="store_true", help="register only the -i key, no password")
    p.add_argument("--invite-file", help="read an invite token from this file; or set SXFER_INVITE")
    p.set_defaults(run=cmd_register)
    p = sub.add_parser("upload", help="upload files: FILE... [user@]host[:port][:dir]")
    p.add_argument("paths", nargs="+", help="local files, then the target")
    p.add_argument("-r", "--recursive", action="store_true", help="upload directories recursively")
    p.set_defaults(run=cmd_upload)
    p = sub.add_parser("download", help="download files: [user@]host[:port]:NAME... [DIR]")
    p.add_argument("paths", nargs="+", help="remote files, then optionally a local directory")
    p.add_argument(
        "-r", "--recursive", action="store_true", help="everything under the given names (prefixes)"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing local files")
    p.set_defaults(run=cmd_download)
    p = sub.add_parser("ls", help="list files: [user@]host[:port][:prefix]")
    p.add_argument("target", nargs="?", help="omit to use the saved profile")
    p.set_defaults(run=cmd_ls)
    for name, what in (("stat", "show one file's metadata and digest"), ("rm", "delete a file")):
        p = sub.add_parser(name, help=what)
        p.add_argument("target", help="[user@]host[:port]:NAME")
        p.set_defaults(run=cmd_stat if name == "stat" else cmd_rm)
    p = sub.add_parser("mv", help="rename a file: host:FROM TO")
    p.add_argument("src", help="[user@]host[:port]:FROM")
    p.add_argument("dst", help="new name (on the same server)")
    p.set_defaults(run=cmd_mv)
    for sp in sub.choices.values():
        _common(sp)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = Out(args.json, args.quiet)
    try:
        args.run(args, out)
    except (SxferError, OSError) as e:
        msg = str(e) if isinstance(e, SxferError) else (e.strerror or str(e))
        print(f"sxfer-py: error: {escape(msg)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sxfer-py: error: interrupted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
