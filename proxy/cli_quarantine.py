"""``pipgate quarantine list|release|reject``: the files a policy held for review.

pipgate quarantine list [--all] [--json]
pipgate quarantine release 4 --reason "reviewed the diff, benign"
pipgate quarantine reject 5 --reason "exfiltrates environment variables"
"""

from __future__ import annotations

import argparse
import json

from proxy.cli_review import actor, add_actor, add_location, fail, run, settings_of, stamp, table
from proxy.settings import SettingsError
from proxy.workflow.inputs import parse_reason
from proxy.workflow.model import ItemState
from proxy.workflow.runtime import Workflow
from proxy.workflow.snapshot import ItemView
from storage.base import StorageError

_COLUMNS = ("id", "state", "project", "subject", "policy", "held", "reason")
_ERRORS = (SettingsError, StorageError, ValueError, LookupError)


def add_quarantine_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    quarantine = subparsers.add_parser("quarantine", help="review the files policies hold")
    actions = quarantine.add_subparsers(dest="quarantine_command", required=True)
    listing = actions.add_parser("list", help="held files (--all: decided ones too)")
    listing.add_argument("--all", action="store_true", help="include released and rejected")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_location(listing)
    listing.set_defaults(handler=list_command)
    for name, summary in (
        ("release", "serve a held file from now on"),
        ("reject", "keep a held file refused"),
    ):
        decide = actions.add_parser(name, help=summary)
        decide.add_argument("item_id", type=int, metavar="ID")
        decide.add_argument("--reason", required=True, help="why: kept in the audit trail")
        add_actor(decide)
        add_location(decide)
        decide.set_defaults(handler=decide_command, action=name)


def list_command(args: argparse.Namespace) -> int:
    try:
        views = run(settings_of(args), _views)
    except _ERRORS as error:
        return fail(error)
    rows = [_row(v) for v in views if args.all or v.state is ItemState.PENDING]
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
    elif rows:
        print(table(rows, _COLUMNS))
    else:
        print("nothing held for review" + ("" if args.all else " (--all for decided ones)"))
    return 0


async def _views(workflow: Workflow) -> list[ItemView]:
    return list(reversed(workflow.snapshot.item_views()))


def decide_command(args: argparse.Namespace) -> int:
    try:
        reason = parse_reason(args.reason)

        async def decide(workflow: Workflow) -> ItemView:
            if args.action == "release":
                return await workflow.release(args.item_id, actor(args), reason)
            return await workflow.reject(args.item_id, actor(args), reason)

        view = run(settings_of(args), decide)
    except _ERRORS as error:
        return fail(error)
    print(
        f"quarantine item {view.item.item_id} ({view.item.subject}) {view.state.value}; "
        "every pipgate sharing this state applies it within seconds"
    )
    return 0


def _row(view: ItemView) -> dict[str, object]:
    item, decision = view.item, view.decision
    return {
        "id": item.item_id,
        "state": view.state.value,
        "project": item.project,
        "subject": item.subject,
        "filename": item.filename,
        "version": item.version,
        "sha256": item.sha256,
        "policy": item.policy,
        "held": stamp(item.held),
        "reason": item.reason,
        "decided": stamp(decision.time) if decision else None,
        "decided_by": decision.actor if decision else None,
        "decision_reason": decision.reason if decision else None,
    }


__all__ = ["add_quarantine_commands"]
