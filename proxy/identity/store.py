"""Tokens in the shared key-value state (``storage.base.KeyValueStore``).

Keys (under the state store's own prefix, so ``pipgate:state:`` on Redis):

- ``identity:token-seq``: the last id handed out (``incr``, atomic across replicas);
- ``identity:token:<id>``: the record (JSON, with the argon2 hash);
- ``identity:last-used:<id>``: when it last verified; a key of its own, so that recording a
  use can never overwrite a revocation written at the same moment;
- ``identity:generation``: bumped by every revocation; each process polls it and drops its
  cache of verified tokens when it changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from proxy.identity.hashing import SecretHasher
from proxy.identity.model import ADMIN_TOKEN_USER, USER_NAME_RULE, Role, valid_user_name
from proxy.identity.tokens import (
    IssuedToken,
    TokenError,
    TokenRecord,
    format_token,
    new_secret,
)
from storage.base import KeyValueStore, StorageError

SEQUENCE_KEY = "identity:token-seq"
GENERATION_KEY = "identity:generation"
MAX_NOTE = 500


def record_key(token_id: int) -> str:
    return f"identity:token:{token_id}"


def last_used_key(token_id: int) -> str:
    return f"identity:last-used:{token_id}"


@dataclass(frozen=True, slots=True)
class Listed:
    record: TokenRecord
    last_used: dt.datetime | None


class TokenStore:
    def __init__(self, kv: KeyValueStore, hasher: SecretHasher | None = None) -> None:
        self._kv = kv
        self.hasher = hasher or SecretHasher()

    async def create(
        self,
        user: str,
        role: Role = Role.READER,
        *,
        expires: dt.datetime | None = None,
        note: str = "",
        now: dt.datetime | None = None,
    ) -> IssuedToken:
        """A new token for ``user``; its text exists only in the returned object."""
        if not valid_user_name(user) or user == ADMIN_TOKEN_USER:
            shown = f"{user!r} is reserved" if user == ADMIN_TOKEN_USER else repr(user)
            raise ValueError(f"user name {shown}: expected {USER_NAME_RULE}")
        if len(note) > MAX_NOTE or any(ord(c) < 32 for c in note):
            raise ValueError(f"note: at most {MAX_NOTE} characters, no control characters")
        created = now or dt.datetime.now(dt.UTC)
        if expires is not None and expires <= created:
            raise ValueError(f"expiry {expires.isoformat()} is not in the future")
        secret = new_secret()
        token_id = await self._kv.incr(SEQUENCE_KEY)
        record = TokenRecord(
            token_id=token_id,
            user=user,
            role=role,
            secret_hash=self.hasher.hash(secret),
            created=created,
            expires=expires,
            note=note,
        )
        await self._kv.set(record_key(token_id), record.to_bytes())
        return IssuedToken(record, format_token(token_id, secret))

    async def get(self, token_id: int) -> TokenRecord | None:
        raw = await self._kv.get(record_key(token_id))
        if raw is None:
            return None
        try:
            return TokenRecord.from_bytes(raw)
        except TokenError as error:
            raise StorageError(f"token {token_id}: {error}") from error

    async def revoke(self, token_id: int, *, now: dt.datetime | None = None) -> TokenRecord:
        """Mark the token revoked and tell every process; ``LookupError`` if unknown."""
        record = await self.get(token_id)
        if record is None:
            raise LookupError(f"no token with id {token_id}")
        if record.revoked is None:
            record = record.revoked_at(now or dt.datetime.now(dt.UTC))
            await self._kv.set(record_key(token_id), record.to_bytes())
        # Bumped even for an already revoked token: a retry after a failed bump still reaches
        # every process.
        await self._kv.incr(GENERATION_KEY)
        return record

    async def generation(self) -> int:
        raw = await self._kv.get(GENERATION_KEY)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError as error:
            raise StorageError(f"{GENERATION_KEY!r} holds {raw[:40]!r}, not an integer") from error

    async def note_use(self, token_id: int, moment: dt.datetime) -> None:
        await self._kv.set(last_used_key(token_id), moment.isoformat().encode())

    async def last_used(self, token_id: int) -> dt.datetime | None:
        raw = await self._kv.get(last_used_key(token_id))
        if raw is None:
            return None
        try:
            return dt.datetime.fromisoformat(raw.decode())
        except (UnicodeDecodeError, ValueError):
            return None  # a damaged "last used" stamp must not hide the token from a listing

    async def list(self) -> list[Listed]:
        """Every token ever created and still stored, oldest first."""
        raw = await self._kv.get(SEQUENCE_KEY)
        highest = int(raw) if raw is not None and raw.isdigit() else 0
        listed = []
        for token_id in range(1, highest + 1):
            record = await self.get(token_id)
            if record is not None:
                listed.append(Listed(record, await self.last_used(token_id)))
        return listed


__all__ = ["GENERATION_KEY", "SEQUENCE_KEY", "Listed", "TokenStore", "last_used_key", "record_key"]
