"""``[[policy]]`` table validation: every problem at once, with what is valid."""

from __future__ import annotations

import pytest

from policies.base import PolicyError
from policies.config import Mode, choice, parse_bool, parse_days, parse_policy_tables, parse_size
from policies.globs import GlobSet
from policies.registry import PolicyRegistry
from tests.support.policy_env import SIMPLE_POLICIES

REGISTRY = PolicyRegistry.from_classes(SIMPLE_POLICIES)


def problems_of(tables: list[dict[str, object]]) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy_tables(tables, REGISTRY)
    message = str(caught.value)
    assert message.startswith("invalid policy configuration:\n")
    return message.splitlines()[1:]


def test_valid_tables__defaults_filled_mode_and_exempt_parsed() -> None:
    configs = parse_policy_tables(
        [
            {"use": "release_age", "days": 3, "exempt": ["Acme_*"]},
            {"use": "yanked", "mode": "audit"},
        ],
        REGISTRY,
    )
    age, yanked = configs
    assert (age.position, age.name, age.mode) == (1, "release_age", Mode.ENFORCE)
    assert age.options == {"days": 3.0, "missing_upload_time": "deny"}
    assert age.exempt == GlobSet(["acme-*"])
    assert (yanked.position, yanked.mode, yanked.options) == (2, Mode.AUDIT, {})


def test_every_problem_is_reported_in_one_error() -> None:
    lines = problems_of(
        [
            {"use": "relase_age"},
            {"use": "release_age", "dayz": 3, "days": -1},
            {"use": "yanked", "mode": "dry-run", "exempt": "acme-*"},
            {"mode": "audit"},
        ]
    )
    assert len(lines) == 6, lines
    assert "[[policy]] #1: unknown policy 'relase_age' (did you mean 'release_age'?)" in lines[0]
    assert "valid: allowlist, denylist, dependency_confusion, files" in lines[0]
    assert "[[policy]] #2 (release_age): unknown option 'dayz' (did you mean 'days'?)" in lines[1]
    assert "valid: use, mode, exempt, waivable, days, missing_upload_time" in lines[1]
    assert "[[policy]] #2 (release_age): days = -1: expected a number of days >= 0" in lines[2]
    expected = 'expected "enforce", "audit" or "quarantine"'
    assert f"[[policy]] #3 (yanked): mode = 'dry-run': {expected}" in lines[3]
    assert "[[policy]] #3 (yanked): exempt = 'acme-*': expected a list" in lines[4]
    assert '[[policy]] #4: missing use = "<policy name>"' in lines[5]


def test_bad_choice_names_the_valid_values() -> None:
    (line,) = problems_of([{"use": "project_status", "archived": "ignore"}])
    assert line.endswith(
        '(project_status): archived = \'ignore\': expected one of "deny", "warn", "allow"'
    )


def test_bad_entry_in_a_list_option() -> None:
    (line,) = problems_of([{"use": "denylist", "projects": ["ok", "django<<4"]}])
    assert "(denylist): projects = ['ok', 'django<<4']: 'django<<4' has an invalid version" in line


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000, 1000),
        ("50MB", 50_000_000),
        ("1 GiB", 2**30),
        ("1.5kB", 1500),
        ("", None),
        (None, None),
    ],
)
def test_parse_size(value: object, expected: int | None) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", [0, -5, "50 parsecs", True, "MB", [1]])
def test_parse_size__rejects(value: object) -> None:
    with pytest.raises(ValueError, match="positive number of bytes"):
        parse_size(value)


def test_scalar_parsers() -> None:
    assert parse_days(0) == 0.0
    assert parse_days(0.5) == 0.5
    for bad in (-1, True, "7", float("inf")):
        with pytest.raises(ValueError, match="days"):
            parse_days(bad)
    assert parse_bool(False) is False
    with pytest.raises(ValueError, match="true or false"):
        parse_bool("yes")
    assert choice("a", "b")("b") == "b"
    with pytest.raises(ValueError, match='expected one of "a", "b"'):
        choice("a", "b")("c")
