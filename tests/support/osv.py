"""OSV test data: the invented records in ``tests/fixtures/osv``, zips of them, and a
loopback HTTP server that serves a body with ETag / Last-Modified like a bulk-data bucket.
"""

from __future__ import annotations

import email.utils
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

OSV_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "osv"


def build_zip(destination: Path, source: Path = OSV_FIXTURES) -> Path:
    """A flat ``all.zip`` of every ``*.json`` under ``source``, as the bulk export lays it out."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*.json")):
            archive.writestr(path.name, path.read_bytes())
    return destination


@dataclass
class OsvServer:
    """What the server answers; tests change ``body`` with ``publish`` or set ``fail_with``."""

    body: bytes
    fail_with: int | None = None
    version: int = 1
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    @property
    def etag(self) -> str:
        return f'"osv-{self.version}"'

    def publish(self, body: bytes) -> None:
        self.body = body
        self.version += 1

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="unavailable")
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        headers = {
            "ETag": self.etag,
            "Last-Modified": email.utils.formatdate(time.time(), usegmt=True),
        }
        return web.Response(body=self.body, headers=headers, content_type="application/zip")


@asynccontextmanager
async def serve_osv(body: bytes, path: str = "/PyPI/all.zip") -> AsyncIterator[OsvServer]:
    """Serve ``body`` at ``path`` on 127.0.0.1 (ephemeral port) for the duration."""
    server = OsvServer(body)
    app = web.Application()
    app.router.add_get(path, server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}{path}"
    try:
        yield server
    finally:
        await runner.cleanup()
