"""What an admin types for a waiver or a review decision, checked with a clear message:
``PROJECT[==VERSION]``, a file name, an expiry (``7d``) and a justification."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from proxy.errors import InvalidName
from storage.keys import validate_filename, validate_project

MAX_REASON = 1000
MAX_WAIVER_DAYS = 366
"""A waiver is an exception, not a second policy: it must end within a year."""
ALL_POLICIES = "*"

_DURATION = re.compile(r"([1-9][0-9]{0,6})([mhdw])\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_POLICY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
EXPIRES_HELP = "a duration (30m, 12h, 7d, 2w) or a UTC date or datetime (2026-01-31)"


@dataclass(frozen=True, slots=True)
class Target:
    project: NormalizedName
    version: str | None = None
    filename: str | None = None


def parse_target(text: str, filename: str | None = None) -> Target:
    """``PROJECT`` or ``PROJECT==VERSION`` (and optionally one file of the project)."""
    raw_name, sep, raw_version = text.strip().partition("==")
    try:
        project = validate_project(raw_name.strip())
    except InvalidName as error:
        raise ValueError(f"{text!r}: expected PROJECT or PROJECT==VERSION ({error})") from error
    version = None
    if sep:
        try:
            version = str(Version(raw_version.strip()))
        except InvalidVersion as error:
            raise ValueError(f"{text!r}: {raw_version.strip()!r} is not a valid version") from error
    if filename is not None and filename.strip():
        if version is not None:
            raise ValueError("give a version or a file, not both")
        try:
            filename = validate_filename(filename.strip())
        except InvalidName as error:
            raise ValueError(f"file: {error}") from error
        return Target(project, None, filename)
    return Target(project, version)


def parse_expires(text: str, now: dt.datetime) -> dt.datetime:
    """When a waiver made at ``now`` with ``--expires text`` ends; within a year."""
    value = text.strip().lower()
    duration = _DURATION.match(value)
    if duration is not None:
        moment = now + dt.timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    else:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError as error:
            raise ValueError(f"expires {text!r}: expected {EXPIRES_HELP}") from error
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    if moment <= now:
        raise ValueError(f"expires {text!r}: {moment.isoformat()} is not in the future")
    if moment > now + dt.timedelta(days=MAX_WAIVER_DAYS):
        raise ValueError(f"expires {text!r}: a waiver may last at most {MAX_WAIVER_DAYS} days")
    return moment


def parse_reason(text: str) -> str:
    """A justification: required, one paragraph, at most ``MAX_REASON`` characters."""
    reason = " ".join(text.split())
    if not reason:
        raise ValueError("a reason is required: say why, for whoever reads the audit trail")
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def parse_policy(text: str | None) -> str | None:
    """A policy name, or ``None`` for every (waivable) policy (empty or ``*``)."""
    value = (text or "").strip()
    if value in ("", ALL_POLICIES):
        return None
    if not _POLICY.match(value):
        raise ValueError(f"policy {value!r}: expected a policy name such as denylist, or *")
    return value


__all__ = [
    "ALL_POLICIES",
    "EXPIRES_HELP",
    "MAX_REASON",
    "MAX_WAIVER_DAYS",
    "Target",
    "parse_expires",
    "parse_policy",
    "parse_reason",
    "parse_target",
]
