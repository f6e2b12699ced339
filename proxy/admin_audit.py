"""``GET /-/lock?build=LABEL``: the PEP 751 lock of a build, from the running server.

Admin only (loopback, or the Bearer admin token), like the other ``/-/`` endpoints. File
URLs use pipgate's public root (``public_url``, else the URL this request came in on).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from proxy.admin import forbidden, is_admin
from proxy.audit.pylock import LockError, build_pylock, lock_records, select_locked
from proxy.routes import public_root
from proxy.state import AppState
from storage.base import StorageError

LOCK_TYPE = "application/toml; charset=utf-8"


async def lock_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.pipgate
    if not is_admin(request, state.settings.admin_token):
        return forbidden()
    build = request.query_params.get("build")
    if not build:
        return PlainTextResponse("give the build label: /-/lock?build=LABEL\n", status_code=400)
    try:
        records = await lock_records(state.fetchlog, build)
    except StorageError as error:
        return PlainTextResponse(f"fetch log unavailable: {error}\n", status_code=503)
    selection = select_locked(records)
    try:
        text = await asyncio.to_thread(
            build_pylock, selection.files, base_url=public_root(request), label=build
        )
    except LockError as error:
        return PlainTextResponse(f"{error}\n", status_code=404)
    headers = {"Content-Disposition": 'attachment; filename="pylock.toml"'}
    return Response(text, media_type=LOCK_TYPE, headers=headers)


def routes() -> list[BaseRoute]:
    return [Route("/-/lock", lock_endpoint)]


__all__ = ["routes"]
