"""The block ``pipgate serve`` logs once at start-up: where it listens, where its data is,
each upstream, each backend, the active policies and whether OSV blocking is on.

Everything an operator needs to tell "pipgate is misconfigured" from "the upstream is
down" without reading the config file, with credentials in URLs masked.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.config import Mode, PolicyConfig
from proxy.redact import mask_url
from proxy.settings import Settings
from storage.factory import describe_backends

_WIDTH = 11


def listen_url(settings: Settings) -> str:
    host = settings.host
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/simple/"


def _line(label: str, text: str) -> str:
    return f"  {label:<{_WIDTH}} {text}"


def _listen(settings: Settings) -> str:
    workers = f"{settings.workers} worker process" + ("es" if settings.workers != 1 else "")
    where = listen_url(settings)
    if settings.host in ("0.0.0.0", "::"):
        where += " (every interface)"
    public = f"; clients are sent to {settings.public_url}" if settings.public_url else ""
    return _line("listening", f"{where}, {workers}{public}")


def _upstreams(settings: Settings) -> list[str]:
    lines = [_line("upstream", f"{mask_url(settings.upstream)} (every other project)")]
    for upstream in settings.upstreams:
        projects = ", ".join(upstream.projects)
        lines.append(
            _line("upstream", f"{upstream.name}: {mask_url(upstream.url)} (only {projects})")
        )
    return lines


def shown(location: str) -> str:
    """A path as it is, a URL with its credentials masked."""
    return mask_url(location) if "://" in location else location


def _backends(settings: Settings) -> list[str]:
    return [
        _line(info.role, f"{info.kind} {shown(info.location)}")
        for info in describe_backends(settings)
    ]


def _policies(settings: Settings, policies: Sequence[PolicyConfig]) -> list[str]:
    if not policies:
        source = "policies = [] in the config" if settings.policies is not None else "none"
        return [_line("policies", f"none ({source}): nothing is refused")]
    if settings.policies is None:
        origin = "the secure default set (no [[policy]] table)"
    else:
        origin = f"[[policy]] tables of {settings.config_file}"
    lines = [_line("policies", origin)]
    for config in policies:
        exempt = f", exempt {', '.join(config.exempt.patterns)}" if config.exempt.patterns else ""
        lines.append(_line("", f"{config.name} ({config.mode.value}{exempt})"))
    return lines


def osv_line(policies: Sequence[PolicyConfig]) -> str:
    """Whether known-malicious and vulnerable releases are refused, and how to change it."""
    osv = [config for config in policies if config.name == "osv"]
    if not osv:
        return _line(
            "OSV",
            "OFF: no OSV source is configured, so known-malicious packages are NOT blocked; "
            "set osv_source (or add an osv [[policy]]) to turn it on",
        )
    parts = []
    for config in osv:
        source = shown(str(config.options.get("source")))
        what = [
            name for name in ("malicious", "vulnerable") if config.options.get(name, False)
        ] or ["nothing"]
        verb = "audit only (logged, not refused)" if config.mode is Mode.AUDIT else "refusing"
        parts.append(f"{verb} {' and '.join(what)} from {source}")
    return _line("OSV", "; ".join(parts))


def _trust_root(settings: Settings) -> str:
    if settings.trust_root is not None:
        return _line("trust root", f"{settings.trust_root} (PEP 740)")
    how = "refreshed over TUF at start" if settings.refresh_trust_root else "offline"
    return _line("trust root", f"sigstore's bundled production root, {how} (PEP 740)")


def startup_report(settings: Settings, policies: Sequence[PolicyConfig], version: str) -> str:
    """The start-up block, one line per fact; ``policies`` are the ones in force."""
    access = "off" if settings.access_log == "off" else f"{settings.access_log} lines on stdout"
    config = str(settings.config_file) if settings.config_file else "none (embedded defaults)"
    lines = [
        f"pipgate {version} starting",
        _listen(settings),
        _line("config", config),
        _line("data dir", str(settings.data_dir.resolve())),
        *_upstreams(settings),
        *_backends(settings),
        _line("access log", access),
        _trust_root(settings),
        *_policies(settings, policies),
        osv_line(policies),
    ]
    return "\n".join(lines)


__all__ = ["listen_url", "osv_line", "shown", "startup_report"]
