"""The workflow as the running app (and the command line) uses it: one ``Snapshot`` kept
current, the review actions with their checks, and change notices for rendered pages.

Every process follows the shared generation (one small key, polled each ``interval``)
and reads what changed; a change made here is applied here at once. Listeners get the
projects whose pages may change: a new or removed waiver, a new hold or decision, and,
found by the sweep of each poll, a waiver that just expired.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable

from proxy.workflow.inputs import Target
from proxy.workflow.model import (
    SYSTEM_ACTOR,
    Action,
    ItemState,
    Kind,
    QuarantineItem,
    Waiver,
    WaiverStatus,
)
from proxy.workflow.review import Reviewer
from proxy.workflow.snapshot import ItemView, Snapshot, WaiverView
from proxy.workflow.store import WorkflowStore
from storage.base import KeyValueStore, StorageError

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Listener = Callable[[set[str]], None]
DEFAULT_INTERVAL = 1.0
WORKFLOW_CHANGE = "workflow"
"""``InputChange.source`` of a waiver or review change (``policies.changes``)."""
MAX_NEW_HOLDS = 100
"""Holds recorded per request; a page whose every file is held records the rest later."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WorkflowError(ValueError):
    """An action that the current state does not allow (says why)."""


class Workflow:
    def __init__(
        self,
        kv: KeyValueStore,
        *,
        clock: Clock = utc_now,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.store = WorkflowStore(kv)
        self.clock = clock
        """Injectable, so tests can let a waiver expire without waiting."""
        self.interval = interval
        self.snapshot = Snapshot()
        self._generation: int | None = None
        self._swept = clock()
        self._listeners: list[Listener] = []
        self._refreshing = asyncio.Lock()

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        try:
            await self.refresh()
        except StorageError as error:
            logger.warning("review workflow not loaded (%s); retrying every poll", error)

    async def refresh(self) -> None:
        """Read everything new; tell the listeners which projects it concerns."""
        async with self._refreshing:
            generation = await self.store.generation()
            changed = await self.snapshot.refresh(self.store)
            self._generation = generation
        self._notify(changed)

    async def follow(self) -> None:
        """Apply other processes' changes and waiver expiries; runs until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.poll()

    async def poll(self) -> None:
        try:
            if await self.store.generation() != self._generation:
                await self.refresh()
        except StorageError as error:
            logger.warning("review workflow: %s; keeping the waivers and holds in force", error)
        self.sweep()

    def sweep(self) -> None:
        """Tell the listeners about waivers that expired since the last sweep."""
        now = self.clock()
        expired = self.snapshot.expiring(self._swept, now)
        self._swept = max(self._swept, now)
        if expired:
            logger.info("waivers expired for %s", ", ".join(sorted(expired)))
            self._notify(expired)

    def _notify(self, projects: set[str]) -> None:
        if not projects:
            return
        for listener in self._listeners:
            try:
                listener(projects)
            except Exception:
                logger.exception("review workflow listener failed")

    # -- the request path ----------------------------------------------------------------

    def reviewer(self, project: str, unwaivable: Iterable[str] = ()) -> Reviewer | None:
        """``None`` when nothing concerns ``project``: its requests skip review entirely."""
        if not self.snapshot.concerns(project):
            return None
        waivers = self.snapshot.active_waivers(project, self.clock())
        return Reviewer(project, waivers, self.snapshot.project_items(project), unwaivable)

    async def record_holds(self, reviewer: Reviewer) -> None:
        """Queue the holds a request found (one item per file, whatever the replicas)."""
        if not reviewer.new_holds:
            return
        now = self.clock()
        for hold in reviewer.new_holds[:MAX_NEW_HOLDS]:
            item = QuarantineItem(
                0, hold.project, hold.filename, hold.version, hold.sha256, hold.policy,
                hold.reason, now,
            )  # fmt: skip
            await self.store.hold(item, SYSTEM_ACTOR, now)
            logger.info("held for review: %s (policy %s)", item.subject, hold.policy)
        await self.refresh()

    # -- admin actions -------------------------------------------------------------------

    async def add_waiver(
        self,
        target: Target,
        policy: str | None,
        reason: str,
        actor: str,
        expires: dt.datetime,
    ) -> Waiver:
        now = self.clock()
        if expires <= now:
            raise WorkflowError(f"the expiry {expires.isoformat()} is not in the future")
        waiver = Waiver(
            0, target.project, target.version, target.filename, policy, reason, actor, now,
            expires,
        )  # fmt: skip
        stored = await self.store.add_waiver(waiver, now)
        logger.info(
            "waiver %d by %s: %s, policy %s, until %s: %s",
            stored.waiver_id, actor, stored.scope, policy or "*", expires.isoformat(), reason,
        )  # fmt: skip
        await self.refresh()
        return stored

    async def remove_waiver(self, waiver_id: int, actor: str, reason: str) -> WaiverView:
        await self.refresh()
        view = self.snapshot.waiver_view(waiver_id)
        if view is None:
            raise LookupError(f"no waiver with id {waiver_id}")
        if view.status(self.clock()) is WaiverStatus.REMOVED:
            raise WorkflowError(f"waiver {waiver_id} was already removed")
        await self.store.append(Kind.WAIVER, waiver_id, Action.REMOVED, actor, reason, self.clock())
        logger.info("waiver %d removed by %s: %s", waiver_id, actor, reason)
        await self.refresh()
        return self._waiver_view(waiver_id)

    async def release(self, item_id: int, actor: str, reason: str) -> ItemView:
        return await self._decide(item_id, Action.RELEASED, actor, reason)

    async def reject(self, item_id: int, actor: str, reason: str) -> ItemView:
        return await self._decide(item_id, Action.REJECTED, actor, reason)

    async def _decide(self, item_id: int, action: Action, actor: str, reason: str) -> ItemView:
        await self.refresh()
        view = self.snapshot.item_view(item_id)
        if view is None:
            raise LookupError(f"no quarantine item with id {item_id}")
        target = ItemState.RELEASED if action is Action.RELEASED else ItemState.REJECTED
        if view.state is target:
            raise WorkflowError(f"quarantine item {item_id} is already {target.value}")
        now = self.clock()
        await self.store.append(Kind.QUARANTINE, item_id, action, actor, reason, now)
        logger.info("quarantine item %d %s by %s: %s", item_id, action.value, actor, reason)
        await self.refresh()
        decided = self.snapshot.item_view(item_id)
        assert decided is not None  # it was there before the event
        return decided

    def _waiver_view(self, waiver_id: int) -> WaiverView:
        view = self.snapshot.waiver_view(waiver_id)
        assert view is not None  # it was there before the event
        return view


__all__ = [
    "DEFAULT_INTERVAL",
    "WORKFLOW_CHANGE",
    "Clock",
    "Listener",
    "Workflow",
    "WorkflowError",
    "utc_now",
]
