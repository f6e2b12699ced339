"""Warm files leave through ``loop.sendfile`` (issue 15, item 3): no Python buffer per
client, whatever the file size; whole bodies and ranges alike, last byte after the log row."""

from __future__ import annotations

import asyncio
import random
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from proxy.page_bodies import BigPageSlots
from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import fetch_records, file_url, running_gate


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    real = asyncio.BaseEventLoop.sendfile

    async def recording(
        self: Any, transport: Any, file: Any, offset: int = 0, count: Any = None, **kw: Any
    ) -> int:
        calls.append((offset, count))
        result: int = await real(self, transport, file, offset, count, **kw)
        return result

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", recording)
    return calls


def test_warm_files_and_ranges_go_through_sendfile(
    tmp_path: Path, sendfile_calls: list[tuple[int, int]]
) -> None:
    blob = random.Random(5).randbytes(3 * 1024 * 1024)
    wheel = build_wheel(tmp_path, "zerocopy", "1.0", files={"zerocopy/b.bin": blob})
    data = wheel.read_bytes()
    with FakeUpstream() as upstream:
        upstream.add_file("zerocopy", wheel)
        with running_gate(tmp_path / "gate", upstream.url, "") as server:
            url = file_url(server, "zerocopy", wheel.name)
            assert get(url) == data  # cold: streamed from the download while hashing
            assert sendfile_calls == []
            assert get(url) == data  # warm: the kernel copies it
            assert get(url, {"Range": "bytes=100-199"}) == data[100:200]
            assert sendfile_calls == [(0, len(data) - 1), (100, 99)]
            rows = [r for r in fetch_records(server, "zerocopy") if r.kind == "dist"]
            assert [r.status for r in rows] == [200, 200, 206]  # each logged before its end


async def test_big_page_bodies_take_turns() -> None:
    slots = BigPageSlots(slots=1, threshold=10)
    async with slots.hold():
        waiter = asyncio.ensure_future(slots.hold().acquire())
        await asyncio.sleep(0)
        assert not waiter.done()  # a second big body waits for the first
    await waiter
    slots.hold().release()
