"""A pipgate policy plugin: refuses project names longer than ``max_length`` characters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from packaging.utils import NormalizedName

from policies.base import Option, PolicyEnvironment, Verdict


def parse_length(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("expected a whole number of characters >= 1")
    return value


class NameLengthPolicy:
    name: ClassVar[str] = "name_length"
    summary: ClassVar[str] = "Refuses project names longer than max_length characters."
    options: ClassVar[tuple[Option, ...]] = (
        Option("max_length", "Longest name allowed, in characters.", 40, parse_length),
    )

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> NameLengthPolicy:
        return cls(options["max_length"])

    def check_project(self, name: NormalizedName) -> Verdict | None:
        if len(name) <= self.max_length:
            return None
        return Verdict.deny(
            self.name,
            f"{name} is {len(name)} characters long, over name_length's {self.max_length}; "
            f"add it to exempt if it is genuine",
        )
