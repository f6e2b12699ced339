"""Prometheus metrics (``GET /metrics``): requests, cache results, bytes served, verdicts,
attestation results. prometheus-client is the reference implementation of the exposition
format, so we use it instead of formatting text ourselves."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from policies.base import Verdict
from proxy.disk_space import DiskUsage
from storage.base import FetchRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


OTHER_USERS = "(other)"
"""The ``user`` label of every user past the first ``max_users``."""
ANONYMOUS_USER = "(anonymous)"


class Metrics:
    """One registry per app, so tests and several apps in one process never collide.

    Requests by user are opt-in and bounded (``max_users``, setting ``metrics_users``): the
    first N users a process serves get their own label, every later one counts under
    ``(other)``, so the number of series never grows with the number of users.
    """

    def __init__(self, max_users: int = 0) -> None:
        self.registry = CollectorRegistry()
        self._max_users = max_users
        self._labelled_users: set[str] = set()
        self._auth_children: dict[str, Counter] = {}
        self.requests = Counter(
            "pipgate_requests", "Served requests", ["kind", "status"], registry=self.registry
        )
        self.cache = Counter(
            "pipgate_cache", "Cache results", ["kind", "result"], registry=self.registry
        )
        self.bytes_served = Counter(
            "pipgate_served_bytes", "Artifact bytes served", ["kind"], registry=self.registry
        )
        self.verdicts = Counter(
            "pipgate_policy_verdicts",
            "Non-allow policy verdicts",
            ["policy", "decision"],
            registry=self.registry,
        )
        self.attestations = Counter(
            "pipgate_attestations", "Attestation results", ["result"], registry=self.registry
        )
        # Per filesystem; every worker sees the same disk, so the newest value is the truth.
        self.disk_free = Gauge(
            "pipgate_disk_free_bytes",
            "Bytes free on a data disk",
            ["path"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.disk_total = Gauge(
            "pipgate_disk_total_bytes",
            "Size of a data disk",
            ["path"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.cache_bytes = Gauge(
            "pipgate_cache_bytes",
            "Bytes of artifact blobs in the cache (at the last eviction pass)",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.cache_blobs = Gauge(
            "pipgate_cache_blobs",
            "Artifact blobs in the cache (at the last eviction pass)",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.evictions = Counter(
            "pipgate_cache_evictions",
            "Blobs deleted from the cache: lru (over cache_max_bytes), refused, purge",
            ["reason"],
            registry=self.registry,
        )
        self.evicted_bytes = Counter(
            "pipgate_cache_evicted_bytes",
            "Bytes deleted from the cache",
            ["reason"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "pipgate_alerts",
            "Advisories that newly name files pipgate served",
            ["kind"],
            registry=self.registry,
        )
        self.alert_deliveries = Counter(
            "pipgate_alert_deliveries",
            "Webhook delivery attempts",
            ["result"],
            registry=self.registry,
        )
        self.malicious_blobs = Counter(
            "pipgate_malicious_blobs",
            "Cached copies of newly malicious files taken out of the blob store",
            ["action"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "pipgate_upstream_seconds",
            "Upstream page request latency",
            ["upstream", "outcome"],
            registry=self.registry,
        )

        self.auth = Counter(
            "pipgate_auth", "Authentication outcomes", ["outcome"], registry=self.registry
        )
        self.user_requests = Counter(
            "pipgate_user_requests", "Served requests by user", ["user"], registry=self.registry
        )

    def observe_fetch(self, record: FetchRecord, verdicts: Sequence[Verdict]) -> None:
        self.requests.labels(record.kind, str(record.status)).inc()
        if self._max_users:
            self.user_requests.labels(self._user_label(record.user)).inc()
        if record.cache:
            self.cache.labels(record.kind, record.cache).inc()
        if record.size and record.status in (200, 206) and record.kind != "page":
            self.bytes_served.labels(record.kind).inc(record.size)
        for verdict in verdicts:
            decision = "audit" if verdict.audit else verdict.outcome
            self.verdicts.labels(verdict.policy, decision).inc()
        if record.attestation:
            self.attestations.labels(record.attestation.split(":", 1)[0]).inc()

    def _user_label(self, user: str | None) -> str:
        if user is None:
            return ANONYMOUS_USER
        if user in self._labelled_users:
            return user
        if len(self._labelled_users) < self._max_users:
            self._labelled_users.add(user)
            return user
        return OTHER_USERS

    def observe_auth(self, outcome: str) -> None:
        """``token``, ``admin_token``, ``proxy``, ``anonymous`` or a refusal (``invalid`` ...)."""
        # Once per request on the warm path: labels() takes a lock and builds a tuple each time.
        child = self._auth_children.get(outcome)
        if child is None:
            child = self._auth_children[outcome] = self.auth.labels(outcome)
        child.inc()

    def observe_disks(self, usages: Sequence[DiskUsage]) -> None:
        for usage in usages:
            self.disk_free.labels(str(usage.path)).set(usage.free)
            self.disk_total.labels(str(usage.path)).set(usage.total)

    def observe_cache(self, blobs: int, size: int) -> None:
        self.cache_blobs.set(blobs)
        self.cache_bytes.set(size)

    def observe_eviction(self, reason: str, blobs: int, size: int) -> None:
        self.evictions.labels(reason).inc(blobs)
        self.evicted_bytes.labels(reason).inc(size)

    def observe_upstream(self, upstream: str, outcome: str, seconds: float) -> None:
        self.upstream_latency.labels(upstream, outcome).observe(seconds)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROCESS_ENV):
            # Several workers: each writes its values to files; a scrape sums them all.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def prepare_multiprocess(directory: Path) -> None:
    """Before workers start: give them an empty shared directory for their values.

    Must run before any worker imports prometheus_client, which reads the variable once.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)
