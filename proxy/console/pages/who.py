"""Who pulled this? Whole downloads by project, version or sha256: the builds, users and
clients that fetched them, and when."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from proxy.console.access import Viewer, state_of
from proxy.console.filters import parse_filter
from proxy.console.handler import console_page, show
from proxy.console.reports import reports_of
from storage.fetchlog_reports import Pull


@console_page
async def who(request: Request, viewer: Viewer) -> Response:
    state = state_of(request)
    parsed = parse_filter(request.query_params, dt.datetime.now(dt.UTC))
    where = parsed.where
    asked = any((where.project, where.version, where.sha256, where.filename))
    pulls: list[Pull] = []
    if asked and not parsed.problems:
        await state.fetchlog.flush()
        pulls = await reports_of(state).pulls(where)
    return show(
        request,
        viewer,
        "who.html",
        "who",
        parsed=parsed,
        asked=asked,
        pulls=pulls,
        builds=sorted({p.build for p in pulls if p.build}),
        users=sorted({p.user for p in pulls if p.user}),
        clients=sorted({p.client for p in pulls}),
    )


__all__ = ["who"]
