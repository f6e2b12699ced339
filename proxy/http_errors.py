"""The one table that maps domain errors to HTTP answers: a status and a one-line body
saying what happened, so a person reading pip's or uv's output can act on it."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from proxy.console.links import RefusalLinks, refusal_links
from proxy.errors import (
    IntegrityError,
    NotAcceptable,
    NotFound,
    PolicyDenied,
    ProxyError,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from proxy.fetchlog import PendingFetch, record_failure
from proxy.responses import ClientDisconnected, RangeNotSatisfiable
from storage.base import StorageError

logger = logging.getLogger(__name__)

_STATUS: list[tuple[type[Exception], int]] = [
    (NotFound, 404),
    (PolicyDenied, 403),
    (NotAcceptable, 406),
    (IntegrityError, 502),
    (UpstreamProtocolError, 502),
    (UpstreamUnavailable, 503),
    (StorageError, 503),
    (ClientDisconnected, 499),  # nginx's "client closed request": only ever a log status
]


def status_for(error: Exception) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


async def handle_error(request: Request, error: Exception) -> Response:
    status = status_for(error)
    headers = {"Cache-Control": "no-store"}
    body = _one_line(error) + "\n"
    if isinstance(error, PolicyDenied):
        links = _links(request, error)
        headers["X-Pipgate-Policy"] = links.header(error.verdict.policy)
        body += links.body() + "\n"
    if status >= 500:
        logger.warning("%s %s -> %d: %s", request.method, request.url.path, status, error)
    await _log_failure(request, error, status)
    return PlainTextResponse(body, status_code=status, headers=headers)


def _links(request: Request, error: PolicyDenied) -> RefusalLinks:
    """Where the refused developer (or their admin) reads the decision and asks for a waiver."""
    from proxy.routes import public_root  # routes imports this module

    pending: PendingFetch | None = getattr(request.state, "pending_fetch", None)
    state = request.app.state.pipgate
    waivable = error.verdict.policy not in state.engine.current.unwaivable
    return refusal_links(
        public_root(request),
        error.verdict,
        pending.project if pending else None,
        pending.filename if pending else None,
        waivable=waivable and error.verdict.quarantine_id is None,
    )


async def _log_failure(request: Request, error: Exception, status: int) -> None:
    pending: PendingFetch | None = getattr(request.state, "pending_fetch", None)
    if pending is None:  # failed before the route knew what was asked (e.g. a bad name)
        return
    if isinstance(error, PolicyDenied) and error.verdict not in pending.ctx.verdicts:
        pending.ctx.verdicts.append(error.verdict)
    await record_failure(request.app.state.pipgate, pending, status)


async def handle_range(request: Request, error: Exception) -> Response:
    size = error.size if isinstance(error, RangeNotSatisfiable) else 0
    await _log_failure(request, error, 416)
    return PlainTextResponse(
        f"{error}\n", status_code=416, headers={"Content-Range": f"bytes */{size}"}
    )


async def handle_unexpected(request: Request, error: Exception) -> Response:
    """A bug, not a domain error: still one row in the fetch log, and a one-line 500.

    Starlette re-raises the error after this answer, so the server logs its traceback.
    """
    try:
        await _log_failure(request, error, 500)
    except Exception as log_error:  # the answer must go out even if the log is broken
        logger.warning("the 500 of %s was not logged: %r", request.url.path, log_error)
    return PlainTextResponse(
        f"internal error ({type(error).__name__}); the server log has the details\n",
        status_code=500,
        headers={"Cache-Control": "no-store"},
    )


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


EXCEPTION_HANDLERS = {
    ProxyError: handle_error,
    StorageError: handle_error,
    RangeNotSatisfiable: handle_range,
    Exception: handle_unexpected,
}
