"""What a client presented in its ``Authorization`` header.

- ``Basic base64(user:token)``: what pip, uv, poetry and pdm send for
  ``https://user:token@host/simple/``, ``.netrc`` and keyring credentials. A token given as
  the user name with an empty password (``https://token@host/``) is accepted too.
- ``Bearer token``: for curl, scripts and ``admin_token``.

Any other scheme, or a header that does not decode, is malformed: refused, never ignored,
so a misconfigured client learns it at once instead of being served anonymously.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

MAX_HEADER = 4096


class MalformedCredentials(ValueError):
    """The header cannot be read as Basic or Bearer credentials; says why, never the value."""


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str | None
    """The Basic user name, ``None`` for Bearer (and for a token sent as the user name)."""
    secret: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, secret=<hidden>)"


def parse_authorization(header: bytes) -> Credentials:
    """The credentials of an ``Authorization`` header value (raw bytes from the scope)."""
    if len(header) > MAX_HEADER:
        raise MalformedCredentials(f"Authorization header longer than {MAX_HEADER} bytes")
    scheme, _, value = header.strip().partition(b" ")
    value = value.strip()
    kind = scheme.lower()
    if kind == b"bearer":
        if not value:
            raise MalformedCredentials("Bearer credentials without a token")
        return Credentials(None, _text(value))
    if kind == b"basic":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedCredentials("Basic credentials are not valid base64") from error
        user, colon, password = _text(decoded).partition(":")
        if not colon:
            raise MalformedCredentials("Basic credentials without a ':' after the user name")
        if not password:
            if not user:
                raise MalformedCredentials("Basic credentials with neither user nor token")
            return Credentials(None, user)
        return Credentials(user or None, password)
    raise MalformedCredentials("unsupported Authorization scheme: expected Basic or Bearer")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedCredentials("credentials are not UTF-8 text") from error


__all__ = ["Credentials", "MalformedCredentials", "parse_authorization"]
