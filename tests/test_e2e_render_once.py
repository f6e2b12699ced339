"""Rendering costs nothing a client can multiply, and never stalls the loop (issue 15, item 5).

- A page is rendered once per format whatever Host header or build label asks for it; the
  root (provenance links) is put in per request, escaped, without a render.
- A 100,000-file page renders off the event loop: ``/healthz`` answers *while* the render
  is in progress. Proven with events, not clocks: the render waits (bounded) until the test
  has had its ``/healthz`` answer; were it on the loop, that answer could not come.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy import rendering, routes
from proxy.model import ProjectPage
from proxy.negotiation import Format
from tests.support.builders import build_wheel
from tests.support.fake_index import FakeFile
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import running_gate

JSON = "application/vnd.pypi.simple.v1+json"
HUGE = 100_000
WAIT = 120.0


def get(url: str, headers: dict[str, str] | None = None, timeout: float = WAIT) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every page pipgate renders."""
    seen: list[str] = []
    real = rendering.render_project_page

    def counting(page: ProjectPage, fmt: Format) -> bytes:
        seen.append(page.name)
        return real(page, fmt)

    monkeypatch.setattr(routes, "render_project_page", counting)
    return seen


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


def test_one_render_serves_every_host_and_label_with_its_own_root(
    tmp_path: Path, upstream: FakeUpstream, renders: list[str]
) -> None:
    wheel = build_wheel(tmp_path, "attested", "1.0")
    upstream.add_file("attested", wheel, provenance_bytes=b"{}")
    with running_gate(tmp_path / "gate", upstream.url, "") as server:
        answers = {}
        for host, prefix in (
            ("a.test", ""),
            ("b.test:8443", ""),
            ('c"<x>', ""),
            ("a.test", "/builds/ci"),
        ):
            body = get(f"{server.url}{prefix}/simple/attested/", {"Host": host, "Accept": JSON})
            answers[(host, prefix)] = json.loads(body)["files"][0]["provenance"]
        assert renders == ["attested"]  # one render; four roots put in
        file = wheel.name
        assert answers[("a.test", "")] == f"http://a.test/files/attested/{file}.provenance"
        assert answers[("b.test:8443", "")].startswith("http://b.test:8443/files/")
        assert answers[("a.test", "/builds/ci")].startswith("http://a.test/builds/ci/files/")
        html = get(f"{server.url}/simple/attested/", {"Host": 'c"<x>', "Accept": "text/html"})
        assert b'c"<x>' not in html  # a hostile Host is escaped like any rendered value
        assert renders == ["attested", "attested"]  # HTML is the second format, not a host


def huge_project(upstream: FakeUpstream) -> None:
    for number in range(HUGE):
        filename = f"huge-0.{number}-py3-none-any.whl"
        file = FakeFile(
            project="huge",  # type: ignore[arg-type]
            filename=filename,
            data=b"",
            upload_time=None,
            yanked=False,
            requires_python=None,
            metadata=None,
            provenance=None,
            hash_override="0" * 64,
            url=None,
        )
        upstream.index.add_file(file, "huge")


def test_healthz_answers_while_a_100000_file_page_renders(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge_project(upstream)
    started, answered = threading.Event(), threading.Event()
    seen_answer: list[bool] = []
    real = rendering.render_project_page

    def render_waiting_for_healthz(page: ProjectPage, fmt: Format) -> bytes:
        started.set()
        seen_answer.append(answered.wait(timeout=30))  # bounded, were it ever on the loop
        return real(page, fmt)

    monkeypatch.setattr(routes, "render_project_page", render_waiting_for_healthz)
    with running_gate(tmp_path / "gate", upstream.url, "") as server:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            page: concurrent.futures.Future[bytes] = pool.submit(
                get, f"{server.url}/simple/huge/", {"Accept": JSON}
            )
            assert started.wait(WAIT), "the render never started"
            assert get(f"{server.url}/healthz", timeout=10) == b"ok\n"
            answered.set()
            body = page.result(WAIT)
        assert seen_answer == [True]  # /healthz was answered while the render waited
        assert len(json.loads(body)["files"]) == HUGE
