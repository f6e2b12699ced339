"""One member of an archive, as every reader reports it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EntryType(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"
    """Devices, FIFOs and types no sdist needs."""


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    size: int
    """Uncompressed size in bytes (0 for anything but a file)."""
    type: EntryType = EntryType.FILE
    link: str = ""
    """Target of a symbolic or hard link."""
