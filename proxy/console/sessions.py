"""Console sessions: a random id in a signed cookie, the session itself in the shared
state (any replica can serve it; logging out deletes it everywhere).

The cookie is ``<id>.<HMAC-SHA256(key, id)>``, HttpOnly, SameSite=Strict, Secure behind
https, path ``/-/ui/``. The key is random, made once and kept in the shared state, so every
replica checks the same signature. A session ends at its expiry, at logout, or as soon as
the token it was opened with is revoked or expires (checked on every request).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from storage.base import KeyValueStore

COOKIE = "pipgate_console"
COOKIE_PATH = "/-/ui/"
DEFAULT_LIFETIME = dt.timedelta(hours=8)
KEY_KEY = "console:session-key"
_KEY_CLAIM = "console:session-key-claim"


def _session_key(session_id: str) -> str:
    return f"console:session:{session_id}"


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    user: str
    role: str
    via: str
    """``token``, ``admin_token`` or ``loopback`` (``auth = "off"``)."""
    token_id: int | None
    created: dt.datetime
    expires: dt.datetime
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "id": self.session_id,
                "user": self.user,
                "role": self.role,
                "via": self.via,
                "token_id": self.token_id,
                "created": self.created.isoformat(),
                "expires": self.expires.isoformat(),
                "csrf": self.csrf,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Session:
        data = json.loads(raw)
        return cls(
            session_id=str(data["id"]),
            user=str(data["user"]),
            role=str(data["role"]),
            via=str(data["via"]),
            token_id=None if data["token_id"] is None else int(data["token_id"]),
            created=dt.datetime.fromisoformat(data["created"]),
            expires=dt.datetime.fromisoformat(data["expires"]),
            csrf=str(data["csrf"]),
        )


class SessionStore:
    def __init__(self, kv: KeyValueStore, lifetime: dt.timedelta = DEFAULT_LIFETIME) -> None:
        self._kv = kv
        self.lifetime = lifetime
        self._key: bytes | None = None

    async def open(
        self, user: str, role: str, via: str, token_id: int | None, now: dt.datetime
    ) -> tuple[Session, str]:
        """A new session and the cookie value that names it."""
        session = Session(
            session_id=secrets.token_urlsafe(24),
            user=user,
            role=role,
            via=via,
            token_id=token_id,
            created=now,
            expires=now + self.lifetime,
            csrf=secrets.token_urlsafe(24),
        )
        ttl = self.lifetime.total_seconds()
        await self._kv.set(_session_key(session.session_id), session.to_bytes(), ttl=ttl)
        return session, await self._cookie(session.session_id)

    async def find(self, cookie: str | None, now: dt.datetime) -> Session | None:
        """The live session a cookie names; ``None`` for a missing, forged or ended one."""
        if not cookie or cookie.count(".") != 1:
            return None
        session_id, signature = cookie.split(".")
        expected = await self._cookie(session_id)
        if not hmac.compare_digest(expected.encode(), f"{session_id}.{signature}".encode()):
            return None
        raw = await self._kv.get(_session_key(session_id))
        if raw is None:
            return None
        try:
            session = Session.from_bytes(raw)
        except (KeyError, TypeError, ValueError):
            return None
        return session if now < session.expires else None

    async def close(self, session: Session) -> None:
        await self._kv.delete(_session_key(session.session_id))

    async def _cookie(self, session_id: str) -> str:
        mac = hmac.new(await self._signing_key(), session_id.encode(), hashlib.sha256).digest()
        return f"{session_id}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    async def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = await _shared_key(self._kv)
        return self._key


async def _shared_key(kv: KeyValueStore) -> bytes:
    """The one signing key of every replica: the first to claim it writes it."""
    raw = await kv.get(KEY_KEY)
    if raw is None and await kv.incr(_KEY_CLAIM) == 1:
        raw = secrets.token_hex(32).encode()
        await kv.set(KEY_KEY, raw)
    for _ in range(50):  # another replica claimed it and is writing it
        if raw is not None:
            return bytes.fromhex(raw.decode())
        await asyncio.sleep(0.02)
        raw = await kv.get(KEY_KEY)
    # The claimer died before writing it: nobody can hold a cookie signed with it yet.
    raw = secrets.token_hex(32).encode()
    await kv.set(KEY_KEY, raw)
    return bytes.fromhex(raw.decode())


__all__ = ["COOKIE", "COOKIE_PATH", "DEFAULT_LIFETIME", "Session", "SessionStore"]
