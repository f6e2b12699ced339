"""A wheel's RECORD against its contents (PyPI rejects mismatches from 2026-02-01).

Every file must be listed, every listed file must exist, and listed sizes must match the
archive's. Hashes are compared for the members the scanner reads anyway (Python sources,
``.pth`` files); inflating every member only to hash it would double the scan's cost,
and installers check hashes themselves when they unpack.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io

from policies.scan.archive_checks import MAX_REPORTED
from policies.scan.archive_entry import Entry, EntryType
from policies.scan.model import Finding
from policies.scan.rules import rule

_UNLISTED = (".dist-info/RECORD", ".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def record_findings(
    record_path: str | None, record: bytes | None, entries: list[Entry], hashes: dict[str, str]
) -> list[Finding]:
    mismatch = rule("wheel-record-mismatch")
    if record_path is None or record is None:
        return [mismatch.finding("", None, "the wheel has no .dist-info/RECORD")]
    listed: dict[str, tuple[str, str]] = {}
    for row in csv.reader(io.StringIO(record.decode("utf-8", "replace"))):
        if row:
            listed[row[0]] = (row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else "")
    problems: list[str] = []
    files = {e.name: e for e in entries if e.type is EntryType.FILE}
    for name, entry in files.items():
        if name.endswith(_UNLISTED):
            continue
        if name not in listed:
            problems.append(f"{name} is not in RECORD")
            continue
        digest, size = listed[name]
        if size.isdigit() and int(size) != entry.size:
            problems.append(f"{name} is {entry.size} bytes, RECORD says {size}")
        elif name in hashes and digest and digest.startswith("sha256=") and digest != hashes[name]:
            problems.append(f"{name} does not match its RECORD hash")
    for name in listed:
        if name not in files and not name.endswith("/"):
            problems.append(f"RECORD lists {name}, which the wheel lacks")
    found = [mismatch.finding(record_path, None, p) for p in problems[:MAX_REPORTED]]
    if len(problems) > MAX_REPORTED:
        found.append(
            mismatch.finding(record_path, None, f"and {len(problems) - MAX_REPORTED} more")
        )
    return found
