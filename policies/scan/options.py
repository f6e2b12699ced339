"""Scanner options and verdict thresholds, with the parsers the policy's options use."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from policies.scan.model import Severity
from policies.scan.rules import RULES
from policies.scan.stream import Limits

DECISIONS = ("deny", "quarantine", "warn", "allow")
DEFAULT_MAX_BYTES = 256 * 1000 * 1000
DEFAULT_THRESHOLDS: Mapping[Severity, str] = {
    Severity.CRITICAL: "deny",
    Severity.HIGH: "quarantine",
    Severity.MEDIUM: "warn",
    Severity.LOW: "allow",
    Severity.INFO: "allow",
}


@dataclass(frozen=True, slots=True)
class ScanOptions:
    rules: frozenset[str] = frozenset(RULES)
    """Enabled rule ids; findings of other rules are dropped."""
    thresholds: Mapping[Severity, str] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    exempt_paths: tuple[str, ...] = ()
    """Globs of member paths (``*/tests/*``) that are not analysed."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Artifacts larger than this are not scanned; the verdict is ``warn`` and says so."""
    limits: Limits = field(default_factory=Limits)
    _exempt: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = "|".join(fnmatch.translate(glob) for glob in self.exempt_paths)
        object.__setattr__(self, "_exempt", re.compile(pattern) if pattern else None)

    def exempt(self, path: str) -> bool:
        return self._exempt is not None and self._exempt.match(path) is not None


def parse_rules(value: object) -> frozenset[str]:
    """``["*"]`` (all), or a list of rule ids, each optionally prefixed with ``-`` to
    disable it from all: ``["*", "-encoded-blob"]``."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'expected a list of rule ids (or ["*"]), got {value!r}')
    enabled: set[str] = set()
    for item in value:
        name = item[1:] if item.startswith("-") else item
        if name != "*" and name not in RULES:
            raise ValueError(f"unknown rule {name!r}; rules: {', '.join(sorted(RULES))}")
        chosen = set(RULES) if name == "*" else {name}
        if item.startswith("-"):
            enabled -= chosen
        else:
            enabled |= chosen
    return frozenset(enabled)


def parse_thresholds(value: object) -> dict[Severity, str]:
    """A table severity -> decision, merged over the defaults: ``{high = "deny"}``."""
    if not isinstance(value, Mapping):
        raise ValueError(f'expected a table like {{high = "deny"}}, got {value!r}')
    thresholds = dict(DEFAULT_THRESHOLDS)
    for key, decision in value.items():
        severity = Severity.parse(key)
        if decision not in DECISIONS:
            raise ValueError(f"{key}: expected one of {', '.join(DECISIONS)}, got {decision!r}")
        thresholds[severity] = str(decision)
    order = [DECISIONS.index(thresholds[s]) for s in sorted(Severity, reverse=True)]
    if order != sorted(order):
        raise ValueError("a lower severity cannot get a stricter decision than a higher one")
    return thresholds


def parse_path_globs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f'expected a list of path globs like ["*/tests/*"], got {value!r}')
    return tuple(value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
}


def parse_max_bytes(value: object) -> int:
    """Bytes as an integer or with a unit: ``"256MB"``, ``"1GiB"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'expected a positive size like 268435456 or "256MB", got {value!r}')
    unit = (match.group(2) or "").lower().removesuffix("b")
    return int(float(match.group(1)) * _UNITS[unit])
