"""``FakeUpstream``: a real simple index on 127.0.0.1 with switchable faults, for any test.

An aiohttp server on an ephemeral port, run by a background thread with its own event loop, so
sync tests, async tests and subprocesses (pip, uv) can all talk to it. It serves the root list
and project pages (PEP 503 HTML / PEP 691 JSON by Accept, see ``fake_index``), files with HEAD
and single Range support, PEP 658 ``.metadata`` and PEP 740 provenance at the Integrity API
path, with ETag/Last-Modified and 304. Every request is logged; faults can be set globally or
per path; ``stop()``/``start()`` take the port down and bring it back.

    with FakeUpstream() as up:
        up.add_file("demo", build_wheel(tmp_path, "demo", "1.0"))
        up.set_fault("503", "/simple/demo/", times=1)
        ... HttpUpstream(session, up.url, "fake") ...
        assert up.hits("/simple/demo/") == 2
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import threading
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from packaging.utils import canonicalize_name

from tests.support import fake_index as idx
from tests.support.builders import sdist_metadata, wheel_metadata
from tests.support.fake_routes import Site, redirect_to, route
from tests.support.fake_sender import Fault, FaultKind

T = TypeVar("T")
Yanked = bool | str


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]


class FakeUpstream:
    """See the module docstring; ``url`` is the simple root, ``base`` the server root."""

    def __init__(self, mode: idx.Mode = "both", *, compress_pages: bool = False) -> None:
        self.mode: idx.Mode = mode
        self.compress_pages = compress_pages
        """Gzip pages for clients that accept it (files are never compressed)."""
        self.index = idx.FakeIndex()
        self._port = 0
        self._faults: dict[str | None, Fault] = {}
        self._redirects: dict[str, tuple[int, str]] = {}
        self._log: list[LoggedRequest] = []
        self._hits: Counter[str] = Counter()
        self._state_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- addresses -------------------------------------------------------------------------

    host = "127.0.0.1"

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("FakeUpstream is not started; use it as a context manager")
        return self._port

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        return f"{self.base}simple/"

    def page_url(self, project: str) -> str:
        return f"{self.url}{canonicalize_name(project)}/"

    def file_url(self, filename: str) -> str:
        return f"{self.base}files/{filename}"

    # -- content ---------------------------------------------------------------------------

    def add_project(
        self, name: str, status: str | None = None, reason: str | None = None
    ) -> idx.FakeProject:
        """Create ``name`` (an empty page) or set its PEP 792 status; ``None`` sends none."""
        return self.index.add_project(name, status, reason)

    def remove_project(self, name: str) -> None:
        self.index.remove_project(name)

    def add_file(
        self,
        project: str,
        path: Path,
        *,
        upload_time: dt.datetime | str | None = idx.DEFAULT_UPLOAD_TIME,
        yanked: Yanked = False,
        requires_python: str | None = None,
        metadata: bool = True,
        provenance_bytes: bytes | None = None,
        hash_override: str | None = None,
        url: str | None = None,
    ) -> idx.FakeFile:
        """List ``path`` on ``project``'s page (replacing a file of the same name).

        ``upload_time=None`` leaves PEP 700 upload-time out; ``requires_python=None`` takes it
        from the artifact's metadata; ``metadata`` serves the wheel's METADATA (PEP 658);
        ``hash_override`` lists a different sha256 (``""``: none); ``url`` lists a foreign
        absolute URL.
        """
        core = _artifact_metadata(path)
        file = idx.FakeFile(
            project=canonicalize_name(project),
            filename=path.name,
            data=path.read_bytes(),
            upload_time=_upload_time(upload_time),
            yanked=yanked,
            requires_python=requires_python or idx.metadata_field(core, "Requires-Python"),
            metadata=core if metadata and path.name.endswith(".whl") else None,
            provenance=provenance_bytes,
            hash_override=hash_override,
            url=url,
        )
        self.index.add_file(file, project)
        return file

    def provenance_url(self, file: idx.FakeFile) -> str:
        return idx.provenance_url(file, self.base)

    # -- faults and redirects ----------------------------------------------------------------

    def set_fault(
        self,
        kind: FaultKind | None,
        path: str | None = None,
        *,
        times: int | None = None,
        delay: float = 30.0,
        after: int | None = None,
        rate: int = 64 * 1024,
    ) -> None:
        """Fault every request to ``path`` (or every path, if ``None``); ``None`` clears it.

        ``times`` faults only the next N requests; ``delay`` is how long "timeout" stalls;
        ``after`` is how many body bytes "reset"/"truncate" send (default half); ``rate`` is
        the bytes per second of "slow". A per-path fault wins over the global one.
        """
        with self._state_lock:
            if kind is None:
                self._faults.pop(path, None)
            else:
                self._faults[path] = Fault(kind, times, delay, after, rate)

    def clear_faults(self) -> None:
        with self._state_lock:
            self._faults.clear()

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer requests to ``path`` with ``status`` and ``Location: location``."""
        with self._state_lock:
            self._redirects[path] = (status, location)

    # -- observation -----------------------------------------------------------------------

    def hits(self, path: str) -> int:
        """How many requests (any method) reached ``path`` (no query string)."""
        with self._state_lock:
            return self._hits[path]

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._state_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._state_lock:
            self._log.clear()
            self._hits.clear()

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeUpstream:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-upstream", daemon=True
        )
        self._thread.start()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> FakeUpstream:
        return await asyncio.to_thread(self.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    def start(self) -> None:
        """Listen (again, on the same port after ``stop()``)."""
        self._call(self._start())

    def stop(self) -> None:
        """Close the port and every open connection: clients now get "connection refused"."""
        self._call(self._stop())

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("FakeUpstream is not running; use it as a context manager")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, reuse_address=True, backlog=512)
        await site.start()
        self._port = runner.addresses[0][1]
        self._runner, self._stopping = runner, asyncio.Event()

    async def _stop(self) -> None:
        if self._runner is None or self._stopping is None:
            return
        self._stopping.set()  # wakes "timeout" handlers so shutdown is quick
        runner, self._runner = self._runner, None
        await runner.cleanup()

    # -- serving ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault, redirect = self._record(request)
        if redirect is not None:
            raise redirect_to(*redirect)
        if request.method not in {"GET", "HEAD"}:
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if fault is not None and fault.kind in {"500", "503"}:
            return web.Response(status=int(fault.kind), text=f"injected {fault.kind}\n")
        if fault is not None and fault.kind == "timeout" and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.delay)
        site = Site(self.index, self.base, self.mode, self.compress_pages)
        return await route(request, site, fault)

    def _record(self, request: web.Request) -> tuple[Fault | None, tuple[int, str] | None]:
        entry = LoggedRequest(
            request.method,
            request.path,
            request.query_string,
            CIMultiDictProxy(CIMultiDict(request.headers)),
        )
        with self._state_lock:
            self._log.append(entry)
            self._hits[request.path] += 1
            return self._take_fault(request.path), self._redirects.get(request.path)

    def _take_fault(self, path: str) -> Fault | None:
        key = path if path in self._faults else None
        fault = self._faults.get(key)
        if fault is None or fault.times is None:
            return fault
        if fault.times <= 1:
            del self._faults[key]
        else:
            self._faults[key] = dataclasses.replace(fault, times=fault.times - 1)
        return fault


def _artifact_metadata(path: Path) -> bytes | None:
    if path.name.endswith(".whl"):
        return wheel_metadata(path)
    if path.name.endswith(".tar.gz"):
        return sdist_metadata(path)
    return None


def _upload_time(value: dt.datetime | str | None) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


__all__ = ["FakeUpstream", "FaultKind", "LoggedRequest"]
