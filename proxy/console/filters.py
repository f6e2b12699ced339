"""The filter fields shared by the Decisions, Fetch log and Who-pulled pages: query
parameters in, a ``LogFilter`` out, and every bad value reported by field."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

from storage.fetchlog_report_rows import Cursor, LogFilter, parse_cursor

FIELDS = (
    "project", "version", "file", "sha256", "user", "build", "client", "kind", "status",
    "policy", "decision", "since", "until",
)  # fmt: skip
DECISIONS = ("deny", "quarantine", "warn", "waived", "released")
KINDS = ("index", "page", "dist", "metadata", "provenance", "dist-head", "json")
_AGE = re.compile(r"([1-9][0-9]{0,5})([mhdw])\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")


@dataclass(slots=True)
class Parsed:
    where: LogFilter
    values: dict[str, str]
    """What the form shows again (as given)."""
    problems: dict[str, str] = field(default_factory=dict)


def parse_time(text: str, now: dt.datetime) -> dt.datetime:
    age = _AGE.match(text.strip().lower())
    if age is not None:
        return now - dt.timedelta(**{_UNITS[age[2]]: int(age[1])})
    moment = dt.datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_filter(
    params: Mapping[str, str], now: dt.datetime, *, decisions_only: bool = False
) -> Parsed:
    values = {name: params.get(name, "").strip() for name in FIELDS}
    problems: dict[str, str] = {}
    for name, value in values.items():
        if value and not _TEXT.match(value):
            problems[name] = "at most 200 characters, no control characters"
    times: dict[str, dt.datetime | None] = {"since": None, "until": None}
    for name in times:
        if values[name] and name not in problems:
            try:
                times[name] = parse_time(values[name], now)
            except ValueError:
                problems[name] = "an age (30m, 24h, 7d) or a date (2026-01-31)"
    status = None
    if values["status"]:
        if values["status"].isdigit() and 100 <= int(values["status"]) <= 599:
            status = int(values["status"])
        else:
            problems["status"] = "an HTTP status such as 200 or 403"
    if values["sha256"] and not _SHA256.match(values["sha256"]):
        problems["sha256"] = "64 hexadecimal characters"
    if values["decision"] and values["decision"] not in DECISIONS:
        problems["decision"] = "one of " + ", ".join(DECISIONS)
    where = LogFilter(
        project=canonicalize_name(values["project"]) if values["project"] else None,
        version=values["version"] or None,
        filename=values["file"] or None,
        sha256=values["sha256"].lower() or None if "sha256" not in problems else None,
        user=values["user"] or None,
        build=values["build"] or None,
        client=values["client"] or None,
        kind=values["kind"] or None,
        status=status,
        policy=values["policy"] or None,
        decision=values["decision"] or None if "decision" not in problems else None,
        since=times["since"],
        until=times["until"],
        decisions_only=decisions_only,
    )
    return Parsed(where, values, problems)


def cursor(params: Mapping[str, str]) -> Cursor | None:
    return parse_cursor(params.get("before", ""))


__all__ = ["DECISIONS", "FIELDS", "KINDS", "Parsed", "cursor", "parse_filter", "parse_time"]
