"""Client limits at the HTTP edge (issue 15, items 1 and 2): header size, header timeout and
the connection cap, against a real uvicorn on 127.0.0.1. Every wait is bounded; no test
depends on how fast anything runs, only on what the server answers."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from proxy.connection_guard import LOOPBACK_RESERVE
from proxy.serve_options import FD_RESERVE, fit_to_fd_limit
from tests.support.gate import gate_settings
from tests.support.pipgate_server import PipgateServer

WAIT = 20.0
"""Upper bound for any single answer; generous, since only the answer is asserted."""


@contextmanager
def gate(tmp_path: Path, **limits: object) -> Iterator[PipgateServer]:
    settings = gate_settings(tmp_path, "http://127.0.0.1:9/simple/", None, **limits)
    with PipgateServer(settings) as server:
        yield server


def connect(server: PipgateServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (bounded by ``WAIT`` per read)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One whole response on a kept-alive connection (these answers carry Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def answered(socks: list[socket.socket], expected: int) -> list[bytes]:
    """The first answers on ``socks``: wait (bounded) for ``expected`` of them, then briefly
    for any more. A correct server never answers the others before the header timeout."""
    answers: list[bytes] = []
    waiting = list(socks)
    deadline = time.monotonic() + WAIT
    while len(answers) < expected and time.monotonic() < deadline:
        ready, _, _ = select.select(waiting, [], [], deadline - time.monotonic())
        for sock in ready:
            answers.append(sock.recv(65536))
            waiting.remove(sock)
    ready, _, _ = select.select(waiting, [], [], 0.5)
    answers.extend(sock.recv(65536) for sock in ready)
    return answers


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def get(server: PipgateServer, path: str, extra: bytes = b"") -> bytes:
    with connect(server) as sock:
        sock.sendall(
            b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n" % (path.encode(), extra)
        )
        return read_all(sock)


def test_headers_over_the_limit_get_431_and_the_connection_closes(tmp_path: Path) -> None:
    with gate(tmp_path, max_header_bytes=2048) as server:
        assert status_of(get(server, "/healthz", b"X-Small: " + b"a" * 1500 + b"\r\n")) == 200
        with connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 4096)
            answer = read_all(sock)  # the header line is never finished: the server ends it
        assert status_of(answer) == 431
        assert b"2048 bytes" in answer


def test_an_endless_header_is_cut_long_before_it_ends(tmp_path: Path) -> None:
    limit = 64 * 1024 * 1024  # far more than loopback socket buffers can absorb
    with gate(tmp_path, max_header_bytes=4096) as server, connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Flood: ")
        sent, answer = 0, b""
        try:
            while sent < limit:
                sock.sendall(b"a" * 65536)
                sent += 65536
                if select.select([sock], [], [], 0)[0]:
                    answer = read_all(sock)
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed with our bytes unread: the kernel reset the connection
        assert sent < limit
        assert answer == b"" or status_of(answer) == 431


def test_slow_headers_get_408_after_the_header_timeout(tmp_path: Path) -> None:
    with gate(tmp_path, header_timeout=0.3) as server, connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
        answer = read_all(sock)
        assert status_of(answer) == 408


def test_a_silent_connection_is_closed_after_the_header_timeout(tmp_path: Path) -> None:
    with gate(tmp_path, header_timeout=0.3) as server, connect(server) as sock:
        assert status_of(read_all(sock)) == 408


def test_the_header_timeout_restarts_for_each_request_of_a_connection(tmp_path: Path) -> None:
    with (
        gate(tmp_path, header_timeout=0.3, keepalive_timeout=60) as server,
        connect(server) as sock,
    ):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_of(read_response(sock)) == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # second request, stalled
        assert status_of(read_all(sock)) == 408


def test_idle_keep_alive_connections_close_after_keepalive_timeout(tmp_path: Path) -> None:
    with (
        gate(tmp_path, keepalive_timeout=0.3, header_timeout=60) as server,
        connect(server) as sock,
    ):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_of(read_response(sock)) == 200
        assert sock.recv(65536) == b""  # closed by the server, not by a timeout here


def test_connections_over_the_cap_are_refused_and_the_cap_frees_up(tmp_path: Path) -> None:
    cap = 3
    allowed = cap + LOOPBACK_RESERVE  # these tests' clients are on loopback
    with gate(tmp_path, max_connections=cap, header_timeout=60) as server, ExitStack() as stack:
        socks = [stack.enter_context(connect(server)) for _ in range(allowed + 5)]
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # headers never finish
        refused = answered(socks, 5)
        assert len(refused) == 5
        assert all(status_of(answer) == 503 for answer in refused)
        for sock in socks:
            sock.close()
        # Freed connections make room again (the server notices the closes asynchronously).
        for _ in range(50):
            answer = get(server, "/healthz")
            if status_of(answer) == 200:
                break
        assert status_of(answer) == 200


def test_the_cap_is_lowered_when_descriptors_cannot_be_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    monkeypatch.setattr(resource, "setrlimit", lambda *_: None)
    assert fit_to_fd_limit(100) == 100
    assert fit_to_fd_limit(5000) == 1024 - LOOPBACK_RESERVE - FD_RESERVE


def test_the_soft_descriptor_limit_is_raised_for_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    raised: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 65536))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: raised.append(limits))
    assert fit_to_fd_limit(4000) == 4000
    assert raised == [(4000 + LOOPBACK_RESERVE + FD_RESERVE, 65536)]
