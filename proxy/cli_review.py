"""What ``pipgate waiver`` and ``pipgate quarantine`` share: where the state is, the
workflow on it, who is acting, and how records print (a table, or ``--json`` lines).

Both act on the shared state every replica reads, so a change made here reaches every
running pipgate within one poll (a second), pages included.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from proxy.settings import Settings, SettingsError, load_settings
from proxy.workflow.runtime import Workflow
from storage.base import StorageError
from storage.factory import open_state

_T = TypeVar("_T")


def add_location(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", metavar="DIR", help="pipgate's data directory (default ./pipgate-data)"
    )
    where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config file")


def add_actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by", metavar="NAME", help="who is acting, for the audit trail (default: your login)"
    )


def actor(args: argparse.Namespace) -> str:
    name = args.by or getpass.getuser()
    return name if name.startswith("cli:") else f"cli:{name}"


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, overrides={"data_dir": args.data_dir})


def run(settings: Settings, action: Callable[[Workflow], Awaitable[_T]]) -> _T:
    async def go() -> _T:
        async with open_state(settings) as kv:
            workflow = Workflow(kv)
            await workflow.refresh()
            return await action(workflow)

    return asyncio.run(go())


def fail(error: BaseException) -> int:
    message = error.args[0] if isinstance(error, LookupError) and error.args else error
    print(f"pipgate: {message}", file=sys.stderr)
    if isinstance(error, LookupError | StorageError):
        return 1
    return 2 if isinstance(error, SettingsError | ValueError) else 1


def stamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    cells = [[c.upper() for c in columns]]
    cells += [["-" if row[c] in (None, "") else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells)
    return "\n".join(line.rstrip() for line in lines)


def unwaivable(settings: Settings) -> set[str]:
    """Policies the config file marks ``waivable = false`` (no waiver may lift them)."""
    return {
        str(table.get("use")) for table in settings.policies or () if table.get("waivable") is False
    }


__all__ = [
    "actor",
    "add_actor",
    "add_location",
    "fail",
    "run",
    "settings_of",
    "stamp",
    "table",
    "unwaivable",
]
