"""One frozen ``Settings`` built from defaults, the TOML config file, ``PIPGATE_*`` variables
and command-line flags (later wins). Every bad value is reported at once, naming the key,
the value and what was expected.

Server settings live in the config file's ``[server]`` table, under the same names as the
environment variables without the prefix (``PIPGATE_PAGE_TTL`` = ``[server] page_ttl``).
``[[upstream]]`` tables add private upstreams; ``[[policy]]`` tables belong to the policy
engine and are passed through untouched. A config file without ``[[policy]]`` tables keeps
the secure default set; a top-level ``policies = []`` turns every policy off.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pypi_simple import PYPI_SIMPLE_ENDPOINT

from proxy import setting_values as v

ENV_PREFIX = "PIPGATE_"


class SettingsError(ValueError):
    """Every problem found in the configuration, one per line."""

    def __init__(
        self, problems: list[str], policies: tuple[Mapping[str, Any], ...] | None = None
    ) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems
        self.policies = policies
        """The ``[[policy]]`` tables as read, so they can be checked in the same report."""


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """A private upstream that alone serves the projects matching ``projects`` globs."""

    name: str
    url: str
    projects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Settings:
    upstream: str = PYPI_SIMPLE_ENDPOINT
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    data_dir: Path = Path("pipgate-data")
    public_url: str | None = None
    """Absolute base URL clients reach pipgate at; PEP 740 needs absolute provenance URLs."""
    page_ttl: float = 600.0
    """Seconds a cached project page is served before it is revalidated upstream."""
    upstream_timeout: float = 30.0
    """Seconds for an upstream page request; files use it as the idle read timeout."""
    connect_timeout: float = 10.0
    revalidate_timeout: float = 5.0
    """Seconds to wait for an upstream revalidation before serving the cached page stale;
    shorter than pip's 15 s default timeout so a slow upstream never fails an install."""
    upstream_retries: int = 2
    trusted_hosts: tuple[str, ...] = ()
    """Origins (besides the upstreams') that may resolve to private addresses: ``host``
    (ports 80 and 443), ``host:port`` or ``http(s)://host:port``."""
    trust_upstream_network: bool = True
    """Hosts the upstreams' pages link to may resolve into an upstream's own network."""
    outbound_proxy: str | None = None
    """HTTP(S) proxy for upstream requests; unset = ``HTTPS_PROXY``/``HTTP_PROXY``."""
    no_proxy: tuple[str, ...] | None = None
    """Hosts reached without the proxy; unset = ``NO_PROXY``."""
    ca_bundle: Path | None = None
    """PEM file of CA certificates for upstream TLS (corporate TLS inspection)."""
    cache_url: str = ""
    """Page cache, locks, shared state: empty = embedded (data dir + file locks), ``redis://``."""
    blob_url: str = ""
    """Artifact store: empty = ``<data_dir>/blobs``; ``s3://bucket/prefix`` for S3."""
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = field(default=None, repr=False)
    fetchlog_url: str = ""
    """Fetch log: empty = SQLite in the data dir; ``postgresql://...`` for PostgreSQL."""
    log_retention_days: int = 365
    admin_token: str | None = field(default=None, repr=False)
    """An admin credential (Bearer, or the Basic password) for ``/-/`` and ``/metrics``."""
    auth: str = "off"
    """``off``, ``optional`` or ``required``: who may use the index (docs/auth.md)."""
    trusted_proxy_header: str | None = None
    """A header naming the user (``X-Forwarded-User``), believed from ``trusted_proxies`` only."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses and networks of the reverse proxies allowed to send ``trusted_proxy_header``."""
    auth_max_failures: int = 10
    """Failed authentications per client address within ``auth_failure_window`` before 429."""
    auth_failure_window: float = 60.0
    metrics_users: int = 0
    """Users with their own label in ``pipgate_user_requests`` (the first N seen); 0 = none."""
    trust_root: Path | None = None
    """A sigstore ``trusted_root.json`` to verify against instead of the bundled one."""
    refresh_trust_root: bool = False
    """Refresh sigstore's trust root over TUF at start-up (needs network access)."""
    log_level: str = "info"
    access_log: str = "json"
    """One line per request on stdout: ``json``, ``kv`` (key=value) or ``off``."""
    osv_source: str | None = None
    """OSV data (directory, zip or URL) for the default policy set's malicious-package check."""
    max_header_bytes: int = 32 * 1024
    """Bytes a client may send before its request headers are complete (then 431)."""
    header_timeout: float = 10.0
    """Seconds a client has to send a request's headers (then 408)."""
    max_connections: int = 2048
    """Open client connections per worker process (one more is answered 503)."""
    max_artifact_bytes: int = 4 * 1024**3
    """Largest file pipgate downloads (listed, announced or streamed size)."""
    download_deadline: float = 3600.0
    """Seconds one upstream download may take from start to end."""
    abandoned_download_seconds: float = 30.0
    """Seconds a download may go on once its last client has left; then it is stopped."""
    cache_max_bytes: int = 0
    """Artifact blobs kept at most; the least recently served go first. 0: no limit."""
    min_free_bytes: int = 512 * 1024**2
    """Below this much free space on a data disk, ``/readyz`` reports not ready."""
    allow_unhashed_files: bool = False
    """Serve files an upstream lists without a sha256 (unverified); ``proxy.unhashed``."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open."""
    alert_webhooks: tuple[str, ...] = ()
    """URLs that get a JSON alert when an OSV refresh flags a file pipgate served."""
    alert_slack_webhooks: tuple[str, ...] = ()
    """Slack-compatible incoming-webhook URLs for the same alerts (``{"text": ...}``)."""
    alert_retries: int = 5
    """Delivery attempts after the first, per webhook and alert."""
    alert_backoff: float = 2.0
    """Seconds before the first retry; doubled for each further one."""
    malicious_blobs: str = "move"
    """Cached copies of files a MAL- record newly names: ``move`` them aside to
    ``<data_dir>/quarantine/`` for forensics, or ``delete`` them."""
    upstreams: tuple[UpstreamConfig, ...] = ()
    policies: tuple[Mapping[str, Any], ...] | None = None
    """The ``[[policy]]`` tables; ``None`` = none given (no config file, or one without
    ``[[policy]]``), so the secure default set; ``()`` = ``policies = []``, no policy."""
    config_file: Path | None = None

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


