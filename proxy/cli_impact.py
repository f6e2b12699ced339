"""``pipgate impact ADVISORY-ID | NAME[==VERSION] | SHA256 [--since T] [--json]``.

Which served files match, and which builds, users and clients fetched them, when. An
advisory id (or alias, e.g. a CVE id) is resolved through the OSV data the server loads:
the ``source`` of every ``osv`` policy in the config (or the ``osv_source`` setting of
the default set), read from disk, or from the server's download of a URL source.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.cli_log import parse_time, run_on_fetch_log
from proxy.settings import Settings, SettingsError, load_settings
from storage.base import FetchLogStore, StorageError
from storage.fetchlog_sql import utc

if TYPE_CHECKING:
    from policies.osv_db import OsvIndex
    from proxy.audit.impact import Impact, Target

__all__ = ["add_impact_command", "format_impact"]


def add_impact_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    impact = subparsers.add_parser(
        "impact", help="which builds, users and clients fetched what an advisory names"
    )
    impact.add_argument("target", help="ADVISORY-ID, NAME, NAME==VERSION or a sha256")
    where = impact.add_mutually_exclusive_group()
    where.add_argument("--data-dir", metavar="DIR", help="pipgate's data directory")
    where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config file")
    impact.add_argument("--since", metavar="T", help="only fetches from T (ISO 8601 or 7d, 2w)")
    impact.add_argument("--json", action="store_true", help="one JSON document")
    impact.set_defaults(handler=impact_command)


def load_indexes(settings: Settings) -> list[OsvIndex]:
    from proxy.audit.impact import ImpactError
    from proxy.cli_osv import load_indexes as configured_indexes
    from proxy.cli_osv import osv_locations

    if not osv_locations(settings):
        raise ImpactError(
            "no OSV data is configured (an osv policy's source, or the osv_source setting)"
        )
    return configured_indexes(settings)


def impact_command(args: argparse.Namespace) -> int:
    # Imported here: every other command pays for this module's import (the parser).
    from policies.osv_source import OsvSourceError
    from proxy.audit.impact import ImpactError, parse_target

    try:
        target = parse_target(args.target)
        since = parse_time(args.since) if args.since else None
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
        impact = _impact(args, settings, target, since)
    except (SettingsError, ImpactError, ValueError) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 2
    except (StorageError, OsvSourceError) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(impact.to_json(), indent=2, sort_keys=True))
    else:
        print(format_impact(impact))
    if not impact.files:
        print(f"pipgate: no served file matches {impact.target}", file=sys.stderr)
    return 0


def _impact(
    args: argparse.Namespace, settings: Settings, target: Target, since: dt.datetime | None
) -> Impact:
    from proxy.audit.impact import ImpactError, impact_of

    indexes: list[OsvIndex | None] = [None]
    if target.kind == "advisory":
        indexes = list(load_indexes(settings))

    async def first_known(store: FetchLogStore) -> Impact:
        # Several osv policies may each load other data: the first that knows the id wins.
        problem: ImpactError | None = None
        for index in indexes:
            try:
                return await impact_of(store, target, index=index, since=since)
            except ImpactError as error:
                problem = error
        assert problem is not None
        raise problem

    return run_on_fetch_log(args, first_known)


def format_impact(impact: Impact) -> str:
    """The impact as text: advisories, then each file and its fetches, then who."""
    lines = [
        f"{a.id} ({', '.join(a.aliases) or 'no aliases'}): {a.summary}" for a in impact.advisories
    ]
    for file in impact.files:
        lines.append(f"{file.filename}  sha256:{file.sha256}  ({file.project} {file.version})")
        for fetch in file.fetches:
            when = utc(fetch.time).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(
                f"  {when}  build={fetch.build or '-'}  user={fetch.user or '-'}  "
                f"client={fetch.client}  status={fetch.status}"
            )
    lines.append(f"files: {len(impact.files)}")
    for label, values in (
        ("builds", impact.builds),
        ("users", impact.users),
        ("clients", impact.clients),
    ):
        lines.append(f"{label}: {', '.join(values) or '-'}")
    return "\n".join(lines)
