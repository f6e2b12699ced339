"""The facts one pass over a module gathers (``py_flow``), as plain data for the rules."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Drop:
    """A file written with downloaded or decoded bytes."""

    paths: frozenset[str]
    """Names and path pieces the written file's path is computed from."""
    labels: int
    line: int
    scope: str


@dataclass(frozen=True, slots=True)
class Launch:
    """A process started; ``uses`` are the names and pieces of its arguments."""

    uses: frozenset[str]
    line: int
    scope: str


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    """A rule id, or an event: ``process``, ``network``, ``exec``, ``write-out``,
    ``endpoint`` (a network call to a host the source fixes), ``hidden-process``."""
    line: int
    scope: str
    why: str | None = None


@dataclass(slots=True)
class Facts:
    hits: list[Hit] = field(default_factory=list)
    calls: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    commands: set[str] = field(default_factory=set)
    """Methods of setuptools command subclasses (run by pip when building)."""
    hooked: set[str] = field(default_factory=set)
    """Methods of install/develop/egg_info overrides: code that exists to run at install."""
    stores: list[tuple[int, str]] = field(default_factory=list)
    """Literals naming other programs' secret stores (``indicators.secret_store``)."""
    channels: list[tuple[int, str]] = field(default_factory=list)
    """Literals holding a chat-bot token or a webhook's secret URL."""
    encoded: list[tuple[int, str]] = field(default_factory=list)
    """Literals that are a URL in base64 or hex, with the URL."""
    events: dict[str, int] = field(default_factory=dict)
    """First line of each kind of behaviour anywhere in the module: ``network``,
    ``process``, ``identity``, ``capture`` (screenshots, keystrokes, clipboard)."""
    drops: list[Drop] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)
