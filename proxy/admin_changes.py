"""``POST /-/invalidate?project=NAME``: the operator's "this project changed upstream, now".

For a decision made outside pipgate (the upstream quarantined a project under PEP 792,
yanked or replaced files) that must not wait for the page TTL: every worker and replica
revalidates the project's upstream page on its next request and drops its rendered
pages, through the shared change feed (within one poll interval, 1 s). Admin only, like
the other ``/-/`` endpoints.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from policies.changes import InputChange
from proxy.admin import forbidden, is_admin
from proxy.caching import CachingRepository
from proxy.errors import InvalidName
from proxy.invalidation import Listener
from proxy.state import AppState
from storage.keys import validate_project

UPSTREAM_CHANGED = "upstream"
"""``InputChange.source`` of a change an operator reports for the upstream's pages."""
MAX_PROJECTS = 1000


def revalidate_upstream(caching: CachingRepository) -> Listener:
    """The page cache's listener: an upstream change makes the cached page due now."""

    def listener(change: InputChange) -> None:
        if change.source == UPSTREAM_CHANGED and change.projects is not None:
            caching.expire(change.projects)

    return listener


async def invalidate_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.pipgate
    if not is_admin(request, state.settings.admin_token):
        return forbidden()
    raw = request.query_params.getlist("project")
    if not raw or len(raw) > MAX_PROJECTS:
        return PlainTextResponse(
            f"give 1 to {MAX_PROJECTS} project names: /-/invalidate?project=NAME&project=...\n",
            status_code=400,
        )
    try:
        names = frozenset(validate_project(name) for name in raw)
    except InvalidName as error:
        return PlainTextResponse(f"{error}\n", status_code=400)
    await state.changes.publish(InputChange(UPSTREAM_CHANGED, names))
    listed = ", ".join(sorted(names))
    return PlainTextResponse(
        f"invalidated {listed}: upstream pages revalidate on the next request, on every "
        f"replica within {state.changes.interval:g} s\n"
    )


def routes() -> list[BaseRoute]:
    return [Route("/-/invalidate", invalidate_endpoint, methods=["POST"])]


__all__ = ["UPSTREAM_CHANGED", "revalidate_upstream", "routes"]
