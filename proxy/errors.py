"""pipgate's domain errors; ``http_errors`` maps each to one status code.

An upstream 404 is "not found"; every other upstream failure is "unavailable" (the cache may
then serve stale data). Messages say what happened and carry the offending value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.base import Verdict


class ProxyError(Exception):
    """Root of every error pipgate turns into an HTTP answer."""


class NotFound(ProxyError, LookupError):
    """A project or file that does not exist (404)."""


class ProjectNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"project {name!r} was not found")
        self.name = name


class FileNotFound(NotFound):
    def __init__(self, name: str, filename: str) -> None:
        super().__init__(f"file {filename!r} is not listed for project {name!r}")
        self.name = name
        self.filename = filename


class InvalidName(NotFound):
    """A project name or filename that can never be valid (traversal, bad characters)."""


class NotAcceptable(ProxyError):
    """No representation matches the client's Accept header (406)."""


class UpstreamUnavailable(ProxyError):
    """The upstream could not be reached or answered with an error (503 if nothing cached)."""


class UpstreamProtocolError(ProxyError):
    """The upstream answered something that is not a valid simple API response (502)."""


class IntegrityError(ProxyError):
    """Downloaded bytes do not match the hash the index promised (502)."""

    def __init__(self, filename: str, expected: str, got: str) -> None:
        super().__init__(
            f"integrity check failed for {filename!r}: sha256 {got} does not match the "
            f"index's {expected}"
        )
        self.filename = filename
        self.expected = expected
        self.got = got


class ForbiddenTarget(UpstreamProtocolError):
    """A URL from an upstream page points somewhere pipgate must never fetch (SSRF guard)."""


class PolicyDenied(ProxyError):
    """A policy refused the project or file (403)."""

    def __init__(self, verdict: Verdict, subject: str) -> None:
        if verdict.holds:
            item = f" (quarantine item {verdict.quarantine_id})" if verdict.quarantine_id else ""
            what = f"is held for review{item} by policy {verdict.policy!r}"
        else:
            what = f"is blocked by policy {verdict.policy!r}"
        super().__init__(f"{subject} {what}: {verdict.reason}")
        self.verdict = verdict
        self.subject = subject
