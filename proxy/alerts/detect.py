"""Which served files an OSV update newly flags, grouped by advisory with their impact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from policies.osv_changes import OsvUpdate
from policies.osv_db import Advisory
from proxy.audit.impact import SERVED_STATUSES, Impact, served_files
from storage.base import FetchLogStore, FetchQuery, FetchRecord

__all__ = ["Alert", "newly_flagged"]


@dataclass(frozen=True, slots=True)
class Alert:
    advisory: Advisory
    impact: Impact
    source: str
    """The OSV location the advisory came from."""
    detected: dt.datetime


async def newly_flagged(
    update: OsvUpdate,
    projects: Iterable[str],
    fetchlog: FetchLogStore,
    *,
    since: dt.datetime | None,
    now: dt.datetime,
) -> list[Alert]:
    """One alert per advisory that denies, since this update, a file served after ``since``."""
    await fetchlog.flush()
    rows: list[FetchRecord] = []
    for name in sorted(projects):
        rows += await fetchlog.query(FetchQuery(project=name, kinds=("dist",), since=since))
    new_hashes = set(update.new.malicious_hashes()) - set(update.old.malicious_hashes())
    for sha256 in sorted(new_hashes):  # a known-bad file served under another name
        rows += await fetchlog.query(FetchQuery(sha256=sha256, kinds=("dist",), since=since))
    by_advisory: dict[str, tuple[Advisory, dict[tuple[object, ...], FetchRecord]]] = {}
    verdicts: dict[tuple[str | None, str | None, str | None], tuple[Advisory, ...]] = {}
    for row in rows:
        if row.status not in SERVED_STATUSES or row.project is None:
            continue
        key = (row.project, row.version, row.sha256)
        if key not in verdicts:
            verdicts[key] = update.newly_denying(row.project, row.version, row.sha256)
        for advisory in verdicts[key]:
            _, found = by_advisory.setdefault(advisory.id, (advisory, {}))
            found[(row.time, row.client, row.filename, row.build, row.status)] = row
    alerts = []
    for advisory_id in sorted(by_advisory):
        advisory, found = by_advisory[advisory_id]
        impact = Impact(advisory.id, (advisory,), served_files(found.values()))
        if impact.files:
            alerts.append(Alert(advisory, impact, update.source, now))
    return alerts
