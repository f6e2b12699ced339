"""The access log: line formats, the ASGI middleware, the batching sink, and the lines a
running pipgate writes for a page miss, a fast-path hit, file downloads and a refusal."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from policies.base import Verdict
from proxy.access_log import CONTEXT_KEY, USER_KEY, AccessLog, format_json, format_kv
from proxy.line_sink import LineSink, pieces
from proxy.repository import RequestContext
from proxy.settings import Settings, load_settings
from tests.support.access_lines import parse_line
from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateServer

KEYS = ["time", "method", "path", "status", "bytes", "ms", "client", "user", "build", "cache"]
KEYS += ["verdict", "policy"]
MOMENT = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z


def entry(**changes: Any) -> Any:
    values: dict[str, Any] = {
        "moment": MOMENT,
        "method": "GET",
        "path": "/simple/demo/",
        "status": 200,
        "size": 512,
        "elapsed": 1.234,
        "client": "127.0.0.1",
        "user": None,
        "build": None,
        "cache": "hit",
        "policy": None,
    } | changes
    return tuple(values.values())


def test_json_line_has_every_field_with_null_for_unknown() -> None:
    line = format_json(entry())
    assert line.endswith("}\n")
    assert line.count("\n") == 1
    fields = json.loads(line)
    assert list(fields) == KEYS
    assert fields == {
        "time": "2026-01-01T00:00:00.250Z",
        "method": "GET",
        "path": "/simple/demo/",
        "status": 200,
        "bytes": 512,
        "ms": 1.23,
        "client": "127.0.0.1",
        "user": None,
        "build": None,
        "cache": "hit",
        "verdict": None,
        "policy": None,
    }


def test_a_refusal_names_the_verdict_and_the_policy() -> None:
    fields = json.loads(format_json(entry(status=403, cache=None, policy="typosquat")))
    assert (fields["verdict"], fields["policy"]) == ("deny", "typosquat")
    kv = format_kv(entry(status=403, cache=None, policy="typosquat"))
    assert kv.endswith(" verdict=deny policy=typosquat\n")


def test_kv_line_leaves_unknown_values_out_and_quotes_what_needs_it() -> None:
    line = format_kv(entry(path='/simple/a b/?x="1"', user="ci bot", build="b-1"))
    assert line == (
        "time=2026-01-01T00:00:00.250Z method=GET "
        'path="/simple/a b/?x=\\"1\\"" status=200 bytes=512 ms=1.23 client=127.0.0.1 '
        'user="ci bot" build=b-1 cache=hit\n'
    )
    assert "verdict" not in format_kv(entry())


texts = st.text(max_size=40)


@given(path=texts, user=st.none() | texts, build=st.none() | texts, policy=st.none() | texts)
def test_every_value_reads_back_from_both_formats(
    path: str, user: str | None, build: str | None, policy: str | None
) -> None:
    line = entry(path=path, user=user, build=build, policy=policy)
    for text in (format_json(line), format_kv(line)):
        assert text.count("\n") == 1
        assert text.endswith("\n")
        fields = parse_line(text)
        assert fields["path"] == path
        assert fields.get("user") == user
        assert fields.get("build") == build
        assert fields.get("policy") == policy


# -- the middleware -----------------------------------------------------------------------


def http_scope(path: str = "/simple/demo/", query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query,
        "client": ("10.0.0.7", 40000),
        "headers": [],
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def discard(message: Message) -> None:
    return None


def responder(status: int, chunks: list[bytes], ctx: RequestContext | None = None) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if ctx is not None:
            scope[CONTEXT_KEY] = ctx
        await send({"type": "http.response.start", "status": status, "headers": []})
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


def middleware(app: Any, fmt: str = "json") -> tuple[AccessLog, list[str]]:
    written: list[str] = []
    return AccessLog(app, fmt=fmt, sink=LineSink(written.append)), written


def lines(written: list[str]) -> list[dict[str, Any]]:
    return [parse_line(line) for line in "".join(written).splitlines()]


async def test_status_bytes_and_what_the_route_learnt() -> None:
    ctx = RequestContext(client="10.0.0.7", build="ci-7", user="alice", cache="miss")
    log, written = middleware(responder(200, [b"abc", b"defg"], ctx))
    await log(http_scope("/builds/ci-7/simple/demo/", b"format=json"), receive, discard)
    log._sink.flush()
    (line,) = lines(written)
    assert line["path"] == "/builds/ci-7/simple/demo/?format=json"
    assert (line["status"], line["bytes"], line["cache"]) == (200, 7, "miss")
    assert (line["client"], line["user"], line["build"]) == ("10.0.0.7", "alice", "ci-7")
    assert line["ms"] >= 0


async def test_user_from_the_scope_and_the_policy_of_a_403() -> None:
    ctx = RequestContext(verdicts=[Verdict.deny("denylist", "listed")])
    log, written = middleware(responder(403, [b"refused\n"], ctx), "kv")
    scope = http_scope() | {USER_KEY: "bob"}
    await log(scope, receive, discard)
    log._sink.flush()
    (line,) = lines(written)
    assert (line["status"], line["user"], line["verdict"], line["policy"]) == (
        "403",
        "bob",
        "deny",
        "denylist",
    )


async def test_a_deny_on_a_page_that_was_served_is_not_a_refusal() -> None:
    ctx = RequestContext(verdicts=[Verdict.deny("yanked", "hidden file")], cache="hit")
    log, written = middleware(responder(200, [b"page"], ctx))
    await log(http_scope(), receive, discard)
    log._sink.flush()
    assert lines(written)[0]["policy"] is None


async def test_an_exception_is_logged_as_500_and_raised() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    log, written = middleware(broken)
    with pytest.raises(RuntimeError, match="boom"):
        await log(http_scope(), receive, discard)
    log._sink.flush()
    assert lines(written)[0]["status"] == 500


async def test_lifespan_shutdown_flushes_and_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            await send({"type": "lifespan.shutdown.complete"})

    log, written = middleware(app)
    log._sink.write("queued\n")
    await log({"type": "websocket"}, receive, discard)
    assert written == []
    await log({"type": "lifespan"}, receive, discard)
    assert seen == ["websocket", "lifespan"]
    assert written == ["queued\n"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of json, kv"):
        AccessLog(responder(200, []), fmt="xml", sink=LineSink())


# -- the sink -----------------------------------------------------------------------------


async def test_sink_batches_lines_until_its_timer_fires() -> None:
    written: list[str] = []
    sink = LineSink(written.append, interval=0.01)
    sink.write("a\n")
    sink.write("b\n")
    assert written == []  # nothing written per line
    deadline = time.monotonic() + 10
    while not written and time.monotonic() < deadline:
        await _sleep()
    assert written == ["a\nb\n"]


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.01)


def test_sink_writes_at_once_when_full_or_off_the_loop() -> None:
    written: list[str] = []
    sink = LineSink(written.append, max_buffered=3)
    sink.write("off the loop\n")  # no running loop: nothing would flush it later
    assert written == ["off the loop\n"]


async def test_sink_writes_when_full() -> None:
    written: list[str] = []
    sink = LineSink(written.append, max_buffered=3, interval=3600)
    for line in ("1\n", "2\n", "3\n"):
        sink.write(line)
    assert written == ["1\n2\n3\n"]


def test_pieces_stay_under_the_atomic_pipe_write_and_end_at_line_breaks() -> None:
    lines_in = [f"{i:04d}" + "x" * 95 + "\n" for i in range(200)] + ["é" * 3000 + "\n"]
    out = pieces(lines_in, limit=4096)
    assert "".join(out) == "".join(lines_in)
    assert all(piece.endswith("\n") for piece in out)
    assert all(len(p.encode()) <= 4096 for p in out[:-1])
    assert out[-1] == "é" * 3000 + "\n"  # a line over the limit goes alone


def test_a_broken_stdout_stops_the_log_without_raising(capsys: pytest.CaptureFixture[str]) -> None:
    def closed(text: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    sink = LineSink(closed)
    sink.write("x\n")
    sink.write("y\n")
    assert sink.broken is not None
    assert "access log stopped" in capsys.readouterr().err


# -- a running pipgate ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        up.add_file("demo-pkg", build_wheel(wheels, "demo-pkg", "1.0"))
        up.add_file("blocked-pkg", build_wheel(wheels, "blocked-pkg", "1.0"))
        yield up


def gate_settings(tmp_path: Path, upstream: FakeUpstream, access_log: str) -> Settings:
    config = tmp_path / "pipgate.toml"
    config.write_text('[[policy]]\nuse = "denylist"\nprojects = ["blocked-pkg"]\n')
    overrides = {"upstream": upstream.url, "data_dir": str(tmp_path / "data")}
    return load_settings(config, environ={"PIPGATE_ACCESS_LOG": access_log}, overrides=overrides)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


@pytest.mark.parametrize("fmt", ["json", "kv"])
def test_one_line_per_request_for_a_miss_a_hit_files_and_a_refusal(
    tmp_path: Path, upstream: FakeUpstream, fmt: str
) -> None:
    wheel = "demo_pkg-1.0-py3-none-any.whl"
    with PipgateServer(gate_settings(tmp_path, upstream, fmt)) as server:
        statuses = [
            get(f"{server.url}/simple/demo-pkg/"),  # miss: the chain runs
            get(f"{server.url}/simple/demo-pkg/"),  # hit: the warm-page fast path answers
            get(f"{server.url}/builds/ci-1/files/demo-pkg/{wheel}"),
            get(f"{server.url}/builds/ci-1/files/demo-pkg/{wheel}"),
            get(f"{server.url}/simple/blocked-pkg/"),
            get(f"{server.url}/healthz"),
        ]
        entries = [parse_line(line) for line in server.access_lines()]
    assert statuses == [200, 200, 200, 200, 403, 200]
    if fmt == "kv":  # kv values are text; compare like with like
        for found in entries:
            found["status"] = int(found["status"])
    assert [(e["path"], e["status"], e.get("cache")) for e in entries] == [
        ("/simple/demo-pkg/", 200, "miss"),
        ("/simple/demo-pkg/", 200, "hit"),
        (f"/builds/ci-1/files/demo-pkg/{wheel}", 200, "miss"),
        (f"/builds/ci-1/files/demo-pkg/{wheel}", 200, "hit"),
        ("/simple/blocked-pkg/", 403, None),
        ("/healthz", 200, None),
    ]
    assert [e.get("build") for e in entries] == [None, None, "ci-1", "ci-1", None, None]
    assert [(e.get("verdict"), e.get("policy")) for e in entries][4] == ("deny", "denylist")
    assert all(e.get("verdict") is None for i, e in enumerate(entries) if i != 4)
    assert all(e["client"] == "127.0.0.1" and e["method"] == "GET" for e in entries)
    listed = upstream.index.find_file(wheel)
    assert listed is not None
    assert int(entries[2]["bytes"]) == len(listed.data)


def test_access_log_off_writes_nothing(tmp_path: Path, upstream: FakeUpstream) -> None:
    with PipgateServer(gate_settings(tmp_path, upstream, "off")) as server:
        assert get(f"{server.url}/simple/demo-pkg/") == 200
        assert server.access_lines() == []
