"""The alerts listener on ``osv`` input changes: detect, deduplicate, count, log, send.

Every worker and replica refreshes its own OSV data and so sees the same change; the
first to ``incr`` the alert's key in the shared state store sends it, the others stay
quiet. If the store cannot answer, the alert is sent anyway: a duplicate beats silence.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from policies.changes import InputChange
from policies.osv_changes import OsvUpdate
from proxy.alerts.delivery import WebhookSender
from proxy.alerts.detect import Alert, newly_flagged
from proxy.alerts.payloads import alert_key, summary_line
from storage.base import FetchLogStore, KeyValueStore, StorageError

__all__ = ["AlertService"]

logger = logging.getLogger("pipgate.alerts")


class AlertService:
    def __init__(
        self,
        fetchlog: FetchLogStore,
        kv: KeyValueStore,
        sender: WebhookSender | None,
        *,
        retention_days: int,
        observe: Callable[[Alert], None] = lambda _: None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._fetchlog = fetchlog
        self._kv = kv
        self._sender = sender
        self._retention_days = retention_days
        self._observe = observe
        self._clock = clock

    def listener(self, change: InputChange) -> Awaitable[object] | None:
        """For ``Invalidations.listen``: only OSV updates with their detail can alert."""
        if not isinstance(change.detail, OsvUpdate) or change.projects is None:
            return None
        return self.handle(change.detail, change.projects)

    async def handle(self, update: OsvUpdate, projects: frozenset[str]) -> list[Alert]:
        now = self._clock()
        since = now - dt.timedelta(days=self._retention_days) if self._retention_days else None
        alerts = await newly_flagged(update, projects, self._fetchlog, since=since, now=now)
        sent = []
        for alert in alerts:
            if not await self._first(alert):
                continue
            logger.warning("ALERT %s", summary_line(alert))
            self._observe(alert)
            sent.append(alert)
            if self._sender is not None:
                await self._sender.send(alert)
        return sent

    async def _first(self, alert: Alert) -> bool:
        try:
            return await self._kv.incr(alert_key(alert)) == 1
        except StorageError as error:
            logger.warning("alert %s not deduplicated (%s): sending", alert.advisory.id, error)
            return True
