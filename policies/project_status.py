"""``project_status``: acts on PEP 792 project status markers. By default a quarantined
project is refused (the index says it "MUST NOT offer any distributions" of it) and an
archived or deprecated one is served with a warning in the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from policies.base import Decision, Option, PolicyEnvironment, Verdict
from policies.config import choice
from proxy.model import ProjectPage

_ADVICE = {
    "quarantined": "the index quarantined it, usually for suspected malware; do not install "
    "it until the index lifts the quarantine",
    "archived": "its maintainers archived it: no more releases or security fixes; plan a "
    "replacement",
    "deprecated": "its maintainers deprecated it; plan a replacement",
}
_ACTIONS = ("deny", "warn", "allow")


class ProjectStatusPolicy:
    name: ClassVar[str] = "project_status"
    summary: ClassVar[str] = (
        "Acts on PEP 792 project status: denies quarantined projects, warns on archived "
        "and deprecated ones."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "quarantined",
            'For quarantined projects: "deny", "warn" or "allow".',
            "deny",
            choice(*_ACTIONS),
        ),
        Option(
            "archived",
            'For archived projects: "deny", "warn" or "allow".',
            "warn",
            choice(*_ACTIONS),
        ),
        Option(
            "deprecated",
            'For deprecated projects: "deny", "warn" or "allow".',
            "warn",
            choice(*_ACTIONS),
        ),
    )

    def __init__(self, actions: Mapping[str, str]) -> None:
        self.actions = {status: Decision(action) for status, action in actions.items()}

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> ProjectStatusPolicy:
        return cls({status: options[status] for status in _ADVICE})

    def check_page(self, page: ProjectPage) -> Verdict | None:
        if page.status is None:
            return None
        status = page.status.status
        decision = self.actions.get(status, Decision.ALLOW)
        if decision is Decision.ALLOW:
            return None
        stated = f" ({page.status.reason})" if page.status.reason else ""
        option = f'set project_status {status} = "allow" or add {page.name} to exempt to accept it'
        reason = f"{page.name} is {status} on the index{stated}: {_ADVICE[status]}; {option}"
        return Verdict(decision, self.name, reason)
