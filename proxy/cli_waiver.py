"""``pipgate waiver add|list|remove``: time-limited exceptions to policy verdicts.

pipgate waiver add requests==2.31.0 --policy osv --expires 7d --reason "fix in review"
pipgate waiver list [--all] [--json]
pipgate waiver remove 3 --reason "upgraded"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from proxy.cli_review import (
    actor,
    add_actor,
    add_location,
    fail,
    run,
    settings_of,
    stamp,
    table,
    unwaivable,
)
from proxy.settings import SettingsError
from proxy.workflow.inputs import (
    EXPIRES_HELP,
    parse_expires,
    parse_policy,
    parse_reason,
    parse_target,
)
from proxy.workflow.model import WaiverStatus
from proxy.workflow.runtime import Workflow
from proxy.workflow.snapshot import WaiverView
from storage.base import StorageError

_COLUMNS = ("id", "status", "scope", "policy", "expires", "creator", "reason")
_ERRORS = (SettingsError, StorageError, ValueError, LookupError)
"""``WorkflowError`` is a ``ValueError``: an action the current state does not allow."""


def add_waiver_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    waiver = subparsers.add_parser("waiver", help="add, list and remove waivers")
    actions = waiver.add_subparsers(dest="waiver_command", required=True)
    add = actions.add_parser("add", help="lift a policy's verdicts for a while")
    add.add_argument("target", metavar="PROJECT[==VERSION]")
    add.add_argument("--file", metavar="FILENAME", help="only this file of the project")
    add.add_argument("--policy", default="*", help="the policy to lift (default: * for all)")
    add.add_argument("--expires", required=True, metavar="WHEN", help=EXPIRES_HELP)
    add.add_argument("--reason", required=True, help="why: kept in the audit trail")
    add_actor(add)
    add_location(add)
    add.set_defaults(handler=add_command)
    listing = actions.add_parser("list", help="active waivers (--all: expired and removed too)")
    listing.add_argument("--all", action="store_true", help="include expired and removed ones")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_location(listing)
    listing.set_defaults(handler=list_command)
    remove = actions.add_parser("remove", help="end a waiver now")
    remove.add_argument("waiver_id", type=int, metavar="ID")
    remove.add_argument("--reason", required=True, help="why: kept in the audit trail")
    add_actor(remove)
    add_location(remove)
    remove.set_defaults(handler=remove_command)


def add_command(args: argparse.Namespace) -> int:
    try:
        settings = settings_of(args)
        target = parse_target(args.target, args.file)
        policy = parse_policy(args.policy)
        reason = parse_reason(args.reason)
        if policy is not None and policy in unwaivable(settings):
            raise ValueError(f"policy {policy!r} is configured with waivable = false")
        expires = parse_expires(args.expires, dt.datetime.now(dt.UTC))
        waiver = run(settings, lambda w: w.add_waiver(target, policy, reason, actor(args), expires))
    except _ERRORS as error:
        return fail(error)
    lifted = f"policy {waiver.policy}" if waiver.policy else "every waivable policy"
    print(
        f"waiver {waiver.waiver_id}: {waiver.scope}, {lifted}, until {stamp(waiver.expires)}; "
        "every pipgate sharing this state applies it within seconds"
    )
    return 0


def list_command(args: argparse.Namespace) -> int:
    try:
        views = run(settings_of(args), _views)
    except _ERRORS as error:
        return fail(error)
    now = dt.datetime.now(dt.UTC)
    rows = [_row(v, now) for v in views if args.all or v.status(now) is WaiverStatus.ACTIVE]
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
    elif rows:
        print(table(rows, _COLUMNS))
    else:
        print("no active waivers" + ("" if args.all else " (--all for expired ones)"))
    return 0


async def _views(workflow: Workflow) -> list[WaiverView]:
    return list(reversed(workflow.snapshot.waiver_views()))


def remove_command(args: argparse.Namespace) -> int:
    try:
        reason = parse_reason(args.reason)
        view = run(
            settings_of(args), lambda w: w.remove_waiver(args.waiver_id, actor(args), reason)
        )
    except _ERRORS as error:
        return fail(error)
    print(f"waiver {view.waiver.waiver_id} ({view.waiver.scope}) removed")
    return 0


def _row(view: WaiverView, now: dt.datetime) -> dict[str, object]:
    waiver, removed = view.waiver, view.removed
    return {
        "id": waiver.waiver_id,
        "status": view.status(now).value,
        "scope": waiver.scope,
        "project": waiver.project,
        "version": waiver.version,
        "filename": waiver.filename,
        "policy": waiver.policy or "*",
        "created": stamp(waiver.created),
        "creator": waiver.creator,
        "expires": stamp(waiver.expires),
        "reason": waiver.reason,
        "removed": stamp(removed.time) if removed else None,
        "removed_by": removed.actor if removed else None,
        "removal_reason": removed.reason if removed else None,
    }


__all__ = ["add_waiver_commands"]
