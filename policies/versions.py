"""Fast, cached versions of distribution filenames (PEP 427 wheels, PEP 625 sdists).

File policies run for every file of every page a cache miss filters (6,000 files for
the largest projects), so the version of a file is read without ``parse_wheel_filename``'s
tag parsing, and ``Version`` objects are shared through a bounded cache: a page has far
fewer versions than files.
"""

from __future__ import annotations

import functools

from packaging.version import InvalidVersion, Version

from proxy.model import filename_version


@functools.lru_cache(maxsize=16384)
def parse_version(text: str) -> Version | None:
    """``Version(text)``, or ``None`` when ``text`` is not a PEP 440 version."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


@functools.lru_cache(maxsize=65536)
def file_version(filename: str) -> Version | None:
    """The version a wheel or sdist filename encodes, or ``None`` if it has none."""
    if filename.endswith(".whl"):
        # name-version(-build)?-python-abi-platform.whl; names never contain '-'.
        parts = filename[:-4].split("-")
        if len(parts) in (5, 6):
            return parse_version(parts[1])
    return filename_version(filename)
