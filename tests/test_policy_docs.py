"""docs/policies.md documents every installed built-in policy and each of its options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies.base import PolicyError
from policies.registry import PolicyRegistry

DOCS = (Path(__file__).parent.parent / "docs" / "policies.md").read_text()


def section(name: str) -> str:
    match = re.search(rf"^### `{name}`\n(.*?)(?=^#{{2,3}} |\Z)", DOCS, re.MULTILINE | re.DOTALL)
    assert match is not None, f"docs/policies.md has no '### `{name}`' section"
    return match.group(1)


@pytest.mark.parametrize("name", PolicyRegistry.discover().names())
def test_every_policy_and_option_is_documented(name: str) -> None:
    text = section(name)
    try:
        plugin = PolicyRegistry.discover().load(name)
    except PolicyError as error:
        pytest.fail(f"built-in policy {name!r} does not load: {error}")
    for option in plugin.options:
        assert f"| `{option.name}` |" in text, f"option {option.name!r} of {name} is undocumented"
