"""What the fetch-log reports (``storage.fetchlog_reports``) take and return."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from storage.base import FetchRecord


@dataclass(frozen=True, slots=True)
class LogFilter:
    project: str | None = None
    version: str | None = None
    filename: str | None = None
    sha256: str | None = None
    user: str | None = None
    build: str | None = None
    client: str | None = None
    kind: str | None = None
    status: int | None = None
    policy: str | None = None
    decision: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    decisions_only: bool = False
    """Only rows with at least one verdict (refusals, audit, waived, quarantine, warnings)."""

    def matches_verdicts(self, record: FetchRecord) -> bool:
        if self.policy is None and self.decision is None:
            return True
        return any(
            (self.policy is None or v.get("policy") == self.policy)
            and (self.decision is None or v.get("decision") == self.decision)
            for v in record.verdicts
        )


Cursor = tuple[dt.datetime, int]
"""Where a page of search results ended: the last row's time and id."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class LoggedRow:
    row_id: int
    record: FetchRecord

    @property
    def cursor(self) -> str:
        """``MICROSECONDS.ID``: a query-string value for ``parse_cursor``."""
        micros = (self.record.time - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{micros}.{self.row_id}"


def parse_cursor(text: str) -> Cursor | None:
    micros, dot, row_id = text.partition(".")
    if not (dot and micros.isdigit() and row_id.isdigit() and len(text) < 40):
        return None
    return _EPOCH + dt.timedelta(microseconds=int(micros)), int(row_id)


@dataclass(frozen=True, slots=True)
class Bucket:
    start: dt.datetime
    requests: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    bytes_served: int = 0
    refusals: int = 0


@dataclass(frozen=True, slots=True)
class BuildSummary:
    build: str
    first: dt.datetime
    last: dt.datetime
    requests: int
    downloads: int
    users: int


@dataclass(frozen=True, slots=True)
class Pull:
    """Who downloaded matching files: one row per build, user, client and file."""

    build: str | None
    user: str | None
    client: str
    project: str | None
    version: str | None
    filename: str | None
    sha256: str | None
    first: dt.datetime
    last: dt.datetime
    count: int


@dataclass(slots=True)
class FileHistory:
    downloads: int = 0
    last: dt.datetime | None = None
    users: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)
    attestation: str | None = None


__all__ = [
    "Bucket",
    "BuildSummary",
    "Cursor",
    "FileHistory",
    "LogFilter",
    "LoggedRow",
    "Pull",
    "parse_cursor",
]
