"""Shared pieces of the recorded-page conformance tests: one pipgate per recorded server,
and what the recorded pages lead a client to expect."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from types import TracebackType

from packaging.utils import canonicalize_name

from proxy.model import filename_version
from tests.support.gate import gate_settings
from tests.support.page_oracle import Listed
from tests.support.page_server import RecordedIndex
from tests.support.pipgate_server import PipgateServer
from tests.support.recorded_pages import Response

SIMPLE_TYPES = frozenset(
    {"text/html", "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.v1+json"}
)
# One policy that touches none of the recorded projects: what a client sees through pipgate
# is then the upstream page, with no default policy (typosquatting) in between.
NEUTRAL_POLICIES = '[[policy]]\nuse = "denylist"\nprojects = ["nothing-recorded-is-called-this"]\n'


def is_simple_api(content_type: str) -> bool:
    """Whether a client may read a body of this Content-Type as a simple-API page."""
    return content_type.partition(";")[0].strip().lower() in SIMPLE_TYPES


def yanked_versions(files: list[Listed]) -> list[str]:
    """Versions every listed file of which is yanked: PEP 592 hides them from a range."""
    states: dict[str, set[bool]] = defaultdict(set)
    for listed in files:
        version = filename_version(listed.filename)
        if version is not None:
            states[str(version)].add(listed.yanked)
    return sorted(version for version, yanked in states.items() if yanked == {True})


class GateFarm:
    """A pipgate (in-process, on embedded storage) in front of each recorded server, started
    when first asked for and stopped together."""

    def __init__(self, index: RecordedIndex, directory: Path) -> None:
        self._index = index
        self._directory = directory
        self._gates: dict[tuple[str, str], PipgateServer] = {}

    def gate(self, source: str, variant: str) -> PipgateServer:
        key = (source, variant)
        if key not in self._gates:
            settings = gate_settings(
                self._directory / f"{source}-{variant}",
                self._index.root_url(source, variant),
                NEUTRAL_POLICIES,
            )
            self._gates[key] = PipgateServer(settings).__enter__()
        return self._gates[key]

    def for_page(self, page: Response) -> PipgateServer:
        return self.gate(page.source, page.variant)

    def __enter__(self) -> GateFarm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for gate in self._gates.values():
            gate.__exit__(None, None, None)
        self._gates.clear()


def page_id(page: Response) -> str:
    return page.id


def project_url(gate: PipgateServer, page: Response) -> str:
    return f"{gate.index_url}{canonicalize_name(page.name)}/"


__all__ = [
    "NEUTRAL_POLICIES",
    "GateFarm",
    "is_simple_api",
    "page_id",
    "project_url",
    "yanked_versions",
]
