"""The pieces of ``proxy.identity``: token format and records, argon2, Authorization
headers, the failure limiter, the verified-token cache and the trusted proxy header."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.identity.credentials import Credentials, MalformedCredentials, parse_authorization
from proxy.identity.hashing import SecretHasher
from proxy.identity.model import Identity, Role, valid_user_name
from proxy.identity.proxies import TrustedProxies, parse_networks
from proxy.identity.ratelimit import FailureLimiter
from proxy.identity.tokens import (
    IssuedToken,
    TokenError,
    TokenRecord,
    TokenStatus,
    format_token,
    new_secret,
    parse_token,
)
from proxy.identity.verified import VerifiedCache, cache_key

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
FAST = SecretHasher(time_cost=1, memory_kib=64)
"""Cheap argon2 parameters: what is tested is the wiring, not argon2's cost."""


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def record(**changes: object) -> TokenRecord:
    values: dict[str, object] = {
        "token_id": 7,
        "user": "alice",
        "role": Role.READER,
        "secret_hash": FAST.hash("s3cret"),
        "created": NOW,
    }
    values.update(changes)
    return TokenRecord(**values)  # type: ignore[arg-type]


# -- token format ------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=10**17))
def test_a_formatted_token_parses_back_to_its_id_and_secret(token_id: int) -> None:
    secret = new_secret()
    assert parse_token(format_token(token_id, secret)) == (token_id, secret)


def test_secrets_are_256_bits_of_url_and_netrc_safe_text() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(s) == 52 and s.isalnum() and s.islower() for s in secrets)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pgt_",
        "pgt_0_" + "a" * 52,  # ids start at 1
        "pgt_07_" + "a" * 52,  # one spelling per id
        "pgt_7_" + "a" * 51,
        "pgt_7_" + "a" * 53,
        "pgt_7_" + "A" * 52,
        "pgt_7_" + "1" * 52,  # not base32
        "PGT_7_" + "a" * 52,
        "pgt_7_" + "a" * 52 + "\n",
        "xyz_7_" + "a" * 52,
    ],
)
def test_anything_but_the_exact_token_format_is_not_a_token(text: str) -> None:
    assert parse_token(text) is None


def test_an_issued_token_and_a_record_never_show_secrets_in_repr() -> None:
    stored = record()
    issued = IssuedToken(stored, format_token(7, "a" * 52))
    assert "a" * 52 not in repr(issued)
    assert "<hidden>" in repr(issued)
    assert stored.secret_hash not in repr(stored)
    assert "argon2" not in repr(stored)


def test_a_record_round_trips_through_its_stored_form() -> None:
    original = record(expires=NOW + dt.timedelta(days=1), note="laptop", role=Role.ADMIN)
    assert TokenRecord.from_bytes(original.to_bytes()) == original
    revoked = original.revoked_at(NOW)
    assert TokenRecord.from_bytes(revoked.to_bytes()) == revoked


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"{}", b'{"id": "x"}', b"\xff", b'{"id":1,"user":"a","role":"root"}'],
)
def test_a_damaged_record_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises(TokenError, match="unreadable token record"):
        TokenRecord.from_bytes(raw)


def test_status_revoked_wins_over_expired_and_expiry_is_inclusive() -> None:
    assert record().status(NOW) is TokenStatus.ACTIVE
    assert record(expires=NOW).status(NOW) is TokenStatus.EXPIRED
    assert record(expires=NOW).revoked_at(NOW).status(NOW) is TokenStatus.REVOKED
    later = NOW + dt.timedelta(seconds=1)
    assert record(expires=later).status(NOW) is TokenStatus.ACTIVE


def test_user_names_cannot_carry_colons_spaces_or_control_characters() -> None:
    assert valid_user_name("alice")
    assert valid_user_name("a.b-c_d@example.com")
    for bad in ("", "a:b", "a b", "-lead", "a\n", "é", "x" * 129):
        assert not valid_user_name(bad), bad


# -- argon2 ------------------------------------------------------------------------------


async def test_argon2_accepts_the_secret_and_nothing_else() -> None:
    stored = FAST.hash("right")
    assert stored.startswith("$argon2id$")
    assert FAST.hash("right") != stored  # salted
    assert await FAST.matches_async(stored, "right")
    assert not await FAST.matches_async(stored, "wrong")
    assert not FAST.matches(stored, "")
    assert not FAST.matches("not a hash", "right")


def test_the_default_parameters_are_owasps_argon2id_minimum() -> None:
    stored = SecretHasher().hash("x")
    assert "$m=19456,t=2,p=1$" in stored


# -- Authorization headers ---------------------------------------------------------------


def test_basic_credentials_carry_the_user_and_the_token() -> None:
    assert parse_authorization(basic("alice", "pgt_1_x")) == Credentials("alice", "pgt_1_x")
    # Passwords may contain colons; only the first one separates the user name.
    assert parse_authorization(basic("alice", "a:b")) == Credentials("alice", "a:b")
    assert parse_authorization(b"basic " + basic("a", "t")[6:]) == Credentials("a", "t")


