"""What an input change says: which projects' served pages it may have changed.

Every input that changes what pipgate serves (an OSV refresh, a policy reload, and later
waivers, quarantine decisions, trust-root refreshes) describes its change as one
``InputChange`` and hands it to the ``Announce`` callback it was given (a policy finds it
in ``PolicyEnvironment.announce``). The app drops the rendered pages of exactly those
projects, on this process and, for shared changes, on every worker and replica.

This module imports nothing first-party: it is vocabulary shared by policies and the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["EVERY_PROJECT", "Announce", "InputChange"]

EVERY_PROJECT = None
"""``InputChange.projects`` when a change may affect any project (e.g. a policy reload)."""


@dataclass(frozen=True, slots=True)
class InputChange:
    source: str
    """Who changed: ``osv``, ``policy-reload``, ``admin`` ... (logged, and in metrics)."""
    projects: frozenset[str] | None
    """PEP 503 normalised names whose pages may differ now; ``None`` = every project."""
    detail: object = None
    """Source-specific data for listeners that need more (e.g. the old and new OSV index).
    Never shared across processes: only ``source`` and ``projects`` travel."""

    @classmethod
    def of(cls, source: str, projects: Iterable[str] | None, detail: object = None) -> InputChange:
        names = None if projects is None else frozenset(projects)
        return cls(source, names, detail)

    def affects(self, name: str) -> bool:
        return self.projects is None or name in self.projects

    def describe(self) -> str:
        if self.projects is None:
            return f"{self.source}: every project"
        shown = ", ".join(sorted(self.projects)[:10])
        more = f" and {len(self.projects) - 10} more" if len(self.projects) > 10 else ""
        return f"{self.source}: {len(self.projects)} project(s) {shown}{more}"


Announce = Callable[[InputChange], None]
"""Called on the event loop right after the change took effect in the caller."""