_SPECS: dict[str, tuple[Callable[[object], Any], str]] = {
    "upstream": (v.http_url, "an http(s) URL of a simple index"),
    "host": (v.host, "an IP address or host name"),
    "port": (v.in_range(v.to_int, 0, 65535), "an integer from 0 to 65535"),
    "workers": (v.in_range(v.to_int, 1), "an integer of at least 1"),
    "data_dir": (v.to_path, "a directory path"),
    "public_url": (v.opt_http_url, "an http(s) URL"),
    "page_ttl": (v.in_range(v.to_float, 0.0), "a number of seconds >= 0"),
    "upstream_timeout": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "connect_timeout": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "revalidate_timeout": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "upstream_retries": (v.in_range(v.to_int, 0), "an integer >= 0"),
    "trusted_hosts": (
        v.trusted_entries,
        "a list of host, host:port or http(s)://host:port entries (comma-separated in the "
        "environment)",
    ),
    "trust_upstream_network": (v.to_bool, "true or false"),
    "outbound_proxy": (v.opt_http_url, "an http(s) URL of a proxy"),
    "no_proxy": (v.to_hosts, "a list of host names (comma-separated in the environment)"),
    "ca_bundle": (v.to_opt_path, "a path to a PEM file of CA certificates"),
    "cache_url": (v.url_of("redis", "rediss"), "empty (embedded) or a redis:// URL"),
    "blob_url": (v.url_of("s3", "file"), "empty, file:///path or s3://bucket/prefix"),
    "s3_endpoint": (v.opt_http_url, "an http(s) URL"),
    "s3_region": (v.to_str, "a region name"),
    "s3_access_key": (v.to_opt_str, "a string"),
    "s3_secret_key": (v.to_opt_str, "a string"),
    "fetchlog_url": (v.url_of("sqlite", "postgresql", "postgres"), "empty or a postgresql:// URL"),
    "log_retention_days": (v.in_range(v.to_int, 0), "an integer >= 0 (0 keeps everything)"),
    "admin_token": (v.to_opt_str, "a string"),
    "auth": (v.one_of("off", "optional", "required"), "one of off, optional, required"),
    "trusted_proxy_header": (v.header_name, "an HTTP header name such as X-Forwarded-User"),
    "trusted_proxies": (v.networks, "a list of IP addresses or networks (comma-separated)"),
    "auth_max_failures": (v.in_range(v.to_int, 1), "an integer of at least 1"),
    "auth_failure_window": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "metrics_users": (v.in_range(v.to_int, 0, 1000), "an integer from 0 to 1000"),
    "trust_root": (v.to_opt_path, "a path to a sigstore trusted_root.json"),
    "refresh_trust_root": (v.to_bool, "true or false"),
    "log_level": (v.log_level, "one of critical, error, warning, info, debug"),
    "access_log": (v.one_of("json", "kv", "off"), 'one of "json", "kv", "off"'),
    "osv_source": (v.to_opt_str, "a path or URL of OSV data (a directory, .json or all.zip)"),
    "max_header_bytes": (
        v.in_range(v.byte_size, 1024),
        "a size of at least 1024 bytes (an integer, or e.g. '64KiB')",
    ),
    "header_timeout": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "max_connections": (v.in_range(v.to_int, 1), "an integer of at least 1"),
    "keepalive_timeout": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "allow_unhashed_files": (v.to_bool, "true or false"),
    "min_free_bytes": (v.byte_size, "a size in bytes (an integer, or e.g. '2GiB')"),
    "cache_max_bytes": (v.byte_size, "a size in bytes, 0 for no limit (or e.g. '200GiB')"),
    "max_artifact_bytes": (
        v.in_range(v.byte_size, 1),
        "a size of at least 1 byte (an integer, or e.g. '4GiB')",
    ),
    "download_deadline": (v.in_range(v.to_float, 0.0, above=True), "a number of seconds > 0"),
    "abandoned_download_seconds": (v.in_range(v.to_float, 0.0), "a number of seconds >= 0"),
    "alert_webhooks": (v.to_urls, "a list of http(s) URLs (comma-separated in the environment)"),
    "alert_slack_webhooks": (v.to_urls, "a list of http(s) URLs (comma-separated)"),
    "alert_retries": (v.in_range(v.to_int, 0, 20), "an integer from 0 to 20"),
    "alert_backoff": (v.in_range(v.to_float, 0.0), "a number of seconds >= 0"),
    "malicious_blobs": (v.choice("move", "delete"), '"move" or "delete"'),
}
# Webhook URLs carry their credentials in the path (Slack's do): never echo them.
_SECRET_KEYS = {
    "admin_token",
    "s3_secret_key",
    "outbound_proxy",
    "alert_webhooks",
    "alert_slack_webhooks",
}


