"""Where OSV data comes from, and turning it into an ``OsvIndex`` off the event loop.

A source is a directory tree of ``*.json`` records, a single ``.json`` file, or a zip of
records such as the per-ecosystem ``PyPI/all.zip`` of the OSV bulk export; either a local
path or an ``http(s)`` URL. URLs are downloaded into ``<data_dir>/osv/`` (temp file, then
``os.replace``, so a reader never sees half a file), with ``If-None-Match`` /
``If-Modified-Since`` from the previous download. ``load()`` returns ``None`` when nothing
changed, so a periodic refresh costs a conditional request (or a ``stat``), not a re-parse.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os
import aiohttp

from policies.osv_db import IndexBuilder, OsvIndex
from policies.osv_mirror import OsvMirror, mirror_dir

__all__ = ["OsvSource", "OsvSourceError", "local_path", "read_index"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
Signature = tuple[int, ...]


class OsvSourceError(Exception):
    """OSV data could not be fetched or read; the message names the source."""


def is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def _key(location: str) -> str:
    return hashlib.sha256(location.encode()).hexdigest()[:16]


def is_mirror(location: str) -> bool:
    """A URL ending in ``/``: an ecosystem directory, mirrored record by record."""
    return is_url(location) and location.endswith("/")


def local_path(location: str, data_dir: Path) -> Path:
    """Where the data of ``location`` is on disk: the path itself, the download of a URL
    or the records of a mirror in ``<data_dir>/osv/`` (what offline readers such as
    ``pipgate impact`` load)."""
    if is_mirror(location):
        return mirror_dir(data_dir / "osv" / _key(location))
    if is_url(location):
        return data_dir / "osv" / f"{_key(location)}.data"
    return Path(location).expanduser()


class OsvSource:
    """One configured OSV location; remembers what was loaded last to skip unchanged data."""

    def __init__(
        self,
        location: str,
        *,
        data_dir: Path,
        http: aiohttp.ClientSession | None,
        timeout: float = 900.0,
    ) -> None:
        if is_url(location) and http is None:
            msg = f"OSV source {location!r} is a URL but no HTTP client session was provided"
            raise OsvSourceError(msg)
        self.location = location
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_read=120)
        self._download_dir = data_dir / "osv"
        self._path = local_path(location, data_dir)
        self._validators_path = self._path.with_name(f"{_key(location)}.validators.json")
        self._signature: Signature | None = None
        self._mirror: OsvMirror | None = None
        if is_mirror(location) and http is not None:
            root = self._download_dir / _key(location)
            self._mirror = OsvMirror(location, root, http, timeout=timeout, error=OsvSourceError)

    async def load(self) -> OsvIndex | None:
        """A fresh index, or ``None`` when the data is what the previous call loaded."""
        if self._mirror is not None:
            return await self._mirror.load(read_index)
        if is_url(self.location) and (downloaded := await self._fetch()) is not None:
            return downloaded
        signature = await asyncio.to_thread(_signature, self._path, self.location)
        if signature == self._signature:
            return None
        index = await asyncio.to_thread(read_index, self._path, self.location)
        self._signature = signature
        return index

    async def _fetch(self) -> OsvIndex | None:
        """The index of a new download; ``None`` for 304 (or an outage with a local copy)."""
        try:
            return await self._download()
        except OsvSourceError:
            if self._signature is None and await aiofiles.os.path.isfile(self._path):
                # First load and the server is unreachable: stale data beats no data.
                logger.warning("using the copy of %s downloaded earlier", self.location)
                return None
            raise

    async def _download(self) -> OsvIndex | None:
        if self._http is None:
            raise OsvSourceError(f"no HTTP client session to download {self.location}")
        await aiofiles.os.makedirs(self._download_dir, exist_ok=True)
        headers = await self._conditional_headers()
        try:
            async with self._http.get(
                self.location, headers=headers, timeout=self._timeout
            ) as response:
                if response.status == 304:
                    return None
                if response.status != 200:
                    msg = (
                        f"GET {self.location} answered HTTP {response.status}, "
                        "expected 200 (or 304 when unchanged)"
                    )
                    raise OsvSourceError(msg)
                return await self._store(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            msg = f"could not download OSV data from {self.location}: {e!r}"
            raise OsvSourceError(msg) from e

    async def _store(self, response: aiohttp.ClientResponse) -> OsvIndex:
        """Stream to a temp file, index it, and only then replace the previous download."""
        partial = self._path.with_name(f"{self._path.name}.{uuid.uuid4().hex}.part")
        try:
            async with aiofiles.open(partial, "wb") as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    await out.write(chunk)
            # A corrupt download fails here and leaves the last good copy in place.
            index = await asyncio.to_thread(read_index, partial, self.location)
            await aiofiles.os.replace(partial, self._path)
        finally:
            if await aiofiles.os.path.exists(partial):
                await aiofiles.os.remove(partial)
        self._signature = await asyncio.to_thread(_signature, self._path, self.location)
        # Data first, validators second: a crash in between costs a re-download, never a
        # 304 for data we do not have.
        validators = {
            name: response.headers[name]
            for name in ("ETag", "Last-Modified")
            if name in response.headers
        }
        await _write_atomically(self._validators_path, json.dumps(validators).encode())
        return index

    async def _conditional_headers(self) -> dict[str, str]:
        if not await aiofiles.os.path.isfile(self._path):
            return {}
        try:
            async with aiofiles.open(self._validators_path, "rb") as f:
                validators = json.loads(await f.read())
        except (OSError, ValueError):
            return {}
        headers: dict[str, str] = {}
        if isinstance(validators.get("ETag"), str):
            headers["If-None-Match"] = validators["ETag"]
        if isinstance(validators.get("Last-Modified"), str):
            headers["If-Modified-Since"] = validators["Last-Modified"]
        return headers


async def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
    async with aiofiles.open(partial, "wb") as out:
        await out.write(data)
    await aiofiles.os.replace(partial, path)


def _signature(path: Path, location: str) -> Signature:
    """What changes when the data changes: stat of a file, or of every record in a tree."""
    try:
        if path.is_dir():
            stats = [p.stat() for p in path.rglob("*.json")]
            return (
                len(stats),
                max((s.st_mtime_ns for s in stats), default=0),
                sum(s.st_size for s in stats),
            )
        stat = path.stat()
    except OSError as e:
        raise OsvSourceError(f"cannot read OSV source {location!r}: {e}") from e
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def read_index(path: Path, location: str | None = None) -> OsvIndex:
    """Build an index from a directory, a zip or one JSON file (blocking: run in a thread)."""
    where = location or str(path)
    builder = IndexBuilder()
    try:
        if path.is_dir():
            _add_all(builder, ((str(p), p.read_bytes) for p in sorted(path.rglob("*.json"))), where)
        elif _is_zip(path):
            with zipfile.ZipFile(path) as archive:
                members = [i for i in archive.infolist() if i.filename.endswith(".json")]
                _add_all(builder, ((i.filename, _reader(archive, i)) for i in members), where)
        else:
            builder.add(_decode(path.read_bytes(), where))
    except (OSError, zipfile.BadZipFile) as e:
        raise OsvSourceError(f"cannot read OSV source {where!r}: {e}") from e
    return builder.build()


def _is_zip(path: Path) -> bool:
    # By content, not name: a URL says nothing, and a truncated zip must fail as a zip.
    with path.open("rb") as f:
        return f.read(2) == b"PK"


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    return lambda: archive.read(info)


def _add_all(
    builder: IndexBuilder, items: Iterable[tuple[str, Callable[[], bytes]]], where: str
) -> None:
    # One unreadable record must not hide thousands of good ones; say how many were skipped.
    skipped: list[str] = []
    for name, read in items:
        try:
            builder.add(_decode(read(), name))
        except OsvSourceError:
            skipped.append(name)
    if skipped:
        logger.warning(
            "skipped %d unreadable OSV record(s) in %s, e.g. %s", len(skipped), where, skipped[0]
        )


def _decode(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise OsvSourceError(f"OSV record {name!r} is not valid JSON: {e}") from e
