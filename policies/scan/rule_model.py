"""What a rule is: id, default severity, kind, why it matters, and the finding it makes."""

from __future__ import annotations

from dataclasses import dataclass

from policies.scan.model import Finding, Kind, Severity, excerpt

S = Severity


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    kind: Kind
    why: str
    capability: str | None = None

    def finding(
        self,
        file: str,
        line: int | None,
        text: str,
        *,
        severity: Severity | None = None,
        why: str | None = None,
        capability: str | None = None,
        note: str = "",
    ) -> Finding:
        return Finding(
            rule=self.id,
            severity=self.severity if severity is None else severity,
            file=file,
            line=line,
            excerpt=excerpt(text),
            why=why or self.why,
            capability=capability or self.capability,
            kind=self.kind,
            note=note,
        )


C, T, A = Kind.CAPABILITY, Kind.THREAT, Kind.STRUCTURE