def setting_names() -> list[str]:
    return list(_SPECS)


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Merge defaults < config file < environment < ``overrides`` (command-line flags)."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    if config_file is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(environ[f"{ENV_PREFIX}CONFIG"])
    document = _read_config(config_file, problems)
    values: dict[str, Any] = {}
    _apply(values, _server_table(document, problems), "config", problems)
    env_values = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in environ.items()
        if k.startswith(ENV_PREFIX) and k != f"{ENV_PREFIX}CONFIG"
    }
    _apply(values, env_values, "environment", problems)
    _apply(values, {k: v for k, v in (overrides or {}).items() if v is not None}, "flag", problems)
    upstreams = _upstreams(document, problems)
    policies = _policy_tables(document, config_file, problems)
    if problems:
        raise SettingsError(problems, policies)
    return Settings(**values, upstreams=upstreams, policies=policies, config_file=config_file)


def _read_config(path: Path | None, problems: list[str]) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        problems.append(f"config file {str(path)!r} cannot be read: {error.strerror}")
    except tomllib.TOMLDecodeError as error:
        problems.append(f"config file {str(path)!r} is not valid TOML: {error}")
    return {}


_KNOWN_TABLES = {"server", "upstream", "policy", "policies"}


def _server_table(document: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    for key in document:
        if key not in _KNOWN_TABLES:
            problems.append(
                f"config: unknown top-level key {key!r}; expected one of "
                f"[server], [[upstream]], [[policy]], policies = []"
            )
    server = document.get("server", {})
    if not isinstance(server, dict):
        problems.append("config: [server] must be a table")
        return {}
    return server


def _apply(
    target: dict[str, Any], source: Mapping[str, Any], origin: str, problems: list[str]
) -> None:
    for key, raw in source.items():
        where = f"{ENV_PREFIX}{key.upper()}" if origin == "environment" else f"{origin} {key!r}"
        spec = _SPECS.get(key)
        if spec is None:
            if origin != "environment":
                problems.append(f"{where}: unknown setting; valid: {', '.join(_SPECS)}")
            continue
        convert, expected = spec
        try:
            target[key] = convert(raw)
        except (ValueError, TypeError):
            shown = "<hidden>" if key in _SECRET_KEYS else repr(raw)
            problems.append(f"{where} = {shown}: expected {expected}")


def _upstreams(document: Mapping[str, Any], problems: list[str]) -> tuple[UpstreamConfig, ...]:
    tables = document.get("upstream", [])
    if not isinstance(tables, list):
        problems.append("config: use [[upstream]] (an array of tables) for private upstreams")
        return ()
    result = []
    for index, table in enumerate(tables, start=1):
        where = f"config [[upstream]] #{index}"
        unknown = set(table) - {"name", "url", "projects"}
        if unknown:
            problems.append(
                f"{where}: unknown key(s) {sorted(unknown)}; valid: name, url, projects"
            )
        try:
            url = v.http_url(table.get("url"))
        except (ValueError, TypeError):
            problems.append(f"{where} url = {table.get('url')!r}: expected an http(s) URL")
            continue
        projects = table.get("projects")
        if (
            not isinstance(projects, list)
            or not projects
            or not all(isinstance(p, str) and p for p in projects)
        ):
            problems.append(f"{where} projects = {projects!r}: expected a non-empty list of globs")
            continue
        name = str(table.get("name") or urlsplit(url).hostname)
        result.append(UpstreamConfig(name=name, url=url, projects=tuple(projects)))
    return tuple(result)


def _policy_tables(
    document: Mapping[str, Any], config_file: Path | None, problems: list[str]
) -> tuple[Mapping[str, Any], ...] | None:
    if config_file is None:
        return None
    tables = document.get("policy")
    if "policies" in document:
        if document["policies"] != []:
            problems.append(
                f"config: policies = {document['policies']!r}: only policies = [] (no policy "
                f"at all) is accepted; enable policies with [[policy]] tables"
            )
        elif tables:
            problems.append(
                "config: policies = [] (no policy) contradicts the [[policy]] tables; "
                "remove one of them"
            )
        return ()
    if tables is None:
        return None  # settings only: the secure default set stays on
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append("config: use [[policy]] (an array of tables) to enable policies")
        return ()
    return tuple(tables)


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


__all__ = ["Settings", "SettingsError", "UpstreamConfig", "load_settings", "replace"]