def test_a_token_sent_as_the_user_name_alone_is_the_secret() -> None:
    assert parse_authorization(basic("pgt_1_x", "")) == Credentials(None, "pgt_1_x")
    assert parse_authorization(basic("", "pgt_1_x")) == Credentials(None, "pgt_1_x")


def test_bearer_credentials_carry_only_the_token() -> None:
    assert parse_authorization(b"Bearer  tok ") == Credentials(None, "tok")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"tok", "unsupported Authorization scheme"),
        (b"Digest x=1", "unsupported Authorization scheme"),
        (b"Bearer", "without a token"),
        (b"Basic !!!", "not valid base64"),
        (b"Basic " + base64.b64encode(b"nocolon"), "without a ':'"),
        (b"Basic " + base64.b64encode(b":"), "neither user nor token"),
        (b"Basic " + base64.b64encode(b"a:\xff"), "not UTF-8"),
        (b"Bearer " + b"x" * 5000, "longer than"),
    ],
)
def test_malformed_headers_say_why_without_repeating_them(header: bytes, reason: str) -> None:
    with pytest.raises(MalformedCredentials, match=reason) as caught:
        parse_authorization(header)
    assert "x" * 20 not in str(caught.value)


@given(st.binary(max_size=200))
def test_any_header_bytes_parse_or_raise_malformed(header: bytes) -> None:
    try:
        parsed = parse_authorization(header)
    except MalformedCredentials:
        return
    assert parsed.secret


def test_credentials_repr_hides_the_secret() -> None:
    assert "pgt_1_x" not in repr(Credentials("alice", "pgt_1_x"))


# -- failure limiter ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_limited_after_max_failures_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1")
        clock.now += 10
    assert limiter.retry_after("10.0.0.1") == 30  # the first failure was 30 s ago
    assert limiter.retry_after("10.0.0.2") is None  # per address
    clock.now += 29.5
    assert limiter.retry_after("10.0.0.1") == 1
    clock.now += 0.5
    assert limiter.retry_after("10.0.0.1") is None


def test_the_limiter_forgets_the_least_recent_addresses_beyond_its_bound() -> None:
    limiter = FailureLimiter(1, 60.0, max_addresses=2, clock=Clock())
    for address in ("a", "b", "c"):
        limiter.failed(address)
    assert len(limiter) == 2
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("c") == 60


def test_the_limiter_refuses_meaningless_bounds() -> None:
    with pytest.raises(ValueError, match="positive"):
        FailureLimiter(0, 60.0)


# -- verified cache ----------------------------------------------------------------------

ALICE = Identity("alice", Role.READER, "token", 7)


def test_a_verified_entry_lives_ttl_seconds_and_never_past_the_token_expiry() -> None:
    mono, wall = Clock(), Clock()
    cache = VerifiedCache(10.0, monotonic=mono, wall=wall)
    key = cache_key(b"Bearer x")
    cache.put(key, ALICE, expires=wall.now + 5)
    assert cache.get(key) == ALICE
    wall.now += 5
    assert cache.get(key) is None  # the token expired
    cache.put(key, ALICE, expires=None)
    mono.now += 9.9
    assert cache.get(key) == ALICE
    mono.now += 0.1
    assert cache.get(key) is None
    assert len(cache) == 0


def test_a_new_revocation_generation_drops_every_entry() -> None:
    cache = VerifiedCache(10.0)
    key = cache_key(b"Bearer x")
    assert cache.apply_generation(0)  # the first read
    cache.put(key, ALICE, None)
    assert not cache.apply_generation(0)
    assert cache.get(key) == ALICE
    assert cache.apply_generation(1)
    assert cache.get(key) is None


def test_the_cache_holds_digests_not_credentials() -> None:
    assert cache_key(b"Bearer secret") != b"Bearer secret"
    assert b"secret" not in cache_key(b"Bearer secret")
    assert "secret" not in repr(VerifiedCache())


# -- trusted proxy header ----------------------------------------------------------------


def test_the_proxy_header_is_believed_only_from_trusted_addresses() -> None:
    proxies = TrustedProxies("X-Forwarded-User", parse_networks(["10.0.0.5", "192.0.2.0/24"]))
    assert proxies.header == b"x-forwarded-user"
    assert proxies.user("10.0.0.5", b"alice") == "alice"
    assert proxies.user("192.0.2.77", b" bob ") == "bob"
    assert proxies.user("10.0.0.6", b"alice") is None
    assert proxies.user("", b"alice") is None
    assert proxies.user("10.0.0.5", None) is None
    assert proxies.user("10.0.0.5", b"not a user") is None


def test_without_a_header_name_nothing_is_believed() -> None:
    proxies = TrustedProxies(None, parse_networks(["127.0.0.1"]))
    assert not proxies.enabled
    assert proxies.user("127.0.0.1", b"alice") is None


def test_a_bad_network_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        parse_networks(["10.0.0.1", "10.0.0.300"])
