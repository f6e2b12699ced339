"""The scanner's vocabulary: severities, findings, and the result of scanning one artifact.

A ``ScanResult`` is plain data that round-trips through JSON, so that it can be cached in
the shared key-value store (keyed by sha256) and compared with the scan of a project's
previous release (``history.capability_diff``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: object) -> Severity:
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        names = ", ".join(s.name.lower() for s in cls)
        raise ValueError(f"expected a severity ({names}), got {value!r}")

    def shifted(self, steps: int) -> Severity:
        """``steps`` levels up (positive) or down, clamped to the scale."""
        return Severity(min(max(self + steps, Severity.INFO), Severity.CRITICAL))

    @property
    def label(self) -> str:
        return self.name.lower()


class Kind(enum.Enum):
    """What a rule reports: something a package *can* do (an install hook, network use at
    import time), which legitimate projects also do and which the capability diff may
    soften when a project always did it; or a *threat*, a pattern with no ordinary use
    (a reverse shell, exec of decoded data), which history never softens."""

    CAPABILITY = "capability"
    THREAT = "threat"
    STRUCTURE = "structure"
    """The archive itself is malformed or ambiguous."""


EXCERPT_CHARS = 120


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """One line of source for a person: whitespace collapsed, long parts cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    file: str
    """Path inside the archive ("" for the archive as a whole)."""
    line: int | None
    excerpt: str
    why: str
    capability: str | None = None
    """Capability key for the release-to-release diff (``install-hook``, ``pth-launcher``,
    ``import-network``...); ``None`` for findings the diff ignores."""
    kind: Kind = Kind.THREAT
    note: str = ""
    """Why the severity differs from the rule's default (context, history)."""

    def where(self) -> str:
        if not self.file:
            return "the archive"
        return f"{self.file}:{self.line}" if self.line else self.file

    def describe(self) -> str:
        return f"{self.rule} ({self.severity.label}) at {self.where()}: {self.why}"

    def with_severity(self, severity: Severity, note: str) -> Finding:
        return replace(self, severity=severity, note=note)

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.label,
            "file": self.file,
            "line": self.line,
            "excerpt": self.excerpt,
            "why": self.why,
            "kind": self.kind.value,
        }
        if self.capability:
            document["capability"] = self.capability
        if self.note:
            document["note"] = self.note
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Finding:
        return cls(
            rule=str(document["rule"]),
            severity=Severity.parse(document["severity"]),
            file=str(document["file"]),
            line=document.get("line"),
            excerpt=str(document["excerpt"]),
            why=str(document["why"]),
            capability=document.get("capability"),
            kind=Kind(document.get("kind", Kind.THREAT.value)),
            note=str(document.get("note", "")),
        )


@dataclass(frozen=True, slots=True)
class ScanResult:
    filename: str
    size: int
    findings: tuple[Finding, ...] = ()
    skipped: str | None = None
    """Set when the artifact was not scanned (over the size cap); says why."""
    stats: dict[str, int] = field(default_factory=dict)
    """Members read, Python files parsed, bytes inflated: for benchmarks and logs."""

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(f.capability for f in self.findings if f.capability)

    def strongest(self) -> Finding | None:
        # Ties go to the first finding, which the scanner emits in archive order.
        return max(self.findings, key=lambda f: f.severity, default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "size": self.size,
            "findings": [f.as_json() for f in self.findings],
            "skipped": self.skipped,
            "stats": dict(self.stats),
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ScanResult:
        return cls(
            filename=str(document["filename"]),
            size=int(document["size"]),
            findings=tuple(Finding.from_json(f) for f in document.get("findings", [])),
            skipped=document.get("skipped"),
            stats={str(k): int(v) for k, v in document.get("stats", {}).items()},
        )
