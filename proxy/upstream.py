"""``HttpUpstream``: one upstream simple index over aiohttp (the bottom of the stage chain).

PEP 691 content negotiation (JSON preferred, PEP 503 HTML accepted), conditional requests with
the page's ETag / Last-Modified, redirects followed with the final URL as the base for relative
links, and file bodies streamed in pieces (PEP 658 metadata and PEP 740 provenance are files
too). An upstream 404 is "not found"; every other failure is "unavailable". The session comes
from ``outbound.create_session``, so every connection passes the SSRF guard; ``Outbound`` adds
the proxy and credentials of each request. Credentials in ``base_url`` are taken out of it
(and sent only to its origin), so no URL in a message or log carries them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import aiohttp
from packaging.utils import NormalizedName

from proxy import netguard, parsing
from proxy.errors import (
    FileNotFound,
    ProjectNotFound,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from proxy.outbound import Outbound, origin_of, split_credentials
from proxy.page_bodies import BigPageSlots, read_capped
from proxy.upstream_base import ListFetch, PageFetch, Validators

# uv's Accept header: both pip and uv put JSON first, and every index still speaks HTML.
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
PAGE_TYPES = frozenset(
    {"application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.v1+html", "text/html"}
)
MAX_PAGE_BYTES = 64 * 1024 * 1024
CHUNK_SIZE = 64 * 1024
# Pages above this are parsed in a worker thread so a huge project never stalls the loop.
_INLINE_PARSE_BYTES = 256 * 1024
_NOT_FOUND = frozenset({404, 410})

T = TypeVar("T")


class _Retryable(Exception):
    """A failure worth another try: a connection error or a 5xx answer."""


@dataclass(frozen=True, slots=True)
class _Page:
    body: bytes | None
    """``None``: 304 Not Modified."""
    content_type: str
    url: str
    validators: Validators


class HttpStream:
    """An open upstream file response; ``chunks()`` raises ``UpstreamUnavailable`` mid-body."""

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self._response = response
        self._url = url
        self.complete = False

    @property
    def size(self) -> int | None:
        return self._response.content_length

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_SIZE):
                received += len(chunk)
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpstreamUnavailable(
                f"download of {self._url} failed after {received} bytes: {_describe(error)}"
            ) from error
        if self.size is not None and received != self.size:
            raise UpstreamUnavailable(
                f"download of {self._url} was cut short: got {received} of {self.size} bytes"
            )
        self.complete = True


class HttpUpstream:
    """The ``Upstream`` protocol for one index at ``base_url`` (its simple root, ending in /).

    ``retries`` is how many more times a GET is tried after a connection error or a 5xx
    (never after a timeout), waiting ``backoff`` seconds, doubled each time, in between.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        name: str,
        *,
        retries: int = 2,
        backoff: float = 0.2,
        max_page_bytes: int = MAX_PAGE_BYTES,
        outbound: Outbound | None = None,
    ) -> None:
        self._session = session
        base_url, auth = split_credentials(base_url)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        outbound = outbound if outbound is not None else Outbound()
        if auth is not None:
            credentials = {**outbound.credentials, origin_of(self.base_url): auth}
            outbound = dataclasses.replace(outbound, credentials=credentials)
        self._outbound = outbound
        self.name = name
        self._retries = retries
        self._backoff = backoff
        self._max_page_bytes = max_page_bytes
        self._big = BigPageSlots()
        """One body past 4 MiB at a time, so oversized pages cannot add up (page_bodies)."""

    def upstream_for(self, name: NormalizedName) -> str:
        return self.name

    async def fetch_page(self, name: NormalizedName, validators: Validators | None) -> PageFetch:
        url = f"{self.base_url}{name}/"
        page = await self._with_retries(url, lambda: self._get_page(url, validators, name))
        body = page.body
        if body is None:
            return PageFetch(page=None, validators=page.validators, upstream=self.name)
        parsed = await _parse(
            len(body),
            lambda: parsing.parse_project_page(body, page.content_type, page.url, name),
            page.url,
        )
        return PageFetch(page=parsed, validators=page.validators, upstream=self.name)

    async def fetch_project_list(self, validators: Validators | None) -> ListFetch:
        url = self.base_url
        page = await self._with_retries(url, lambda: self._get_page(url, validators, None))
        body = page.body
        if body is None:
            return ListFetch(projects=None, validators=page.validators, upstream=self.name)
        parsed = await _parse(
            len(body), lambda: parsing.parse_project_list(body, page.content_type, page.url), url
        )
        return ListFetch(projects=parsed, validators=page.validators, upstream=self.name)

    @asynccontextmanager
    async def open(self, name: NormalizedName, url: str) -> AsyncIterator[HttpStream]:
        # aiohttp refuses other schemes before the session's guard runs; say why in our terms.
        # The guard then checks the address of this URL and of every redirect hop.
        netguard.check_scheme(url)
        response = await self._with_retries(url, lambda: self._get_file(name, url))
        stream = HttpStream(response, url)
        try:
            yield stream
        finally:
            # A half-read body leaves the connection unusable: close it instead of pooling it.
            if stream.complete:
                response.release()
            else:
                response.close()

    async def _with_retries(self, url: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(self._retries + 1):
            try:
                return await attempt()
            except _Retryable as error:
                if number == self._retries:
                    raise UpstreamUnavailable(
                        f"{url}: {error} (after {number + 1} attempt(s))"
                    ) from error
                await asyncio.sleep(self._backoff * 2**number)
            except TimeoutError as error:
                # Not retried: a second wait as long as the first would only double the delay.
                raise UpstreamUnavailable(f"{url}: {_describe(error)}") from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _get_page(
        self, url: str, validators: Validators | None, name: NormalizedName | None
    ) -> _Page:
        headers = {"Accept": PAGE_ACCEPT, **_conditional_headers(validators)}
        try:
            options = self._outbound.request_options(url, headers)
            async with self._session.get(url, **options) as response:
                final_url = str(response.url)
                _check_status(response, url, name, allow_not_modified=validators is not None)
                if response.status == 304:
                    # A 304 may carry fresher validators; keep the old ones where it does not.
                    fresh = _validators_of(response, fallback=validators)
                    return _Page(None, "", final_url, fresh)
                content_type = _page_type(response, final_url)
                body = await read_capped(response, final_url, self._max_page_bytes, self._big)
                return _Page(body, content_type, final_url, _validators_of(response))
        except TimeoutError:
            raise
        except aiohttp.ClientError as error:
            raise _Retryable(_describe(error)) from error

    async def _get_file(self, name: NormalizedName, url: str) -> aiohttp.ClientResponse:
        # Files are stored and hashed as served: never let aiohttp decompress them.
        headers = {"Accept-Encoding": "identity"}
        try:
            response = await self._session.get(
                url, auto_decompress=False, **self._outbound.request_options(url, headers)
            )
        except TimeoutError:
            raise
        except aiohttp.ClientError as error:
            raise _Retryable(_describe(error)) from error
        if response.status == 200:
            return response
        response.release()
        if response.status in _NOT_FOUND:
            raise FileNotFound(name, _filename_of(url))
        if response.status >= 500:
            raise _Retryable(f"upstream answered {response.status}")
        raise UpstreamUnavailable(f"{url}: upstream answered {response.status}, expected 200")


def _check_status(
    response: aiohttp.ClientResponse,
    url: str,
    name: NormalizedName | None,
    *,
    allow_not_modified: bool,
) -> None:
    status = response.status
    if status == 200 or (status == 304 and allow_not_modified):
        return
    if status in _NOT_FOUND and name is not None:
        raise ProjectNotFound(name)
    if status >= 500:
        raise _Retryable(f"upstream answered {status}")
    raise UpstreamUnavailable(f"{url}: upstream answered {status}, expected 200")


def _page_type(response: aiohttp.ClientResponse, url: str) -> str:
    """The whole Content-Type header (the parser needs its charset) once its type is checked."""
    header = response.headers.get("Content-Type", "")
    if response.content_type.lower() not in PAGE_TYPES:
        raise UpstreamProtocolError(
            f"{url}: Content-Type {header!r} is not a simple API type; expected one of "
            f"{', '.join(sorted(PAGE_TYPES))}"
        )
    return header


def _conditional_headers(validators: Validators | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if validators is not None and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators is not None and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _validators_of(
    response: aiohttp.ClientResponse, fallback: Validators | None = None
) -> Validators:
    fallback = fallback or Validators()
    return Validators(
        etag=response.headers.get("ETag", fallback.etag),
        last_modified=response.headers.get("Last-Modified", fallback.last_modified),
    )


def _filename_of(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"timed out ({type(error).__name__})"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def _parse(size: int, parse: Callable[[], T], url: str) -> T:
    try:
        if size <= _INLINE_PARSE_BYTES:
            return parse()
        return await asyncio.to_thread(parse)
    except UpstreamProtocolError:
        raise
    except (ValueError, LookupError, RecursionError, TypeError, MemoryError) as error:
        # The parsers report what they expect; anything else a hostile page provokes is
        # still the upstream's fault (a 502, or the stale page), never a 500.
        raise UpstreamProtocolError(f"{url}: unreadable page: {_describe(error)}") from error


__all__ = ["CHUNK_SIZE", "MAX_PAGE_BYTES", "PAGE_ACCEPT", "HttpStream", "HttpUpstream"]
