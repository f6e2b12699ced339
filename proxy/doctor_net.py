"""``pipgate doctor``'s network checks: each upstream (one project page, then one small file
listed on it) and an OSV source given as a URL, through the same guarded session and
upstream code ``pipgate serve`` uses, so a refusal by the SSRF guard shows up here too.

The probe project of an upstream is the first ``--project`` routed to it, else ``pip`` for
the default upstream (every index that mirrors the public one has it) or the first literal
name in a private upstream's ``projects`` list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
from packaging.utils import NormalizedName, canonicalize_name

from proxy.doctor_findings import Finding, fail, ok, one_line, skip
from proxy.errors import ForbiddenTarget, NotFound, ProxyError
from proxy.model import DistFile
from proxy.redact import mask_url
from proxy.routing import PUBLIC_UPSTREAM, build_upstream
from proxy.settings import Settings
from proxy.upstream_base import Upstream

DEFAULT_PROBE = "pip"
FULL_READ_LIMIT = 4 * 1024 * 1024
"""A probe file up to this size is read whole and its sha256 checked; a bigger one is cut
after its first chunk."""
_GLOB_CHARS = frozenset("*?[")


def probe_project(
    name: str, patterns: Sequence[str], wanted: Sequence[str], upstream: Upstream
) -> NormalizedName | None:
    """The project to ask upstream ``name`` for, or ``None`` if there is no candidate."""
    defaults = [DEFAULT_PROBE] if name == PUBLIC_UPSTREAM else []
    defaults += [p for p in patterns if not _GLOB_CHARS & set(p)]
    for candidate in (*wanted, *defaults):
        project = canonicalize_name(candidate)
        if upstream.upstream_for(project) == name:
            return project
    return None


def _upstream_fix(setting: str, url: str, error: str) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in error or "certificate verify failed" in error:
        return (
            f"the TLS certificate of {urlsplit(url).hostname} is not trusted: give pipgate "
            f"your organisation's CA bundle (docs/configuration.md), or correct {setting}"
        )
    return (
        f"check {setting} ({mask_url(url)}): it must be the simple index root, reachable "
        f"from this machine (DNS, firewall, outbound proxy); slow networks: raise "
        f"connect_timeout / upstream_timeout"
    )


def _file_fix(url: str, error: str) -> str:
    host = urlsplit(url).hostname or url
    if "CERTIFICATE_VERIFY_FAILED" in error or "certificate verify failed" in error:
        return (
            f"the TLS certificate of {host} is not trusted: give pipgate your organisation's "
            f"CA bundle (docs/configuration.md)"
        )
    return (
        f"the page links files on {host}: that host must be reachable from this machine "
        f"too (DNS, firewall, outbound proxy)"
    )


def _guard_fix(url: str) -> str:
    host = urlsplit(url).hostname or url
    return (
        f"if {host} is a host of yours, add it to trusted_hosts (PIPGATE_TRUSTED_HOSTS); "
        f"the SSRF guard refuses non-public addresses of hosts nobody trusted"
    )


def smallest_file(files: Sequence[DistFile]) -> DistFile | None:
    """The smallest listed file whose size is known, else the first one."""
    sized = [f for f in files if f.size is not None]
    if sized:
        return min(sized, key=lambda f: f.size or 0)
    return files[0] if files else None


async def _probe_file(upstream: Upstream, project: NormalizedName, file: DistFile) -> str:
    digest = hashlib.sha256()
    received = 0
    async with upstream.open(project, file.url) as stream:
        whole = stream.size is not None and stream.size <= FULL_READ_LIMIT
        chunks = stream.chunks()
        try:
            async for chunk in chunks:
                digest.update(chunk)
                received += len(chunk)
                if not whole:
                    break
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:  # stop the download now, not when it is collected
                await aclose()
    if not whole:
        return f"file {file.filename} answered 200 ({received:,} bytes read of a larger file)"
    if file.sha256 and digest.hexdigest() != file.sha256.lower():
        raise ValueError(f"{file.filename}: sha256 of the download differs from the page's")
    checked = ", sha256 matches the page" if file.sha256 else ""
    return f"file {file.filename} downloaded ({received:,} bytes{checked})"


async def check_upstream(
    upstream: Upstream,
    name: str,
    url: str,
    setting: str,
    patterns: Sequence[str],
    wanted: Sequence[str],
) -> Finding:
    target = f"{name} {mask_url(url)}"
    project = probe_project(name, patterns, wanted, upstream)
    if project is None:
        return skip(
            "upstream",
            target,
            "no project to probe: every entry of its projects list is a glob",
            "pass --project NAME with a project this upstream serves",
        )
    try:
        fetched = await upstream.fetch_page(project, None)
    except NotFound:
        return fail(
            "upstream",
            target,
            f"the index answered, but has no project {project!r}",
            f"pass --project NAME with a project this upstream serves, or correct {setting}",
        )
    except ForbiddenTarget as error:
        return fail("upstream", target, one_line(error), _guard_fix(url))
    except (ProxyError, aiohttp.ClientError, OSError) as error:
        return fail("upstream", target, one_line(error), _upstream_fix(setting, url, str(error)))
    page = fetched.page
    if page is None:  # unconditional requests never get a 304
        return fail("upstream", target, "answered 304 to an unconditional request", setting)
    found = f"page of {project!r} lists {len(page.files)} file(s)"
    file = smallest_file(page.files)
    if file is None:
        return ok("upstream", target, f"{found}; no file to fetch")
    try:
        detail = await _probe_file(upstream, project, file)
    except ForbiddenTarget as error:
        return fail("upstream", target, f"{found}, but {one_line(error)}", _guard_fix(file.url))
    except ValueError as error:  # the bytes arrived but are not what the page lists
        fix = f"the upstream serves a file that does not match its own page; check {setting}"
        return fail("upstream", target, f"{found}, but {one_line(error)}", fix)
    except (ProxyError, aiohttp.ClientError, OSError) as error:
        fix = _file_fix(file.url, str(error))
        return fail("upstream", target, f"{found}, but {one_line(error)}", fix)
    return ok("upstream", target, f"{found}; {detail}")


async def check_upstreams(
    settings: Settings, session: aiohttp.ClientSession, wanted: Sequence[str]
) -> list[Finding]:
    upstream = build_upstream(settings, session)
    findings = [
        await check_upstream(upstream, PUBLIC_UPSTREAM, settings.upstream, "upstream", (), wanted)
    ]
    for index, config in enumerate(settings.upstreams, start=1):
        setting = f"[[upstream]] #{index} url"
        findings.append(
            await check_upstream(
                upstream, config.name, config.url, setting, config.projects, wanted
            )
        )
    return findings


async def check_url(session: aiohttp.ClientSession, url: str) -> str:
    """Reach ``url`` with a HEAD request (an OSV ``all.zip`` is not downloaded here)."""
    async with session.head(url, allow_redirects=True) as response:
        if response.status != 200:
            raise ValueError(f"HEAD {mask_url(url)} answered HTTP {response.status}, expected 200")
        size = response.content_length
        return f"answered 200{f' ({size:,} bytes)' if size is not None else ''}"


__all__ = ["check_upstreams", "check_url", "probe_project", "smallest_file"]
