"""The fetch log's table shape, shared by the SQLite and PostgreSQL backends, and the
choice of backend from the ``fetchlog_url`` setting.

One row per served page, metadata file, provenance object or artifact (``FetchRecord``).
Times are stored in UTC; a naive ``datetime`` is taken to be UTC. Verdicts are stored as
JSON text. ``query`` filters are exact matches except ``project``, which is compared in its
PEP 503 normalised form (the form the app records).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from storage.base import FetchLogStore, FetchQuery, FetchRecord, StorageError

logger = logging.getLogger("pipgate.fetchlog")

COLUMNS = (
    "time",
    "client",
    "user_name",
    "build",
    "kind",
    "project",
    "version",
    "filename",
    "sha256",
    "size",
    "cache",
    "upstream",
    "url",
    "status",
    "verdicts",
    "attestation",
    "upload_time",
)
"""Column order of every INSERT and SELECT (``user`` is reserved in PostgreSQL)."""

INDEXED_COLUMNS = ("time", "build", "project", "client")

ADDED_COLUMNS = (("upload_time", "TEXT"),)
"""Columns newer than the first schema: added to an existing table at start-up."""

BATCH_MAX_ROWS = 500
"""Rows per transaction; rows arriving during a commit wait for the next one (group commit)."""

WRITE_ATTEMPTS = 5
"""Tries per batch before its rows are given up and logged (0.1 + 0.2 + 0.4 + 0.8 s apart)."""

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,40}")
DEFAULT_SQLITE_NAME = "fetchlog.sqlite3"


class ManagedFetchLog(FetchLogStore, Protocol):
    """A ``FetchLogStore`` with the lifecycle and durability calls the app needs.

    ``append_durable`` returns only once the row is committed: the app awaits it before
    releasing the last chunk of an artifact, so a completely served artifact always has
    its row, even if the process is killed right after (see docs/sbom.md).
    """

    async def start(self) -> None: ...

    async def append_durable(self, record: FetchRecord) -> None: ...


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime; naive values are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def check_identifier(name: str) -> str:
    """A table name that is safe to interpolate into SQL, or ``ValueError``."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"invalid fetch log table name {name!r}: expected lower-case letters, digits "
            f"and '_', not starting with a digit, at most 41 characters"
        )
    return name


def record_values(record: FetchRecord) -> tuple[object, ...]:
    """The row for ``record`` in ``COLUMNS`` order; time as aware UTC, verdicts as JSON."""
    return (
        utc(record.time),
        record.client,
        record.user,
        record.build,
        record.kind,
        record.project,
        record.version,
        record.filename,
        record.sha256,
        record.size,
        record.cache,
        record.upstream,
        record.url,
        record.status,
        json.dumps([dict(v) for v in record.verdicts], sort_keys=True),
        record.attestation,
        record.upload_time,
    )


