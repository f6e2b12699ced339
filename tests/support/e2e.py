"""End-to-end helpers: settings for a pipgate in front of a ``FakeUpstream``, ``pip download``
through it, direct HTTP requests, and the fetch log of a running ``PipgateServer``.

``pip download`` runs this interpreter's pip in the isolated environment of
``tests.support.clients`` with ``--no-build-isolation``: the sdists of
``tests/fixtures/attestations`` are real projects, and pip prepares an sdist's metadata even
when it only downloads it. Their setuptools backend comes from the test environment
(``setuptools`` and ``wheel`` are in the ``test`` extra), since nothing can be fetched
offline.
"""

from __future__ import annotations

import dataclasses
import http.client
import subprocess
import sys
from collections.abc import Mapping
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

from proxy.settings import Settings, load_settings
from storage.base import FetchQuery, FetchRecord
from tests.support.attestations import sigstore_verifier, trusted_root_file
from tests.support.clients import CLIENT_TIMEOUT, isolated_env
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateServer


def production_trust_root(cache: Path) -> Path:
    """The bundled sigstore production ``trusted_root.json``, seeded offline under ``cache``."""
    sigstore_verifier(cache)
    return trusted_root_file(cache)


def gate_settings(
    directory: Path,
    upstream: str,
    config: str | None,
    trust_root: Path,
    **overrides: object,
) -> Settings:
    """Settings as ``pipgate serve --config`` reads them; ``config=None``: no config file.

    The trust root is a flag so that the ``[[policy]]`` text stays exactly as given.
    """
    config_file = None
    if config is not None:
        config_file = directory / "pipgate.toml"
        config_file.write_text(config, encoding="utf-8")
    values: dict[str, object] = {
        "upstream": upstream,
        "data_dir": str(directory / "data"),
        "trust_root": str(trust_root),
        **overrides,
    }
    return load_settings(config_file, environ={}, overrides=values)


def pip_download(
    workdir: Path, index_url: str, *requirements: str
) -> subprocess.CompletedProcess[str]:
    """``pip download --no-deps`` into ``workdir/downloads``; never raises."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
        "--no-cache-dir", "--disable-pip-version-check", "--no-input",
        "--index-url", index_url, "--dest", str(workdir / "downloads"), *requirements,
    ]  # fmt: skip
    return subprocess.run(
        command,
        env=isolated_env(workdir),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def http_get(url: str, headers: Mapping[str, str] | None = None) -> Answer:
    """One GET on a fresh connection; any status is an answer, not an exception."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=dict(headers or {}))
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def build_index(server: PipgateServer, label: str) -> str:
    """The index URL of build ``label``: its fetches are logged under that label."""
    return f"{server.url}/builds/{label}/simple/"


def dist_rows(server: PipgateServer, label: str) -> list[FetchRecord]:
    """The distribution-file rows of build ``label``."""
    return [r for r in fetch_rows(server, FetchQuery(build=label)) if r.kind == "dist"]


def refused(
    server: PipgateServer, policy: str, label: str, project: str, filename: str, pip_output: str
) -> str:
    """Assert pip failed on pipgate's 403 for the file of build ``label``; return the reason
    that ``policy`` gave, read from the body of a direct GET (pip does not print bodies)."""
    url = f"{server.url}/builds/{label}/files/{project}/{filename}"
    assert f"403 Client Error: Forbidden for url: {url}" in pip_output, pip_output
    answer = http_get(url)
    assert answer.status == 403, answer
    assert answer.headers["X-Pipgate-Policy"].split(";")[0] == policy
    prefix = f"file {filename!r} is blocked by policy {policy!r}: "
    assert answer.text.startswith(prefix), answer.text
    # The reason is the first line; the console links of the refusal follow it.
    reason, links = answer.text.split("\ndecision: ", 1)
    assert links.startswith(f"{server.url}/-/ui/decisions?"), links
    return reason.removeprefix(prefix).strip()


def never_fetched(up: FakeUpstream, filename: str) -> None:
    """A refused file is judged before pipgate downloads a byte of it from the upstream."""
    assert up.hits(f"/files/{filename}") == 0, f"{filename} was fetched from the upstream"


def fetch_rows(server: PipgateServer, query: FetchQuery | None = None) -> list[FetchRecord]:
    """The fetch log of a running server, including rows still queued for the writer."""
    fetchlog = server.state.fetchlog
    server.call(fetchlog.flush())
    rows: list[FetchRecord] = server.call(fetchlog.query(query or FetchQuery()))
    return rows


__all__ = [
    "Answer",
    "build_index",
    "dist_rows",
    "fetch_rows",
    "gate_settings",
    "http_get",
    "never_fetched",
    "output",
    "pip_download",
    "production_trust_root",
    "refused",
]
