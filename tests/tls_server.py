"""Real servers on 127.0.0.1 for probing tests: a TLS server serving a chosen chain, one that never answers the
handshake, one that answers garbage, and a closed port."""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from certs import Issued


@contextlib.contextmanager
def serve(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept connections on 127.0.0.1 and run ``handler`` on each in a thread; yield the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            worker = threading.Thread(target=handle, args=(conn,), daemon=True)
            workers.append(worker)
            worker.start()

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            handler(conn)

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(2)
        listener.close()
        for worker in workers:
            worker.join(2)


def tls_server(
    leaf: Issued, *intermediates: Issued, server_names: list[str | None] | None = None
) -> contextlib.AbstractContextManager[int]:
    """A TLS server presenting ``leaf`` then ``intermediates``; it completes handshakes and reads until EOF.
    The SNI name of each ClientHello (None when absent) is appended to ``server_names``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if server_names is not None:
        context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)
    with tempfile.TemporaryDirectory() as tmp:
        chain, key = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        chain.write_bytes(leaf.pem + b"".join(i.pem for i in intermediates))
        key.write_bytes(leaf.key_pem)
        context.load_cert_chain(chain, key)

    def handshake(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            while tls.recv(1024):
                pass

    return serve(handshake)


def garbage_server() -> contextlib.AbstractContextManager[int]:
    """Answers the ClientHello with an HTTP error, then closes."""

    def answer(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    return serve(answer)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """Listens but never accepts: the kernel completes TCP connections, the TLS handshake never gets an answer."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port bound but not listening (held so no one else takes it): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
