"""``TokenStore`` over a real key-value store and the ``Authenticator`` that uses it: what
each kind of credential yields, what a refusal says, and when the cache and the failure
limit apply."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.identity.authenticator import ANONYMOUS, Authenticator, IdentityConfig, Refusal
from proxy.identity.hashing import SecretHasher
from proxy.identity.model import ADMIN_TOKEN_USER, Identity, Role
from proxy.identity.proxies import parse_networks
from proxy.identity.store import TokenStore, record_key
from proxy.identity.tokens import IssuedToken, parse_token
from storage.base import StorageError
from storage.filesystem_kv import FilesystemKeyValueStore
from storage.memory import MemoryKeyValueStore

CLIENT = "192.0.2.10"
ADMIN_SECRET = "operator-admin-secret"


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def bearer(token: str) -> bytes:
    return f"Bearer {token}".encode()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TokenStore]:
    kv = FilesystemKeyValueStore(tmp_path / "state")
    await kv.start()
    yield TokenStore(kv, SecretHasher(time_cost=1, memory_kib=64))
    await kv.aclose()


def authenticator(store: TokenStore, **config: object) -> Authenticator:
    values: dict[str, object] = {"admin_token": ADMIN_SECRET, "max_failures": 3}
    values.update(config)
    return Authenticator(IdentityConfig(**values), store)  # type: ignore[arg-type]


# -- the store ---------------------------------------------------------------------------


async def test_tokens_get_ids_in_order_and_are_stored_without_their_text(
    store: TokenStore,
) -> None:
    first = await store.create("alice", note="laptop")
    second = await store.create("ci", Role.ADMIN)
    assert [first.record.token_id, second.record.token_id] == [1, 2]
    assert parse_token(first.text) is not None
    raw = await store._kv.get(record_key(1))
    assert raw is not None
    _, secret = parse_token(first.text) or (0, "")
    assert secret.encode() not in raw
    assert b"$argon2id$" in raw
    listed = await store.list()
    assert [(e.record.user, e.record.role, e.record.note) for e in listed] == [
        ("alice", Role.READER, "laptop"),
        ("ci", Role.ADMIN, ""),
    ]


async def test_a_revocation_is_stored_and_bumps_the_shared_generation(store: TokenStore) -> None:
    issued = await store.create("alice")
    assert await store.generation() == 0
    revoked = await store.revoke(issued.record.token_id)
    assert revoked.revoked is not None
    assert (await store.get(issued.record.token_id)) == revoked
    assert await store.generation() == 1
    again = await store.revoke(issued.record.token_id)
    assert again.revoked == revoked.revoked
    assert await store.generation() == 2
    with pytest.raises(LookupError, match="no token with id 99"):
        await store.revoke(99)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("a:b", "user name 'a:b'"),
        ("", "user name ''"),
        (ADMIN_TOKEN_USER, "'admin_token' is reserved"),
    ],
)
async def test_a_bad_user_name_is_refused_at_creation(
    store: TokenStore, user: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await store.create(user)


async def test_an_expiry_in_the_past_or_a_control_character_in_the_note_is_refused(
    store: TokenStore,
) -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ValueError, match="is not in the future"):
        await store.create("alice", expires=now - dt.timedelta(seconds=1), now=now)
    with pytest.raises(ValueError, match="no control characters"):
        await store.create("alice", note="a\nb")


async def test_a_damaged_record_is_a_storage_error_naming_the_token(store: TokenStore) -> None:
    await store._kv.set(record_key(5), b"garbage")
    with pytest.raises(StorageError, match="token 5: unreadable token record"):
        await store.get(5)


# -- the authenticator -------------------------------------------------------------------


async def issue(store: TokenStore, user: str = "alice", **options: object) -> IssuedToken:
    return await store.create(user, **options)  # type: ignore[arg-type]


async def test_no_credentials_is_anonymous(store: TokenStore) -> None:
    assert await authenticator(store).authenticate(CLIENT, None) == ANONYMOUS


async def test_a_valid_token_identifies_its_user_by_basic_or_bearer(store: TokenStore) -> None:
    issued = await issue(store)
    auth = authenticator(store)
    expected = Identity("alice", Role.READER, "token", issued.record.token_id)
    for header in (
        basic("alice", issued.text),
        basic("__token__", issued.text),
        basic(issued.text, ""),
        bearer(issued.text),
    ):
        assert (await auth.authenticate(CLIENT, header)).identity == expected
    listed = await store.list()
    assert listed[0].last_used is not None


async def test_basic_credentials_with_another_users_name_are_invalid(store: TokenStore) -> None:
    issued = await issue(store)
    outcome = await authenticator(store).authenticate(CLIENT, basic("bob", issued.text))
    assert outcome.refusal is Refusal.INVALID
    assert outcome.identity is None


async def test_wrong_unknown_or_malformed_tokens_are_all_just_invalid(store: TokenStore) -> None:
    issued = await issue(store)
    token_id, secret = parse_token(issued.text) or (0, "")
    wrong_secret = issued.text[:-1] + ("a" if issued.text[-1] != "a" else "b")
    unknown_id = issued.text.replace(f"pgt_{token_id}_", "pgt_999_")
    auth = authenticator(store, max_failures=100)
    for candidate in (wrong_secret, unknown_id, "hunter2", secret):
        outcome = await auth.authenticate(CLIENT, bearer(candidate))
        assert outcome.refusal is Refusal.INVALID, candidate
    malformed = await auth.authenticate(CLIENT, b"Token abc")
    assert malformed.refusal is Refusal.MALFORMED
    assert "Basic or Bearer" in malformed.detail


async def test_only_the_holder_of_a_revoked_or_expired_token_is_told_so(
    store: TokenStore,
) -> None:
    revoked = await issue(store)
    await store.revoke(revoked.record.token_id)
    now = dt.datetime.now(dt.UTC)
    expired = await issue(store, "bob", expires=now + dt.timedelta(seconds=1), now=now)
    # Written as time would have made it: expired a second ago.
    past = dataclasses.replace(expired.record, expires=now - dt.timedelta(seconds=1))
    await store._kv.set(record_key(expired.record.token_id), past.to_bytes())
    auth = authenticator(store, max_failures=100)
    assert (await auth.authenticate(CLIENT, bearer(revoked.text))).refusal is Refusal.REVOKED
    assert (await auth.authenticate(CLIENT, bearer(expired.text))).refusal is Refusal.EXPIRED
    guessed = revoked.text[:-1] + ("a" if revoked.text[-1] != "a" else "b")
    assert (await auth.authenticate(CLIENT, bearer(guessed))).refusal is Refusal.INVALID


async def test_the_admin_token_is_an_admin_credential_as_bearer_or_basic_password(
    store: TokenStore,
) -> None:
    auth = authenticator(store)
    for header in (bearer(ADMIN_SECRET), basic("ops", ADMIN_SECRET)):
        identity = (await auth.authenticate(CLIENT, header)).identity
        assert identity == Identity(ADMIN_TOKEN_USER, Role.ADMIN, "admin_token")
    assert (await auth.authenticate(CLIENT, bearer(ADMIN_SECRET + "x"))).refusal is Refusal.INVALID
    without = authenticator(store, admin_token=None)
    assert (await without.authenticate(CLIENT, bearer(ADMIN_SECRET))).refusal is Refusal.INVALID


async def test_failures_from_one_address_are_limited_but_verified_credentials_still_pass(
    store: TokenStore,
) -> None:
    issued = await issue(store)
    auth = authenticator(store, max_failures=3)
    assert (await auth.authenticate(CLIENT, bearer(issued.text))).identity is not None
    for _ in range(3):
        assert (await auth.authenticate(CLIENT, bearer("guess"))).refusal is Refusal.INVALID
    limited = await auth.authenticate(CLIENT, bearer("guess"))
    assert limited.refusal is Refusal.LIMITED
    assert limited.retry_after is not None
    assert 1 <= limited.retry_after <= 60
    # Not even the right admin token is checked from a limited address...
    assert (await auth.authenticate(CLIENT, bearer(ADMIN_SECRET))).refusal is Refusal.LIMITED
    # ...but a credential verified moments ago is served from the cache, and other
    # addresses and anonymous requests are untouched.
    assert (await auth.authenticate(CLIENT, bearer(issued.text))).identity is not None
    assert (await auth.authenticate(CLIENT, None)) == ANONYMOUS
    assert (await auth.authenticate("192.0.2.11", bearer(ADMIN_SECRET))).identity is not None


async def test_a_revocation_elsewhere_drops_the_cached_verification(store: TokenStore) -> None:
    issued = await issue(store)
    auth = authenticator(store)
    auth.cache.apply_generation(await store.generation())
    assert (await auth.authenticate(CLIENT, bearer(issued.text))).identity is not None
    assert len(auth.cache) == 1
    other_process = TokenStore(store._kv, store.hasher)
    await other_process.revoke(issued.record.token_id)
    # What the background poll does once a second:
    assert auth.cache.apply_generation(await store.generation())
    assert (await auth.authenticate(CLIENT, bearer(issued.text))).refusal is Refusal.REVOKED


async def test_a_token_seen_revoked_is_dropped_from_the_cache_in_every_spelling(
    store: TokenStore,
) -> None:
    issued = await issue(store)
    auth = authenticator(store)
    as_basic = basic("alice", issued.text)
    assert (await auth.authenticate(CLIENT, as_basic)).identity is not None
    await store.revoke(issued.record.token_id)
    # Before this process polls the generation, a spelling not cached yet meets the revoked
    # record; from then on the cached Basic spelling is refused as well.
    assert (await auth.authenticate(CLIENT, bearer(issued.text))).refusal is Refusal.REVOKED
    assert (await auth.authenticate(CLIENT, as_basic)).refusal is Refusal.REVOKED


async def test_a_proxy_header_from_a_trusted_address_names_a_reader(store: TokenStore) -> None:
    auth = authenticator(
        store, trusted_proxy_header="X-Remote-User", trusted_proxies=parse_networks(["10.1.0.0/16"])
    )
    trusted = await auth.authenticate("10.1.2.3", None, b"carol")
    assert trusted.identity == Identity("carol", Role.READER, "proxy")
    assert await auth.authenticate(CLIENT, None, b"carol") == ANONYMOUS
    # Credentials win over the header: a token keeps its own user and role.
    issued = await issue(store, "ci", role=Role.ADMIN)
    by_token = await auth.authenticate("10.1.2.3", bearer(issued.text), b"carol")
    assert by_token.identity is not None
    assert (by_token.identity.user, by_token.identity.role) == ("ci", Role.ADMIN)


async def test_an_unreadable_state_store_is_an_error_not_a_refusal() -> None:
    kv = MemoryKeyValueStore()
    store = TokenStore(kv, SecretHasher(time_cost=1, memory_kib=64))
    issued = await store.create("alice")
    await kv.aclose()
    with pytest.raises(StorageError):
        await authenticator(store).authenticate(CLIENT, bearer(issued.text))


class CountingHasher(SecretHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=64)
        self.verified = 0

    def matches(self, stored_hash: str, secret: str) -> bool:
        self.verified += 1
        return super().matches(stored_hash, secret)


async def test_concurrent_requests_with_one_unverified_credential_share_one_verification(
    tmp_path: Path,
) -> None:
    kv = FilesystemKeyValueStore(tmp_path / "state")
    await kv.start()
    hasher = CountingHasher()
    store = TokenStore(kv, hasher)
    issued = await store.create("alice")
    auth = authenticator(store)
    outcomes = await asyncio.gather(
        *(auth.authenticate(CLIENT, bearer(issued.text)) for _ in range(20))
    )
    assert {o.identity.user if o.identity else None for o in outcomes} == {"alice"}
    assert hasher.verified == 1
    wrong = bearer(issued.text[:-1] + ("a" if issued.text[-1] != "a" else "b"))
    refused = await asyncio.gather(*(auth.authenticate(CLIENT, wrong) for _ in range(5)))
    assert {o.refusal for o in refused} == {Refusal.INVALID}
    assert hasher.verified == 2
    assert auth.limiter.retry_after(CLIENT) is None  # one attempt, counted once
    await kv.aclose()
