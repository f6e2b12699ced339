"""The uvicorn options of ``pipgate serve`` (and of the test server), from ``Settings``.

The connection limits (``proxy.connection_guard``) need file descriptors to be worth
anything: a process that runs out of descriptors fails every accept, so the soft
``RLIMIT_NOFILE`` is raised towards the hard one when the cap needs it, and the cap is
lowered (with a warning) when the hard limit is too low for it.
"""

from __future__ import annotations

import logging
import resource
from typing import Any

from proxy.connection_guard import LOOPBACK_RESERVE, ConnectionLimits, GuardedProtocolFactory
from proxy.settings import Settings

logger = logging.getLogger(__name__)

FD_RESERVE = 256
"""Descriptors kept for pipgate's own work: upstream connections (at most 100 pooled), blob
reads, spool files, locks, the fetch log."""


def descriptors_for(max_connections: int) -> int:
    return max_connections + LOOPBACK_RESERVE + FD_RESERVE


def fit_to_fd_limit(max_connections: int) -> int:
    """``max_connections``, or fewer if this process cannot get the descriptors for them."""
    wanted = descriptors_for(max_connections)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            logger.warning("cannot raise the file-descriptor limit to %d: %s", target, error)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    fitted = max(1, soft - LOOPBACK_RESERVE - FD_RESERVE)
    logger.warning(
        "max_connections = %d needs %d file descriptors, but the limit is %d: using %d",
        max_connections,
        wanted,
        soft,
        fitted,
    )
    return fitted


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        max_connections=fit_to_fd_limit(settings.max_connections),
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` (besides app and address)."""
    return {
        "http": GuardedProtocolFactory(connection_limits(settings)),
        "ws": "none",  # pipgate has no WebSocket endpoint: no upgrade code on the request path
        # asyncio, not uvloop: only asyncio's loop.sendfile is native (proxy.sendfile_cycle),
        # and for pipgate's requests the two loops cost the same CPU (docs/benchmarks.md).
        "loop": "asyncio",
        "timeout_keep_alive": settings.keepalive_timeout,
        "log_level": settings.log_level,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }


__all__ = ["FD_RESERVE", "connection_limits", "fit_to_fd_limit", "uvicorn_options"]
