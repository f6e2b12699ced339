"""What the JSON and the HTML parsers share: field errors, api-version, hashes, URLs.

PEP 629 (api-version), PEP 503 (``#<hashname>=<hex>`` URL fragments) and the living spec's
rule that relative URLs resolve against the URL the page was fetched from.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urljoin

MISSING = object()
"""Stands for a key that is absent (as opposed to ``null``) in error messages."""

HEX = re.compile(r"[0-9a-fA-F]+")
"""Use with ``fullmatch``: a hex digest."""
_API_VERSION = re.compile(r"(\d+)\.(\d+)\Z")
_FRAGMENT_HASHES = frozenset(hashlib.algorithms_guaranteed)
# What urljoin treats specially beyond "directory + last segment": a scheme, query or
# fragment, the characters urlsplit strips, brackets (IPv6 hosts, which it validates); and,
# tested in code, a leading space or control character, "//host" and a "." or ".." segment.
_UNUSUAL_ABSOLUTE = re.compile(r"[?#\[\]\t\r\n]")
_UNUSUAL_RELATIVE = re.compile(r"[:?#\t\r\n]")


class InvalidField(Exception):
    """One malformed field; the public parse functions add the URL and re-raise."""

    def __init__(self, field: str, expected: str, value: object) -> None:
        super().__init__(field, expected, value)
        self.field = field
        self.expected = expected
        self.value = value

    def within(self, prefix: str, separator: str = ".") -> InvalidField:
        """The same error, seen from the enclosing object (``files[3]`` + ``.size``)."""
        field = f"{prefix}{separator}{self.field}" if self.field else prefix
        return InvalidField(field, self.expected, self.value)

    def __str__(self) -> str:
        shown = "nothing (missing)" if self.value is MISSING else repr(self.value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return f"{self.field}: expected {self.expected}, got {shown}"


def check_api_version(value: object, field: str) -> None:
    """PEP 629: accept any 1.x; clients "MUST" refuse a greater major version."""
    match = _API_VERSION.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidField(field, 'a "major.minor" version string', value)
    if int(match.group(1)) != 1:
        raise InvalidField(field, "api-version 1.x (pipgate speaks version 1)", value)


def split_fragment(url: str, field: str) -> tuple[str, dict[str, str]]:
    """Split ``URL#<hashname>=<hex>`` (PEP 503) into the bare URL and its hashes.

    A fragment that is not a hashlib-guaranteed hash (``#egg=...``) is dropped.
    """
    if "#" not in url:
        return url, {}
    base, _, fragment = url.partition("#")
    algorithm, eq, digest = fragment.partition("=")
    algorithm = algorithm.lower()
    if not eq or algorithm not in _FRAGMENT_HASHES:
        return base, {}
    if not HEX.fullmatch(digest):
        raise InvalidField(field, f"a hex {algorithm} digest in the URL fragment", url)
    return base, {algorithm: digest.lower()}


class UrlResolver:
    """``urljoin(base, ref)``, fast for the thousands of links of one page.

    A page's links share a few directories, so each directory is joined once and the
    last path segment appended; anything unusual goes through ``urljoin`` itself.
    """

    def __init__(self, base: str) -> None:
        self._base = base
        self._directories: dict[str, str] = {}

    def __call__(self, ref: str) -> str:
        if ref.startswith(("https://", "http://")):
            # No host ("http://", "http:///x", "http://?q") makes urljoin keep the base's.
            host_start = ref[ref.index("//") + 2 : ref.index("//") + 3]
            if not host_start or host_start in "/?#" or _UNUSUAL_ABSOLUTE.search(ref):
                return self._join(ref)
            return ref
        head, sep, tail = ref.rpartition("/")
        if (
            not ref
            or ref[0] <= " "
            or ref.startswith("//")
            or tail in (".", "..")
            or _UNUSUAL_RELATIVE.search(ref)
        ):
            return self._join(ref)
        prefix = head + sep
        directory = self._directories.get(prefix)
        if directory is None:
            directory = self._join(prefix or "./")
            self._directories[prefix] = directory
        return directory + tail

    def _join(self, ref: str) -> str:
        try:
            return urljoin(self._base, ref)
        except ValueError as e:
            raise InvalidField("url", "a valid URL", ref) from e
