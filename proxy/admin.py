"""Operator endpoints under ``/-/`` and ``/metrics``: policy reload, SBOM export, metrics.

Who may reach them is decided by ``proxy.auth_gate`` (admin role; loopback too with
``auth = "off"``), which marks the request ``pipgate.admin``; each endpoint checks the mark,
so a route mounted without the gate refuses everyone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from policies.changes import EVERY_PROJECT, InputChange
from proxy.metrics import CONTENT_TYPE
from proxy.routes import public_root
from proxy.settings import SettingsError, load_settings
from proxy.state import AppState
from storage.base import FetchQuery, StorageError

if TYPE_CHECKING:
    from proxy.sbom import Advisories

logger = logging.getLogger(__name__)


def is_admin(request: Request) -> bool:
    return request.scope.get("pipgate.admin") is True


def forbidden() -> Response:
    return PlainTextResponse("admin endpoints need the admin role\n", status_code=403)


async def reload_policies(state: AppState, *, broadcast: bool = True) -> str:
    """Re-read the config file and rebuild the policies; the old ones stay on any error.

    ``broadcast`` tells the other replicas (and worker processes) to reload too, through
    the shared generation counter they watch.
    """
    try:
        fresh = load_settings(state.settings.config_file)
        await state.engine.reload(fresh)
    except (SettingsError, ValueError) as error:
        logger.error("policy reload failed, keeping the current policies: %s", error)
        raise
    state.changes.announce(InputChange("policy-reload", EVERY_PROJECT))
    logger.info("policies reloaded: generation %d", state.engine.generation)
    if broadcast:
        try:
            await state.generation.bump()
        except StorageError as error:
            logger.warning("other replicas were not told to reload: %s", error)
    return f"policies reloaded: generation {state.engine.generation}"


async def follow_other_replicas(state: AppState) -> None:
    """Reload whenever another replica (or worker) reloaded; runs until cancelled."""

    async def apply(_: int) -> None:
        await reload_policies(state, broadcast=False)

    await state.generation.watch(apply)


async def reload_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.pipgate
    if not is_admin(request):
        return forbidden()
    try:
        message = await reload_policies(state)
    except (SettingsError, ValueError) as error:
        return PlainTextResponse(f"reload failed, policies unchanged:\n{error}\n", status_code=400)
    return PlainTextResponse(message + "\n")


_SBOM_TYPES = {
    "cyclonedx": "application/vnd.cyclonedx+json; version=1.6",
    "spdx": "application/spdx+json",
}


async def sbom_endpoint(request: Request) -> Response:
    """``GET /-/sbom?build=L&format=cyclonedx|spdx`` (+ client, user, since, until)."""
    from proxy.audit.sbom_export import sbom_for_query
    from proxy.cli_log import parse_time
    from proxy.sbom import SbomError

    state: AppState = request.app.state.pipgate
    if not is_admin(request):
        return forbidden()
    params = request.query_params
    fmt = params.get("format", "cyclonedx")
    if fmt not in _SBOM_TYPES:
        return PlainTextResponse(
            f"format={fmt!r}: expected one of {', '.join(_SBOM_TYPES)}\n", status_code=400
        )
    try:
        query = FetchQuery(
            build=params.get("build"),
            client=params.get("client"),
            user=params.get("user"),
            since=parse_time(params["since"]) if "since" in params else None,
            until=parse_time(params["until"]) if "until" in params else None,
        )
        await state.fetchlog.flush()
        document = await sbom_for_query(
            state.fetchlog,
            query,
            fmt,
            namespace_base=public_root(request) + "-/sbom",
            advisories=loaded_advisories(state),
        )
    except ValueError as error:
        return PlainTextResponse(f"{error}\n", status_code=400)
    except SbomError as error:
        return PlainTextResponse(f"SBOM generation failed: {error}\n", status_code=500)
    except StorageError as error:
        return PlainTextResponse(f"fetch log unavailable: {error}\n", status_code=503)
    return Response(document, media_type=_SBOM_TYPES[fmt])


def loaded_advisories(state: AppState) -> Advisories | None:
    """The running osv policies' data as the SBOM's advisory lookup."""
    from policies.osv import OsvPolicy
    from proxy.audit.impact import advisories_for_sbom

    indexes = [
        index
        for policy in state.engine.current.active
        if isinstance(policy.instance, OsvPolicy) and (index := policy.instance.index) is not None
    ]
    return advisories_for_sbom(indexes) if indexes else None


async def metrics_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.pipgate
    if not is_admin(request):
        return forbidden()
    state.metrics.observe_disks(await state.disk.usage())  # measured when asked, not polled
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


def routes() -> list[BaseRoute]:
    return [
        Route("/-/reload", reload_endpoint, methods=["POST"]),
        Route("/metrics", metrics_endpoint),
        Route("/-/sbom", sbom_endpoint),
    ]
