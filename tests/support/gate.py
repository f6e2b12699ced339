"""End-to-end policy tests: a real pipgate over a ``FakeUpstream`` with a given config file,
real pip and uv installs into their own venvs, and plain HTTP probes for what clients hide.

    with running_gate(tmp, up.url, '[[policy]]\\nuse = "denylist"\\nprojects = ["evil"]') as gate:
        outcome = client.install(gate.index_url, "evil")
        assert not outcome.ok and client.refused_project(outcome, gate.index_url, "evil")
        assert probe(gate.index_url + "evil/").status == 403

What the clients show for a 403 (pip 26, uv 0.13; see ``refused_project``): neither prints
the response body. pip reports only "No matching distribution found" for a refused page
(the status line appears from ``-vv`` on) and "HTTP error 403 ... Client Error: <reason
phrase>" for a refused download; uv hints "returned a 403 Forbidden error" for a page and
prints the status line with its reason phrase for a download. So the policy and reason
reach a person through the body and ``X-Pipgate-Policy``, which ``probe`` reads.
"""

from __future__ import annotations

import email.message
import importlib.metadata
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name
from starlette.types import ASGIApp, Message, Scope

from proxy.settings import Settings, load_settings
from storage.base import FetchQuery, FetchRecord
from tests.support.builders import build_wheel
from tests.support.clients import make_venv, pip_install, uv_install
from tests.support.fake_index import FakeFile
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateServer

ClientName = Literal["pip", "uv"]
CLIENTS: tuple[ClientName, ...] = ("pip", "uv")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    """Names lower-cased."""
    body: str


def probe(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Answer:
    """One plain HTTP request; an error status is an answer, not an exception."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, _lower(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, _lower(error.headers), error.read().decode())


def _lower(headers: email.message.Message) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def publish(
    upstream: FakeUpstream, directory: Path, project: str, *versions: str, **options: Any
) -> list[FakeFile]:
    """A wheel of each version of ``project`` on ``upstream`` (``options``: ``add_file``'s)."""
    return [
        upstream.add_file(project, build_wheel(directory, project, version), **options)
        for version in versions
    ]


def gate_settings(
    tmp: Path, upstream_url: str, config: str | None, **overrides: object
) -> Settings:
    """Settings for a gate in ``tmp``; ``config=None`` means no config file (default set)."""
    tmp.mkdir(parents=True, exist_ok=True)
    config_file = None
    if config is not None:
        config_file = tmp / "pipgate.toml"
        config_file.write_text(config)
    values = {"upstream": upstream_url, "data_dir": str(tmp / "data"), **overrides}
    return load_settings(config_file, environ={}, overrides=values)


@contextmanager
def running_gate(
    tmp: Path, upstream_url: str, config: str | None, **overrides: object
) -> Iterator[PipgateServer]:
    with PipgateServer(gate_settings(tmp, upstream_url, config, **overrides)) as server:
        yield server


def fetch_records(server: PipgateServer, project: str) -> list[FetchRecord]:
    """Every fetch-log row of ``project``, after flushing the log's write queue."""
    server.call(server.state.fetchlog.flush())
    query = FetchQuery(project=canonicalize_name(project))
    records: list[FetchRecord] = server.call(server.state.fetchlog.query(query))
    return records


def file_url(server: PipgateServer, project: str, filename: str) -> str:
    return f"{server.url}/files/{canonicalize_name(project)}/{filename}"


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str
    """stdout and stderr together: where a client prints a message varies by version."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class Client:
    """pip or uv installing into a venv of its own (tests use distinct project names)."""

    name: ClientName
    venv: Path

    def install(self, index_url: str, *requirements: str) -> Outcome:
        run = pip_install if self.name == "pip" else uv_install
        result = run(self.venv, index_url, *requirements)
        return Outcome(result.returncode, result.stdout + result.stderr)

    def installed(self, project: str) -> str | None:
        """The version of ``project`` in the venv, read from its ``.dist-info``."""
        wanted = canonicalize_name(project)
        for dist in importlib.metadata.distributions(path=[str(p) for p in self._site()]):
            if canonicalize_name(dist.metadata["Name"]) == wanted:
                return dist.version
        return None

    def refused_project(self, outcome: Outcome, index_url: str, project: str) -> bool:
        """Whether the output shows the refusal the way this client reports a 403 page."""
        if self.name == "uv":
            return f"An index ({index_url}) returned a 403 Forbidden error" in outcome.output
        return f"No matching distribution found for {project}" in outcome.output

    def refused_download(self, outcome: Outcome, url: str) -> bool:
        """Whether the output shows a 403 status line for the download of ``url``."""
        if self.name == "uv":
            return f"403 Forbidden) for url ({url})" in outcome.output
        return f"403 Client Error: Forbidden for url: {url}" in outcome.output

    def _site(self) -> list[Path]:
        return sorted(self.venv.glob("lib/python*/site-packages"))


async def asgi_request(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    client: tuple[str, int],
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request straight into ``app`` as if from ``client``: the only way to test a
    non-loopback caller while every server binds 127.0.0.1. Run it on the app's loop."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": client,
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return Answer(start["status"], names, body.decode())


def make_clients(tmp: Path) -> dict[ClientName, Client]:
    return {name: Client(name, make_venv(tmp, name=f"venv-{name}")) for name in CLIENTS}


__all__ = [
    "CLIENTS",
    "Answer",
    "Client",
    "ClientName",
    "Outcome",
    "asgi_request",
    "fetch_records",
    "file_url",
    "gate_settings",
    "make_clients",
    "probe",
    "publish",
    "running_gate",
]


def assert_refused(url: str, policy: str, reason: str) -> None:
    """A direct GET of ``url`` is a 403 naming ``policy`` and carrying ``reason``."""
    answer = probe(url)
    assert answer.status == 403, answer
    assert answer.headers["x-pipgate-policy"].split(";")[0] == policy
    assert f"blocked by policy '{policy}'" in answer.body
    assert reason in answer.body
