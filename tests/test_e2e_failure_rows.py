"""Every answer is a fetch-log row, the unhappy ones too (issue 15, item 4): a 416 for a
range past the end, and a 500 for a bug anywhere in the chain."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from proxy.model import ProjectPage
from proxy.repository import RepositoryWrapper, RequestContext, Resource, ResourceKind
from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import fetch_records, file_url, probe, running_gate
from tests.support.pipgate_server import PipgateServer


class Broken(RepositoryWrapper):
    """A chain with a bug: what pipgate must still answer and log."""

    async def get_project_page(self, name: NormalizedName, ctx: RequestContext) -> ProjectPage:
        raise RuntimeError("a bug in a page stage")

    async def get_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource:
        raise KeyError("a bug in a file stage")


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[tuple[PipgateServer, str]]:
    with FakeUpstream() as upstream:
        wheel = upstream.add_file("ranged", build_wheel(tmp_path, "ranged", "1.0"))
        with running_gate(tmp_path / "gate", upstream.url, "") as server:
            yield server, wheel.filename


def test_a_range_past_the_end_is_a_416_row(gate: tuple[PipgateServer, str]) -> None:
    server, filename = gate
    url = file_url(server, "ranged", filename)
    with urllib.request.urlopen(url, timeout=30) as whole:
        assert whole.status == 200
        whole.read()
    answer = probe(url, headers={"Range": "bytes=99999999-"})
    assert answer.status == 416
    rows = [r for r in fetch_records(server, "ranged") if r.kind == "dist"]
    assert [r.status for r in rows] == [200, 416]
    assert rows[1].filename == filename


def test_a_bug_in_the_chain_is_a_500_row_with_a_one_line_answer(
    gate: tuple[PipgateServer, str],
) -> None:
    server, filename = gate
    server.state.chain = Broken(server.state.chain)
    page = probe(server.url + "/simple/ranged/")
    file = probe(file_url(server, "ranged", filename))
    assert (page.status, file.status) == (500, 500)
    assert page.body == "internal error (RuntimeError); the server log has the details\n"
    assert "KeyError" in file.body
    rows = fetch_records(server, "ranged")
    assert sorted((r.kind, r.status) for r in rows) == [("dist", 500), ("page", 500)]
    assert next(r for r in rows if r.kind == "dist").filename == filename
