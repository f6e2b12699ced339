"""The ``[[policy]] use = "osv"`` options: names, help, defaults and their parsers.

Each parser takes the TOML value and returns the typed value, raising ``ValueError`` that
says what was expected (the engine adds the policy, option and value). Defaults are
already in their parsed form, because the engine fills them in without parsing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from policies.base import Option
from policies.config import parse_bool
from policies.osv_severity import Severity

__all__ = ["OSV_OPTIONS"]

_THRESHOLDS = {
    "low": Severity.LOW,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def parse_source(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = "expected a path or an http(s) URL of OSV data"
        raise ValueError(msg)
    return value.strip()


def parse_refresh(value: Any) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value < 0:
        msg = "expected a number of seconds >= 0 (0 = never refresh)"
        raise ValueError(msg)
    return float(value)


def parse_severity(value: Any) -> Severity:
    if isinstance(value, str) and value.lower() in _THRESHOLDS:
        return _THRESHOLDS[value.lower()]
    msg = f"expected one of {', '.join(map(repr, _THRESHOLDS))}"
    raise ValueError(msg)


def parse_ignore(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        msg = "expected a list of advisory ids such as ['PYSEC-2024-1']"
        raise ValueError(msg)
    if not all(isinstance(item, str) and item for item in value):
        msg = "expected every advisory id to be a non-empty string"
        raise ValueError(msg)
    return tuple(value)


OSV_OPTIONS = (
    Option(
        "source",
        "required: a directory of OSV .json records, one .json file or an all.zip; "
        "a path or an http(s) URL (downloaded into the data dir)",
        None,
        parse_source,
    ),
    Option("refresh", "seconds between reloads of the source; 0 = never", 3600.0, parse_refresh),
    Option(
        "severity",
        "lowest severity denied: low, medium (= moderate), high or critical; advisories "
        "with no known severity are always denied (fail closed), those scored CVSS 0.0 never",
        Severity.LOW,
        parse_severity,
    ),
    Option("malicious", "deny malicious packages and files (MAL- records)", True, parse_bool),
    Option("vulnerable", "deny versions with known vulnerabilities", True, parse_bool),
    Option("ignore", "advisory ids (or aliases, e.g. CVE ids) to accept", (), parse_ignore),
)
