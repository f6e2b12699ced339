"""From findings to one decision: ``deny | quarantine | warn | allow``.

Each severity maps to a decision (``ScanOptions.thresholds``); the strongest finding
decides, and the reason names it: rule, place, excerpt and why it matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.scan.model import Finding, ScanResult
from policies.scan.options import DECISIONS, ScanOptions


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    decision: str
    reason: str
    finding: Finding | None = None

    @property
    def blocks(self) -> bool:
        return self.decision in ("deny", "quarantine")


def verdict(result: ScanResult, options: ScanOptions | None = None) -> ScanVerdict:
    options = options or ScanOptions()
    if result.skipped:
        return ScanVerdict("warn", f"{result.filename}: {result.skipped}")
    best: tuple[int, Finding] | None = None
    for finding in result.findings:
        rank = DECISIONS.index(options.thresholds[finding.severity])
        if (
            best is None
            or rank < best[0]
            or (rank == best[0] and finding.severity > best[1].severity)
        ):
            best = (rank, finding)
    if best is None or DECISIONS[best[0]] == "allow":
        count = len(result.findings)
        note = f" ({count} finding{'s' * (count != 1)} below the warn threshold)" if count else ""
        return ScanVerdict("allow", f"{result.filename}: nothing to report{note}")
    decision, strongest = DECISIONS[best[0]], best[1]
    others = len(result.findings) - 1
    more = f"; {others} more finding{'s' * (others != 1)}" if others else ""
    reason = (
        f"{result.filename}: {strongest.rule} ({strongest.severity.label}) in "
        f"{strongest.where()}: {strongest.why} [{strongest.excerpt}]{more}"
    )
    return ScanVerdict(decision, reason, strongest)
