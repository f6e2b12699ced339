"""Trust is per origin, and unhashed files are refused (issue 15, item 7), end to end: a page
of the configured upstream links other ports of the upstream's own host, pipgate's own
``/metrics`` among them, and files without a sha256."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.settings import SettingsError
from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import fetch_records, file_url, gate_settings, probe, running_gate


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    """The configured upstream, and another server on the same host (another port)."""
    with FakeUpstream() as upstream, FakeUpstream() as neighbour:
        yield upstream, neighbour


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def test_a_page_cannot_make_pipgate_fetch_its_own_metrics(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    upstream, _ = upstreams
    wheel = build_wheel(tmp_path, "sneaky", "1.0")
    # Unhashed files allowed: the origin rule alone must stop this (the hash rule would too).
    gate = running_gate(tmp_path / "gate", upstream.url, "", allow_unhashed_files="true")
    with gate as server:
        listed = upstream.add_file("sneaky", wheel, url=f"{server.url}/metrics", hash_override="")
        answer = probe(file_url(server, "sneaky", listed.filename))
        assert answer.status == 502
        assert f"refusing to fetch '{server.url}/metrics'" in answer.body
        assert "loopback" in answer.body
        assert f"127.0.0.1:{server.port}" in answer.body  # the entry that would allow it
        rows = [r for r in fetch_records(server, "sneaky") if r.kind == "dist"]
        assert [r.status for r in rows] == [502]


def test_another_port_of_the_upstream_host_needs_trusting_by_port(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    upstream, neighbour = upstreams
    wheel = build_wheel(tmp_path, "elsewhere", "1.0")
    served = neighbour.add_file("elsewhere", wheel)
    upstream.add_file("elsewhere", wheel, url=neighbour.file_url(served.filename))
    with running_gate(tmp_path / "refused", upstream.url, "") as server:
        answer = probe(file_url(server, "elsewhere", served.filename))
        assert answer.status == 502
        assert f"port {neighbour.port}" in answer.body
    trusted = f"127.0.0.1:{neighbour.port}"
    with running_gate(tmp_path / "trusted", upstream.url, "", trusted_hosts=trusted) as server:
        assert download(file_url(server, "elsewhere", served.filename)) == wheel.read_bytes()
    assert neighbour.hits(f"/files/{served.filename}") == 1


def test_files_without_a_sha256_are_refused_unless_allowed(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    upstream, _ = upstreams
    wheel = build_wheel(tmp_path, "bare", "1.0")
    listed = upstream.add_file("bare", wheel, hash_override="")
    with running_gate(tmp_path / "default", upstream.url, "") as server:
        page = probe(server.url + "/simple/bare/")
        assert listed.filename in page.body  # still listed: the resolver's view is unchanged
        answer = probe(file_url(server, "bare", listed.filename))
        assert answer.status == 502
        assert "without a sha256" in answer.body
        assert "allow_unhashed_files" in answer.body
    assert upstream.hits(f"/files/{listed.filename}") == 0
    with running_gate(
        tmp_path / "allowed", upstream.url, "", allow_unhashed_files="true"
    ) as server:
        assert download(file_url(server, "bare", listed.filename)) == wheel.read_bytes()
        rows = [r for r in fetch_records(server, "bare") if r.kind == "dist"]
        assert rows[-1].sha256 == listed.sha256  # unverified, but what was served is known


@pytest.mark.parametrize("entry", ["host:0", "host:http", "[::1]x", "ftp://host", "a b"])
def test_malformed_trusted_hosts_entries_are_reported(tmp_path: Path, entry: str) -> None:
    with pytest.raises(SettingsError, match="trusted_hosts"):
        gate_settings(tmp_path, "http://127.0.0.1:9/simple/", None, trusted_hosts=entry)
