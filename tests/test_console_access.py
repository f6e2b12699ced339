"""Who may use the console without a browser: auth = "off" serves loopback only, a session
cookie must be signed and unexpired, a refusal's 403 carries its links."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from policies.base import Verdict
from proxy.console.links import refusal_links
from proxy.console.sessions import SessionStore
from storage.memory import MemoryKeyValueStore
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import asgi_request, probe, publish, running_gate
from tests.support.pipgate_server import PipgateServer

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipgateServer]:
    tmp = tmp_path_factory.mktemp("gate")
    with FakeUpstream() as upstream:
        publish(upstream, tmp / "wheels", "evil-thing", "1.0")
        config = '[[policy]]\nuse = "denylist"\nprojects = ["evil-thing"]\n'
        with running_gate(tmp, upstream.url, config) as server:
            yield server


def test_with_auth_off_only_loopback_clients_get_the_console(gate: PipgateServer) -> None:
    remote = gate.call(asgi_request(gate.app, "GET", "/-/ui/", client=("10.1.2.3", 4000)))
    local = gate.call(asgi_request(gate.app, "GET", "/-/ui/", client=("127.0.0.1", 4000)))

    assert remote.status == 403
    assert "loopback clients only" in remote.body
    assert local.status == 200
    assert "pipgate_console=" in local.headers["set-cookie"]
    assert "httponly" in local.headers["set-cookie"].lower()
    assert "samesite=strict" in local.headers["set-cookie"].lower()
    assert local.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_refusal_links_to_its_decision_and_a_waiver_request(gate: PipgateServer) -> None:
    answer = probe(gate.index_url + "evil-thing/")

    decision = f"{gate.url}/-/ui/decisions?policy=denylist&project=evil-thing"
    waiver = f"{gate.url}/-/ui/waivers/new?project=evil-thing&policy=denylist"
    assert answer.status == 403
    assert answer.headers["x-pipgate-policy"] == (
        f'denylist; decision="{decision}"; waiver="{waiver}"'
    )
    assert f"decision: {decision}" in answer.body
    assert f"request a waiver: {waiver}" in answer.body


def test_links_name_the_version_and_no_waiver_for_an_unwaivable_or_held_verdict() -> None:
    deny = Verdict.deny("osv", "malicious")
    held = dataclasses.replace(Verdict.quarantine("scan", "odd"), quarantine_id=4)

    versioned = refusal_links(
        "https://p.invalid/", deny, "demo", "demo-1.2-py3-none-any.whl", waivable=True
    )
    unwaivable = refusal_links("https://p.invalid/", deny, "demo", None, waivable=False)
    hold = refusal_links("https://p.invalid/", held, "demo", None, waivable=False)

    assert (
        versioned.waiver == "https://p.invalid/-/ui/waivers/new?project=demo&policy=osv&version=1.2"
    )
    assert unwaivable.waiver is None
    assert hold.quarantine == "https://p.invalid/-/ui/quarantine#item-4"
    assert 'quarantine="https://p.invalid/-/ui/quarantine#item-4"' in hold.header("scan")


async def test_a_session_cookie_must_be_signed_live_and_open() -> None:
    store = SessionStore(MemoryKeyValueStore(), lifetime=dt.timedelta(hours=1))
    session, cookie = await store.open("alice", "admin", "token", 3, NOW)
    session_id, signature = cookie.split(".")

    assert await store.find(cookie, NOW) == session
    assert await store.find(f"{session_id}.{signature[:-2]}xx", NOW) is None
    assert await store.find(f"other.{signature}", NOW) is None
    assert await store.find(cookie, NOW + dt.timedelta(hours=2)) is None
    await store.close(session)
    assert await store.find(cookie, NOW) is None


async def test_replicas_share_one_signing_key(tmp_path: Path) -> None:
    kv = MemoryKeyValueStore()
    one, two = SessionStore(kv), SessionStore(kv)

    _, cookie = await one.open("alice", "admin", "token", 3, NOW)

    assert await two.find(cookie, NOW) is not None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_a_builds_sbom_downloads_and_the_reload_button_reloads(gate: PipgateServer) -> None:
    page = probe(gate.url + "/builds/ci-77/simple/evil-thing/")
    assert page.status == 403  # a refused fetch still makes the build known
    browser = _opener()
    with browser.open(gate.url + "/-/ui/builds") as answer:
        builds = answer.read().decode()
    assert "ci-77" in builds
    with browser.open(gate.url + "/-/ui/builds/ci-77/sbom?format=cyclonedx") as answer:
        sbom = json.loads(answer.read())
        disposition = answer.headers["content-disposition"]
    assert sbom["bomFormat"] == "CycloneDX"
    assert disposition == 'attachment; filename="ci-77.cdx.json"'

    with browser.open(gate.url + "/-/ui/policies") as answer:
        token = _csrf(answer.read().decode())
    before = gate.state.engine.generation
    form = urllib.parse.urlencode({"csrf": token}).encode()
    with browser.open(gate.url + "/-/ui/policies/reload", data=form) as answer:
        reloaded = answer.read().decode()
    assert gate.state.engine.generation == before + 1
    assert f"policies reloaded: generation {before + 1}" in reloaded
