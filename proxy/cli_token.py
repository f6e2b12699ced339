"""``pipgate token create|list|revoke``: API tokens in the shared state that every replica
reads, so a token created or revoked here takes effect on all of them (within seconds for a
revocation). The token's text is printed once, on the last line of ``create``; nothing
else ever shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from proxy.identity.model import Role
from proxy.identity.store import Listed, TokenStore
from proxy.settings import Settings, SettingsError, load_settings
from storage.base import StorageError
from storage.factory import open_shared_stores

_T = TypeVar("_T")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([hdw])\Z")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
EXPIRES_HELP = "a duration (12h, 90d, 2w), a UTC date or datetime (2026-01-31), or never"


def parse_expiry(text: str, now: dt.datetime) -> dt.datetime | None:
    """When a token made at ``now`` with ``--expires text`` expires (``None``: never)."""
    value = text.strip().lower()
    if value == "never":
        return None
    duration = _DURATION.match(value)
    if duration is not None:
        return now + dt.timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"--expires {text!r}: expected {EXPIRES_HELP}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def add_token_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = subparsers.add_parser("token", help="create, list and revoke API tokens")
    actions = token.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="create a token; printed once, on the last line")
    _where(create)
    create.add_argument("--user", required=True, help="who the token belongs to")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.READER.value)
    create.add_argument("--expires", default="never", metavar="WHEN", help=EXPIRES_HELP)
    create.add_argument("--note", default="", help="what the token is for (shown by list)")
    create.set_defaults(handler=create_command)
    listing = actions.add_parser("list", help="every token, never its text")
    _where(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=list_command)
    revoke = actions.add_parser("revoke", help="refuse a token from now on, on every replica")
    _where(revoke)
    revoke.add_argument("token_id", type=int, metavar="ID", help="the id shown by list")
    revoke.set_defaults(handler=revoke_command)


def _where(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", metavar="DIR", help="pipgate's data directory (default ./pipgate-data)"
    )
    where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config file")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, overrides={"data_dir": args.data_dir})


def _embedded_state(settings: Settings) -> Path | None:
    if urlsplit(settings.cache_url).scheme in ("redis", "rediss"):
        return None
    return settings.data_dir / "state"


def _run(settings: Settings, action: Callable[[TokenStore], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        async with open_shared_stores(settings) as (_, state, _):
            return await action(TokenStore(state))

    return asyncio.run(run())


def _fail(error: Exception) -> int:
    print(f"pipgate: {error}", file=sys.stderr)
    return 2 if isinstance(error, SettingsError | ValueError) else 1


def create_command(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    try:
        settings = _settings(args)
        expires = parse_expiry(args.expires, now)
        issued = _run(
            settings,
            lambda store: store.create(
                args.user, Role(args.role), expires=expires, note=args.note, now=now
            ),
        )
    except (SettingsError, StorageError, ValueError) as error:
        return _fail(error)
    record = issued.record
    until = f"expires {_stamp(record.expires)}" if record.expires else "never expires"
    print(f"token {record.token_id} for {record.user} (role {record.role.value}), {until}")
    print("shown once: use it as the password, e.g. in .netrc or https://USER:TOKEN@HOST/simple/")
    print(issued.text)
    return 0


def list_command(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        state = _embedded_state(settings)
        if state is not None and not state.is_dir():
            raise StorageError(f"no pipgate state at {state}: check --data-dir / --config")
        listed = _run(settings, lambda store: store.list())
    except (SettingsError, StorageError, ValueError) as error:
        return _fail(error)
    now = dt.datetime.now(dt.UTC)
    if args.json:
        for entry in listed:
            print(json.dumps(_row(entry, now), sort_keys=True))
    elif not listed:
        print("no tokens", file=sys.stderr)
    else:
        print(_table([_row(entry, now) for entry in listed]))
    return 0


def revoke_command(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        record = _run(settings, lambda store: store.revoke(args.token_id))
    except LookupError as error:
        print(f"pipgate: {error.args[0]}", file=sys.stderr)
        return 1
    except (SettingsError, StorageError, ValueError) as error:
        return _fail(error)
    print(
        f"token {record.token_id} of {record.user} revoked at {_stamp(record.revoked)}; "
        "every pipgate sharing this state refuses it within seconds"
    )
    return 0


_COLUMNS = ("id", "user", "role", "status", "created", "expires", "last_used", "note")


def _row(entry: Listed, now: dt.datetime) -> dict[str, object]:
    record = entry.record
    return {
        "id": record.token_id,
        "user": record.user,
        "role": record.role.value,
        "status": record.status(now).value,
        "created": _stamp(record.created),
        "expires": _stamp(record.expires),
        "last_used": _stamp(entry.last_used),
        "revoked": _stamp(record.revoked),
        "note": record.note,
    }


def _table(rows: list[dict[str, object]]) -> str:
    cells = [[c.upper().replace("_", "-") for c in _COLUMNS]]
    cells += [["-" if row[c] in (None, "") else str(row[c]) for c in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells)
    return "\n".join(line.rstrip() for line in lines)


def _stamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["add_token_commands", "parse_expiry"]
