"""Posting alerts to webhooks: retries with exponential back-off, and a delivery log.

Every attempt is one JSON line in the delivery log (appended whole, so worker processes
sharing the data dir do not interleave lines): when, which alert, which receiver (its
origin and a hash, never the URL: webhook URLs carry their token in the path), the
attempt number and the outcome. A receiver answering 2xx has the alert; anything else
(an error status, a refused connection, a timeout) is retried ``retries`` times, waiting
``backoff``, then twice as long each time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from proxy.alerts.detect import Alert
from proxy.alerts.payloads import alert_key, generic_body, slack_body

__all__ = ["Delivery", "Webhook", "WebhookSender", "read_deliveries"]

logger = logging.getLogger(__name__)

STYLES = ("json", "slack")


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    style: str = "json"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"webhook style {self.style!r}: expected one of {STYLES}")

    @property
    def shown(self) -> str:
        parts = urlsplit(self.url)
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:8]
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…#{digest}"


@dataclass(frozen=True, slots=True)
class Delivery:
    time: str
    alert: str
    advisory: str
    webhook: str
    style: str
    attempt: int
    outcome: str
    delivered: bool
    final: bool


def read_deliveries(path: Path) -> list[Delivery]:
    """The delivery log, oldest first (empty when nothing was sent yet)."""
    if not path.is_file():
        return []
    return [Delivery(**json.loads(line)) for line in path.read_text().splitlines() if line]


class WebhookSender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        webhooks: tuple[Webhook, ...],
        *,
        log_path: Path,
        retries: int = 5,
        backoff: float = 2.0,
        timeout: float = 10.0,
        proxy_for: Callable[[str], str | None] = lambda _: None,
        observe: Callable[[str], None] = lambda _: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self.webhooks = webhooks
        self._log_path = log_path
        self._retries = retries
        self._backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._proxy_for = proxy_for
        self._observe = observe
        self._sleep = sleep

    async def send(self, alert: Alert) -> list[bool]:
        """Deliver to every webhook at once; whether each one got it."""
        return list(await asyncio.gather(*(self._deliver(w, alert) for w in self.webhooks)))

    async def _deliver(self, webhook: Webhook, alert: Alert) -> bool:
        body = slack_body(alert) if webhook.style == "slack" else generic_body(alert)
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            delivered, outcome = await self._post(webhook, body)
            final = delivered or attempt == attempts
            await self._record(webhook, alert, attempt, outcome, delivered, final)
            if delivered:
                self._observe("delivered")
                return True
            self._observe("retried" if not final else "failed")
            if final:
                logger.error(
                    "alert %s not delivered to %s after %d attempts: %s",
                    alert.advisory.id, webhook.shown, attempts, outcome,
                )  # fmt: skip
                return False
            await self._sleep(self._backoff * 2 ** (attempt - 1))
        return False

    async def _post(self, webhook: Webhook, body: dict[str, object]) -> tuple[bool, str]:
        try:
            async with self._session.post(
                webhook.url, json=body, timeout=self._timeout, proxy=self._proxy_for(webhook.url)
            ) as response:
                await response.read()
                return 200 <= response.status < 300, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return False, f"{type(error).__name__}: {error}"

    async def _record(
        self,
        webhook: Webhook,
        alert: Alert,
        attempt: int,
        outcome: str,
        delivered: bool,
        final: bool,
    ) -> None:
        entry = Delivery(
            time=dt.datetime.now(dt.UTC).isoformat(),
            alert=alert_key(alert),
            advisory=alert.advisory.id,
            webhook=webhook.shown,
            style=webhook.style,
            attempt=attempt,
            outcome=outcome,
            delivered=delivered,
            final=final,
        )
        line = json.dumps(asdict(entry), sort_keys=True) + "\n"
        try:
            await asyncio.to_thread(_append, self._log_path, line)
        except OSError as error:
            logger.warning("delivery log %s not written: %s (%s)", self._log_path, error, line)


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(line)
