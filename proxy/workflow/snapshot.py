"""This process's copy of every waiver, quarantine item and audit event, and the indexes
the request path looks them up in (a dictionary lookup per project).

``refresh`` reads only what is new since the last call: records and events have
increasing ids and are never rewritten. An id that was handed out but not yet written (a
writer between its ``incr`` and its ``set``) is remembered as a gap and read again next
time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from proxy.workflow.model import (
    Action,
    AuditEvent,
    ItemState,
    Kind,
    QuarantineItem,
    Waiver,
    WaiverStatus,
)
from proxy.workflow.store import WorkflowStore

ItemKey = tuple[str | None, str | None]
"""(filename, sha256) of a held file; (None, None) for a whole project."""
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class WaiverView:
    waiver: Waiver
    history: tuple[AuditEvent, ...]

    @property
    def removed(self) -> AuditEvent | None:
        return next((e for e in self.history if e.action is Action.REMOVED), None)

    def status(self, now: dt.datetime) -> WaiverStatus:
        if self.removed is not None:
            return WaiverStatus.REMOVED
        return WaiverStatus.ACTIVE if now < self.waiver.expires else WaiverStatus.EXPIRED


@dataclass(frozen=True, slots=True)
class ItemView:
    item: QuarantineItem
    history: tuple[AuditEvent, ...]

    @property
    def decision(self) -> AuditEvent | None:
        """The last release or rejection: the one in force."""
        decided = [e for e in self.history if e.action in (Action.RELEASED, Action.REJECTED)]
        return decided[-1] if decided else None

    @property
    def state(self) -> ItemState:
        decision = self.decision
        if decision is None:
            return ItemState.PENDING
        return ItemState.RELEASED if decision.action is Action.RELEASED else ItemState.REJECTED


@dataclass(slots=True)
class _Loaded:
    highest: int = 0
    gaps: set[int] = field(default_factory=set)

    def wanted(self, current: int) -> list[int]:
        return sorted(self.gaps) + list(range(self.highest + 1, current + 1))

    def done(self, current: int, missing: set[int]) -> None:
        self.highest = max(self.highest, current)
        self.gaps = missing


class Snapshot:
    def __init__(self) -> None:
        self.waivers: dict[int, Waiver] = {}
        self.items: dict[int, QuarantineItem] = {}
        self._history: dict[tuple[Kind, int], list[AuditEvent]] = {}
        self._project_waivers: dict[str, list[int]] = {}
        self._project_items: dict[str, dict[ItemKey, int]] = {}
        self._loaded = {"waivers": _Loaded(), "items": _Loaded(), "events": _Loaded()}

    # -- lookups -------------------------------------------------------------------------

    def concerns(self, project: str) -> bool:
        """Whether any waiver or item names ``project`` (else its requests skip review)."""
        return project in self._project_waivers or project in self._project_items

    def waiver_view(self, waiver_id: int) -> WaiverView | None:
        waiver = self.waivers.get(waiver_id)
        if waiver is None:
            return None
        return WaiverView(waiver, tuple(self._history.get((Kind.WAIVER, waiver_id), ())))

    def item_view(self, item_id: int) -> ItemView | None:
        item = self.items.get(item_id)
        if item is None:
            return None
        return ItemView(item, tuple(self._history.get((Kind.QUARANTINE, item_id), ())))

    def waiver_views(self) -> list[WaiverView]:
        views = (self.waiver_view(i) for i in sorted(self.waivers, reverse=True))
        return [view for view in views if view is not None]

    def item_views(self) -> list[ItemView]:
        views = (self.item_view(i) for i in sorted(self.items, reverse=True))
        return [view for view in views if view is not None]

    def active_waivers(self, project: str, now: dt.datetime) -> list[Waiver]:
        found = []
        for waiver_id in self._project_waivers.get(project, ()):
            view = self.waiver_view(waiver_id)
            if view is not None and view.status(now) is WaiverStatus.ACTIVE:
                found.append(view.waiver)
        return found

    def project_items(self, project: str) -> dict[ItemKey, ItemView]:
        views = {}
        for key, item_id in self._project_items.get(project, {}).items():
            view = self.item_view(item_id)
            if view is not None:
                views[key] = view
        return views

    def expiring(self, after: dt.datetime, until: dt.datetime) -> set[str]:
        """Projects with a waiver (not removed) that expires in ``(after, until]``."""
        return {
            w.project
            for w in self.waivers.values()
            if after < w.expires <= until and self._removal(w.waiver_id) is None
        }

    def _removal(self, waiver_id: int) -> AuditEvent | None:
        history = self._history.get((Kind.WAIVER, waiver_id), ())
        return next((e for e in history if e.action is Action.REMOVED), None)

    # -- loading -------------------------------------------------------------------------

    async def refresh(self, store: WorkflowStore) -> set[str]:
        """Read what is new in ``store``; the projects it concerns."""
        waivers, items, events = await store.sequences()
        changed: set[str] = set()
        for waiver in await self._read("waivers", waivers, store.waiver):
            self.waivers[waiver.waiver_id] = waiver
            self._project_waivers.setdefault(waiver.project, []).append(waiver.waiver_id)
            changed.add(waiver.project)
        for item in await self._read("items", items, store.item):
            self.items[item.item_id] = item
            key = (item.filename, item.sha256)
            # The first item of a subject stays its item, even if a crashed claim made two.
            self._project_items.setdefault(item.project, {}).setdefault(key, item.item_id)
            changed.add(item.project)
        for event in await self._read("events", events, store.event):
            self._history.setdefault((event.kind, event.subject), []).append(event)
            self._history[(event.kind, event.subject)].sort(key=lambda e: e.seq)
            project = self._project_of(event)
            if project is not None:
                changed.add(project)
        return changed

    def _project_of(self, event: AuditEvent) -> str | None:
        if event.kind is Kind.WAIVER:
            waiver = self.waivers.get(event.subject)
            return waiver.project if waiver else None
        item = self.items.get(event.subject)
        return item.project if item else None

    async def _read(
        self, which: str, current: int, get: Callable[[int], Awaitable[_T | None]]
    ) -> list[_T]:
        loaded = self._loaded[which]
        found: list[_T] = []
        missing: set[int] = set()
        for number in loaded.wanted(current):
            record = await get(number)
            if record is None:
                missing.add(number)
            else:
                found.append(record)
        loaded.done(current, missing)
        return found


__all__ = ["ItemKey", "ItemView", "Snapshot", "WaiverView"]
