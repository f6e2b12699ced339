"""The identity vocabulary: access modes, roles, and who a request was made by."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class AuthMode(enum.StrEnum):
    """``[server] auth``: whether the index asks who is pulling."""

    OFF = "off"
    """Nobody is asked; admin endpoints answer loopback and admin credentials."""
    OPTIONAL = "optional"
    """Anonymous requests are served; given credentials must be valid and are recorded."""
    REQUIRED = "required"
    """Every index request needs valid credentials (401 otherwise)."""


class Role(enum.StrEnum):
    READER = "reader"
    """May use the index: pages, files, the JSON API."""
    ADMIN = "admin"
    """May also use ``/-/`` endpoints and ``/metrics``."""


ADMIN_TOKEN_USER = "admin_token"  # noqa: S105 (a user name, not a secret)
"""The user recorded for requests made with the ``admin_token`` setting; reserved."""

_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\Z", re.ASCII)
USER_NAME_RULE = (
    "1 to 128 characters: letters, digits and . _ @ + - (starting with a letter or digit)"
)


def valid_user_name(name: str) -> bool:
    """Whether ``name`` can be a user: no colon (Basic auth), no spaces, nothing to escape."""
    return _USER_NAME.match(name) is not None


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller, as the fetch log and the admin checks see it."""

    user: str
    role: Role
    via: str
    """``token``, ``admin_token`` or ``proxy`` (the trusted SSO header)."""
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
