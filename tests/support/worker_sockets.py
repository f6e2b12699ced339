"""Keep-alive connections to ``pipgate serve --workers N``, each known to be held by a given
worker process, read from ``/proc`` (Linux).

The workers share one listening socket, and a burst of connections tends to be accepted by
whichever worker wakes first. A test that must reach every worker therefore opens
connections one by one until each worker holds at least one; every request sent on a
connection is then served by the worker that holds it.

    with worker_connections(gate, 20) as held:   # [(connection, worker pid), ...]
        assert len({pid for _, pid in held}) == 2
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.pipgate_server import PipgateProcess

_ESTABLISHED = "01"
_LISTEN = "0A"
_STAGGER = 0.03
"""Seconds between two connections: each is accepted before the next arrives."""


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (uvicorn's workers, for its supervisor)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
        # The command may contain spaces or parentheses: the ppid follows the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def _socket_inodes(pids: Iterable[int]) -> dict[int, int]:
    """inode -> pid for every socket the processes hold."""
    inodes = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            fds = list(fd_dir.iterdir())
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except FileNotFoundError:
                continue
            if target.startswith("socket:["):
                inodes[int(target[len("socket:[") : -1])] = pid
    return inodes


def _sockets_of_port(port: int) -> Iterator[tuple[str, int, int]]:
    """(state, remote port, inode) of each IPv4 TCP socket whose local port is ``port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            yield fields[3], int(fields[2].rsplit(":", 1)[1], 16), int(fields[9])


def worker_pids(gate: PipgateProcess) -> set[int]:
    """The children of ``gate``'s supervisor that serve its port (not multiprocessing's
    resource tracker, which is a child too)."""
    assert gate.process is not None
    listening = {inode for state, _, inode in _sockets_of_port(gate.port) if state == _LISTEN}
    # Every worker holds the same listening socket: ask each child on its own.
    return {pid for pid in child_pids(gate.process.pid) if listening & set(_socket_inodes([pid]))}


def wait_for_workers(gate: PipgateProcess, count: int, timeout: float = 30.0) -> set[int]:
    """Until ``count`` workers have finished starting (``gate`` answers as soon as the first
    has): each logs uvicorn's "Application startup complete." once its lifespan ran."""
    deadline = time.monotonic() + timeout
    while True:
        started = gate.log.read_text().count("Application startup complete.")
        workers = worker_pids(gate)
        if started >= count and len(workers) == count:
            return workers
        if time.monotonic() > deadline:
            raise AssertionError(f"{started} of {count} workers started: {workers}")
        time.sleep(0.1)


def connection_owners(port: int, pids: Iterable[int]) -> dict[int, int]:
    """Client port -> pid of the process holding the accepted connection to ``port``."""
    inodes = _socket_inodes(pids)
    return {
        remote: inodes[inode]
        for state, remote, inode in _sockets_of_port(port)
        if state == _ESTABLISHED and inode in inodes
    }


def _owner(port: int, client_port: int, workers: set[int], timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while (owner := connection_owners(port, workers).get(client_port)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker of {workers} accepted client port {client_port}")
        time.sleep(0.01)  # in the listen queue until a worker calls accept()
    return owner


@contextmanager
def worker_connections(
    gate: PipgateProcess, count: int, limit: int = 100
) -> Iterator[list[tuple[http.client.HTTPConnection, int]]]:
    """At least ``count`` open connections, more if needed (up to ``limit``) until every
    worker holds one; closed on exit."""
    workers = worker_pids(gate)
    held: list[tuple[http.client.HTTPConnection, int]] = []
    try:
        while len(held) < count or {pid for _, pid in held} != workers:
            if len(held) >= limit:
                raise AssertionError(f"{limit} connections all went to {set(p for _, p in held)}")
            connection = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=30)
            connection.connect()
            assert connection.sock is not None
            held.append((connection, _owner(gate.port, connection.sock.getsockname()[1], workers)))
            time.sleep(_STAGGER)
        yield held
    finally:
        for connection, _ in held:
            connection.close()


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    """One GET on a kept-alive connection: (status, body)."""
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


__all__ = [
    "child_pids",
    "connection_owners",
    "get",
    "wait_for_workers",
    "worker_connections",
    "worker_pids",
]
