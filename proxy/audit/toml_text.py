"""Just enough TOML output for a PEP 751 lock: tables, arrays of tables, inline tables,
strings, integers and UTC datetimes. The reader side is the standard ``tomllib``; the
lock is parsed back and validated before it is handed out, so a writer bug cannot leave
pipgate as an invalid file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def value(item: Any) -> str:
    """One TOML value; JSON's string escapes are all valid TOML basic-string escapes."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, str):
        return json.dumps(item)
    if isinstance(item, dt.datetime):
        moment = item.astimezone(dt.UTC)
        fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    if isinstance(item, Mapping):
        return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + "}"
    if isinstance(item, Sequence):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"no TOML form for {type(item).__name__}")


def table_lines(header: str, fields: Mapping[str, Any], *, array: bool = False) -> list[str]:
    """``[header]`` (``[[header]]`` with ``array``) and its scalar/inline fields."""
    opening = f"[[{header}]]" if array else f"[{header}]"
    return [opening, *(f"{key(k)} = {value(v)}" for k, v in fields.items() if v is not None)]


def top_lines(fields: Mapping[str, Any]) -> list[str]:
    return [f"{key(k)} = {value(v)}" for k, v in fields.items() if v is not None]


__all__ = ["key", "table_lines", "top_lines", "value"]
