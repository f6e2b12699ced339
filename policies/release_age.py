"""``release_age`` (cooldown): hides and refuses files uploaded less than ``days`` ago,
by the index's PEP 700 ``upload-time``. Most malicious releases are found and removed
within days; waiting keeps them out. Use ``exempt`` for projects that must be fresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from policies.base import Decision, Option, PolicyEnvironment, Verdict
from policies.config import choice, parse_days
from policies.versions import file_version
from proxy.model import DistFile, ProjectPage


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ReleaseAgePolicy:
    name: ClassVar[str] = "release_age"
    summary: ClassVar[str] = (
        "Hides and refuses files uploaded less than N days ago (PEP 700 upload-time)."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("days", "Minimum age of a file, in days (fractions allowed).", 7.0, parse_days),
        Option(
            "missing_upload_time",
            'What to do with a file the index gives no upload-time for: "deny", "warn" or "allow".',
            "deny",
            choice("deny", "warn", "allow"),
        ),
    )

    def __init__(
        self, days: float, missing_upload_time: str, now: Callable[[], dt.datetime] = utc_now
    ) -> None:
        self.days = days
        self.min_age = dt.timedelta(days=days)
        self.missing = Decision(missing_upload_time)
        self.now = now

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> ReleaseAgePolicy:
        return cls(options["days"], options["missing_upload_time"])

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        uploaded = file.uploaded_at
        if uploaded is None:
            return self._missing(page, file)
        age = self.now() - uploaded
        if age >= self.min_age:
            return None
        return Verdict.deny(
            self.name,
            f"{_what(page, file)} was uploaded {format_age(age)} ago ({file.upload_time}); "
            f"release_age requires {_days(self.days)}; pin an older version or add "
            f"{page.name} to exempt",
        )

    def _missing(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        if self.missing is Decision.ALLOW:
            return None
        reason = (
            f"{_what(page, file)} has no upload-time on the index, so its age cannot be "
            f"checked (release_age requires {_days(self.days)}); use an index that sends "
            f'PEP 700 upload-time, set missing_upload_time = "allow", or add {page.name} '
            f"to exempt"
        )
        return Verdict(self.missing, self.name, reason)


def _what(page: ProjectPage, file: DistFile) -> str:
    version = file_version(file.filename)
    return f"{page.name} {version} ({file.filename})" if version else file.filename


def _days(days: float) -> str:
    shown = f"{days:g}"
    return f"{shown} day" if shown == "1" else f"{shown} days"


def format_age(age: dt.timedelta) -> str:
    """A short human age: "2 days", "5 hours", "12 minutes" (a future time is "0 minutes")."""
    seconds = max(age.total_seconds(), 0.0)
    if seconds >= 86400:
        count, unit = int(seconds // 86400), "day"
    elif seconds >= 3600:
        count, unit = int(seconds // 3600), "hour"
    else:
        count, unit = int(seconds // 60), "minute"
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
