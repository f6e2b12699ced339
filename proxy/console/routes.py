"""The console's routes under ``/-/ui/`` and its static assets."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from proxy.console.pages import (
    builds,
    decisions,
    fetchlog,
    login,
    overview,
    policies,
    project,
    queues,
    who,
)
from proxy.console.templating import HERE


async def _slash(request: Request) -> Response:
    return RedirectResponse("/-/ui/", status_code=308)


def console_routes() -> list[BaseRoute]:
    get, post = ["GET", "HEAD"], ["POST"]
    return [
        Route("/-/ui", _slash, methods=get),
        Mount(
            "/-/ui",
            routes=[
                Route("/", overview.overview, methods=get),
                Route("/login", login.login_form, methods=get),
                Route("/login", login.login, methods=post),
                Route("/logout", login.logout, methods=post),
                Route("/decisions", decisions.decisions, methods=get),
                Route("/projects", project.project_search, methods=get),
                Route("/projects/{project}", project.project, methods=get),
                Route("/quarantine", queues.quarantine, methods=get),
                Route("/quarantine/{item:int}/{action}", queues.decide, methods=post),
                Route("/waivers", queues.waivers, methods=get),
                Route("/waivers", queues.create_waiver, methods=post),
                Route("/waivers/new", queues.new_waiver, methods=get),
                Route("/waivers/{waiver:int}/remove", queues.remove_waiver, methods=post),
                Route("/log", fetchlog.fetch_log, methods=get),
                Route("/log.csv", fetchlog.export, methods=get),
                Route("/log.json", fetchlog.export, methods=get),
                Route("/who", who.who, methods=get),
                Route("/builds", builds.builds, methods=get),
                Route("/builds/{label}/sbom", builds.build_sbom, methods=get),
                Route("/policies", policies.policies, methods=get),
                Route("/policies/reload", policies.reload, methods=post),
                Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
            ],
        ),
    ]


__all__ = ["console_routes"]
