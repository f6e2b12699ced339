"""Invented OSV records made at run time, for tests that change OSV data while pipgate runs.

write_record(osv_dir, malicious("MAL-2099-100", "demo"))         # every version
write_record(osv_dir, vulnerable("PYSEC-2099-100", "demo", "2.0"))  # demo >= 2.0
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def malicious(
    record_id: str,
    name: str,
    versions: Sequence[str] = (),
    sha256s: Sequence[str] = (),
) -> dict[str, Any]:
    """A MAL- record: ``versions`` listed, or every version when none is given."""
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": name}}
    if versions:
        entry["versions"] = list(versions)
    else:
        entry["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
    if sha256s:
        entry["database_specific"] = {
            "indicators": {"package_integrity": [{"hashes": {"sha256": s}} for s in sha256s]}
        }
    return {
        "schema_version": "1.7.4",
        "id": record_id,
        "modified": "2099-09-01T00:00:00Z",
        "summary": f"Malicious code in {name} (PyPI)",
        "affected": [entry],
    }


def vulnerable(
    record_id: str, name: str, introduced: str, fixed: str | None = None
) -> dict[str, Any]:
    """A PYSEC-style record for ``name >= introduced`` (``< fixed``), CVSS critical."""
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed is not None:
        events.append({"fixed": fixed})
    return {
        "schema_version": "1.7.4",
        "id": record_id,
        "modified": "2099-09-01T00:00:00Z",
        "summary": f"Remote code execution in {name}",
        "severity": [{"type": "CVSS_V3", "score": CRITICAL}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


def write_record(directory: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``<id>.json`` atomically (a refresh never reads half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{record['id']}.json"
    partial = directory / f".{record['id']}.partial"
    partial.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(partial, target)
    return target


__all__ = ["malicious", "vulnerable", "write_record"]
