"""URLs into the console for a refusal, so a 403 tells a person where to look and what to
ask for: the decision (the Decisions page filtered to it), the quarantine item of a hold,
and a prefilled waiver request when the policy may be waived."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from policies.base import Verdict
from policies.versions import file_version

CONSOLE_PATH = "-/ui/"


@dataclass(frozen=True, slots=True)
class RefusalLinks:
    decision: str
    waiver: str | None
    quarantine: str | None

    def header(self, policy: str) -> str:
        """The ``X-Pipgate-Policy`` value: the policy name, then the links as parameters."""
        parts = [policy, f'decision="{self.decision}"']
        if self.quarantine is not None:
            parts.append(f'quarantine="{self.quarantine}"')
        if self.waiver is not None:
            parts.append(f'waiver="{self.waiver}"')
        return "; ".join(parts)

    def body(self) -> str:
        lines = [f"decision: {self.decision}"]
        if self.quarantine is not None:
            lines.append(f"quarantine review: {self.quarantine}")
        if self.waiver is not None:
            lines.append(f"request a waiver: {self.waiver}")
        return "\n".join(lines)


def refusal_links(
    root: str,
    verdict: Verdict,
    project: str | None,
    filename: str | None,
    *,
    waivable: bool,
) -> RefusalLinks:
    """``root``: pipgate's absolute URL ending in ``/``."""
    console = root + CONSOLE_PATH
    where: dict[str, str] = {"policy": verdict.policy}
    if project:
        where["project"] = project
    if filename:
        where["file"] = filename
    decision = f"{console}decisions?{urlencode(where)}"
    quarantine = None
    if verdict.quarantine_id is not None:
        quarantine = f"{console}quarantine#item-{verdict.quarantine_id}"
    waiver = None
    if waivable and project:
        ask = {"project": project, "policy": verdict.policy}
        version = file_version(filename) if filename else None
        if version is not None:
            ask["version"] = str(version)
        waiver = f"{console}waivers/new?{urlencode(ask)}"
    return RefusalLinks(decision, waiver, quarantine)


__all__ = ["CONSOLE_PATH", "RefusalLinks", "refusal_links"]
