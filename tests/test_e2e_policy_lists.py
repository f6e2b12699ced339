"""Name-based policies through real pip and uv installs: ``denylist`` (names, globs and
version specifiers), ``allowlist``, ``typosquat`` in the default set (no config file),
``exempt`` globs and ``mode = "audit"``; PEP 792 ``quarantined`` refused by the default set.

A refused project is a 403 before any upstream call; a version refused by a specifier is
hidden from the page (the resolver picks an allowed one) and its file refused by URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import (
    Client,
    fetch_records,
    file_url,
    probe,
    publish,
    running_gate,
)
from tests.support.pipgate_server import PipgateServer

pytestmark = pytest.mark.clients

DENYLIST = """
[[policy]]
use = "denylist"
projects = ["evil-*", "spec-pkg>=2"]
exempt = ["evil-but-exempt"]

[[policy]]
use = "denylist"
mode = "audit"
projects = ["audited-pkg"]
"""

ALLOWLIST = """
[[policy]]
use = "allowlist"
projects = ["allowed-pkg", "ranged-pkg<2"]
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        for project, versions in {
            "evil-thing": ["1.0"],
            "evil-but-exempt": ["1.0"],
            "spec-pkg": ["1.0", "1.5", "2.0"],
            "audited-pkg": ["1.0"],
            "allowed-pkg": ["1.0"],
            "ranged-pkg": ["1.0", "1.9", "2.0"],
            "other-pkg": ["1.0"],
            "requests": ["1.0"],
            "reqeusts": ["1.0"],
        }.items():
            publish(up, wheels, project, *versions)
        publish(up, wheels, "held-pkg", "1.0")
        up.add_project("held-pkg", status="quarantined", reason="malware report")
        yield up


def _gate(
    factory: pytest.TempPathFactory, up: FakeUpstream, config: str | None
) -> Iterator[PipgateServer]:
    with running_gate(factory.mktemp("gate"), up.url, config) as server:
        yield server