def record_from_values(values: Sequence[object], time: dt.datetime) -> FetchRecord:
    """Inverse of ``record_values``; ``time`` is decoded by the backend."""
    row = dict(zip(COLUMNS, values, strict=True))
    verdicts = json.loads(str(row["verdicts"]))
    return FetchRecord(
        time=utc(time),
        client=str(row["client"]),
        user=_opt_str(row["user_name"]),
        build=_opt_str(row["build"]),
        kind=str(row["kind"]),
        project=_opt_str(row["project"]),
        version=_opt_str(row["version"]),
        filename=_opt_str(row["filename"]),
        sha256=_opt_str(row["sha256"]),
        size=None if row["size"] is None else int(str(row["size"])),
        cache=_opt_str(row["cache"]),
        upstream=_opt_str(row["upstream"]),
        url=_opt_str(row["url"]),
        status=int(str(row["status"])),
        verdicts=tuple({str(k): str(v) for k, v in item.items()} for item in verdicts),
        attestation=_opt_str(row["attestation"]),
        upload_time=_opt_str(row["upload_time"]),
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def select_statement(
    table: str,
    query: FetchQuery,
    placeholder: Callable[[int], str],
    encode_time: Callable[[dt.datetime], object],
) -> tuple[str, list[object]]:
    """SQL and parameters for ``query``, oldest first.

    ``since`` is inclusive and ``until`` exclusive. With ``limit`` the result is the
    *latest* ``limit`` matching rows (still returned oldest first), which is what
    ``pipgate log`` shows by default.
    """
    params: list[object] = []

    def param(value: object) -> str:
        params.append(value)
        return placeholder(len(params))

    conditions = [
        f"{column} = {param(value)}"
        for column, value in _equality_filters(query).items()
        if value is not None
    ]
    if query.since is not None:
        conditions.append(f"time >= {param(encode_time(utc(query.since)))}")
    if query.until is not None:
        conditions.append(f"time < {param(encode_time(utc(query.until)))}")
    if query.kinds is not None:
        kinds = ", ".join(param(kind) for kind in query.kinds) or "NULL"
        conditions.append(f"kind IN ({kinds})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    columns = ", ".join(COLUMNS)
    # The table name went through check_identifier; every value is a bound parameter.
    sql = f"SELECT id, {columns} FROM {table}{where}"  # noqa: S608
    if query.limit is None:
        return f"{sql} ORDER BY time, id", params
    latest = f"{sql} ORDER BY time DESC, id DESC LIMIT {param(query.limit)}"
    return f"SELECT * FROM ({latest}) AS latest ORDER BY time, id", params  # noqa: S608


def _equality_filters(query: FetchQuery) -> Mapping[str, str | None]:
    project = canonicalize_name(query.project) if query.project is not None else None
    return {
        "build": query.build,
        "project": project,
        "client": query.client,
        "user_name": query.user,
        "sha256": query.sha256.lower() if query.sha256 is not None else None,
    }


def log_lost_rows(records: Sequence[FetchRecord], error: BaseException) -> None:
    """Give up on rows the backend refused, loudly and with enough to re-insert them."""
    logger.error(
        "fetch log: %d row(s) could not be written after %d attempts (%s); they follow as JSON",
        len(records),
        WRITE_ATTEMPTS,
        error,
    )
    for record in records:
        values = dict(zip(COLUMNS, record_values(record), strict=True))
        values["time"] = utc(record.time).isoformat()
        logger.error("fetch log lost row: %s", json.dumps(values, sort_keys=True))


def sqlite_path(url: str, data_dir: Path) -> Path | None:
    """The SQLite file a ``fetchlog_url`` designates, or ``None`` for a PostgreSQL URL.

    Empty means ``<data_dir>/fetchlog.sqlite3``; ``sqlite:///abs/path`` and
    ``sqlite:relative/path`` name a file explicitly.
    """
    parts = urlsplit(url)
    if not url:
        return data_dir / DEFAULT_SQLITE_NAME
    if parts.scheme == "sqlite" and (parts.path or parts.netloc):
        return Path(unquote(parts.netloc + parts.path))
    if parts.scheme in {"postgresql", "postgres"}:
        return None
    raise ValueError(
        f"fetch log URL {url!r}: expected empty, sqlite:///path/to/file or postgresql://..."
    )


async def enforce_retention(store: FetchLogStore, days: int, *, interval: float = 3600.0) -> None:
    """Prune rows older than ``days`` now and every ``interval`` seconds, until cancelled.

    ``days == 0`` keeps everything (returns at once). A failed prune is logged and retried
    at the next interval: retention must never take the proxy down.
    """
    if days <= 0:
        return
    while True:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        try:
            removed = await store.prune(cutoff)
        except StorageError as error:
            logger.warning("fetch log retention: prune failed, retrying later: %s", error)
        else:
            if removed:
                logger.info("fetch log retention: removed %d row(s) older than %s", removed, cutoff)
        await asyncio.sleep(interval)


def open_fetch_log(url: str, data_dir: Path) -> ManagedFetchLog:
    """The fetch log backend for ``Settings.fetchlog_url``; call ``start()`` before use."""
    path = sqlite_path(url, data_dir)
    if path is not None:
        from storage.sqlite import SqliteFetchLog

        return SqliteFetchLog(path)
    from storage.postgres import PostgresFetchLog

    return PostgresFetchLog(url)


__all__ = [
    "ADDED_COLUMNS",
    "COLUMNS",
    "ManagedFetchLog",
    "check_identifier",
    "enforce_retention",
    "open_fetch_log",
    "record_from_values",
    "record_values",
    "select_statement",
    "sqlite_path",
    "utc",
]
