"""A change published on one replica reaches the others through the shared change feed:
``POST /-/invalidate?project=NAME`` after the upstream quarantined a project (PEP 792)
makes every replica sharing the state store refuse it within one poll, whatever the page
TTL says; other projects' rendered pages stay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import asgi_request, gate_settings, probe, publish
from tests.support.pipgate_server import PipgateServer

DEADLINE = 20.0
OUTSIDE = ("203.0.113.9", 40000)  # TEST-NET-3: a non-loopback caller


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[FakeUpstream, PipgateServer, PipgateServer]]:
    with FakeUpstream() as up:
        publish(up, tmp_path / "wheels", "later-held", "1.0")
        publish(up, tmp_path / "wheels", "calm", "1.0")
        # Two apps on one data dir share the embedded state store, as replicas share Redis.
        first = gate_settings(tmp_path, up.url, None)
        second = gate_settings(tmp_path, up.url, None)
        with PipgateServer(first) as one, PipgateServer(second) as two:
            yield up, one, two


def test_an_upstream_quarantine_reported_on_one_replica_is_enforced_by_all(
    replicas: tuple[FakeUpstream, PipgateServer, PipgateServer],
) -> None:
    up, one, two = replicas
    for gate in (one, two):
        assert probe(gate.index_url + "later-held/").status == 200
        assert probe(gate.index_url + "calm/").status == 200
    up.add_project("later-held", status="quarantined", reason="under review")
    assert probe(one.index_url + "later-held/").status == 200  # the page TTL is 600 s
    calm_hits = up.hits("/simple/calm/")

    answer = probe(f"{one.url}/-/invalidate?project=Later_Held", method="POST")

    assert answer.status == 200, answer
    assert answer.body.startswith("invalidated later-held:")
    assert probe(one.index_url + "later-held/").status == 403  # at once on this one
    deadline = time.monotonic() + DEADLINE
    while (status := probe(two.index_url + "later-held/").status) != 403:
        assert time.monotonic() < deadline, f"the other replica still answers {status}"
        time.sleep(0.1)
    refused = probe(two.url + "/files/later-held/later_held-1.0-py3-none-any.whl")
    assert (refused.status, refused.headers["x-pipgate-policy"]) == (403, "project_status")
    for gate in (one, two):
        assert probe(gate.index_url + "calm/").status == 200
    assert up.hits("/simple/calm/") == calm_hits


def test_invalidate_refuses_bad_input_and_strangers(
    replicas: tuple[FakeUpstream, PipgateServer, PipgateServer],
) -> None:
    _, one, _ = replicas
    assert probe(f"{one.url}/-/invalidate", method="POST").status == 400
    bad = probe(f"{one.url}/-/invalidate?project=../etc", method="POST")
    assert bad.status == 400
    assert "invalid project name" in bad.body
    assert probe(f"{one.url}/-/invalidate?project=calm").status == 405
    call = asgi_request(one.app, "POST", "/-/invalidate", client=OUTSIDE)
    assert one.call(call).status == 403
