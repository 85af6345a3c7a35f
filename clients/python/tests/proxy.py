"""A TCP proxy for tests: forwards both ways, records what the client sent, can flip one bit."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class Proxy:
    """Listens on 127.0.0.1:0 and forwards each connection to `target`.

    `flip_c2s_at` / `flip_s2c_at`: the byte offset (counted over that direction's
    whole stream) whose lowest bit is flipped on the way.
    """

    def __init__(
        self, target: tuple[str, int], flip_c2s_at: int | None = None, flip_s2c_at: int | None = None
    ) -> None:
        self._target = target
        self._flip = {True: flip_c2s_at, False: flip_s2c_at}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.c2s = bytearray()
        self._count = {True: 0, False: 0}
        #: set when the client's side of the first connection has ended (EOF or error)
        self.client_done = threading.Event()
        #: set when the server's side of the first connection has ended
        self.server_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        server = socket.create_connection(self._target)
        self._socks += [client, server]
        for args in ((client, server, True), (server, client, False)):
            t = threading.Thread(target=self._pump, args=args, daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, c2s: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                start = self._count[c2s]
                self._count[c2s] += len(data)
                if c2s:
                    self.c2s += data
                flip = self._flip[c2s]
                if flip is not None and start <= flip < start + len(data):
                    buf = bytearray(data)
                    buf[flip - start] ^= 0x01
                    data = bytes(buf)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            (self.client_done if c2s else self.server_done).set()
            # Close, not just shut down: a peer still writing to us must get a reset,
            # not block on a socket nobody reads any more.
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._listener.close()
        for s in self._socks:
            s.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
