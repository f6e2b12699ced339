"""``auth`` at the HTTP edge, through a real pipgate on loopback: what each mode lets
through, the 401/403/429 answers, the warm-page fast path behind the gate, the user in the
fetch log and metrics, the trusted proxy header, and no token text in any log line."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from proxy.auth_gate import exposure_warning
from proxy.identity.model import AuthMode, Role
from proxy.identity.store import record_key
from proxy.identity.tokens import IssuedToken
from proxy.settings import load_settings
from storage.base import FetchQuery
from tests.support.e2e import fetch_rows, http_get
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import Answer, asgi_request, probe, publish, running_gate
from tests.support.pipgate_server import PipgateServer

CONFIG = '[[policy]]\nuse = "denylist"\nprojects = ["nothing-here"]\n'
PROJECT = "auth-demo"
WHEEL = "auth_demo-1.0-py3-none-any.whl"
ADMIN_SECRET = "the-admin-token-setting"
TRUSTED = ("10.9.1.1", 40000)
UNTRUSTED = ("10.8.1.1", 40000)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        publish(up, tmp_path_factory.mktemp("wheels"), PROJECT, "1.0")
        yield up


def basic(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(server: PipgateServer, user: str, role: Role = Role.READER) -> IssuedToken:
    issued: IssuedToken = server.call(server.state.identity.store.create(user, role))
    return issued


def page(server: PipgateServer, headers: dict[str, str] | None = None) -> Answer:
    return probe(f"{server.index_url}{PROJECT}/", headers=headers)


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Revocations are polled once a second; the bound only keeps a broken build short."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def assert_challenged(answer: Answer, text: str) -> None:
    assert answer.status == 401, answer
    assert answer.headers["www-authenticate"] == 'Basic realm="pipgate"'
    assert text in answer.body


@pytest.fixture
def required(upstream: FakeUpstream, tmp_path: Path) -> Iterator[PipgateServer]:
    with running_gate(
        tmp_path, upstream.url, CONFIG, auth="required", admin_token=ADMIN_SECRET
    ) as server:
        yield server


def test_required__no_credentials_get_a_basic_challenge_on_every_index_path(
    required: PipgateServer,
) -> None:
    for path in ("/simple/", f"/simple/{PROJECT}/", f"/files/{PROJECT}/{WHEEL}",
                 f"/pypi/{PROJECT}/json", f"/builds/ci-1/simple/{PROJECT}/"):  # fmt: skip
        assert_challenged(probe(required.url + path), "authentication required")
    assert probe(required.url + "/healthz").status == 200
    assert probe(required.url + "/readyz").status == 200


def test_required__the_warm_page_fast_path_is_behind_the_gate_and_logs_the_user(
    required: PipgateServer,
) -> None:
    alice = create(required, "alice")
    assert page(required, basic("alice", alice.text)).status == 200  # renders and caches
    warm = page(required, basic("alice", alice.text))
    assert warm.status == 200
    assert_challenged(page(required), "authentication required")
    assert_challenged(page(required, bearer("pgt_1_" + "a" * 52)), "invalid credentials")

    rows = fetch_rows(required, FetchQuery(project=PROJECT))
    assert [(r.user, r.cache, r.status) for r in rows] == [
        ("alice", "miss", 200),
        ("alice", "hit", 200),
    ]


def test_required__files_and_build_urls_carry_the_user(required: PipgateServer) -> None:
    bob = create(required, "bob")
    url = f"{required.url}/builds/ci-7/files/{PROJECT}/{WHEEL}"
    assert http_get(url, headers=bearer(bob.text)).status == 200
    rows = fetch_rows(required, FetchQuery(build="ci-7"))
    assert [(r.user, r.kind, r.status) for r in rows if r.kind == "dist"] == [("bob", "dist", 200)]


def test_required__admin_endpoints_need_the_admin_role_even_from_loopback(
    required: PipgateServer,
) -> None:
    reader = create(required, "reader")
    admin = create(required, "ops", Role.ADMIN)
    metrics = f"{required.url}/metrics"
    assert_challenged(probe(metrics), "admin credentials required")
    denied = probe(metrics, headers=bearer(reader.text))
    assert (denied.status, denied.body) == (403, "user 'reader' does not have the admin role\n")
    assert probe(metrics, headers=bearer(admin.text)).status == 200
    assert probe(metrics, headers=basic("ops", admin.text)).status == 200
    assert probe(metrics, headers=bearer(ADMIN_SECRET)).status == 200  # the setting still works
    reload = probe(f"{required.url}/-/reload", method="POST", headers=bearer(admin.text))
    assert reload.status == 200
    sbom = probe(f"{required.url}/-/sbom?user=alice", headers=bearer(ADMIN_SECRET))
    assert sbom.status == 200


def test_required__a_revoked_token_is_refused_as_revoked_within_seconds(
    required: PipgateServer,
) -> None:
    carol = create(required, "carol")
    assert page(required, bearer(carol.text)).status == 200  # now cached as verified
    required.call(required.state.identity.store.revoke(carol.record.token_id))
    assert wait_for(lambda: page(required, bearer(carol.text)).status == 401)
    assert_challenged(page(required, bearer(carol.text)), "this token was revoked")


def test_required__an_expired_token_is_refused_as_expired(required: PipgateServer) -> None:
    dave = create(required, "dave")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    expired = dataclasses.replace(dave.record, expires=past)
    kv = required.state.stores.state
    required.call(kv.set(record_key(dave.record.token_id), expired.to_bytes()))
    assert_challenged(page(required, bearer(dave.text)), "this token has expired")


def test_a_brute_force_loop_from_one_address_gets_429s_with_retry_after(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with running_gate(tmp_path, upstream.url, CONFIG, auth="required", auth_max_failures=5) as gate:
        known = create(gate, "eve")
        assert page(gate, bearer(known.text)).status == 200
        fresh = create(gate, "frank")
        statuses = []
        for attempt in range(30):  # bounded, loopback only
            statuses.append(page(gate, bearer(f"pgt_{attempt + 1}_" + "b" * 52)).status)
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
        limited = page(gate, bearer("pgt_1_" + "c" * 52))
        assert limited.status == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "too many failed authentication attempts" in limited.body
        # Verified moments ago: still served. Not yet verified: waits like the guesser.
        assert page(gate, bearer(known.text)).status == 200
        assert page(gate, bearer(fresh.text)).status == 429
        assert page(gate).status == 401  # no credentials: not an attempt, not limited


def test_off__credentials_are_not_asked_for_and_loopback_is_admin(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with running_gate(tmp_path, upstream.url, CONFIG) as gate:
        assert page(gate).status == 200
        assert page(gate, bearer("whatever")).status == 200
        assert probe(f"{gate.url}/metrics").status == 200
        rows = fetch_rows(gate, FetchQuery(project=PROJECT))
        assert {r.user for r in rows} == {None}
        reader = create(gate, "reader")
        outside = asgi_request(
            gate.app, "GET", "/metrics", client=UNTRUSTED, headers=bearer(reader.text)
        )
        assert gate.call(outside).status == 403
        admin = create(gate, "ops", Role.ADMIN)
        outside = asgi_request(
            gate.app, "GET", "/metrics", client=UNTRUSTED, headers=bearer(admin.text)
        )
        assert gate.call(outside).status == 200


def test_optional__anonymous_is_served_given_credentials_must_be_valid(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with running_gate(tmp_path, upstream.url, CONFIG, auth="optional") as gate:
        grace = create(gate, "grace")
        assert page(gate).status == 200
        assert page(gate, basic("grace", grace.text)).status == 200
        assert_challenged(page(gate, basic("grace", "wrong")), "invalid credentials")
        assert_challenged(page(gate, {"Authorization": "Token x"}), "Basic or Bearer")
        assert_challenged(probe(f"{gate.url}/metrics"), "admin credentials required")
        rows = fetch_rows(gate, FetchQuery(project=PROJECT))
        assert [r.user for r in rows] == [None, "grace"]


def test_the_proxy_header_is_believed_from_trusted_proxies_only(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with running_gate(
        tmp_path,
        upstream.url,
        CONFIG,
        auth="required",
        trusted_proxy_header="X-Forwarded-User",
        trusted_proxies="10.9.0.0/16, 192.0.2.1",
    ) as gate:
        path = f"/simple/{PROJECT}/"
        header = {"X-Forwarded-User": "heidi"}
        trusted = gate.call(asgi_request(gate.app, "GET", path, client=TRUSTED, headers=header))
        assert trusted.status == 200
        spoofed = gate.call(asgi_request(gate.app, "GET", path, client=UNTRUSTED, headers=header))
        assert spoofed.status == 401
        # Loopback is not in trusted_proxies either.
        assert page(gate, header).status == 401
        as_admin = asgi_request(gate.app, "GET", "/metrics", client=TRUSTED, headers=header)
        assert gate.call(as_admin).status == 403  # SSO users are readers
        rows = fetch_rows(gate, FetchQuery(project=PROJECT))
        assert [(r.user, r.client) for r in rows] == [("heidi", TRUSTED[0])]


def test_metrics_count_requests_by_the_first_n_users_and_auth_outcomes(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with running_gate(
        tmp_path, upstream.url, CONFIG, auth="optional", metrics_users=1, admin_token=ADMIN_SECRET
    ) as gate:
        ivan, judy = create(gate, "ivan"), create(gate, "judy")
        for headers in (bearer(ivan.text), bearer(ivan.text), bearer(judy.text), None):
            assert page(gate, headers).status == 200
        assert page(gate, bearer("nope")).status == 401
        text = probe(f"{gate.url}/metrics", headers=bearer(ADMIN_SECRET)).body
    assert 'pipgate_user_requests_total{user="ivan"} 2.0' in text
    assert 'pipgate_user_requests_total{user="(other)"} 1.0' in text
    assert 'pipgate_user_requests_total{user="(anonymous)"} 1.0' in text
    assert "judy" not in text
    assert 'pipgate_auth_total{outcome="token"} 3.0' in text
    assert 'pipgate_auth_total{outcome="invalid"} 1.0' in text
    assert ivan.text not in text


def test_without_metrics_users_no_user_appears_in_metrics(required: PipgateServer) -> None:
    kim = create(required, "kim")
    assert page(required, bearer(kim.text)).status == 200
    text = probe(f"{required.url}/metrics", headers=bearer(ADMIN_SECRET)).body
    assert "kim" not in text
    assert "pipgate_user_requests_total{" not in text


def test_no_log_line_carries_a_token_or_the_admin_token(
    upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with running_gate(
        tmp_path, upstream.url, CONFIG, auth="required", admin_token=ADMIN_SECRET
    ) as gate:
        leo = create(gate, "leo")
        page(gate, bearer(leo.text))
        gate.call(gate.state.identity.store.revoke(leo.record.token_id))
        wait_for(lambda: page(gate, bearer(leo.text)).status == 401)
        page(gate, bearer(leo.text[:-3] + "abc"))
        page(gate, bearer(ADMIN_SECRET + "x"))
        probe(f"{gate.url}/metrics", headers=bearer(ADMIN_SECRET))
        secret_hash = leo.record.secret_hash
    assert "authentication refused" in caplog.text
    for secret in (leo.text, leo.text.split("_")[2], ADMIN_SECRET, secret_hash):
        assert secret not in caplog.text
    assert ADMIN_SECRET not in repr(gate.settings)


def test_start_up_warns_about_a_network_address_with_auth_off(
    upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with running_gate(tmp_path, upstream.url, CONFIG, host="0.0.0.0"):
        pass
    assert 'listening on 0.0.0.0, not a loopback address, with auth = "off"' in caplog.text


@pytest.mark.parametrize(
    ("host", "mode", "warned"),
    [
        ("127.0.0.1", AuthMode.OFF, False),
        ("::1", AuthMode.OFF, False),
        ("localhost", AuthMode.OFF, False),
        ("0.0.0.0", AuthMode.OFF, True),
        ("::", AuthMode.OFF, True),
        ("pipgate.example", AuthMode.OFF, True),
        ("0.0.0.0", AuthMode.OPTIONAL, False),
        ("0.0.0.0", AuthMode.REQUIRED, False),
    ],
)
def test_exposure_warning(host: str, mode: AuthMode, warned: bool) -> None:
    assert (exposure_warning(host, mode) is not None) is warned


def test_the_start_up_block_says_who_may_use_the_index(tmp_path: Path) -> None:
    from proxy.startup_report import startup_report

    def auth_line(**overrides: object) -> str:
        settings = load_settings(None, environ={}, overrides=overrides)
        lines = startup_report(settings, [], "9.9").splitlines()
        return next(line for line in lines if line.startswith("  auth "))

    assert auth_line() == (
        "  auth        off: the index answers anyone; /-/ and /metrics answer loopback"
    )
    line = auth_line(
        auth="required",
        admin_token="not-shown",
        trusted_proxy_header="X-Forwarded-User",
        trusted_proxies="10.0.0.5",
    )
    assert line == (
        "  auth        required: API tokens in the state store (pipgate token); admin_token "
        "set; X-Forwarded-User believed from 10.0.0.5"
    )


def test_an_unreadable_token_store_is_a_503_not_a_refusal(required: PipgateServer) -> None:
    from storage.memory import MemoryKeyValueStore

    mona = create(required, "mona")
    assert page(required, bearer(mona.text)).status == 200  # verified and cached
    closed = MemoryKeyValueStore()
    required.call(closed.aclose())
    required.state.identity.store._kv = closed  # the state backend stops answering
    answer = page(required, bearer(same_id_other_secret(mona)))
    assert (answer.status, answer.body) == (
        503,
        "the token store is unavailable; try again shortly\n",
    )
    assert page(required, bearer(mona.text)).status == 200  # still cached: served


def same_id_other_secret(issued: IssuedToken) -> str:
    """Another well-formed token of the same id: needs a store lookup, never cached."""
    last = issued.text[-1]
    return issued.text[:-1] + ("a" if last != "a" else "b")
