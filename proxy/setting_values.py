"""Converters for setting values: each takes what TOML or the environment gave and returns
the typed value, or raises ``ValueError`` (``settings`` then reports the key, the value and
what was expected)."""

from __future__ import annotations

import ipaddress
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
