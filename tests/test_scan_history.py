"""The capability diff against the previous release, and the verdict thresholds."""

from __future__ import annotations

import json

import pytest

from policies.scan import ScanOptions, scan_bytes, verdict
from policies.scan.history import capability_diff
from policies.scan.model import ScanResult, Severity
from policies.scan.options import parse_rules, parse_thresholds
from tests.support.scan_archives import wheel

NAME = "demo-1.0-py3-none-any.whl"
PLAIN = wheel({"demo/__init__.py": "X = 1\n"})
LAUNCHER = wheel({"demo/__init__.py": "X = 1\n", "demo.pth": "import demo\n"})


def severities(result: ScanResult, rule: str) -> list[Severity]:
    return [f.severity for f in result.findings if f.rule == rule]


def test_new_pth_launcher_is_raised() -> None:
    result = capability_diff(scan_bytes(PLAIN, NAME), scan_bytes(LAUNCHER, NAME))
    assert severities(result, "pth-launcher") == [Severity.CRITICAL]
    assert verdict(result).decision == "deny"
    assert "new in this release" in result.findings[0].note


def test_a_launcher_the_project_always_had_is_lowered() -> None:
    result = capability_diff(scan_bytes(LAUNCHER, NAME), scan_bytes(LAUNCHER, NAME))
    assert severities(result, "pth-launcher") == [Severity.LOW]
    assert verdict(result).decision == "allow"


def test_threats_are_never_lowered_by_history() -> None:
    evil = wheel({"demo/__init__.py": "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n"})
    before = scan_bytes(evil, NAME)
    after = capability_diff(before, scan_bytes(evil, NAME))
    assert severities(after, "obfuscated-exec") == [Severity.CRITICAL]


def test_no_previous_release_changes_nothing() -> None:
    current = scan_bytes(LAUNCHER, NAME)
    assert capability_diff(None, current) == current


def test_results_round_trip_through_json() -> None:
    result = scan_bytes(LAUNCHER, NAME)
    assert ScanResult.from_json(json.loads(json.dumps(result.as_json()))) == result


def test_thresholds_and_reason_name_the_strongest_finding() -> None:
    result = scan_bytes(LAUNCHER, NAME)
    assert verdict(result).decision == "warn"
    strict = ScanOptions(thresholds=parse_thresholds({"high": "deny", "medium": "deny"}))
    judged = verdict(result, strict)
    assert judged.decision == "deny"
    assert "pth-launcher" in judged.reason
    assert "demo.pth:1" in judged.reason


def test_option_parsers_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        parse_rules(["nope"])
    with pytest.raises(ValueError, match="stricter"):
        parse_thresholds({"low": "deny", "high": "allow"})
    assert "encoded-blob" not in parse_rules(["*", "-encoded-blob"])
