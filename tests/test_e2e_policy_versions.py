"""Version-level policies through real pip and uv installs: ``osv`` (vulnerable versions
hidden, malicious projects refused, from OSV records written here), ``release_age`` (a
cooldown with ``exempt``, and files without upload-time) and ``yanked``.

A hidden file is left out of the page, so the resolver picks another version, and its
URL answers 403 with the policy and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import (
    Client,
    assert_refused,
    file_url,
    probe,
    publish,
    running_gate,
)
from tests.support.pipgate_server import PipgateServer

pytestmark = pytest.mark.clients

NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=30)
RECENT = NOW - dt.timedelta(hours=1)

CONFIG = """
[[policy]]
use = "osv"
source = "{osv}"
refresh = 0

[[policy]]
use = "release_age"
days = 7
exempt = ["fresh-*"]

[[policy]]
use = "yanked"
"""


def osv_record(record_id: str, project: str, events: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "schema_version": "1.7.0",
        "id": record_id,
        "modified": "2099-01-01T00:00:00Z",
        "summary": f"invented advisory for {project}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": project},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


def write_osv(directory: Path) -> Path:
    records = [
        osv_record("PYSEC-2099-101", "vuln-pkg", [{"introduced": "0"}, {"fixed": "1.1"}]),
        osv_record("PYSEC-2099-102", "vuln-pkg", [{"introduced": "2.0"}]),
        osv_record("MAL-2099-101", "mal-pkg", [{"introduced": "0"}]),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for record in records:
        (directory / f"{record['id']}.json").write_text(json.dumps(record))
    return directory


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        publish(up, wheels, "vuln-pkg", "1.0", "1.1", "2.0")
        publish(up, wheels, "mal-pkg", "0.1")
        publish(up, wheels, "aged-pkg", "1.0", upload_time=OLD)
        publish(up, wheels, "aged-pkg", "2.0", upload_time=RECENT)
        publish(up, wheels, "fresh-pkg", "1.0", upload_time=OLD)
        publish(up, wheels, "fresh-pkg", "2.0", upload_time=RECENT)
        publish(up, wheels, "timeless-pkg", "1.0", upload_time=None)
        publish(up, wheels, "yanky", "1.0")
        publish(up, wheels, "yanky", "2.0", yanked="broken build")
        yield up


@pytest.fixture(scope="module")
def gate(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[PipgateServer]:
    tmp = tmp_path_factory.mktemp("gate")
    config = CONFIG.format(osv=write_osv(tmp / "osv").as_posix())
    with running_gate(tmp, upstream.url, config) as server:
        yield server


# -- osv ----------------------------------------------------------------------------------------


def test_vulnerable_versions_are_hidden_and_the_fixed_one_is_picked(
    client: Client, gate: PipgateServer
) -> None:
    outcome = client.install(gate.index_url, "vuln-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("vuln-pkg") == "1.1"
    assert_refused(
        file_url(gate, "vuln-pkg", "vuln_pkg-2.0-py3-none-any.whl"),
        "osv",
        "vuln-pkg 2.0 has known vulnerabilities",
    )
    assert_refused(
        file_url(gate, "vuln-pkg", "vuln_pkg-1.0-py3-none-any.whl"), "osv", "PYSEC-2099-101"
    )


def test_malicious_project_is_refused_before_any_upstream_call(
    client: Client, gate: PipgateServer, upstream: FakeUpstream
) -> None:
    outcome = client.install(gate.index_url, "mal-pkg")

    assert not outcome.ok
    assert client.refused_project(outcome, gate.index_url, "mal-pkg"), outcome.output
    assert_refused(
        gate.index_url + "mal-pkg/", "osv", "mal-pkg is a known malicious package (MAL-2099-101)"
    )
    assert upstream.hits("/simple/mal-pkg/") == 0


# -- release_age --------------------------------------------------------------------------------


def test_recent_upload_is_hidden_and_an_older_version_picked(
    client: Client, gate: PipgateServer
) -> None:
    outcome = client.install(gate.index_url, "aged-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("aged-pkg") == "1.0"
    assert_refused(
        file_url(gate, "aged-pkg", "aged_pkg-2.0-py3-none-any.whl"),
        "release_age",
        "aged-pkg 2.0 (aged_pkg-2.0-py3-none-any.whl) was uploaded",
    )


def test_release_age_exempt_glob_serves_the_recent_upload(
    client: Client, gate: PipgateServer
) -> None:
    outcome = client.install(gate.index_url, "fresh-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("fresh-pkg") == "2.0"


def test_file_without_upload_time_is_denied_by_default(client: Client, gate: PipgateServer) -> None:
    outcome = client.install(gate.index_url, "timeless-pkg")

    assert not outcome.ok
    assert client.installed("timeless-pkg") is None
    assert "timeless_pkg-1.0" not in probe(gate.index_url + "timeless-pkg/").body
    assert_refused(
        file_url(gate, "timeless-pkg", "timeless_pkg-1.0-py3-none-any.whl"),
        "release_age",
        "has no upload-time on the index",
    )


# -- yanked -------------------------------------------------------------------------------------


def test_yanked_file_is_hidden_even_from_an_exact_pin(client: Client, gate: PipgateServer) -> None:
    # Without the policy an exact pin installs a yanked file (PEP 592).
    outcome = client.install(gate.index_url, "yanky==2.0")

    assert not outcome.ok
    assert client.installed("yanky") is None
    assert_refused(
        file_url(gate, "yanky", "yanky-2.0-py3-none-any.whl"),
        "yanked",
        "yanky 2.0 (yanky-2.0-py3-none-any.whl) was yanked by its maintainers: broken build",
    )
