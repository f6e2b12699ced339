"""``pipgate cache stats|prune|purge``: look at and trim the artifact cache, offline or while
pipgate serves from the same data directory (a prune takes the same lock as the servers'
own passes; see ``proxy.cache_eviction``).

    pipgate cache stats [--json]
    pipgate cache prune [--to SIZE]          # down to cache_max_bytes, or to SIZE
    pipgate cache purge NAME[==VERSION]...   # every blob of a project, or of one version
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from proxy import setting_values
from proxy.cache_eviction import CacheEvictor, CacheStats, PruneResult
from proxy.errors import InvalidName
from proxy.settings import Settings, SettingsError, load_settings
from storage.base import StorageError
from storage.factory import open_stores
from storage.filesystem import FilesystemBlobStore

_T = TypeVar("_T")


def add_cache_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cache = subparsers.add_parser("cache", help="artifact cache: stats, prune, purge")
    actions = cache.add_subparsers(dest="action", required=True)
    stats = actions.add_parser("stats", help="what the cache holds")
    stats.add_argument("--json", action="store_true", help="one JSON object")
    prune = actions.add_parser("prune", help="evict the least recently served blobs")
    prune.add_argument(
        "--to", type=_size_arg, metavar="SIZE", help="evict down to SIZE (default: the limit)"
    )
    purge = actions.add_parser("purge", help="delete every blob of a project or version")
    purge.add_argument("requirements", nargs="+", metavar="NAME[==VERSION]")
    for parser in (stats, prune, purge):
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--data-dir", metavar="DIR", help="default ./pipgate-data")
        where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config")
        parser.set_defaults(handler=cache_command)


def _size_arg(text: str) -> int:
    try:
        return setting_values.byte_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected bytes or e.g. 10GiB") from error


def cache_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
        if args.action == "stats":
            stats = _run(settings, lambda evictor: evictor.stats())
            print(_stats_json(stats, settings) if args.json else _stats_text(stats, settings))
        elif args.action == "prune":
            if args.to is None and settings.cache_max_bytes <= 0:
                raise ValueError("cache_max_bytes is not set (no limit): give --to SIZE")
            result = _run(settings, lambda evictor: evictor.prune(args.to))
            if result is None:
                print("pipgate: another process is pruning right now; try again", file=sys.stderr)
                return 1
            print(_result_text("evicted", result))
        else:
            for requirement in args.requirements:
                result = _run(settings, _purge(requirement))
                print(f"{requirement}: " + _result_text("purged", result))
    except (SettingsError, StorageError, ValueError, InvalidName) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 2
    return 0


def _purge(requirement: str) -> Callable[[CacheEvictor], Awaitable[PruneResult]]:
    name, _, version = requirement.partition("==")
    return lambda evictor: evictor.purge(name, version or None)


def _run(settings: Settings, work: Callable[[CacheEvictor], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        async with open_stores(settings) as stores:
            if not isinstance(stores.blobs, FilesystemBlobStore):
                raise ValueError("pipgate cache works on the filesystem blob store only")
            evictor = CacheEvictor(stores.blobs, stores.locks, settings.cache_max_bytes)
            return await work(evictor)

    return asyncio.run(main())


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _stats_json(stats: CacheStats, settings: Settings) -> str:
    return json.dumps(
        {
            "blobs": stats.blobs,
            "bytes": stats.bytes,
            "by_kind": {k: {"blobs": n, "bytes": b} for k, (n, b) in stats.by_kind.items()},
            "oldest_served": _when(stats.oldest_served),
            "newest_served": _when(stats.newest_served),
            "cache_max_bytes": settings.cache_max_bytes,
        },
        sort_keys=True,
    )


def _stats_text(stats: CacheStats, settings: Settings) -> str:
    limit = f"{settings.cache_max_bytes} bytes" if settings.cache_max_bytes else "none"
    lines = [f"{stats.blobs} blob(s), {stats.bytes} bytes (limit: {limit})"]
    for kind, (count, size) in sorted(stats.by_kind.items()):
        lines.append(f"  {kind}: {count} blob(s), {size} bytes")
    if stats.blobs:
        lines.append(f"least recently served: {_when(stats.oldest_served)}")
        lines.append(f"most recently served:  {_when(stats.newest_served)}")
    return "\n".join(lines)


def _result_text(verb: str, result: PruneResult) -> str:
    text = f"{verb} {result.evicted} blob(s), {result.freed} bytes; {result.remaining} left"
    if result.protected:
        text += f" ({result.protected} served in the last 10 minutes kept)"
    return text


__all__ = ["add_cache_command", "cache_command"]
