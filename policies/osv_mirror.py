"""An incremental mirror of one OSV ecosystem directory (a URL ending in ``/``, such as
the bulk export's ``.../PyPI/``): download only what changed.

The first sync downloads the ecosystem's ``all.zip`` once and unpacks its records into
``<data_dir>/osv/<key>/records/``. Every later sync asks for ``modified_id.csv`` (one
``<modified>,<id>`` line per record) with ``If-None-Match``, and fetches ``<id>.json`` for
each record modified after the newest one already held. A 304 costs one request. A
restart keeps the records on disk: no new ``all.zip``, and a server that is down then
still leaves the last mirrored data in force. Too many changes at once (a re-export)
fall back to a fresh ``all.zip``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import shutil
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiofiles
import aiohttp

from policies.osv_db import OsvIndex

__all__ = ["MAX_INCREMENTAL", "OsvMirror", "mirror_dir"]

logger = logging.getLogger(__name__)

MAX_INCREMENTAL = 2000
"""More changed records than this in one sync: a full ``all.zip`` is cheaper."""
FETCH_CONCURRENCY = 8
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_CHUNK = 1 << 20
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def mirror_dir(root: Path) -> Path:
    return root / "records"


class OsvMirror:
    def __init__(
        self,
        base_url: str,
        root: Path,
        http: aiohttp.ClientSession,
        *,
        timeout: float = 900.0,
        error: type[Exception] = RuntimeError,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._root = root
        self._records = mirror_dir(root)
        self._state_path = root / "state.json"
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_read=120)
        self._error = error
        self._built = False
        self.fetched: list[str] = []
        """What the last sync downloaded (``all.zip``, ``modified_id.csv``, record ids)."""

    async def load(self, read_index: Callable[[Path, str], OsvIndex]) -> OsvIndex | None:
        """A fresh index, or ``None`` when nothing changed since the previous load."""
        try:
            changed = await self._sync()
        except self._error:
            if self._built or not await asyncio.to_thread(self._records.is_dir):
                raise
            logger.warning("OSV mirror of %s: sync failed, using the records held", self.base_url)
            changed = True
        if not changed and self._built:
            return None
        index: OsvIndex = await asyncio.to_thread(read_index, self._records, self.base_url)
        self._built = True
        return index

    async def _sync(self) -> bool:
        self.fetched = []
        state = await asyncio.to_thread(_read_state, self._state_path)
        if state is None or not await asyncio.to_thread(self._records.is_dir):
            await self._full_sync()
            return True
        headers = {"If-None-Match": state["csv_etag"]} if state.get("csv_etag") else {}
        status, body, etag = await self._get("modified_id.csv", headers)
        if status == 304:
            return False
        synced = _parse_time(state["synced"]) or _EPOCH
        changed = _changed_since(body.decode("utf-8", "replace"), synced)
        if len(changed) > MAX_INCREMENTAL:
            logger.info("OSV mirror: %d records changed, downloading all.zip", len(changed))
            await self._full_sync()
            return True
        if changed:
            await self._fetch_records([record_id for _, record_id in changed])
            synced = max(synced, *(moment for moment, _ in changed))
        await asyncio.to_thread(_write_state, self._state_path, synced, etag)
        return bool(changed)

    async def _full_sync(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        archive = self._root / f"all.{uuid.uuid4().hex}.zip"
        try:
            await self._download("all.zip", archive)
            await asyncio.to_thread(_replace_records, archive, self._root, self._state_path)
        finally:
            await asyncio.to_thread(archive.unlink, missing_ok=True)

    async def _fetch_records(self, ids: list[str]) -> None:
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(record_id: str) -> None:
            async with limit:
                _, body, _ = await self._get(f"{record_id}.json", {})
            try:
                record = json.loads(body)
            except ValueError as error:
                raise self._error(f"OSV record {record_id} is not valid JSON: {error}") from error
            if not isinstance(record, dict) or record.get("id") != record_id:
                raise self._error(f"{self.base_url}{record_id}.json is not record {record_id}")
            await asyncio.to_thread(_write_atomically, self._records / f"{record_id}.json", body)

        await asyncio.gather(*(fetch(record_id) for record_id in ids))

    async def _get(self, name: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        url = self.base_url + name
        try:
            async with self._http.get(url, headers=headers, timeout=self._timeout) as response:
                if response.status not in (200, 304):
                    raise self._error(f"GET {url} answered HTTP {response.status}")
                self.fetched.append(name)
                body = await response.read() if response.status == 200 else b""
                return response.status, body, response.headers.get("ETag")
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error(f"could not fetch {url}: {error!r}") from error

    async def _download(self, name: str, target: Path) -> None:
        url = self.base_url + name
        try:
            async with self._http.get(url, timeout=self._timeout) as response:
                if response.status != 200:
                    raise self._error(f"GET {url} answered HTTP {response.status}")
                async with aiofiles.open(target, "wb") as out:
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        await out.write(chunk)
                self.fetched.append(name)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error(f"could not download {url}: {error!r}") from error


def _changed_since(csv_text: str, synced: dt.datetime) -> list[tuple[dt.datetime, str]]:
    changed: dict[str, dt.datetime] = {}
    for line in csv_text.splitlines():
        # An ecosystem's CSV names bare ids; anything else (a path) is refused below.
        stamp, _, record_id = line.strip().partition(",")
        if not stamp or not record_id:
            continue
        moment = _parse_time(stamp)
        if moment is None or not _ID.match(record_id):
            logger.warning("OSV mirror: skipping modified_id.csv line %r", line[:80])
            continue
        if moment > synced:
            changed[record_id] = max(moment, changed.get(record_id, moment))
    return sorted((moment, record_id) for record_id, moment in changed.items())


def _replace_records(archive: Path, root: Path, state_path: Path) -> None:
    """Unpack into a fresh directory, then swap it in (blocking: run in a thread)."""
    fresh = root / f"records.{uuid.uuid4().hex}"
    try:
        newest = _unpack(archive, fresh)
        records = mirror_dir(root)
        old = root / f"records.old.{uuid.uuid4().hex}"
        if records.exists():
            records.rename(old)
        fresh.rename(records)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    # The CSV's validator is not known yet: the next sync asks for it unconditionally and
    # fetches only what is newer than the newest record of the zip.
    _write_state(state_path, newest, None)


def _unpack(archive: Path, target: Path) -> dt.datetime:
    """Unpack the records of ``archive``; the newest ``modified`` among them."""
    target.mkdir(parents=True)
    newest = _EPOCH
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            name = Path(info.filename).name
            if not name.endswith(".json") or not _ID.match(name[:-5]):
                continue
            data = bundle.read(info)
            (target / name).write_bytes(data)
            try:
                modified = json.loads(data).get("modified")
            except (ValueError, AttributeError):
                continue
            moment = _parse_time(modified) if isinstance(modified, str) else None
            if moment is not None:
                newest = max(newest, moment)
    return newest


def _parse_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("synced"), str):
        return None
    return state if _parse_time(state["synced"]) is not None else None


def _write_state(path: Path, synced: dt.datetime, csv_etag: str | None) -> None:
    document = {"synced": synced.isoformat(), "csv_etag": csv_etag}
    _write_atomically(path, json.dumps(document).encode())


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    partial.write_bytes(data)
    partial.replace(path)