@pytest.fixture(scope="module")
def denylist_gate(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[PipgateServer]:
    yield from _gate(tmp_path_factory, upstream, DENYLIST)


@pytest.fixture(scope="module")
def allowlist_gate(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[PipgateServer]:
    yield from _gate(tmp_path_factory, upstream, ALLOWLIST)


@pytest.fixture(scope="module")
def default_gate(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[PipgateServer]:
    yield from _gate(tmp_path_factory, upstream, None)


# -- denylist ---------------------------------------------------------------------------------


def test_denylisted_project_fails_with_403_before_any_upstream_call(
    client: Client, denylist_gate: PipgateServer, upstream: FakeUpstream
) -> None:
    outcome = client.install(denylist_gate.index_url, "evil-thing")

    assert not outcome.ok
    assert client.refused_project(outcome, denylist_gate.index_url, "evil-thing"), outcome.output
    assert client.installed("evil-thing") is None
    answer = probe(denylist_gate.index_url + "evil-thing/")
    assert answer.status == 403
    assert answer.headers["x-pipgate-policy"] == "denylist"
    assert "blocked by policy 'denylist'" in answer.body
    assert "evil-thing is on the denylist (entry 'evil-*')" in answer.body
    assert upstream.hits("/simple/evil-thing/") == 0


def test_denylist_specifier_hides_versions_so_the_resolver_picks_an_allowed_one(
    client: Client, denylist_gate: PipgateServer
) -> None:
    outcome = client.install(denylist_gate.index_url, "spec-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("spec-pkg") == "1.5"


def test_direct_download_of_a_hidden_file_is_refused_with_the_reason(
    client: Client, denylist_gate: PipgateServer
) -> None:
    url = file_url(denylist_gate, "spec-pkg", "spec_pkg-2.0-py3-none-any.whl")

    outcome = client.install(denylist_gate.index_url, f"spec-pkg @ {url}")

    assert not outcome.ok
    assert client.refused_download(outcome, url), outcome.output
    answer = probe(url)
    assert answer.status == 403
    assert answer.headers["x-pipgate-policy"] == "denylist"
    assert "spec-pkg 2.0 matches denylist entry 'spec-pkg>=2'" in answer.body
    assert "2.0" not in probe(denylist_gate.index_url + "spec-pkg/").body


def test_exempt_glob_lets_a_project_through_the_policy(
    client: Client, denylist_gate: PipgateServer
) -> None:
    outcome = client.install(denylist_gate.index_url, "evil-but-exempt")

    assert outcome.ok, outcome.output
    assert client.installed("evil-but-exempt") == "1.0"


def test_audit_mode_denies_nothing_and_records_the_verdict(
    client: Client, denylist_gate: PipgateServer
) -> None:
    outcome = client.install(denylist_gate.index_url, "audited-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("audited-pkg") == "1.0"
    pages = [r for r in fetch_records(denylist_gate, "audited-pkg") if r.kind == "page"]
    assert pages
    assert all(record.status == 200 for record in pages)
    verdict = {
        "policy": "denylist",
        "decision": "deny",
        "mode": "audit",
        "reason": "audited-pkg is on the denylist (entry 'audited-pkg'); remove the entry "
        "from the denylist policy if the project is needed",
    }
    assert all(verdict in record.verdicts for record in pages)


# -- allowlist --------------------------------------------------------------------------------


def test_project_off_the_allowlist_fails(client: Client, allowlist_gate: PipgateServer) -> None:
    outcome = client.install(allowlist_gate.index_url, "other-pkg")

    assert not outcome.ok
    assert client.refused_project(outcome, allowlist_gate.index_url, "other-pkg"), outcome.output
    answer = probe(allowlist_gate.index_url + "other-pkg/")
    assert answer.status == 403
    assert "other-pkg is not on the allowlist" in answer.body


def test_allowlist_installs_listed_projects_within_their_range(
    client: Client, allowlist_gate: PipgateServer
) -> None:
    outcome = client.install(allowlist_gate.index_url, "allowed-pkg", "ranged-pkg")

    assert outcome.ok, outcome.output
    assert client.installed("allowed-pkg") == "1.0"
    assert client.installed("ranged-pkg") == "1.9"
    answer = probe(file_url(allowlist_gate, "ranged-pkg", "ranged_pkg-2.0-py3-none-any.whl"))
    assert answer.status == 403
    assert "ranged-pkg 2.0 is outside the allowlist ('ranged-pkg<2')" in answer.body


# -- typosquat (the default set: no config file) ----------------------------------------------


def test_default_set_refuses_a_typosquat_of_a_protected_name(
    client: Client, default_gate: PipgateServer, upstream: FakeUpstream
) -> None:
    outcome = client.install(default_gate.index_url, "reqeusts")

    assert not outcome.ok
    assert client.refused_project(outcome, default_gate.index_url, "reqeusts"), outcome.output
    answer = probe(default_gate.index_url + "reqeusts/")
    assert answer.status == 403
    assert answer.headers["x-pipgate-policy"] == "typosquat"
    assert "'reqeusts' is one transposition away from 'requests'" in answer.body
    assert upstream.hits("/simple/reqeusts/") == 0


def test_default_set_serves_the_protected_name_itself(
    client: Client, default_gate: PipgateServer
) -> None:
    outcome = client.install(default_gate.index_url, "requests")

    assert outcome.ok, outcome.output
    assert client.installed("requests") == "1.0"


def test_default_set_refuses_a_quarantined_project_and_its_files(
    client: Client, default_gate: PipgateServer
) -> None:
    # PEP 792: an index MUST NOT offer any distribution of a quarantined project.
    outcome = client.install(default_gate.index_url, "held-pkg")

    assert not outcome.ok
    assert client.refused_project(outcome, default_gate.index_url, "held-pkg"), outcome.output
    assert client.installed("held-pkg") is None
    for url in (
        default_gate.index_url + "held-pkg/",
        file_url(default_gate, "held-pkg", "held_pkg-1.0-py3-none-any.whl"),
    ):
        answer = probe(url)
        assert answer.status == 403, answer
        assert answer.headers["x-pipgate-policy"] == "project_status"
        assert "held-pkg is quarantined on the index (malware report)" in answer.body


def test_refusals_are_in_the_fetch_log(denylist_gate: PipgateServer) -> None:
    assert probe(denylist_gate.index_url + "evil-refused/").status == 403
    url = file_url(denylist_gate, "spec-pkg", "spec_pkg-2.0-py3-none-any.whl")
    assert probe(url).status == 403

    refused = [
        (record.kind, record.status, verdict["policy"], verdict["decision"])
        for project in ("evil-refused", "spec-pkg")
        for record in fetch_records(denylist_gate, project)
        for verdict in record.verdicts
        if record.status == 403
    ]

    assert ("page", 403, "denylist", "deny") in refused
    assert ("dist", 403, "denylist", "deny") in refused
