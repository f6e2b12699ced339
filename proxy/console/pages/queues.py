"""The review queues: quarantine (release or reject, each with a reason) and waivers
(create with a reason and an expiry, remove with a reason). Every action is an audit event
of ``proxy.workflow`` and redirects back to its queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from proxy.console.access import Viewer, checked_form, field, state_of
from proxy.console.handler import console_page, message_page, redirect, show
from proxy.workflow.inputs import (
    EXPIRES_HELP,
    parse_expires,
    parse_policy,
    parse_reason,
    parse_target,
)
from proxy.workflow.model import ItemState, WaiverStatus
from proxy.workflow.runtime import Workflow, WorkflowError

DEFAULT_EXPIRY = "7d"
_T = TypeVar("_T")


def _workflow(request: Request) -> Workflow | None:
    return state_of(request).workflow


@console_page
async def quarantine(request: Request, viewer: Viewer) -> Response:
    workflow = _workflow(request)
    views = workflow.snapshot.item_views() if workflow is not None else []
    wanted = request.query_params.get("state", "pending")
    shown = [v for v in views if wanted == "all" or v.state.value == wanted]
    return show(
        request,
        viewer,
        "quarantine.html",
        "quarantine",
        items=shown,
        wanted=wanted,
        states=[s.value for s in ItemState],
        counts={s.value: sum(1 for v in views if v.state is s) for s in ItemState},
    )


@console_page
async def decide(request: Request, viewer: Viewer) -> Response:
    form = await checked_form(request, viewer)
    workflow = _workflow(request)
    if workflow is None:
        return message_page(request, 503, "the review workflow is not running")
    item_id = int(request.path_params["item"])
    action = request.path_params["action"]
    try:
        reason = parse_reason(field(form, "reason"))
        if action == "release":
            await workflow.release(item_id, viewer.session.user, reason)
        elif action == "reject":
            await workflow.reject(item_id, viewer.session.user, reason)
        else:
            return message_page(request, 404, f"no action {action!r}: release or reject")
    except LookupError as error:
        return message_page(request, 404, str(error.args[0]))
    except ValueError as error:
        return message_page(request, 400, f"quarantine item {item_id}: {error}")
    return redirect(f"/-/ui/quarantine?state=all#item-{item_id}")


@console_page
async def waivers(request: Request, viewer: Viewer) -> Response:
    workflow = _workflow(request)
    views = workflow.snapshot.waiver_views() if workflow is not None else []
    now = workflow.clock() if workflow is not None else dt.datetime.now(dt.UTC)
    wanted = request.query_params.get("status", "active")
    shown = [v for v in views if wanted == "all" or v.status(now).value == wanted]
    return show(
        request,
        viewer,
        "waivers.html",
        "waivers",
        waivers=shown,
        wanted=wanted,
        statuses=[s.value for s in WaiverStatus],
        now=now,
    )


@console_page
async def new_waiver(request: Request, viewer: Viewer) -> Response:
    params = request.query_params
    values = {
        "project": params.get("project", ""),
        "version": params.get("version", ""),
        "file": params.get("file", ""),
        "policy": params.get("policy", ""),
        "expires": DEFAULT_EXPIRY,
        "reason": "",
    }
    return _waiver_form(request, viewer, values, {})


def _waiver_form(
    request: Request, viewer: Viewer, values: dict[str, str], problems: dict[str, str]
) -> Response:
    state = state_of(request)
    response = show(
        request,
        viewer,
        "waiver_new.html",
        "waivers",
        values=values,
        problems=problems,
        expires_help=EXPIRES_HELP,
        policies=sorted({p.name for p in state.engine.current.active}),
        unwaivable=sorted(state.engine.current.unwaivable),
    )
    if problems:
        response.status_code = 400
    return response


@console_page
async def create_waiver(request: Request, viewer: Viewer) -> Response:
    form = await checked_form(request, viewer)
    workflow = _workflow(request)
    if workflow is None:
        return message_page(request, 503, "the review workflow is not running")
    values = {k: field(form, k).strip() for k in ("project", "version", "file", "policy")}
    values |= {"expires": field(form, "expires").strip(), "reason": field(form, "reason")}
    problems: dict[str, str] = {}
    requirement = values["project"] + (f"=={values['version']}" if values["version"] else "")
    target = _parse(problems, "project", lambda: parse_target(requirement, values["file"] or None))
    policy = _parse(problems, "policy", lambda: parse_policy(values["policy"]))
    expires = _parse(
        problems, "expires", lambda: parse_expires(values["expires"], workflow.clock())
    )
    reason = _parse(problems, "reason", lambda: parse_reason(values["reason"]))
    if policy is not None and policy in state_of(request).engine.current.unwaivable:
        problems["policy"] = f"policy {policy!r} is configured with waivable = false"
    if problems or target is None or expires is None or reason is None:
        return _waiver_form(request, viewer, values, problems)
    try:
        waiver = await workflow.add_waiver(target, policy, reason, viewer.session.user, expires)
    except WorkflowError as error:
        return _waiver_form(request, viewer, values, {"expires": str(error)})
    return redirect(f"/-/ui/waivers#waiver-{waiver.waiver_id}")


def _parse(problems: dict[str, str], name: str, parse: Callable[[], _T]) -> _T | None:
    try:
        return parse()
    except ValueError as error:
        problems[name] = str(error)
        return None


@console_page
async def remove_waiver(request: Request, viewer: Viewer) -> Response:
    form = await checked_form(request, viewer)
    workflow = _workflow(request)
    if workflow is None:
        return message_page(request, 503, "the review workflow is not running")
    waiver_id = int(request.path_params["waiver"])
    try:
        await workflow.remove_waiver(
            waiver_id, viewer.session.user, parse_reason(field(form, "reason"))
        )
    except LookupError as error:
        return message_page(request, 404, str(error.args[0]))
    except ValueError as error:
        return message_page(request, 400, f"waiver {waiver_id}: {error}")
    return redirect(f"/-/ui/waivers?status=all#waiver-{waiver_id}")


__all__ = ["create_waiver", "decide", "new_waiver", "quarantine", "remove_waiver", "waivers"]
