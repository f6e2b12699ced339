"""``denylist``: whole projects by name or glob, or versions by specifier."""

from __future__ import annotations

from packaging.utils import NormalizedName

from policies.denylist import DenylistPolicy
from policies.entries import parse_entries
from tests.support.fake_repository import dist, page

POLICY = DenylistPolicy(parse_entries(["evil-*", "Left_Pad", "django<4", "urllib3==2.0.0"]))


def test_whole_project_entries_deny_at_project_level() -> None:
    verdict = POLICY.check_project(NormalizedName("left-pad"))
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason == (
        "left-pad is on the denylist (entry 'Left_Pad'); remove the entry from the denylist "
        "policy if the project is needed"
    )
    assert POLICY.check_project(NormalizedName("evil-thing")) is not None


def test_specifier_entries_act_on_files_only() -> None:
    assert POLICY.check_project(NormalizedName("django")) is None
    django = page("django")
    verdict = POLICY.check_file(django, dist("Django-3.2.1-py3-none-any.whl"))
    assert verdict is not None
    assert (
        verdict.reason == "django 3.2.1 matches denylist entry 'django<4'; use a version outside <4"
    )
    assert POLICY.check_file(django, dist("django-4.0.tar.gz")) is None
    assert POLICY.check_file(page("urllib3"), dist("urllib3-2.0.0.tar.gz")) is not None
    assert POLICY.check_file(page("urllib3"), dist("urllib3-2.0.1.tar.gz")) is None


def test_unlisted_projects_pass() -> None:
    assert POLICY.check_project(NormalizedName("requests")) is None
    assert POLICY.check_file(page("requests"), dist("requests-1.0.tar.gz")) is None


def test_unreadable_version_under_a_specifier_fails_closed() -> None:
    verdict = POLICY.check_file(page("django"), dist("django.zip"))
    assert verdict is not None
    assert "cannot be checked against denylist entry 'django<4'" in verdict.reason
