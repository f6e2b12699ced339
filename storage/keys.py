"""Pure builders of storage keys, and the validation that makes path traversal impossible.

A key is ``<kind>/<project>/<file>``: every segment is checked here, before any store sees
it, so no request can name something outside a store (``..``, separators, NUL, control or
non-ASCII characters). Project names follow PEP 508's name rule and are PEP 503 normalised;
filenames must look like a distribution: a wheel (PEP 427) or sdist (PEP 625) that
``packaging`` can parse, or a legacy upload (``.tar.bz2``, ``.egg``, ``.exe`` ...) made only of
the characters ``[A-Za-z0-9._+!-]``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from proxy.errors import InvalidName
from proxy.repository import ResourceKind

MAX_NAME_LENGTH = 255
"""The longest file name most filesystems accept; longer names are never valid here."""

# re.ASCII matters: with IGNORECASE alone, [A-Z] also matches the Kelvin sign and the long s.
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE | re.ASCII)
_FILENAME_CHARS = re.compile(r"[A-Za-z0-9._+!-]+\Z", re.ASCII)
# "<name>-<version...>": what every distribution filename has looked like since distutils.
_DIST_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!]*-[A-Za-z0-9._+!-]*[A-Za-z0-9]\Z", re.ASCII)
_LEGACY_SUFFIXES = (
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tar.Z",
    ".tar",
    ".tgz",
    ".tbz",
    ".zip",
    ".egg",
    ".exe",
    ".msi",
    ".rpm",
    ".dmg",
    ".deb",
)
_KIND_SUFFIX = {
    ResourceKind.DIST.value: "",
    ResourceKind.METADATA.value: ".metadata",  # PEP 658: the file's URL + ".metadata"
    ResourceKind.PROVENANCE.value: ".provenance",
}


def _check_segment(value: str, what: str) -> None:
    """Reject anything that could act as, or smuggle, a path component."""
    if not value:
        raise InvalidName(f"invalid {what} {value!r}: must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"invalid {what} {value[:40]!r}...: {len(value)} characters, "
            f"at most {MAX_NAME_LENGTH} allowed"
        )
    for forbidden in ("/", "\\", "\x00"):
        if forbidden in value:
            raise InvalidName(f"invalid {what} {value!r}: must not contain {forbidden!r}")
    if any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in value):
        raise InvalidName(f"invalid {what} {value!r}: must not contain control characters")
    if ".." in value:
        raise InvalidName(f"invalid {what} {value!r}: must not contain '..'")
    if value.startswith("."):
        raise InvalidName(f"invalid {what} {value!r}: must not start with '.'")


def validate_project(name: str) -> NormalizedName:
    """Check ``name`` against PEP 508's name rule and return its PEP 503 normal form.

    The rule alone excludes separators, NUL, control characters and a leading dot; runs
    like ``a..b`` are valid names whose normal form (``a-b``) is a safe path segment.
    """
    if not name or len(name) > MAX_NAME_LENGTH or not _PROJECT_NAME.match(name):
        raise InvalidName(
            f"invalid project name {name!r}: expected ASCII letters and digits, with '.', '_' "
            "or '-' only between them (PEP 508)"
        )
    return canonicalize_name(name)


def validate_filename(filename: str) -> str:
    """Return ``filename`` if it is a safe distribution filename, else raise ``InvalidName``.

    A ``.whl`` must parse as a wheel. Other files are accepted when ``packaging`` parses them
    as an sdist, or when they have a known legacy suffix and a ``<name>-<version>`` stem:
    old uploads predate PEP 440 versions and PEP 625 names, and installers still use them.
    """
    _check_segment(filename, "filename")
    if not _FILENAME_CHARS.match(filename):
        raise InvalidName(
            f"invalid filename {filename!r}: only ASCII letters, digits and '._+!-' are allowed"
        )
    if filename.endswith(".whl"):
        try:
            parse_wheel_filename(filename)
        except InvalidWheelFilename as error:
            raise InvalidName(f"invalid filename {filename!r}: {error}") from error
        return filename
    if _is_sdist(filename) or _is_legacy_dist(filename):
        return filename
    raise InvalidName(
        f"invalid filename {filename!r}: expected a wheel, an sdist or a legacy distribution "
        f"named '<name>-<version>' ending in one of {', '.join(_LEGACY_SUFFIXES)}"
    )


def _is_sdist(filename: str) -> bool:
    try:
        parse_sdist_filename(filename)
    except InvalidSdistFilename:
        return False
    return True


def _is_legacy_dist(filename: str) -> bool:
    for suffix in _LEGACY_SUFFIXES:
        if filename.endswith(suffix):
            return bool(_DIST_STEM.match(filename[: -len(suffix)]))
    return False


def blob_key(name: str, filename: str, kind: ResourceKind | str = ResourceKind.DIST) -> str:
    """``dist/<name>/<file>``, ``metadata/<name>/<file>.metadata`` or ``provenance/...``."""
    kind_name = kind.value if isinstance(kind, ResourceKind) else kind
    if kind_name not in _KIND_SUFFIX:
        raise ValueError(f"unknown blob kind {kind_name!r}; expected one of {list(_KIND_SUFFIX)}")
    project = validate_project(name)
    stored_name = validate_filename(filename) + _KIND_SUFFIX[kind_name]
    if len(stored_name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"invalid filename {filename[:40]!r}...: too long to store its {kind_name} "
            f"({len(stored_name)} > {MAX_NAME_LENGTH} characters)"
        )
    return f"{kind_name}/{project}/{stored_name}"


def page_key(upstream: str, name: str) -> str:
    """``page/<upstream>/<name>``; the upstream (a name or URL) is percent-encoded whole."""
    if not upstream:
        raise InvalidName("invalid upstream '': must not be empty")
    return f"page/{quote(upstream, safe='')}/{validate_project(name)}"


__all__ = [
    "MAX_NAME_LENGTH",
    "blob_key",
    "page_key",
    "validate_filename",
    "validate_project",
]
