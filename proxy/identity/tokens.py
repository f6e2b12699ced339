"""The token format and the stored token record.

A token reads ``pgt_<id>_<secret>``: the id finds the record in one key-value lookup (no scan
of every hash), the secret is 256 random bits shown once and stored only as an argon2 hash.
The ``pgt_`` prefix lets secret scanners and people recognise a pipgate token.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import re
import secrets
from dataclasses import dataclass, replace

from proxy.identity.model import Role

PREFIX = "pgt_"
_TOKEN = re.compile(r"pgt_([1-9][0-9]{0,17})_([a-z2-7]{52})\Z", re.ASCII)
_SECRET_BYTES = 32


class TokenError(ValueError):
    """A stored record that cannot be read back (written by another version, or damaged)."""


def new_secret() -> str:
    """256 random bits as 52 lower-case base32 characters: URL-, netrc- and shell-safe."""
    raw = secrets.token_bytes(_SECRET_BYTES)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def format_token(token_id: int, secret: str) -> str:
    return f"{PREFIX}{token_id}_{secret}"


def parse_token(text: str) -> tuple[int, str] | None:
    """``(id, secret)`` of a well-formed token, else ``None``."""
    match = _TOKEN.match(text)
    if match is None:
        return None
    return int(match[1]), match[2]


class IssuedToken:
    """A token just created: the only object that ever holds its plain text."""

    __slots__ = ("record", "text")

    def __init__(self, record: TokenRecord, text: str) -> None:
        self.record = record
        self.text = text

    def __repr__(self) -> str:
        return f"IssuedToken(id={self.record.token_id}, user={self.record.user!r}, text=<hidden>)"


class TokenStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the shared state keeps of a token: never the token, only its argon2 hash."""

    token_id: int
    user: str
    role: Role
    secret_hash: str
    created: dt.datetime
    expires: dt.datetime | None = None
    note: str = ""
    revoked: dt.datetime | None = None

    def __repr__(self) -> str:
        return (
            f"TokenRecord(id={self.token_id}, user={self.user!r}, role={self.role.value}, "
            f"status={self.status(dt.datetime.now(dt.UTC)).value}, secret_hash=<hidden>)"
        )

    def status(self, now: dt.datetime) -> TokenStatus:
        if self.revoked is not None:
            return TokenStatus.REVOKED
        if self.expires is not None and self.expires <= now:
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE

    def revoked_at(self, moment: dt.datetime) -> TokenRecord:
        return replace(self, revoked=moment)

    def to_bytes(self) -> bytes:
        document = {
            "id": self.token_id,
            "user": self.user,
            "role": self.role.value,
            "hash": self.secret_hash,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "note": self.note,
            "revoked": self.revoked.isoformat() if self.revoked else None,
        }
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> TokenRecord:
        try:
            doc = json.loads(raw)
            return cls(
                token_id=int(doc["id"]),
                user=str(doc["user"]),
                role=Role(doc["role"]),
                secret_hash=str(doc["hash"]),
                created=_moment(doc["created"]),
                expires=_moment(doc["expires"]) if doc.get("expires") else None,
                note=str(doc.get("note") or ""),
                revoked=_moment(doc["revoked"]) if doc.get("revoked") else None,
            )
        except (ValueError, KeyError, TypeError) as error:
            raise TokenError(f"unreadable token record: {error}") from error


def _moment(text: object) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment


__all__ = [
    "PREFIX",
    "IssuedToken",
    "TokenError",
    "TokenRecord",
    "TokenStatus",
    "format_token",
    "new_secret",
    "parse_token",
]
