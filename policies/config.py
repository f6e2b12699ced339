"""Turns ``[[policy]]`` tables into validated ``PolicyConfig`` objects, and the option
parsers the built-in policies share.

A table is ``use`` (required), ``mode = "enforce" | "audit"``, ``exempt = [globs]`` and the
policy's own options, each converted by its ``Option.parse``. Every problem of every
table is collected and reported in one ``PolicyError``, one line per problem.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policies.base import PolicyError, PolicyPlugin
from policies.globs import GlobSet, parse_globs
from policies.registry import RESERVED_KEYS, PolicyRegistry


class PolicyConfigError(PolicyError):
    """Every problem of a policy configuration, one line each in ``problems``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(
            "invalid policy configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.problems = list(problems)


class Mode(enum.Enum):
    ENFORCE = "enforce"
    AUDIT = "audit"
    """Denies are logged (``Verdict.audit``) and nothing is refused."""


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """One validated ``[[policy]]`` table."""

    position: int
    """1-based position among the ``[[policy]]`` tables, for messages."""
    name: str
    plugin: type[PolicyPlugin]
    mode: Mode
    exempt: GlobSet
    options: Mapping[str, Any]
    """Every declared option, parsed; defaults filled."""


def parse_policy_tables(
    tables: Sequence[Mapping[str, Any]], registry: PolicyRegistry
) -> list[PolicyConfig]:
    """Validate every table; raise one ``PolicyConfigError`` listing all problems found."""
    problems: list[str] = []
    configs = [_parse_table(i, t, registry, problems) for i, t in enumerate(tables, start=1)]
    if problems:
        raise PolicyConfigError(problems)
    return [config for config in configs if config is not None]


def _parse_table(
    position: int, table: Mapping[str, Any], registry: PolicyRegistry, problems: list[str]
) -> PolicyConfig | None:
    name = table.get("use")
    where = f"[[policy]] #{position}"
    if not isinstance(name, str) or not name:
        problems.append(
            f'{where}: missing use = "<policy name>"; valid: {", ".join(registry.names())}'
        )
        return None
    if name not in registry:
        problems.append(
            f"{where}: unknown policy {name!r}{_suggest(name, registry.names())}; "
            f"valid: {', '.join(registry.names())}"
        )
        return None
    try:
        plugin = registry.load(name)
    except PolicyError as error:
        problems.append(f"{where}: {error}")
        return None
    where = f"{where} ({name})"
    before = len(problems)
    mode = _parse_mode(table.get("mode", Mode.ENFORCE.value), where, problems)
    exempt = _parse_exempt(table.get("exempt", []), where, problems)
    options = _parse_options(plugin, table, where, problems)
    if len(problems) > before:
        return None
    return PolicyConfig(position, name, plugin, mode, exempt, options)


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_mode(value: object, where: str, problems: list[str]) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        problems.append(f'{where}: mode = {value!r}: expected "enforce" or "audit"')
        return Mode.ENFORCE


def _parse_exempt(value: object, where: str, problems: list[str]) -> GlobSet:
    try:
        return parse_globs(value)
    except ValueError as error:
        problems.append(f"{where}: exempt = {value!r}: {error}")
        return GlobSet()


def _parse_options(
    plugin: type[PolicyPlugin], table: Mapping[str, Any], where: str, problems: list[str]
) -> dict[str, Any]:
    declared = {option.name: option for option in plugin.options}
    for key in table:
        if key not in declared and key not in RESERVED_KEYS:
            valid = ", ".join([*RESERVED_KEYS, *declared])
            problems.append(
                f"{where}: unknown option {key!r}{_suggest(key, list(declared))}; valid: {valid}"
            )
    options: dict[str, Any] = {}
    for option in plugin.options:
        if option.name not in table:
            options[option.name] = option.default
            continue
        raw = table[option.name]
        try:
            options[option.name] = option.parse(raw)
        except (ValueError, TypeError) as error:
            problems.append(f"{where}: {option.name} = {raw!r}: {error}")
    return options


# Option parsers shared by the built-in policies. Each raises ValueError saying what was
# expected; the engine adds the policy, option and value to the message.


def parse_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def choice(*choices: str) -> Callable[[object], str]:
    """A parser accepting exactly one of ``choices``."""

    def parse(value: object) -> str:
        if value not in choices:
            raise ValueError("expected one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    return parse


def parse_days(value: object) -> float:
    """A non-negative number of days (``7``, ``0.5``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("expected a number of days >= 0")
    if value < 0:
        raise ValueError("expected a number of days >= 0")
    return float(value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}


def parse_size(value: object) -> int | None:
    """Bytes as an integer or a string with a unit (``"50MB"``, ``"1GiB"``); empty = no limit."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError('expected a positive number of bytes, e.g. 52428800 or "50MB"')
    unit = (match.group(2) or "").lower().removesuffix("b")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError('expected a positive number of bytes, e.g. 52428800 or "50MB"')
    return size
