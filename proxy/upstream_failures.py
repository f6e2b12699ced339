"""What a failed upstream fetch means for the caching stage, and for the metrics."""

from __future__ import annotations

import logging

from proxy.errors import NotFound, UpstreamProtocolError, UpstreamUnavailable

logger = logging.getLogger("proxy.caching")


def upstream_failure(error: Exception) -> Exception:
    """What a failed upstream fetch means for the client: the domain errors as they are; a
    timeout as "unavailable"; anything else (a bug, or input no parser expected) as a
    protocol error, so the cached page is served stale or the answer is a 502, never a 500."""
    if isinstance(error, UpstreamUnavailable | UpstreamProtocolError | NotFound):
        return error
    if isinstance(error, TimeoutError):
        return UpstreamUnavailable(f"upstream timed out ({type(error).__name__})")
    logger.error("unexpected upstream failure", exc_info=error)
    return UpstreamProtocolError(f"upstream answer could not be used: {error!r}")


def page_outcome(error: Exception) -> str:
    if isinstance(error, NotFound):
        return "page-not-found"
    return "page-timeout" if isinstance(error, TimeoutError) else "page-error"


__all__ = ["page_outcome", "upstream_failure"]
