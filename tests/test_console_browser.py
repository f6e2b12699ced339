"""The console in a real browser (Debian's chromium through Playwright) in front of real
pip installs: sign in, a refusal and its reason, a waiver made in the browser and its
expiry, a held file released in the browser, CSRF, logout, a reader refused; and every
page checked with axe-core.

The waiver's expiry uses the workflow's injectable clock: the test moves it past the
expiry instead of waiting, then polls the page until the workflow's sweep (one poll
interval) has dropped the rendered page.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.identity.model import Role
from tests.support.browser import axe_violations, chromium, describe
from tests.support.clients import make_venv, pip_install
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import fetch_records, probe, publish, running_gate
from tests.support.pipgate_server import PipgateServer

pytestmark = [pytest.mark.clients, pytest.mark.timeout(600)]

CONFIG = """
[[policy]]
use = "denylist"
projects = ["evil-thing"]

[[policy]]
use = "denylist"
mode = "quarantine"
projects = ["held-pkg==1.0"]
"""
PAGES = {
    "overview": "/-/ui/",
    "decisions": "/-/ui/decisions",
    "project": "/-/ui/projects/held-pkg",
    "quarantine": "/-/ui/quarantine?state=all",
    "waivers": "/-/ui/waivers?status=all",
    "waiver-form": "/-/ui/waivers/new?project=evil-thing&policy=denylist",
    "log": "/-/ui/log",
    "who": "/-/ui/who?project=plain-pkg",
    "builds": "/-/ui/builds",
    "policies": "/-/ui/policies",
    "login": "/-/ui/login",
}


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        publish(up, wheels, "evil-thing", "1.0")
        publish(up, wheels, "held-pkg", "0.9", "1.0")
        publish(up, wheels, "plain-pkg", "1.0")
        yield up


@pytest.fixture(scope="module")
def gate(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[PipgateServer]:
    with running_gate(
        tmp_path_factory.mktemp("gate"), upstream.url, CONFIG, auth="optional"
    ) as server:
        assert server.state.workflow is not None
        server.state.workflow.clock = Clock()
        yield server


@pytest.fixture(scope="module")
def tokens(gate: PipgateServer) -> dict[str, str]:
    store = gate.state.identity.store
    admin = gate.call(store.create("alice", Role.ADMIN, note="console test"))
    reader = gate.call(store.create("rita", Role.READER, note="console test"))
    return {"alice": admin.text, "rita": reader.text}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # bypass_csp: axe-core is injected as an inline script, which the console's CSP refuses.
    context = browser.new_context(bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("venv"))


def sign_in(page: Any, gate: PipgateServer, user: str, token: str) -> None:
    page.goto(gate.url + "/-/ui/")
    assert page.url.startswith(gate.url + "/-/ui/login")
    page.get_by_label("User name", exact=True).fill(user)
    page.get_by_label("Token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in").click()


def install(gate: PipgateServer, venv: Path, requirement: str) -> tuple[bool, str]:
    result = pip_install(
        venv, gate.index_url, requirement, extra=("--force-reinstall", "--no-deps")
    )
    return result.returncode == 0, result.stdout + result.stderr


def wait_for_status(url: str, status: int, seconds: float = 15.0) -> None:
    """Poll ``url`` until it answers ``status`` (the workflow applies changes each second)."""
    deadline = time.monotonic() + seconds
    answer = probe(url)
    while answer.status != status and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = probe(url)
    assert answer.status == status, answer


def test_an_admin_signs_in_and_every_page_passes_axe(
    page: Any, gate: PipgateServer, tokens: dict[str, str]
) -> None:
    probe(gate.index_url + "plain-pkg/")
    sign_in(page, gate, "alice", tokens["alice"])

    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    assert page.locator(".logout .who").inner_text() == "alice"
    for name, path in PAGES.items():
        if name == "login":
            continue
        page.goto(gate.url + path)
        violations = axe_violations(page)
        assert violations == [], f"{name}: {describe(violations)}"
    page.context.clear_cookies()
    page.goto(gate.url + PAGES["login"])
    assert axe_violations(page) == []


def test_a_refusal_shows_its_reason_then_a_browser_waiver_lets_it_through_until_it_expires(
    page: Any, gate: PipgateServer, tokens: dict[str, str], venv: Path
) -> None:
    ok, output = install(gate, venv, "evil-thing")
    assert not ok, output
    assert "No matching distribution found for evil-thing" in output, output
    refusal = probe(gate.index_url + "evil-thing/")
    assert refusal.status == 403
    assert refusal.headers["x-pipgate-policy"].startswith('denylist; decision="')
    waiver_link = next(
        line.split(": ", 1)[1]
        for line in refusal.body.splitlines()
        if line.startswith("request a waiver")
    )

    sign_in(page, gate, "alice", tokens["alice"])
    page.goto(gate.url + "/-/ui/decisions?project=evil-thing")
    row = page.locator("table.rows tbody tr").first
    assert "evil-thing is on the denylist" in row.inner_text()
    assert "deny" in row.inner_text()

    page.goto(waiver_link)
    assert page.get_by_label("Project", exact=True).input_value() == "evil-thing"
    assert page.get_by_label("Policy", exact=True).input_value() == "denylist"
    page.get_by_label("Expires", exact=True).fill("2h")
    page.get_by_label("Reason", exact=True).fill("the migration needs it for a day")
    page.get_by_role("button", name="Create waiver").click()
    article = page.locator("article.item").first
    assert "evil-thing" in article.inner_text()
    assert "active" in article.inner_text()

    ok, output = install(gate, venv, "evil-thing")
    assert ok, output
    rows = [r for r in fetch_records(gate, "evil-thing") if r.kind == "dist" and r.status == 200]
    assert rows
    assert rows[-1].verdicts[0]["decision"] == "waived"
    assert rows[-1].verdicts[0]["waiver"] == "1"

    workflow = gate.state.workflow
    assert workflow is not None
    clock = workflow.clock
    assert isinstance(clock, Clock)
    clock.now += dt.timedelta(hours=3)
    wait_for_status(gate.index_url + "evil-thing/", 403)
    ok, output = install(gate, venv, "evil-thing")
    assert not ok, output
    assert "No matching distribution found for evil-thing" in output, output
    page.goto(gate.url + "/-/ui/waivers?status=expired")
    assert "evil-thing" in page.locator("main").inner_text()


def test_a_held_file_is_released_in_the_browser_and_then_served(
    page: Any, gate: PipgateServer, tokens: dict[str, str], venv: Path
) -> None:
    ok, output = install(gate, venv, "held-pkg==1.0")
    assert not ok, output
    sign_in(page, gate, "alice", tokens["alice"])
    page.goto(gate.url + "/-/ui/quarantine")
    item = page.locator("article.item", has_text="held_pkg-1.0-py3-none-any.whl")
    assert "pending" in item.inner_text()

    item.get_by_label(re.compile("^Reason to release")).fill(
        "reviewed: the 1.0 entry was a mistake"
    )
    item.get_by_role("button", name="Release").click()
    released = page.locator("article.item", has_text="held_pkg-1.0-py3-none-any.whl")
    assert "released" in released.inner_text()
    assert "by alice: reviewed: the 1.0 entry was a mistake" in released.inner_text()

    ok, output = install(gate, venv, "held-pkg==1.0")
    assert ok, output


def test_a_form_without_the_sessions_csrf_token_is_refused(
    page: Any, gate: PipgateServer, tokens: dict[str, str]
) -> None:
    sign_in(page, gate, "alice", tokens["alice"])
    before = len(gate.state.workflow.snapshot.waivers) if gate.state.workflow else 0
    form = {"project": "plain-pkg", "policy": "*", "expires": "1h", "reason": "forged"}

    missing = page.request.post(gate.url + "/-/ui/waivers", form=form)
    forged = page.request.post(gate.url + "/-/ui/waivers", form=form | {"csrf": "guessed"})
    other_origin = page.request.post(
        gate.url + "/-/ui/waivers", form=form, headers={"Origin": "http://attacker.invalid"}
    )

    assert [missing.status, forged.status, other_origin.status] == [403, 403, 403]
    assert "CSRF token" in missing.text()
    assert gate.state.workflow is not None
    assert len(gate.state.workflow.snapshot.waivers) == before


def test_sign_out_ends_the_session_everywhere(
    page: Any, gate: PipgateServer, tokens: dict[str, str]
) -> None:
    sign_in(page, gate, "alice", tokens["alice"])
    cookie = next(c for c in page.context.cookies() if c["name"] == "pipgate_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"

    page.get_by_role("button", name="Sign out").click()

    assert "/-/ui/login" in page.url
    assert "You are signed out." in page.locator("main").inner_text()
    replayed = probe(gate.url + "/-/ui/", headers={"Cookie": f"pipgate_console={cookie['value']}"})
    assert replayed.status == 200
    assert "Sign in" in replayed.body


def test_a_reader_token_cannot_sign_in(
    page: Any, gate: PipgateServer, tokens: dict[str, str]
) -> None:
    sign_in(page, gate, "rita", tokens["rita"])

    assert "/-/ui/login" in page.url
    assert "does not have the admin role" in page.locator("main").inner_text()
    assert not any(c["name"] == "pipgate_console" for c in page.context.cookies())
    sign_in(page, gate, "alice", "pgt_1_" + "a" * 52)
    assert "Invalid credentials." in page.locator("main").inner_text()
