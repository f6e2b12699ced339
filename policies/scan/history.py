"""The capability diff: a release judged against the previous release of the same project.

A compromised release of a long-lived project shows as *new* capabilities: an install
hook, a ``.pth`` launcher, network or process use at import time that the previous
release did not have. Those findings are raised; capabilities the project already had
are lowered, as the project has always done that. Threat findings (exec of decoded
data, reverse shells, exfiltration) and archive-structure findings are never lowered:
a previous release can be malicious too. A pure function over two scan results.
"""

from __future__ import annotations

from dataclasses import replace

from policies.scan.model import Finding, Kind, ScanResult

RAISE_STEPS = 2
LOWER_STEPS = 1


def capability_diff(previous: ScanResult | None, current: ScanResult) -> ScanResult:
    """``current`` with capability findings re-rated against ``previous`` (``None``: no
    earlier release to compare with, so nothing changes)."""
    if previous is None or previous.skipped or current.skipped:
        return current
    before = previous.capabilities
    return replace(current, findings=tuple(_rerated(f, before) for f in current.findings))


def _rerated(finding: Finding, before: frozenset[str]) -> Finding:
    if finding.kind is not Kind.CAPABILITY or finding.capability is None:
        return finding
    if finding.capability in before:
        return finding.with_severity(
            finding.severity.shifted(-LOWER_STEPS),
            _join(finding.note, "the previous release did this too"),
        )
    return finding.with_severity(
        finding.severity.shifted(RAISE_STEPS),
        _join(finding.note, "new in this release: the previous release did not do this"),
    )


def _join(note: str, addition: str) -> str:
    return f"{note}; {addition}" if note else addition
