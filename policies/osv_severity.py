"""The severity of an OSV record: CVSS v3 base score or the database's own rating.

An OSV ``severity[]`` entry of type ``CVSS_V3`` holds a vector string; its base score is
computed here with the CVSS v3.1 specification's formula (section 7.1, with the Appendix A
``Roundup``), then rated with its qualitative scale (section 5). ``CVSS_V4`` scores need
the v4 macro-vector tables, so for them (and for records without a vector) the database's
label is used instead: ``database_specific.severity`` (``LOW``/``MODERATE``/``HIGH``/
``CRITICAL``). A record with neither is ``UNKNOWN``, which ranks above ``CRITICAL`` so that
every threshold denies it (fail closed).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Severity", "cvss3_base_score", "record_severity"]


class Severity(enum.StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def from_label(cls, label: str) -> Severity:
        """A rating word as databases write it; GitHub says ``MODERATE`` for medium."""
        word = label.strip().lower()
        if word == "moderate":
            return cls.MEDIUM
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def from_score(cls, score: float) -> Severity:
        """CVSS v3.1 qualitative severity rating scale."""
        if score == 0.0:
            return cls.NONE
        if score < 4.0:
            return cls.LOW
        if score < 7.0:
            return cls.MEDIUM
        if score < 9.0:
            return cls.HIGH
        return cls.CRITICAL


_RANK = {severity: rank for rank, severity in enumerate(Severity)}

# CVSS v3.1 section 7.4, metric values.
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
_BASE_METRICS = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def cvss3_base_score(vector: str) -> float:
    """The base score of a ``CVSS:3.x/AV:../AC:../...`` vector; ``ValueError`` if malformed."""
    metrics = _parse_vector(vector)
    try:
        changed = {"U": False, "C": True}[metrics["S"]]
        privileges = (_PR_CHANGED if changed else _PR_UNCHANGED)[metrics["PR"]]
        exploitability = (
            8.22 * _AV[metrics["AV"]] * _AC[metrics["AC"]] * privileges * _UI[metrics["UI"]]
        )
        iss = 1 - ((1 - _CIA[metrics["C"]]) * (1 - _CIA[metrics["I"]]) * (1 - _CIA[metrics["A"]]))
    except KeyError as e:
        msg = f"invalid CVSS v3 vector (unknown value for {e.args[0]!r}): {vector!r}"
        raise ValueError(msg) from e
    # Scope changed: the impact curve is steeper and the sum gets a 1.08 bonus.
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    if impact <= 0:
        return 0.0
    total = (impact + exploitability) * (1.08 if changed else 1.0)
    return _roundup(min(total, 10.0))


def _parse_vector(vector: str) -> dict[str, str]:
    prefix, _, body = vector.strip().partition("/")
    if prefix not in ("CVSS:3.0", "CVSS:3.1"):
        msg = f"invalid CVSS v3 vector (expected a 'CVSS:3.0/' or 'CVSS:3.1/' prefix): {vector!r}"
        raise ValueError(msg)
    metrics: dict[str, str] = {}
    for part in body.split("/"):
        key, sep, value = part.partition(":")
        if not sep:
            msg = f"invalid CVSS v3 vector (metric {part!r} is not KEY:VALUE): {vector!r}"
            raise ValueError(msg)
        metrics[key] = value
    missing = [m for m in _BASE_METRICS if m not in metrics]
    if missing:
        msg = f"invalid CVSS v3 vector (missing base metrics {', '.join(missing)}): {vector!r}"
        raise ValueError(msg)
    return metrics


def _roundup(value: float) -> float:
    # CVSS v3.1 Appendix A: round up to one decimal without floating-point surprises.
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000.0
    return (math.floor(scaled / 10_000) + 1) / 10.0


def record_severity(record: dict[str, Any], entries: Iterable[dict[str, Any]]) -> Severity:
    """The worst CVSS v3 rating of the record (or of its PyPI entries), else its label."""
    scored = [Severity.from_score(score) for score in _cvss3_scores(record, entries)]
    if scored:
        return max(scored, key=lambda s: s.rank)
    extra = record.get("database_specific")
    label = extra.get("severity") if isinstance(extra, dict) else None
    return Severity.from_label(label) if isinstance(label, str) else Severity.UNKNOWN


def _cvss3_scores(record: dict[str, Any], entries: Iterable[dict[str, Any]]) -> Iterable[float]:
    sources = [record.get("severity"), *(entry.get("severity") for entry in entries)]
    for items in sources:
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict) or item.get("type") != "CVSS_V3":
                continue
            try:
                yield cvss3_base_score(str(item.get("score", "")))
            except ValueError:
                continue
