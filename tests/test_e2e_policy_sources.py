"""Where a project comes from and what its files are, through real pip and uv installs:
``dependency_confusion`` with a second ``FakeUpstream`` as the private ``[[upstream]]``,
``project_status`` (PEP 792) and ``files`` (``wheels_only``, ``max_size``).

A private name is never asked of the public upstream, even when the public one has a
higher version; the public upstream's hit counter proves it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.support.builders import build_sdist, build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import (
    Client,
    assert_refused,
    fetch_records,
    file_url,
    publish,
    running_gate,
)
from tests.support.pipgate_server import PipgateServer

pytestmark = pytest.mark.clients

MAX_SIZE = 100_000

CONFIG = f"""
[[upstream]]
name = "internal"
url = "{{private}}"
projects = ["acme-*"]

[[policy]]
use = "dependency_confusion"
private = ["acme-*", "corp-*"]

[[policy]]
use = "project_status"

[[policy]]
use = "files"
wheels_only = ["wheelie"]
max_size = {MAX_SIZE}
"""


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("private-wheels")
    with FakeUpstream() as up:
        publish(up, wheels, "acme-core", "1.0")
        yield up


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("public-wheels")
    with FakeUpstream() as up:
        publish(up, wheels, "acme-core", "9.9")  # the attacker's higher version
        publish(up, wheels, "acme-ghost", "1.0")  # a private name only the public index has
        publish(up, wheels, "corp-tool", "1.0")
        publish(up, wheels, "quarantined-pkg", "1.0")
        up.add_project("quarantined-pkg", status="quarantined", reason="malware report")
        publish(up, wheels, "archived-pkg", "1.0")
        up.add_project("archived-pkg", status="archived")
        publish(up, wheels, "wheelie", "1.0")
        up.add_file("wheelie", build_sdist(wheels, "wheelie", "2.0"))
        publish(up, wheels, "bigpkg", "1.0")
        noise = random.Random(0).randbytes(2 * MAX_SIZE)  # incompressible: the wheel stays big
        up.add_file("bigpkg", build_wheel(wheels, "bigpkg", "2.0", files={"bigpkg/blob": noise}))
        yield up


@pytest.fixture(scope="module")
def gate(
    tmp_path_factory: pytest.TempPathFactory, public: FakeUpstream, private: FakeUpstream
) -> Iterator[PipgateServer]:
    config = CONFIG.format(private=private.url)
    with running_gate(tmp_path_factory.mktemp("gate"), public.url, config) as server:
        yield server


# -- dependency_confusion -----------------------------------------------------------------------


def test_private_name_comes_only_from_the_private_upstream(
    client: Client, gate: PipgateServer, public: FakeUpstream, private: FakeUpstream
) -> None:
    outcome = client.install(gate.index_url, "acme-core")

    assert outcome.ok, outcome.output
    assert client.installed("acme-core") == "1.0"
    assert private.hits("/simple/acme-core/") >= 1
    assert public.hits("/simple/acme-core/") == 0
    assert public.hits("/files/acme_core-9.9-py3-none-any.whl") == 0


def test_private_name_missing_upstream_never_falls_back_to_the_public_index(
    client: Client, gate: PipgateServer, public: FakeUpstream
) -> None:
    outcome = client.install(gate.index_url, "acme-ghost")

    assert not outcome.ok
    assert client.installed("acme-ghost") is None
    assert public.hits("/simple/acme-ghost/") == 0


def test_private_name_without_a_private_upstream_is_refused(
    client: Client, gate: PipgateServer, public: FakeUpstream
) -> None:
    outcome = client.install(gate.index_url, "corp-tool")

    assert not outcome.ok
    assert client.refused_project(outcome, gate.index_url, "corp-tool"), outcome.output
    assert_refused(
        gate.index_url + "corp-tool/",
        "dependency_confusion",
        "corp-tool matches private glob 'corp-*' but no private [[upstream]] serves it",
    )
    assert public.hits("/simple/corp-tool/") == 0


# -- project_status (PEP 792) -------------------------------------------------------------------


def test_quarantined_project_is_refused(client: Client, gate: PipgateServer) -> None:
    outcome = client.install(gate.index_url, "quarantined-pkg")

    assert not outcome.ok
    assert client.refused_project(outcome, gate.index_url, "quarantined-pkg"), outcome.output
    assert_refused(
        gate.index_url + "quarantined-pkg/",
        "project_status",
        "quarantined-pkg is quarantined on the index (malware report)",
    )
    assert_refused(
        file_url(gate, "quarantined-pkg", "quarantined_pkg-1.0-py3-none-any.whl"),
        "project_status",
        "quarantined-pkg is quarantined",
    )


def test_archived_project_installs_with_a_warning_in_the_log(
    client: Client, gate: PipgateServer
) -> None:
    outcome = client.install(gate.index_url, "archived-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("archived-pkg") == "1.0"
    pages = [r for r in fetch_records(gate, "archived-pkg") if r.kind == "page"]
    assert pages
    for record in pages:
        assert record.status == 200
        warnings = [v for v in record.verdicts if v["policy"] == "project_status"]
        assert [v["decision"] for v in warnings] == ["warn"]
        assert warnings[0]["reason"].startswith("archived-pkg is archived on the index")


# -- files --------------------------------------------------------------------------------------


def test_wheels_only_makes_an_sdist_only_version_unavailable(
    client: Client, gate: PipgateServer
) -> None:
    outcome = client.install(gate.index_url, "wheelie")

    assert outcome.ok, outcome.output
    assert client.installed("wheelie") == "1.0"
    assert_refused(
        file_url(gate, "wheelie", "wheelie-2.0.tar.gz"),
        "files",
        "wheelie-2.0.tar.gz is not a wheel and wheelie matches wheels_only 'wheelie'",
    )


def test_max_size_hides_a_file_over_the_limit(client: Client, gate: PipgateServer) -> None:
    outcome = client.install(gate.index_url, "bigpkg")

    assert outcome.ok, outcome.output
    assert client.installed("bigpkg") == "1.0"
    assert_refused(
        file_url(gate, "bigpkg", "bigpkg-2.0-py3-none-any.whl"),
        "files",
        "over the files max_size of",
    )
