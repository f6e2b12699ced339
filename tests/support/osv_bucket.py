"""A loopback stand-in for one ecosystem directory of the OSV bulk export: ``all.zip``,
``modified_id.csv`` (with an ETag) and ``<id>.json``, built from records the test
publishes, with a count of every request."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class OsvBucket:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    url: str = ""
    down: bool = False

    def publish(self, *records: dict[str, Any]) -> None:
        for record in records:
            self.records[record["id"]] = record

    def csv(self) -> bytes:
        rows = sorted(((r["modified"], i) for i, r in self.records.items()), reverse=True)
        return "".join(f"{modified},{record_id}\n" for modified, record_id in rows).encode()

    def zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for record_id, record in sorted(self.records.items()):
                archive.writestr(f"{record_id}.json", json.dumps(record))
        return buffer.getvalue()

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hits[name] += 1
        if self.down:
            return web.Response(status=503)
        if name == "all.zip":
            return web.Response(body=self.zip())
        if name == "modified_id.csv":
            body = self.csv()
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=body, headers={"ETag": etag})
        record = self.records.get(name.removesuffix(".json"))
        if record is None:
            return web.Response(status=404)
        return web.Response(body=json.dumps(record).encode())


@asynccontextmanager
async def serve_bucket() -> AsyncIterator[OsvBucket]:
    bucket = OsvBucket()
    app = web.Application()
    app.router.add_get("/PyPI/{name}", bucket.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    bucket.url = f"http://{host}:{port}/PyPI/"
    try:
        yield bucket
    finally:
        await runner.cleanup()
