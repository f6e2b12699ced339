"""Archive-structure checks: the ambiguities PyPI rejects in uploads since 2025, and the
path tricks that make unpacking write outside its directory.

ZIP: several EOCD records, bytes before the first member or after the end record, a
local header that disagrees with the central directory, members overlapping, a member
count that differs from the EOCD's. Every archive: duplicate names, absolute or climbing
paths, links and device files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

from policies.scan.archive_entry import Entry, EntryType
from policies.scan.model import Finding, Severity
from policies.scan.rules import rule
from policies.scan.zip_layout import ZipLayout, ZipMember

_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_REPORTED = 5
"""Findings of one rule per archive beyond which the rest are summarised."""


def zip_findings(layout: ZipLayout) -> list[Finding]:
    found: list[Finding] = []
    if len(layout.eocd_offsets) > 1:
        where = ", ".join(str(o) for o in layout.eocd_offsets)
        found.append(rule("archive-multiple-eocd").finding("", None, f"EOCD records at {where}"))
    if layout.eocd_end != layout.size:
        extra = layout.size - layout.eocd_end
        found.append(
            rule("archive-trailing-data").finding("", None, f"{extra} bytes after the EOCD record")
        )
    first = min((m.offset for m in layout.members), default=0)
    if first > 0:
        found.append(
            rule("archive-trailing-data").finding(
                "", None, f"{first} bytes before the first member"
            )
        )
    if layout.declared_entries != len(layout.members):
        found.append(
            rule("archive-header-mismatch").finding(
                "",
                None,
                f"the EOCD declares {layout.declared_entries} members, the central directory "
                f"has {len(layout.members)}",
            )
        )
    found.extend(_capped(_header_mismatches(layout.members)))
    found.extend(_capped(_overlaps(layout.members)))
    return found


def _header_mismatches(members: Iterable[ZipMember]) -> Iterator[Finding]:
    mismatch = rule("archive-header-mismatch")
    for member in members:
        local = member.local
        if local is None:
            yield mismatch.finding(member.name, None, f"no local header at offset {member.offset}")
            continue
        differences = []
        if local.name != member.raw_name:
            differences.append(f"local name {local.name!r}")
        if local.method != member.method:
            differences.append(f"method {local.method} vs {member.method}")
        # With a data descriptor (flag bit 3) the local header may carry zeros.
        if not local.flags & 0x8:
            for label, here, there in (
                ("crc", local.crc, member.crc),
                ("compressed size", local.compressed, member.compressed),
                ("size", local.size, member.size),
            ):
                # ZIP64 members keep their sizes in an extra field: 0xFFFFFFFF here.
                if here != there and here != 0xFFFFFFFF:
                    differences.append(f"{label} {here} vs {there}")
        if differences:
            yield mismatch.finding(member.name, None, "; ".join(differences))


def _overlaps(members: list[ZipMember]) -> Iterator[Finding]:
    spans = sorted((m.offset, m.data_end, m.name) for m in members if m.local is not None)
    for (_, end, name), (start, _, following) in itertools.pairwise(spans):
        if start < end:
            yield rule("archive-overlap").finding(
                following, None, f"starts at {start}, inside {name!r} (ends at {end})"
            )


def entry_findings(entries: Iterable[Entry], *, zip_archive: bool = True) -> list[Finding]:
    """Duplicate names, unsafe paths and links, over every reader's entries. Duplicates
    in a tar are a warning only: every tool unpacks the last copy, and the scanner reads
    both; in a ZIP, readers disagree on which copy counts."""
    seen: set[str] = set()
    duplicates: list[Finding] = []
    paths: list[Finding] = []
    links: list[Finding] = []
    for entry in entries:
        if entry.type is not EntryType.DIR:
            if entry.name in seen:
                duplicates.append(
                    rule("archive-duplicate-name").finding(
                        entry.name,
                        None,
                        entry.name,
                        severity=None if zip_archive else Severity.MEDIUM,
                    )
                )
            seen.add(entry.name)
        problem = unsafe_path(entry.name)
        if problem:
            paths.append(rule("archive-path").finding(entry.name, None, problem))
        if entry.type in (EntryType.SYMLINK, EntryType.HARDLINK):
            target = entry.link
            joined = target if target.startswith("/") else _parent(entry.name) + target
            if unsafe_path(joined):
                links.append(
                    rule("archive-link").finding(
                        entry.name, None, f"{entry.type.value} to {target!r}"
                    )
                )
        elif entry.type is EntryType.OTHER:
            links.append(rule("archive-link").finding(entry.name, None, "a device or FIFO"))
    return [*_capped(duplicates), *_capped(paths), *_capped(links)]


def unsafe_path(name: str) -> str | None:
    """Why ``name`` would unpack outside its directory, or ``None``."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return f"absolute path {name!r}"
    depth = 0
    for part in re.split(r"[/\\]", name):
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"path {name!r} climbs out of the archive"
        elif part not in ("", "."):
            depth += 1
    return None


def _parent(name: str) -> str:
    head, sep, _ = name.rstrip("/").rpartition("/")
    return head + sep


def _capped(findings: Iterable[Finding]) -> list[Finding]:
    found = list(findings)
    if len(found) <= MAX_REPORTED:
        return found
    rest = len(found) - MAX_REPORTED
    last = found[MAX_REPORTED]
    summary = rule(last.rule).finding("", None, f"and {rest} more like {last.file!r}")
    return [*found[:MAX_REPORTED], summary]
