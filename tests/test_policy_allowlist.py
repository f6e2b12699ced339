"""``allowlist``: only listed projects, and only admitted versions for specifier entries."""

from __future__ import annotations

import pytest
from packaging.utils import NormalizedName

from policies.allowlist import AllowlistPolicy
from policies.base import PolicyError
from policies.entries import parse_entries
from tests.support.fake_repository import dist, page

POLICY = AllowlistPolicy(parse_entries(["requests", "acme-*", "django>=4,<5", "flask==3.*"]))


@pytest.mark.parametrize("name", ["requests", "acme-tools", "django", "flask"])
def test_listed_projects_pass(name: str) -> None:
    assert POLICY.check_project(NormalizedName(name)) is None


def test_unlisted_project_is_denied_with_advice() -> None:
    verdict = POLICY.check_project(NormalizedName("left-pad"))
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason.startswith("left-pad is not on the allowlist; ask for it to be added")


def test_specifier_entries_restrict_versions() -> None:
    django = page("django")
    assert POLICY.check_file(django, dist("django-4.2-py3-none-any.whl")) is None
    verdict = POLICY.check_file(django, dist("django-3.2-py3-none-any.whl"))
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason == (
        "django 3.2 is outside the allowlist ('django>=4,<5'); pick a version it admits or "
        "widen the entry"
    )


def test_whole_project_entries_admit_every_version() -> None:
    assert POLICY.check_file(page("acme-tools"), dist("acme_tools-0.0.1.tar.gz")) is None


def test_unreadable_version_fails_closed() -> None:
    verdict = POLICY.check_file(page("flask"), dist("flask.exe"))
    assert verdict is not None
    assert "the version of flask.exe cannot be read" in verdict.reason


def test_empty_allowlist_is_a_configuration_error() -> None:
    with pytest.raises(PolicyError, match="at least one entry"):
        AllowlistPolicy(parse_entries([]))
