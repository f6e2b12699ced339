"""``release_age``: a cooldown on new uploads by PEP 700 upload-time."""

from __future__ import annotations

import datetime as dt

import pytest

from policies.base import Decision
from policies.release_age import ReleaseAgePolicy, format_age
from tests.support.fake_repository import dist, page

NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def policy(days: float = 7, missing: str = "deny") -> ReleaseAgePolicy:
    return ReleaseAgePolicy(days, missing, now=lambda: NOW)


def test_a_fresh_file_is_denied_with_an_actionable_reason() -> None:
    file = dist("foo-2.0-py3-none-any.whl", upload_time="2026-11-19T10:00:00Z")
    verdict = policy().check_file(page("foo"), file)
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason == (
        "foo 2.0 (foo-2.0-py3-none-any.whl) was uploaded 2 days ago (2026-11-19T10:00:00Z); "
        "release_age requires 7 days; pin an older version or add foo to exempt"
    )


@pytest.mark.parametrize(
    "uploaded", ["2026-11-14T10:00:00Z", "2026-11-14T09:59:59.999999Z", "2020-01-01T00:00:00"]
)
def test_old_enough_files_pass(uploaded: str) -> None:
    assert policy().check_file(page("foo"), dist("foo-1.0.tar.gz", upload_time=uploaded)) is None


def test_fractional_days() -> None:
    file = dist("foo-1.0.tar.gz", upload_time="2026-11-21T00:00:00Z")
    assert policy(days=0.25).check_file(page("foo"), file) is None
    verdict = policy(days=1).check_file(page("foo"), file)
    assert verdict is not None
    assert "was uploaded 10 hours ago" in verdict.reason
    assert "requires 1 day;" in verdict.reason


@pytest.mark.parametrize(
    ("missing", "decision"), [("deny", Decision.DENY), ("warn", Decision.WARN)]
)
def test_missing_upload_time(missing: str, decision: Decision) -> None:
    verdict = policy(missing=missing).check_file(
        page("foo"), dist("foo-1.0.tar.gz", upload_time=None)
    )
    assert verdict is not None
    assert verdict.decision is decision
    assert verdict.reason.startswith(
        "foo 1.0 (foo-1.0.tar.gz) has no upload-time on the index, so its age cannot be checked"
    )
    assert 'set missing_upload_time = "allow"' in verdict.reason


def test_missing_upload_time_allowed() -> None:
    file = dist("foo-1.0.tar.gz", upload_time="not a time")
    assert policy(missing="allow").check_file(page("foo"), file) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 minutes"),
        (60, "1 minute"),
        (3 * 3600 + 5, "3 hours"),
        (86400, "1 day"),
        (86400 * 9, "9 days"),
    ],
)
def test_format_age(seconds: float, text: str) -> None:
    assert format_age(dt.timedelta(seconds=seconds)) == text
