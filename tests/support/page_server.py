"""``RecordedIndex``: the recorded responses of ``tests/fixtures/pages``, served on 127.0.0.1.

One port per (source, variant): each is a server that speaks only the form it was recorded
in, at the paths it was recorded at, so relative, root-relative and absolute links resolve
exactly as they did against the real server. ``{index}`` becomes that port's origin and
``{files}`` its ``/_files`` prefix (the separate file host of the public index). Besides the
recorded responses it serves the one recorded wheel wherever a page of that source links a
file of that name: the real bytes, so a client can really install it.

    with RecordedIndex() as index:
        url = index.root_url("devpi", "json")   # http://127.0.0.1:P/root/pypi/+simple/
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from tests.support.recorded_pages import TINY_WHEEL, Origins, Response, Source, sources, tiny_wheel

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SENT_HEADERS_DROPPED = frozenset({"content-length", "content-encoding", "transfer-encoding"})


class RecordedIndex:
    def __init__(self, selected: tuple[Source, ...] | None = None) -> None:
        self._sources = selected if selected is not None else sources()
        self._ports: dict[tuple[str, str], int] = {}
        self._hits: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []

    # -- addresses -------------------------------------------------------------------------

    def origins(self, source: str, variant: str) -> Origins:
        port = self._ports[(source, variant)]
        origin = f"http://127.0.0.1:{port}"
        return Origins(index=origin, files=f"{origin}/_files")

    def root_url(self, source: str, variant: str) -> str:
        return self.origins(source, variant).substitute(_source(self._sources, source).root)

    def page_url(self, page: Response) -> str:
        return page.url_for(self.origins(page.source, page.variant))

    def hits(self, source: str, variant: str, path_suffix: str) -> int:
        """Requests to paths of that server ending in ``path_suffix``."""
        with self._lock:
            return sum(
                count
                for (s, v, path), count in self._hits.items()
                if (s, v) == (source, variant) and path.endswith(path_suffix)
            )

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> RecordedIndex:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        for source in self._sources:
            for variant in source.variants():
                app = web.Application()
                app.router.add_route("*", "/{tail:.*}", self._handler(source, variant))
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self._ports[(source.name, variant)] = runner.addresses[0][1]
                self._runners.append(runner)

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    # -- serving ---------------------------------------------------------------------------

    def _handler(self, source: Source, variant: str) -> _Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            with self._lock:
                self._hits[(source.name, variant, request.path)] += 1
            if request.method not in ("GET", "HEAD"):
                raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
            origins = self.origins(source.name, variant)
            response = _match(source, variant, origins, request.path)
            if response is not None:
                headers = {
                    k: v for k, v in response.headers.items() if k not in _SENT_HEADERS_DROPPED
                }
                return web.Response(
                    status=response.status, body=response.body_for(origins), headers=headers
                )
            if request.path.rpartition("/")[2] == TINY_WHEEL and _links_wheel(source):
                return web.Response(body=tiny_wheel(), content_type="application/octet-stream")
            raise web.HTTPNotFound(text=f"recorded index {source.name}: nothing at {request.path}")

        return handle


def _match(source: Source, variant: str, origins: Origins, path: str) -> Response | None:
    # A page matches with or without its trailing slash (GitLab's have none; clients add it).
    wanted = path.rstrip("/")
    for response in source.responses:
        if response.kind in ("page", "root") and response.variant != variant:
            continue
        if response.kind == "derived":
            continue
        recorded = response.url_for(origins).removeprefix(origins.index)
        if recorded.rstrip("/") == wanted:
            return response
    return None


def _links_wheel(source: Source) -> bool:
    return any(TINY_WHEEL.encode() in page.raw_body for page in source.pages())


def _source(selected: tuple[Source, ...], name: str) -> Source:
    for source in selected:
        if source.name == name:
            return source
    raise KeyError(f"no fixture source {name!r}")


__all__ = ["RecordedIndex"]
