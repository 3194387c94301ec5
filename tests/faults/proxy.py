"""A tiny TCP proxy for fault injection: the app talks to PostgreSQL, Redis or a simulator through it.

    proxy = TcpProxy("127.0.0.1", 5432).start()   # listens on 127.0.0.1:<proxy.port>
    proxy.cut()              # close every live connection; new ones are refused (listener closed)
    proxy.cut("blackhole")   # ... or accepted and never answered (a hung server / dropped packets)
    proxy.delay(0.5)         # forward, but hold every chunk 0.5 s
    proxy.restore()          # back to normal forwarding (same port)

One thread accepts; each connection gets two pump threads. `cut()` shuts the sockets down, which wakes the pumps.
"""
from __future__ import annotations

import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, int(target_port))
        self.port = 0
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._mode = "forward"  # forward | refuse | blackhole
        self._delay = 0.0
        self._listener: socket.socket | None = None
        self._running = False
        self.accepted = 0

    # ------------------------------------------------------------------------------------------------ control
    def start(self) -> "TcpProxy":
        self._running = True
        self._listen()
        threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._running = False
        self._close_listener()
        self._drop_all()

    def cut(self, mode: str = "refuse") -> None:
        """Close every live connection; then refuse new ones (`refuse`) or accept and ignore them (`blackhole`)."""
        assert mode in ("refuse", "blackhole")
        with self._lock:
            self._mode = mode
        if mode == "refuse":
            self._close_listener()
        self._drop_all()

    def delay(self, seconds: float) -> None:
        self._delay = float(seconds)

    def restore(self) -> None:
        self._delay = 0.0
        self._drop_all()  # blackholed connections were never forwarded: drop them, clients reconnect
        with self._lock:
            self._mode = "forward"
            if self._listener is None:
                self._listen()

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    # ------------------------------------------------------------------------------------------------ internals
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A listener closed by cut() while the accept thread sits in accept() (0.05 s timeout) stays in LISTEN until
        # that call returns: a restore() right after a fast 503 must wait for it rather than fail with EADDRINUSE.
        deadline = time.monotonic() + 1.0
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.01)
        listener.listen(128)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = set(self._conns), set()
        for conn in conns:
            _kill(conn)

    def _accept_loop(self) -> None:
        while self._running:
            listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            client.settimeout(None)
            self.accepted += 1
            with self._lock:
                mode = self._mode
                self._conns.add(client)
            if mode == "forward":
                threading.Thread(target=self._connect, args=(client,), daemon=True).start()
            # blackhole: keep the socket open, read nothing, answer nothing

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            self._forget(client)
            _kill(client)
            return
        with self._lock:
            self._conns.add(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self._delay:
                    time.sleep(self._delay)
                if self._mode != "forward":
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(src, dst)
            _kill(src)
            _kill(dst)

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._conns.discard(sock)


def _kill(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
