"""A TCP proxy on loopback whose connections can be cut: a link that drops mid-request, for the
resumable upload tests and bench/resumable.py."""

import contextlib
import socket
import threading


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to `target`; cut() drops every open connection at once, and
    `cut_every` (bytes from client to server) drops each one after that many bytes."""

    def __init__(self, target: tuple[str, int], cut_every: int | None = None) -> None:
        self.target = target
        self.cut_every = cut_every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cuts = 0
        self.forwarded = 0  # bytes from clients to the server, in all
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CuttingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.listener.close()
        self.cut()

    def cut(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            pair = (client, server)
            threading.Thread(target=self._pipe, args=(*pair, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(*reversed(pair), False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        sent = 0
        try:
            while data := source.recv(256 * 1024):
                if upstream and self.cut_every is not None and sent + len(data) > self.cut_every:
                    sink.sendall(data[: self.cut_every - sent])
                    self.forwarded += self.cut_every - sent
                    self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
                if upstream:
                    self.forwarded += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._open.discard(sock)
