"""The ``scan`` policy: the scanner's verdict on an artifact, at download time.

Today's artifact hook (``policies.base.ArtifactPolicy``) receives the file's listing entry
and an ``ArtifactInfo`` with its sha256 and provenance, but not its bytes. So the policy
decides from scan results keyed by sha256 in the shared key-value store (written by
``record``, which the proxy chain will call once it hands the verified spool file over,
and which ``pipgate scan`` uses), and applies ``unscanned`` to files nobody has scanned
yet. Quarantine is enforced as a refusal whose reason says "quarantined".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from policies.base import ArtifactInfo, Option, PolicyEnvironment, Verdict
from policies.scan.history import capability_diff
from policies.scan.model import ScanResult
from policies.scan.options import (
    DEFAULT_MAX_BYTES,
    ScanOptions,
    parse_max_bytes,
    parse_path_globs,
    parse_rules,
    parse_thresholds,
)
from policies.scan.scanner import scan_bytes
from policies.scan.verdict import ScanVerdict, verdict

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    from proxy.model import DistFile
    from storage.base import KeyValueStore

CACHE_PREFIX = "scan/v1/"
"""Key prefix of cached scan results; the version changes when results would."""
CACHE_TTL = 30 * 24 * 3600.0


def _parse_unscanned(value: object) -> str:
    if value not in ("allow", "warn", "deny"):
        raise ValueError(f'expected "allow", "warn" or "deny", got {value!r}')
    return str(value)


class ScanPolicy:
    name: ClassVar[str] = "scan"
    summary: ClassVar[str] = (
        "Reviews each artifact's contents (static analysis of sdists and wheels; nothing is "
        "run) and denies, quarantines or warns by the severity of what it finds."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("rules", 'Rule ids to apply: ["*"] for all, "-id" to drop one.', ["*"], parse_rules),
        Option(
            "thresholds",
            'Decision per severity over the defaults, e.g. {high = "deny"}.',
            {},
            parse_thresholds,
        ),
        Option(
            "exempt_paths", 'Member paths not analysed, e.g. ["*/tests/*"].', [], parse_path_globs
        ),
        Option(
            "max_size",
            "Artifacts larger than this are not scanned (verdict: warn).",
            DEFAULT_MAX_BYTES,
            parse_max_bytes,
        ),
        Option(
            "unscanned",
            'Files without a scan result yet: "allow", "warn" or "deny".',
            "warn",
            _parse_unscanned,
        ),
    )

    def __init__(self, options: ScanOptions, kv: KeyValueStore | None, unscanned: str) -> None:
        self.scan_options = options
        self.kv = kv
        self.unscanned = unscanned

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> ScanPolicy:
        rules = options["rules"]
        scan_options = ScanOptions(
            rules=rules if isinstance(rules, frozenset) else parse_rules(rules),
            thresholds=options["thresholds"] if options["thresholds"] else parse_thresholds({}),
            exempt_paths=tuple(options["exempt_paths"]),
            max_bytes=options["max_size"],
        )
        return cls(scan_options, env.kv, options["unscanned"])

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> Verdict | None:
        result = await self.cached(artifact.sha256) if artifact.sha256 else None
        if result is None:
            reason = f"{file.filename} has not been scanned yet (unscanned = {self.unscanned!r})"
            if self.unscanned == "deny":
                return Verdict.deny(self.name, reason)
            return Verdict.warn(self.name, reason) if self.unscanned == "warn" else None
        return self.to_verdict(verdict(result, self.scan_options))

    def to_verdict(self, judged: ScanVerdict) -> Verdict | None:
        if judged.decision == "deny":
            return Verdict.deny(self.name, judged.reason)
        if judged.decision == "quarantine":
            return Verdict.deny(self.name, f"quarantined for review: {judged.reason}")
        if judged.decision == "warn":
            return Verdict.warn(self.name, judged.reason)
        return None

    async def scan_file(
        self, path: Path, filename: str, previous: ScanResult | None = None
    ) -> ScanResult:
        """Scan a verified file off the event loop; compared with ``previous`` (the
        project's previous release) when given."""
        data = await asyncio.to_thread(path.read_bytes)
        result = await asyncio.to_thread(scan_bytes, data, filename, self.scan_options)
        return capability_diff(previous, result)

    async def cached(self, sha256: str) -> ScanResult | None:
        if self.kv is None:
            return None
        raw = await self.kv.get(CACHE_PREFIX + sha256)
        return ScanResult.from_json(json.loads(raw)) if raw else None

    async def record(self, sha256: str, result: ScanResult) -> None:
        if self.kv is not None:
            payload = json.dumps(result.as_json(), separators=(",", ":")).encode()
            await self.kv.set(CACHE_PREFIX + sha256, payload, ttl=CACHE_TTL)
