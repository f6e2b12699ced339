"""Policy discovery through entry points, and the contract a policy class must follow."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from policies.base import ENTRY_POINT_GROUP, Option, PolicyEnvironment, PolicyError
from policies.registry import PolicyRegistry

BUILT_INS = {
    "allowlist",
    "attestations",
    "denylist",
    "dependency_confusion",
    "files",
    "osv",
    "project_status",
    "release_age",
    "typosquat",
    "yanked",
}


def entry(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP)


class GoodPolicy:
    name: ClassVar[str] = "good"
    summary: ClassVar[str] = "a policy"
    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> GoodPolicy:
        return cls()


class NamelessPolicy:
    summary: ClassVar[str] = "no name"
    options: ClassVar[tuple[Option, ...]] = ()


class ClashingPolicy(GoodPolicy):
    name: ClassVar[str] = "clashing"
    options: ClassVar[tuple[Option, ...]] = (
        Option("mode", "clashes", None, str),
        Option("x", "one", None, str),
        Option("x", "twice", None, str),
    )


def test_discover__built_ins_are_entry_points() -> None:
    registry = PolicyRegistry.discover()
    assert set(registry.names()) >= BUILT_INS
    assert registry.load("release_age").name == "release_age"


def test_load__import_failure_names_the_entry_point() -> None:
    registry = PolicyRegistry.from_entry_points([entry("broken", "no_such_module_xyz:Policy")])
    assert "broken" in registry
    with pytest.raises(PolicyError) as caught:
        registry.load("broken")
    message = str(caught.value)
    assert "entry point broken = 'no_such_module_xyz:Policy'" in message
    assert "failed to load: ModuleNotFoundError" in message


def test_load__contract_violations_are_listed() -> None:
    registry = PolicyRegistry.from_entry_points(
        [
            entry("nameless", f"{__name__}:NamelessPolicy"),
            entry("clashing", f"{__name__}:ClashingPolicy"),
            entry("function", "os.path:join"),
        ]
    )
    with pytest.raises(PolicyError) as caught:
        registry.load("nameless")
    assert "entry point nameless" in str(caught.value)
    assert "its name attribute is None, expected 'nameless'" in str(caught.value)
    assert "no create(options, env) classmethod" in str(caught.value)
    with pytest.raises(PolicyError, match=r"option 'mode' clashes.*options declared twice: x"):
        registry.load("clashing")
    with pytest.raises(PolicyError, match="expected a class"):
        registry.load("function")


def test_duplicate_names_are_refused() -> None:
    good = f"{__name__}:GoodPolicy"
    with pytest.raises(PolicyError, match="'good' is registered twice"):
        PolicyRegistry.from_entry_points([entry("good", good), entry("good", good)])


def test_unknown_name_lists_the_valid_ones() -> None:
    registry = PolicyRegistry.from_classes([GoodPolicy])
    assert registry.load("good") is GoodPolicy
    with pytest.raises(PolicyError, match="unknown policy 'bad'; valid: good"):
        registry.load("bad")
