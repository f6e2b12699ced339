"""``project_status``: PEP 792 markers."""

from __future__ import annotations

import pytest
from packaging.utils import NormalizedName

from policies.base import Decision
from policies.project_status import ProjectStatusPolicy
from proxy.model import ProjectPage, ProjectStatus
from tests.support.fake_repository import page

DEFAULTS = {"quarantined": "deny", "archived": "warn", "deprecated": "warn"}


@pytest.mark.parametrize(
    ("status", "decision"),
    [("quarantined", Decision.DENY), ("archived", Decision.WARN), ("deprecated", Decision.WARN)],
)
def test_defaults(status: str, decision: Decision) -> None:
    verdict = ProjectStatusPolicy(DEFAULTS).check_page(page("demo", status=status))
    assert verdict is not None
    assert verdict.decision is decision
    assert verdict.reason.startswith(f"demo is {status} on the index: ")
    assert f'set project_status {status} = "allow"' in verdict.reason


@pytest.mark.parametrize("status", [None, "active", "something-new"])
def test_active_unknown_and_absent_statuses_pass(status: str | None) -> None:
    assert ProjectStatusPolicy(DEFAULTS).check_page(page("demo", status=status)) is None


def test_options_change_each_action_and_reasons_are_quoted() -> None:
    policy = ProjectStatusPolicy({"quarantined": "warn", "archived": "deny", "deprecated": "allow"})
    archived = ProjectPage(NormalizedName("demo"), status=ProjectStatus("archived", "moved"))
    verdict = policy.check_page(archived)
    assert verdict is not None
    assert verdict.decision is Decision.DENY
    assert verdict.reason.startswith("demo is archived on the index (moved): its maintainers")
    quarantined = policy.check_page(page("demo", status="quarantined"))
    assert quarantined is not None
    assert quarantined.decision is Decision.WARN
    assert policy.check_page(page("demo", status="deprecated")) is None
