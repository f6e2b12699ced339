"""``pipgate log`` and ``pipgate sbom``: read a slice of the fetch log, as a table, JSON
lines or an SBOM (CycloneDX 1.6 / SPDX 2.3). ``sbom_for_query`` is shared with the
``GET /-/sbom`` endpoint.

Times given on the command line are ISO 8601 dates or datetimes (naive = UTC) or ages
such as ``30m``, ``2h``, ``7d``, ``2w``; ``--since`` is inclusive, ``--until`` exclusive.
An empty slice still yields a valid, empty SBOM (exit 0) with a warning on stderr: a build
that downloaded nothing is legitimate, and the warning catches a mistyped label.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from proxy.audit.sbom_export import (
    FORMATS,
    describe_query,
    render_sbom,
    sbom_for_query,
    sbom_records,
    stamp,
)
from proxy.cli_pipes import quiet_on_broken_pipe
from proxy.settings import SettingsError, load_settings
from storage.base import FetchLogStore, FetchQuery, FetchRecord, StorageError
from storage.fetchlog_sql import ManagedFetchLog, open_fetch_log, sqlite_path, utc

_T = TypeVar("_T")
_AGE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TIME_HELP = "ISO 8601 date/datetime (UTC unless it has an offset) or an age: 30m, 2h, 7d, 2w"
DEFAULT_LOG_LIMIT = 1000


def parse_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An aware UTC datetime from an ISO 8601 date/datetime or an age before ``now``."""
    value = text.strip()
    age = _AGE.fullmatch(value)
    if age is not None:
        delta = dt.timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        return utc(now or dt.datetime.now(dt.UTC)) - delta
    try:
        return utc(dt.datetime.fromisoformat(value))
    except ValueError as error:
        raise ValueError(f"invalid time {text!r}: expected {_TIME_HELP}") from error


