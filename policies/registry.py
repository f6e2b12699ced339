"""Finds policy classes: every policy, built-in or third-party, is an entry point in the
versioned group ``pipgate.policies.v1`` (``ENTRY_POINT_GROUP``).

Entry points are listed eagerly (cheap) but loaded only when a policy is enabled or listed,
so a broken plugin nobody enabled cannot stop start-up. A class that fails to import or
does not follow the ``PolicyPlugin`` contract is reported naming its entry point.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from policies.base import ENTRY_POINT_GROUP, Option, PolicyError, PolicyPlugin

RESERVED_KEYS = ("use", "mode", "exempt", "waivable")
"""Keys of a ``[[policy]]`` table that belong to the engine, never to a policy."""


@dataclass(frozen=True, slots=True)
class _Source:
    label: str
    """Where the class comes from, for error messages (the entry point as written)."""
    load: Callable[[], object]


class PolicyRegistry:
    """Policy classes by name; ``discover()`` reads the installed entry points."""

    def __init__(self, sources: dict[str, _Source]) -> None:
        self._sources = dict(sorted(sources.items()))
        self._loaded: dict[str, type[PolicyPlugin]] = {}

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> PolicyRegistry:
        """Every installed entry point of ``group``."""
        return cls.from_entry_points(importlib.metadata.entry_points(group=group))

    @classmethod
    def from_entry_points(cls, entries: Iterable[importlib.metadata.EntryPoint]) -> PolicyRegistry:
        """Two distributions claiming one policy name is an error naming both."""
        sources: dict[str, _Source] = {}
        for entry in entries:
            label = _describe_entry_point(entry)
            if entry.name in sources:
                raise PolicyError(
                    f"policy name {entry.name!r} is registered twice in {entry.group}: "
                    f"{sources[entry.name].label} and {label}; uninstall one of them"
                )
            sources[entry.name] = _Source(label, entry.load)
        return cls(sources)

    @classmethod
    def from_classes(cls, classes: Iterable[type[Any]]) -> PolicyRegistry:
        """A registry of classes given directly (tests, embedding)."""
        sources = {
            c.name: _Source(f"class {c.__module__}.{c.__qualname__}", _const(c)) for c in classes
        }
        return cls(sources)

    def names(self) -> list[str]:
        return list(self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def load(self, name: str) -> type[PolicyPlugin]:
        """The class registered as ``name``; ``PolicyError`` naming the entry point if broken."""
        if name in self._loaded:
            return self._loaded[name]
        source = self._sources.get(name)
        if source is None:
            raise PolicyError(f"unknown policy {name!r}; valid: {', '.join(self._sources)}")
        try:
            loaded = source.load()
        except Exception as error:
            raise PolicyError(
                f"policy {name!r} ({source.label}) failed to load: {type(error).__name__}: {error}"
            ) from error
        plugin = _validate(name, source.label, loaded)
        self._loaded[name] = plugin
        return plugin

    def load_all(self) -> list[type[PolicyPlugin]]:
        """Every registered class, loading each (for ``pipgate policies``)."""
        return [self.load(name) for name in self._sources]


def _const(value: object) -> Callable[[], object]:
    return lambda: value


def _describe_entry_point(entry: importlib.metadata.EntryPoint) -> str:
    dist = entry.dist
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {entry.name} = {entry.value!r}{origin}"


def _validate(name: str, label: str, loaded: object) -> type[PolicyPlugin]:
    """Check the ``PolicyPlugin`` contract so that a bad plugin fails here, not mid-request."""
    problems: list[str] = []
    if not isinstance(loaded, type):
        raise PolicyError(f"policy {name!r} ({label}) is {loaded!r}, expected a class")
    if getattr(loaded, "name", None) != name:
        problems.append(
            f"its name attribute is {getattr(loaded, 'name', None)!r}, expected {name!r}"
        )
    if not isinstance(getattr(loaded, "summary", None), str):
        problems.append("it has no summary string")
    problems.extend(_option_problems(getattr(loaded, "options", None)))
    if not callable(getattr(loaded, "create", None)):
        problems.append("it has no create(options, env) classmethod")
    if problems:
        raise PolicyError(f"policy {name!r} ({label}) is not a valid policy: {'; '.join(problems)}")
    return cast("type[PolicyPlugin]", loaded)


def _option_problems(options: object) -> list[str]:
    if not isinstance(options, tuple) or not all(isinstance(o, Option) for o in options):
        return ["its options attribute must be a tuple of policies.base.Option"]
    names = [option.name for option in options]
    problems = [
        f"option {n!r} clashes with the engine's own key" for n in names if n in RESERVED_KEYS
    ]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"options declared twice: {', '.join(duplicates)}")
    return problems
