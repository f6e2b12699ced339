"""Reading access-log lines back: ``json`` lines with ``json.loads``, ``kv`` lines with a
logfmt tokenizer whose quoted values are JSON strings (as ``proxy.access_log`` writes them)."""

from __future__ import annotations

import json
import re
from typing import Any

_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ ]+)')


def parse_line(line: str) -> dict[str, Any]:
    text = line.strip()
    if text.startswith("{"):
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    fields: dict[str, Any] = {}
    position = 0
    for match in _PAIR.finditer(text):
        between = text[position : match.start()]
        if between.strip():
            raise ValueError(f"not a key=value line at {position}: {text!r}")
        key, value = match.group(1), match.group(2)
        fields[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    if text[position:].strip():
        raise ValueError(f"trailing text in {text!r}")
    return fields


def access_entries(text: str) -> list[dict[str, Any]]:
    """The access-log lines among a server's output (other log lines are skipped)."""
    return [
        parse_line(line)
        for line in text.splitlines()
        if line.startswith('{"time"') or line.startswith("time=")
    ]


__all__ = ["access_entries", "parse_line"]
