"""Issue 14 end to end: a build installs ``demo 1.0`` through pip; a MAL record for demo
then appears in the OSV directory. Within the refresh interval the page hides demo
everywhere, ``pipgate impact MAL-...`` lists the build and its client, the loopback
webhook receiver gets one alert (after one failed delivery and a retry), and the cached
blob is gone (moved aside for forensics)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from proxy.alerts.delivery import read_deliveries
from tests.support.builders import build_wheel
from tests.support.clients import make_venv, pip_install
from tests.support.fake_upstream import FakeUpstream
from tests.support.fetchlog_records import REPO, clean_environ
from tests.support.gate import gate_settings, probe
from tests.support.osv_records import malicious, vulnerable, write_record
from tests.support.pipgate_server import PipgateServer
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.clients

REFRESH = 0.5
DEADLINE = 30.0
"""Only ends a failure; everything below happens within one refresh plus a retry."""
ADVISORY = "MAL-2099-77"
WHEEL = "demo-1.0-py3-none-any.whl"
CONFIG = '[[policy]]\nuse = "osv"\nsource = "{source}"\nrefresh = {refresh}\n'


def eventually(check: Callable[[], bool], what: str) -> float:
    """Seconds until ``check`` held (asserts it does within the deadline)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < DEADLINE, f"not within {DEADLINE} s: {what}"
        time.sleep(0.02)
    return time.monotonic() - started


def impact_cli(config: Path, data_dir: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "impact", ADVISORY, "--config", str(config), "--json"],
        cwd=REPO, env=clean_environ() | {"PIPGATE_DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_a_malicious_release_after_the_build_is_refused_traced_alerted_and_removed(
    tmp_path: Path,
) -> None:
    records = tmp_path / "osv"
    write_record(records, vulnerable("PYSEC-2099-70", "unrelated", "0"))
    with FakeUpstream() as up, WebhookReceiver(fail_first=1) as receiver:
        up.add_file("demo", build_wheel(tmp_path / "dists", "demo", "1.0"))
        settings = gate_settings(
            tmp_path,
            up.url,
            CONFIG.format(source=records, refresh=REFRESH),
            alert_webhooks=[receiver.url],
            alert_retries=3,
            alert_backoff=0.2,
        )
        assert settings.config_file is not None
        with PipgateServer(settings) as gate:
            venv = make_venv(tmp_path, name="venv-ci-1")
            build_index = f"{gate.url}/builds/ci-1/simple/"
            installed = pip_install(venv, build_index, "demo")
            assert installed.returncode == 0, installed.stdout + installed.stderr
            blob_key = f"dist/demo/{WHEEL}"
            assert gate.call(gate.state.stores.blobs.open(blob_key)) is not None
            pages = [gate.index_url + "demo/", build_index + "demo/"]
            assert [probe(page).status for page in pages] == [200, 200]  # rendered, warm

            write_record(records, malicious(ADVISORY, "demo"))

            refused = eventually(
                lambda: [probe(page).status for page in pages] == [403, 403], "demo refused"
            )
            for page in pages:
                answer = probe(page)
                assert answer.headers["x-pipgate-policy"].split(";")[0] == "osv"
                assert f"demo is a known malicious package ({ADVISORY})" in answer.body
            assert probe(f"{gate.url}/files/demo/{WHEEL}").status == 403
            assert probe(f"{gate.url}/pypi/demo/json").status == 403

            eventually(lambda: len(receiver.delivered) == 1, "the alert delivered")
            eventually(
                lambda: gate.call(gate.state.stores.blobs.open(blob_key)) is None, "blob gone"
            )
            assert len(receiver.attempts) == 2  # one failure, one retry
            (alert,) = receiver.delivered
            assert alert["advisories"][0]["id"] == ADVISORY
            assert alert["builds"] == ["ci-1"]
            assert alert["clients"] == ["127.0.0.1"]
            assert [f["filename"] for f in alert["files"]] == [WHEEL]
            log = settings.data_dir / "alerts" / "deliveries.jsonl"
            # The receiver answers before the sender appends its delivery row: wait for it.
            eventually(lambda: len(read_deliveries(log)) == 2, "both deliveries logged")
            deliveries = read_deliveries(log)
            assert [(d.attempt, d.delivered) for d in deliveries] == [(1, False), (2, True)]
            forensic = settings.data_dir / "quarantine" / ADVISORY / blob_key
            assert forensic.is_file()
            metrics = probe(f"{gate.url}/metrics").body
            assert 'pipgate_alerts_total{kind="malicious"} 1.0' in metrics
            assert 'pipgate_malicious_blobs_total{action="move"} 2.0' in metrics  # wheel + metadata

            impact = impact_cli(settings.config_file, settings.data_dir)
            assert impact["builds"] == ["ci-1"]
            assert impact["clients"] == ["127.0.0.1"]
            print(f"refresh-to-enforcement: {refused:.2f} s (refresh = {REFRESH} s)")
