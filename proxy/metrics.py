"""Prometheus metrics (``GET /metrics``): requests, cache results, bytes served, verdicts,
attestation results. prometheus-client is the reference implementation of the exposition
format, so we use it instead of formatting text ourselves."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from policies.base import Verdict
from storage.base import FetchRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """One registry per app, so tests and several apps in one process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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

    def observe_fetch(self, record: FetchRecord, verdicts: Sequence[Verdict]) -> None:
        self.requests.labels(record.kind, str(record.status)).inc()
        if record.cache:
            self.cache.labels(record.kind, record.cache).inc()
        if record.size and record.status in (200, 206) and record.kind != "page":
            self.bytes_served.labels(record.kind).inc(record.size)
        for verdict in verdicts:
            decision = "audit" if verdict.audit else verdict.decision.value
            self.verdicts.labels(verdict.policy, decision).inc()
        if record.attestation:
            self.attestations.labels(record.attestation.split(":", 1)[0]).inc()

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
