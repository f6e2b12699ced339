"""Converters for setting values: each takes what TOML or the environment gave and returns
the typed value, or raises ``ValueError`` (``settings`` then reports the key, the value and
what was expected)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit


def to_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError
    return int(str(value))


def to_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError
    return float(str(value))


def to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError


def to_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


def to_opt_str(value: object) -> str | None:
    return to_str(value) or None


def to_path(value: object) -> Path:
    return Path(to_str(value)).expanduser()


def to_opt_path(value: object) -> Path | None:
    return to_path(value) if value not in ("", None) else None


def to_hosts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(h.strip().lower() for h in value.split(",") if h.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.lower() for v in value)
    raise ValueError


_BYTE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_BYTE_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*\Z")


def byte_size(value: object) -> int:
    """An integer number of bytes, or a string such as ``"10GiB"`` or ``"500 MB"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError
        return value
    match = _BYTE_SIZE.match(to_str(value).lower())
    if match is None or match[2] not in _BYTE_UNITS:
        raise ValueError
    return int(float(match[1]) * _BYTE_UNITS[match[2]])


def trusted_entries(value: object) -> tuple[str, ...]:
    """``trusted_hosts``: ``host``, ``host:port``, ``[v6]:port`` or ``http(s)://host[:port]``."""
    from proxy.trusted_origins import parse_entry

    entries = to_hosts(value)
    for entry in entries:
        parse_entry(entry)
    return entries


def to_urls(value: object) -> tuple[str, ...]:
    """http(s) URLs, as given (paths and tokens are case-sensitive); comma-separated text."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError
    urls = tuple(item.strip() for item in items if item.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError
    return urls


def choice(*allowed: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        text = to_str(value).strip().lower()
        if text not in allowed:
            raise ValueError
        return text

    return convert


def http_url(value: object) -> str:
    url = to_str(value)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError
    return url if url.endswith("/") else url + "/"


def opt_http_url(value: object) -> str | None:
    return http_url(value).rstrip("/") if value not in ("", None) else None


N = TypeVar("N", int, float)


def in_range(
    cast: Callable[[object], N], low: N, high: N | None = None, *, above: bool = False
) -> Callable[[object], N]:
    """``cast`` then check ``low <= x`` (``low < x`` with ``above``) and ``x <= high``."""

    def convert(value: object) -> N:
        number = cast(value)
        if number < low or (above and number == low) or (high is not None and number > high):
            raise ValueError
        return number

    return convert


def host(value: object) -> str:
    name = to_str(value)
    if name in {"localhost", "::", "0.0.0.0"}:
        return name
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if not name or any(c.isspace() or c == "/" for c in name):
            raise
    return name


def url_of(*schemes: str) -> Callable[[object], str]:
    """An empty string, or a URL with one of ``schemes``."""

    def convert(value: object) -> str:
        url = to_str(value)
        if url and urlsplit(url).scheme not in schemes:
            raise ValueError
        return url

    return convert


_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}\Z")


def header_name(value: object) -> str | None:
    name = to_str(value).strip()
    if not name:
        return None
    if not _HEADER_NAME.match(name) or name.lower() in {"authorization", "host", "cookie"}:
        raise ValueError
    return name


def networks(value: object) -> tuple[str, ...]:
    """IP addresses and networks, kept as given after checking each one parses."""
    entries = to_hosts(value)
    for entry in entries:
        ipaddress.ip_network(entry, strict=False)
    return entries


def log_level(value: object) -> str:
    level = to_str(value).lower()
    if level not in {"critical", "error", "warning", "info", "debug"}:
        raise ValueError
    return level


def one_of(*choices: str) -> Callable[[object], str]:
    """Exactly one of ``choices`` (case-insensitive)."""

    def convert(value: object) -> str:
        text = to_str(value).strip().lower()
        if text not in choices:
            raise ValueError
        return text

    return convert