def _time_arg(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_log_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``log`` and ``sbom``; each sets ``handler(args) -> exit status``."""
    log = subparsers.add_parser("log", help="show the fetch log")
    slice_args(log)
    log.add_argument(
        "--project", metavar="P", help="project name (any spelling; compared normalised)"
    )
    log.add_argument("--json", action="store_true", help="one JSON object per line")
    log.add_argument(
        "--limit",
        type=int,
        metavar="N",
        default=DEFAULT_LOG_LIMIT,
        help=f"show the latest N rows (default {DEFAULT_LOG_LIMIT}; 0 = all)",
    )
    log.set_defaults(handler=log_command)
    sbom = subparsers.add_parser("sbom", help="write the SBOM of a build or slice")
    slice_args(sbom)
    sbom.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    sbom.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="file to write (default: stdout)"
    )
    sbom.add_argument(
        "--no-vulnerabilities",
        action="store_true",
        help="leave out the CycloneDX vulnerabilities (skips loading the OSV data)",
    )
    sbom.set_defaults(handler=sbom_command, project=None)


def slice_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", metavar="DIR", help="pipgate's data directory (default ./pipgate-data)"
    )
    where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config file")
    parser.add_argument("--build", metavar="L", help="build label, as in /builds/<label>/simple/")
    parser.add_argument("--client", metavar="ADDR", help="client IP address")
    parser.add_argument("--user", metavar="U", help="authenticated user name")
    parser.add_argument(
        "--since", type=_time_arg, metavar="T", help=f"from this time; {_TIME_HELP}"
    )
    parser.add_argument(
        "--until", type=_time_arg, metavar="T", help=f"before this time; {_TIME_HELP}"
    )


def _query(args: argparse.Namespace, limit: int | None = None) -> FetchQuery:
    return FetchQuery(
        build=args.build,
        project=args.project,
        client=args.client,
        user=args.user,
        since=args.since,
        until=args.until,
        limit=limit,
    )


def run_on_fetch_log(
    args: argparse.Namespace, action: Callable[[FetchLogStore], Awaitable[_T]]
) -> _T:
    """Open the fetch log named by ``--data-dir`` / ``--config``, run ``action`` on it."""
    settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
    path = sqlite_path(settings.fetchlog_url, settings.data_dir)
    if path is not None and not path.is_file():
        raise StorageError(f"no fetch log at {path}: check --data-dir / --config")
    return asyncio.run(
        _with_store(open_fetch_log(settings.fetchlog_url, settings.data_dir), action)
    )


async def _with_store(
    store: ManagedFetchLog, action: Callable[[FetchLogStore], Awaitable[_T]]
) -> _T:
    await store.start()
    try:
        return await action(store)
    finally:
        await store.aclose()


def _fail(error: Exception) -> int:
    print(f"pipgate: {error}", file=sys.stderr)
    return 2 if isinstance(error, SettingsError | ValueError) else 1


def log_command(args: argparse.Namespace) -> int:
    limit = args.limit if args.limit > 0 else None
    query = _query(args, limit)
    try:
        records = run_on_fetch_log(args, lambda store: store.query(query))
    except (SettingsError, StorageError, ValueError) as error:
        return _fail(error)
    if args.json:
        for record in records:
            print(json.dumps(record_json(record), sort_keys=True))
    else:
        print(format_table(records))
    if limit is not None and len(records) == limit:
        print(f"pipgate: showing the latest {limit} rows; --limit 0 shows all", file=sys.stderr)
    return 0


def record_json(record: FetchRecord) -> dict[str, object]:
    values = dataclasses.asdict(record)
    values["time"] = utc(record.time).isoformat()
    values["verdicts"] = [dict(v) for v in record.verdicts]
    return values


_TABLE_COLUMNS = ("time", "client", "user", "build", "kind", "status", "cache", "project")
_TABLE_TAIL = ("version", "filename", "attestation", "verdicts")


def format_table(records: Sequence[FetchRecord]) -> str:
    header = [c.upper() for c in (*_TABLE_COLUMNS, *_TABLE_TAIL)]
    rows = [header, *(_table_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _table_row(record: FetchRecord) -> list[str]:
    values = record_json(record)
    values["time"] = stamp(record.time)
    values["verdicts"] = ",".join(f"{v.get('policy')}:{v.get('decision')}" for v in record.verdicts)
    return [
        "-" if values[c] in (None, "") else str(values[c]) for c in (*_TABLE_COLUMNS, *_TABLE_TAIL)
    ]


def sbom_command(args: argparse.Namespace) -> int:
    from policies.osv_source import OsvSourceError
    from proxy.cli_osv import sbom_advisories
    from proxy.sbom import SbomError, select_artifacts  # lazily: see render_sbom

    query = _query(args)
    try:
        advisories = None if args.no_vulnerabilities else sbom_advisories(args)
        records = run_on_fetch_log(args, lambda store: sbom_records(store, query))
        text = render_sbom(records, args.fmt, name=describe_query(query), advisories=advisories)
    except (SettingsError, StorageError, SbomError, OsvSourceError, ValueError) as error:
        return _fail(error)
    count = len(select_artifacts(records))
    if count == 0:
        print(
            f"pipgate: warning: no distribution file was served in this slice "
            f"({describe_query(query)}); the SBOM is empty",
            file=sys.stderr,
        )
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"pipgate: wrote {count} component(s) to {args.output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m proxy.cli_log log|sbom ...`` (the same commands as ``pipgate``)."""
    parser = argparse.ArgumentParser(prog="pipgate")
    add_log_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return quiet_on_broken_pipe(lambda: int(args.handler(args)))


__all__ = [
    "add_log_commands",
    "describe_query",
    "main",
    "parse_time",
    "render_sbom",
    "run_on_fetch_log",
    "sbom_for_query",
    "sbom_records",
    "slice_args",
]


if __name__ == "__main__":
    sys.exit(main())
