"""Alerts: a refresh that newly flags a served file sends one alert per advisory, to a
generic JSON and a Slack-compatible webhook, retried with back-off after a failure, logged
per attempt, counted once across replicas; and the cached copies of newly malicious files
leave the blob store."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from packaging.utils import NormalizedName

from policies.osv_changes import OsvJudge, OsvUpdate
from policies.osv_db import IndexBuilder, OsvIndex
from proxy.alerts.delivery import Webhook, WebhookSender, read_deliveries
from proxy.alerts.detect import Alert, newly_flagged
from proxy.alerts.payloads import alert_key, slack_body
from proxy.alerts.service import AlertService
from proxy.audit.impact import Impact, served_files
from proxy.malicious_blobs import MaliciousBlobSweeper
from storage.filesystem import FilesystemBlobStore
from storage.memory import MemoryKeyValueStore
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import T0, make_record
from tests.support.osv_records import malicious, vulnerable
from tests.support.webhook_receiver import WebhookReceiver

NOW = T0 + dt.timedelta(days=1)
YEAR_AGO = NOW - dt.timedelta(days=365)
WHEEL = "demo-1.0-py3-none-any.whl"
ROWS = (
    make_record(WHEEL, build="ci-1", client="10.0.0.5", time=T0),
    make_record("demo-2.0-py3-none-any.whl", build="ci-2", time=T0),
    make_record(WHEEL, build="ci-old", time=T0 - dt.timedelta(days=400)),
    make_record("calm-1.0-py3-none-any.whl", build="ci-3", time=T0),
)


def index(*records: dict[str, Any]) -> OsvIndex:
    builder = IndexBuilder()
    for record in records:
        builder.add(record)
    return builder.build()


OLD = index(vulnerable("PYSEC-2099-60", "calm", "0"))
NEW = index(vulnerable("PYSEC-2099-60", "calm", "0"), malicious("MAL-2099-60", "demo", ["1.0"]))
UPDATE = OsvUpdate(OLD, NEW, OsvJudge(), "osv-test")


@pytest.fixture
async def fetchlog(tmp_path: Path) -> AsyncIterator[SqliteFetchLog]:
    log = SqliteFetchLog(tmp_path / "fetchlog.sqlite3")
    await log.start()
    for row in ROWS:
        await log.append(row)
    yield log
    await log.aclose()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(fail_first=1) as running:
        yield running


async def test_only_files_served_in_the_window_and_newly_denied_alert(
    fetchlog: SqliteFetchLog,
) -> None:
    (alert,) = await newly_flagged(UPDATE, {"demo", "calm"}, fetchlog, since=YEAR_AGO, now=NOW)

    assert alert.advisory.id == "MAL-2099-60"
    assert [f.filename for f in alert.impact.files] == [WHEEL]
    assert alert.impact.builds == ["ci-1"]  # not 2.0's build, not the one outside retention
    assert await newly_flagged(UPDATE, {"calm"}, fetchlog, since=YEAR_AGO, now=NOW) == []


async def test_delivery_retries_with_back_off_and_logs_every_attempt(
    fetchlog: SqliteFetchLog, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    (alert,) = await newly_flagged(UPDATE, {"demo"}, fetchlog, since=YEAR_AGO, now=NOW)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    log = tmp_path / "alerts" / "deliveries.jsonl"
    results: list[str] = []
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(
            session,
            (Webhook(receiver.url, "json"),),
            log_path=log,
            retries=3,
            backoff=1.5,
            sleep=sleep,
            observe=results.append,
        )
        assert await sender.send(alert) == [True]

    assert len(receiver.attempts) == 2
    (body,) = receiver.delivered
    assert body["event"] == "pipgate.served-file-flagged"
    assert body["advisories"][0]["id"] == "MAL-2099-60"
    assert body["builds"] == ["ci-1"]
    assert body["files"][0]["fetches"][0]["client"] == "10.0.0.5"
    assert waits == [1.5]
    assert results == ["retried", "delivered"]
    first, second = read_deliveries(log)
    assert (first.attempt, first.outcome, first.delivered, first.final) == (
        1, "HTTP 503", False, False,
    )  # fmt: skip
    assert (second.attempt, second.outcome, second.delivered, second.final) == (
        2, "HTTP 200", True, True,
    )  # fmt: skip
    assert "T0KEN" not in log.read_text()  # the URL's secret part is never logged
    assert first.alert == alert_key(alert)


async def test_an_unreachable_receiver_is_given_up_after_the_retries(
    fetchlog: SqliteFetchLog, tmp_path: Path
) -> None:
    (alert,) = await newly_flagged(UPDATE, {"demo"}, fetchlog, since=None, now=NOW)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(
            session,
            (Webhook("http://127.0.0.1:9/hook", "slack"),),
            log_path=tmp_path / "d.jsonl",
            retries=2,
            backoff=1.0,
            sleep=sleep,
        )
        assert await sender.send(alert) == [False]
    assert waits == [1.0, 2.0]
    entries = read_deliveries(tmp_path / "d.jsonl")
    assert [(e.attempt, e.final, e.delivered) for e in entries] == [
        (1, False, False),
        (2, False, False),
        (3, True, False),
    ]


async def test_replicas_sharing_the_state_store_alert_once(
    fetchlog: SqliteFetchLog, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    kv = MemoryKeyValueStore()
    seen: list[Alert] = []

    async def no_wait(_: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        services = [
            AlertService(
                fetchlog,
                kv,
                WebhookSender(
                    session,
                    (Webhook(receiver.url, "slack"),),
                    log_path=tmp_path / f"d{i}.jsonl",
                    sleep=no_wait,
                ),
                retention_days=365,
                observe=seen.append,
                clock=lambda: NOW,
            )
            for i in range(2)
        ]
        sent = await asyncio.gather(*(s.handle(UPDATE, frozenset({"demo"})) for s in services))

    assert sorted(len(s) for s in sent) == [0, 1]
    assert len(seen) == 1
    (body,) = receiver.delivered
    assert set(body) == {"text"}
    assert "MAL-2099-60" in body["text"]
    assert WHEEL in body["text"]


def test_the_slack_body_lists_files_and_says_how_to_see_more() -> None:
    rows = [make_record(f"demo-1.0.{i}-py3-none-any.whl", time=T0) for i in range(12)]
    advisory = NEW.advisories(NormalizedName("demo"))[0]
    alert = Alert(advisory, Impact(advisory.id, (advisory,), served_files(rows)), "x", NOW)
    text = slack_body(alert)["text"]
    assert text.count("• ") == 10
    assert "… and 2 more file(s)" in text
    assert "pipgate impact MAL-2099-60" in text


async def test_cached_copies_of_newly_malicious_files_are_moved_aside(
    fetchlog: SqliteFetchLog, tmp_path: Path
) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    await blobs.start()
    for filename in (WHEEL, "demo-2.0-py3-none-any.whl"):
        spool = blobs.spool_dir / filename
        spool.write_bytes(filename.encode())
        await blobs.commit(f"dist/demo/{filename}", spool)
    metadata = blobs.spool_dir / "m"
    metadata.write_bytes(b"Metadata-Version: 2.1\n")
    await blobs.commit(f"metadata/demo/{WHEEL}.metadata", metadata)
    actions: list[str] = []
    sweeper = MaliciousBlobSweeper(
        blobs, fetchlog, mode="move", quarantine_dir=tmp_path / "q", observe=actions.append
    )

    removed = await sweeper.sweep(UPDATE, frozenset({"demo", "calm"}))

    assert removed == [f"dist/demo/{WHEEL}", f"metadata/demo/{WHEEL}.metadata"]
    assert await blobs.open(f"dist/demo/{WHEEL}") is None
    assert await blobs.open("dist/demo/demo-2.0-py3-none-any.whl") is not None
    kept = tmp_path / "q" / "MAL-2099-60" / "dist" / "demo" / WHEEL
    assert kept.read_bytes() == WHEEL.encode()
    assert actions == ["move", "move"]
    assert await sweeper.sweep(UPDATE, frozenset({"demo"})) == []  # nothing left to take


async def test_delete_mode_leaves_no_copy_and_vulnerable_files_stay(
    fetchlog: SqliteFetchLog, tmp_path: Path
) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    await blobs.start()
    for project, filename in (("demo", WHEEL), ("calm", "calm-1.0-py3-none-any.whl")):
        spool = blobs.spool_dir / filename
        spool.write_bytes(b"x")
        await blobs.commit(f"dist/{project}/{filename}", spool)
    vulnerable_too = OsvUpdate(index(), NEW, OsvJudge(), "osv-test")
    sweeper = MaliciousBlobSweeper(blobs, fetchlog, mode="delete", quarantine_dir=tmp_path / "q")

    assert await sweeper.sweep(vulnerable_too, frozenset({"demo", "calm"})) == [
        f"dist/demo/{WHEEL}"
    ]
    assert not (tmp_path / "q").exists()
    assert await blobs.open("dist/calm/calm-1.0-py3-none-any.whl") is not None
    with pytest.raises(ValueError, match="expected one of"):
        MaliciousBlobSweeper(blobs, fetchlog, mode="keep", quarantine_dir=tmp_path)
