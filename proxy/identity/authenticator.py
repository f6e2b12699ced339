"""Per request: the credentials (or trusted proxy header) a client sent, turned into an
``Identity``, "anonymous", or a refusal that says what was wrong without helping a guesser.

Order: a credential verified in the last few seconds is accepted from the cache (a warm
page costs a sha256 and a dictionary lookup); a client address with too many recent
failures is refused (429) before any further check; ``admin_token`` is compared in constant
time; a token is looked up by its id and its secret checked against the argon2 hash. Only
a holder of the right secret learns that the token is revoked or expired; every other
failure reads "invalid credentials".
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import enum
import hmac
import logging
from dataclasses import dataclass, field

from proxy.identity.credentials import MalformedCredentials, parse_authorization
from proxy.identity.model import ADMIN_TOKEN_USER, AuthMode, Identity, Role
from proxy.identity.proxies import Network, TrustedProxies
from proxy.identity.ratelimit import DEFAULT_MAX_FAILURES, DEFAULT_WINDOW, FailureLimiter
from proxy.identity.store import TokenStore
from proxy.identity.tokens import TokenStatus, parse_token
from proxy.identity.verified import DEFAULT_TTL, VerifiedCache, cache_key, follow_revocations
from storage.base import StorageError

logger = logging.getLogger(__name__)

TOKEN_USER_ALIAS = "__token__"  # noqa: S105 (a user name, not a secret)
"""A Basic user name that stands for "whoever the token belongs to", as on PyPI uploads."""


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """What ``proxy.app`` takes from the settings for this package."""

    mode: AuthMode = AuthMode.OFF
    admin_token: str | None = field(default=None, repr=False)
    trusted_proxy_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    max_failures: int = DEFAULT_MAX_FAILURES
    failure_window: float = DEFAULT_WINDOW
    cache_ttl: float = DEFAULT_TTL


class Refusal(enum.StrEnum):
    MALFORMED = "malformed"
    INVALID = "invalid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    LIMITED = "limited"


REFUSAL_TEXT = {
    Refusal.MALFORMED: "unreadable credentials: use Basic (user name and token) or Bearer",
    Refusal.INVALID: "invalid credentials",
    Refusal.REVOKED: "this token was revoked",
    Refusal.EXPIRED: "this token has expired",
    Refusal.LIMITED: "too many failed authentication attempts from this address",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    identity: Identity | None = None
    """``None`` and no refusal: anonymous (no credentials were sent)."""
    refusal: Refusal | None = None
    detail: str = ""
    """For a malformed header: what was wrong with it (never its value)."""
    retry_after: int | None = None


ANONYMOUS = Outcome()


class Authenticator:
    def __init__(
        self,
        config: IdentityConfig,
        store: TokenStore,
        *,
        limiter: FailureLimiter | None = None,
        cache: VerifiedCache | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.limiter = limiter or FailureLimiter(config.max_failures, config.failure_window)
        self.cache = cache or VerifiedCache(config.cache_ttl)
        self.proxies = TrustedProxies(config.trusted_proxy_header, config.trusted_proxies)
        self._verifying: dict[bytes, asyncio.Future[Outcome]] = {}

    async def follow_revocations(self) -> None:
        """Run for the app's lifetime: drop verified tokens when any process revokes one."""
        await follow_revocations(self.cache, self.store.generation)

    def cached(self, authorization: bytes) -> Identity | None:
        """The identity of credentials verified in the last few seconds: the warm path."""
        return self.cache.get(cache_key(authorization))

    async def authenticate(
        self, client: str, authorization: bytes | None, proxy_user: bytes | None = None
    ) -> Outcome:
        """``StorageError`` when the shared state cannot be read (the caller answers 503)."""
        if authorization is None:
            user = self.proxies.user(client, proxy_user)
            return ANONYMOUS if user is None else Outcome(Identity(user, Role.READER, "proxy"))
        key = cache_key(authorization)
        cached = self.cache.get(key)
        if cached is not None:
            return Outcome(cached)
        pending = self._verifying.get(key)
        if pending is not None:
            # When a cached entry lapses, every request of a busy client misses at once: one
            # argon2 verification answers them all.
            return await asyncio.shield(pending)
        retry = self.limiter.retry_after(client)
        if retry is not None:
            return Outcome(refusal=Refusal.LIMITED, retry_after=retry)
        task = asyncio.ensure_future(self._verify(key, authorization))
        self._verifying[key] = task
        task.add_done_callback(lambda _: self._verifying.pop(key, None))
        outcome = await asyncio.shield(task)
        if outcome.refusal is not None:
            self.limiter.failed(client)
            logger.info("authentication refused for %s: %s", client, outcome.refusal.value)
        return outcome

    async def verify_password(self, client: str, user: str, secret: str) -> Outcome:
        """A user name and token typed into a form (the console's sign-in): exactly the
        checks, failure limit and refusals of the same pair sent as Basic credentials."""
        if not secret:
            return Outcome(refusal=Refusal.INVALID)
        header = b"Basic " + base64.b64encode(f"{user}:{secret}".encode())
        return await self.authenticate(client, header)

    async def _verify(self, key: bytes, authorization: bytes) -> Outcome:
        try:
            credentials = parse_authorization(authorization)
        except MalformedCredentials as error:
            return Outcome(refusal=Refusal.MALFORMED, detail=str(error))
        admin_token = self.config.admin_token
        if admin_token is not None and hmac.compare_digest(
            credentials.secret.encode(), admin_token.encode()
        ):
            return Outcome(Identity(ADMIN_TOKEN_USER, Role.ADMIN, "admin_token"))
        parsed = parse_token(credentials.secret)
        if parsed is None:
            return Outcome(refusal=Refusal.INVALID)
        token_id, secret = parsed
        generation = self.cache.generation
        record = await self.store.get(token_id)
        if record is None or credentials.user not in (None, TOKEN_USER_ALIAS, record.user):
            return Outcome(refusal=Refusal.INVALID)
        if not await self.store.hasher.matches_async(record.secret_hash, secret):
            return Outcome(refusal=Refusal.INVALID)
        now = dt.datetime.now(dt.UTC)
        status = record.status(now)
        if status is not TokenStatus.ACTIVE:
            self.cache.forget_token(token_id)
            logger.info("token %d of %s refused: %s", token_id, record.user, status.value)
            return Outcome(refusal=Refusal(status.value))
        identity = Identity(record.user, record.role, "token", token_id)
        # A revocation seen while this one was being verified must not be cached over.
        if self.cache.generation == generation:
            expires = record.expires.timestamp() if record.expires else None
            self.cache.put(key, identity, expires)
        try:
            await self.store.note_use(token_id, now)
        except StorageError as error:
            logger.warning("last use of token %d not recorded: %s", token_id, error)
        return Outcome(identity)


__all__ = [
    "ANONYMOUS",
    "REFUSAL_TEXT",
    "TOKEN_USER_ALIAS",
    "Authenticator",
    "IdentityConfig",
    "Outcome",
    "Refusal",
]
