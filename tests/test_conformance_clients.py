"""Real pip and uv against every recorded page, straight and through pipgate: what they see
must not change by putting pipgate in between, and PEP 592 yanks must hold through it.
The one recorded wheel really installs through pipgate from its recorded bytes, in front of
every recorded or written server that lists it.

pip: ``pip index versions --pre --json`` (every version pip would consider, no download);
uv: ``uv pip compile --no-deps`` (the version uv would pick, no download).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.clients import (
    make_venv,
    pip_index_versions,
    pip_install,
    run_in_venv,
    uv_compile,
    uv_install,
)
from tests.support.conformance import GateFarm, is_simple_api, page_id, yanked_versions
from tests.support.e2e import fetch_rows, http_get
from tests.support.gate import CLIENTS, ClientName
from tests.support.page_oracle import listed_files
from tests.support.page_server import RecordedIndex
from tests.support.recorded_pages import TINY_WHEEL, Response, all_pages, source, sources

pytestmark = pytest.mark.clients

PAGES = all_pages()
_PRINT_VERSION = "import iniconfig, importlib.metadata as m; print(m.version('iniconfig'))"
WHEEL_SERVERS = sorted(
    {
        (page.source, page.variant)
        for page in PAGES
        if is_simple_api(page.content_type) and TINY_WHEEL.encode() in page.raw_body
    }
)


@pytest.fixture(scope="module")
def recorded() -> Iterator[RecordedIndex]:
    with RecordedIndex() as index:
        yield index


@pytest.fixture(scope="module")
def gates(recorded: RecordedIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateFarm]:
    with GateFarm(recorded, tmp_path_factory.mktemp("gates")) as farm:
        yield farm


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter pip and uv list for; nothing is installed into it."""
    return make_venv(tmp_path_factory.mktemp("lister"))


@pytest.fixture(scope="module")
def install_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[ClientName, Path]:
    root = tmp_path_factory.mktemp("installers")
    return {name: make_venv(root, name=f"venv-{name}") for name in CLIENTS}


def _versions(result: subprocess.CompletedProcess[str]) -> list[str] | None:
    """pip's version list, or ``None`` when pip found nothing to list."""
    if result.returncode != 0:
        return None
    versions: list[str] = json.loads(result.stdout)["versions"]
    return versions


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_pip_lists_the_same_versions_through_pipgate(
    page: Response, recorded: RecordedIndex, gates: GateFarm, venv: Path
) -> None:
    indexes = (recorded.root_url(page.source, page.variant), gates.for_page(page).index_url)
    # Both at once: each is a separate pip process, and the two answers are independent.
    with ThreadPoolExecutor(max_workers=2) as pool:
        direct, through = pool.map(
            lambda url: pip_index_versions(venv.parent, url, page.name), indexes
        )
    if not is_simple_api(page.content_type):
        assert _versions(direct) is None
        assert _versions(through) is None
        return
    seen = _versions(through)
    assert seen, through.stdout + through.stderr
    assert seen == _versions(direct), through.stderr
    body = page.body_for(recorded.origins(page.source, page.variant))
    yanked = yanked_versions(listed_files(body, page.content_type, recorded.page_url(page)))
    assert not set(yanked) & set(seen), f"PEP 592: yanked {yanked} listed by pip"


@pytest.mark.parametrize("page", [p for p in PAGES if is_simple_api(p.content_type)], ids=page_id)
def test_uv_picks_the_same_versions_through_pipgate(
    page: Response, recorded: RecordedIndex, gates: GateFarm, venv: Path
) -> None:
    direct_index = recorded.root_url(page.source, page.variant)
    gate_index = gates.for_page(page).index_url
    through = uv_compile(venv, gate_index, [page.name])
    assert through.returncode == 0, through.stderr
    assert through.stdout.startswith(f"{page.name}=="), through.stdout
    assert through.stdout == uv_compile(venv, direct_index, [page.name]).stdout
    body = page.body_for(recorded.origins(page.source, page.variant))
    for version in yanked_versions(listed_files(body, page.content_type, recorded.page_url(page))):
        # PEP 592: a yanked release is chosen only when pinned exactly.
        pinned = uv_compile(venv, gate_index, [f"{page.name}=={version}"])
        assert pinned.returncode == 0, pinned.stderr
        assert pinned.stdout.strip() == f"{page.name}=={version}"
        assert "yanked" in pinned.stderr
        ranged = uv_compile(venv, gate_index, [f"{page.name}>={version},<={version}"])
        assert ranged.returncode != 0, ranged.stdout
        assert "yanked" in ranged.stderr
        direct = uv_compile(venv, direct_index, [f"{page.name}>={version},<={version}"])
        assert direct.returncode == ranged.returncode


def _one_per_source(servers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # pip's install is the slow one: each source once (its JSON form where it has one).
    chosen: dict[str, tuple[str, str]] = {}
    for server in sorted(servers, key=lambda s: (s[0], s[1] != "json")):
        chosen.setdefault(server[0], server)
    return sorted(chosen.values())


INSTALLS = [
    *((server, "uv") for server in WHEEL_SERVERS),
    *((server, "pip") for server in _one_per_source(WHEEL_SERVERS)),
]


@pytest.mark.parametrize(
    ("server", "client"), INSTALLS, ids=[f"{'-'.join(s)}-{c}" for s, c in INSTALLS]
)
def test_recorded_wheel_installs_through_pipgate(
    server: tuple[str, str],
    client: ClientName,
    recorded: RecordedIndex,
    gates: GateFarm,
    install_venvs: dict[ClientName, Path],
) -> None:
    gate = gates.gate(*server)
    venv = install_venvs[client]
    requirement = "iniconfig==2.3.1"
    if client == "pip":
        result = pip_install(venv, gate.index_url, requirement, extra=["--force-reinstall"])
    else:
        result = uv_install(venv, gate.index_url, requirement, extra=["--reinstall"])
    assert result.returncode == 0, result.stdout + result.stderr
    check = run_in_venv(venv, "-c", _PRINT_VERSION)
    assert check.stdout.strip() == "2.3.1", check.stderr
    # The bytes came from the recorded server, through pipgate, and were verified there.
    assert recorded.hits(*server, f"/{TINY_WHEEL}") >= 1
    rows = [r for r in fetch_rows(gate) if r.kind == "dist" and r.filename == TINY_WHEEL]
    # uv may range-read the wheel first (206); one whole, verified download must be logged.
    assert any(r.status == 200 for r in rows), rows
    assert all(r.status in (200, 206) for r in rows), rows
    assert {r.sha256 for r in rows} == {_wheel_sha256()}


def test_core_metadata_is_served_byte_for_byte(recorded: RecordedIndex, gates: GateFarm) -> None:
    # PEP 658/714 as the public index's software writes it (warehouse-pep714).
    fixture = source("warehouse-pep714")
    (metadata,) = fixture.files()
    for variant in ("json", "html"):
        gate = gates.gate(fixture.name, variant)
        answer = http_get(f"{gate.url}/files/iniconfig/{TINY_WHEEL}.metadata")
        assert answer.status == 200, answer
        assert answer.body == metadata.raw_body
        assert recorded.hits(fixture.name, variant, f"/{TINY_WHEEL}.metadata") == 1


def test_every_source_lists_the_recorded_wheel() -> None:
    # Each server's fixture must exercise a real install; a source without the wheel
    # would silently drop out of the install test.
    listed = {name for name, _ in WHEEL_SERVERS}
    assert listed == {s.name for s in sources()}, listed


def _wheel_sha256() -> str:
    import hashlib

    from tests.support.recorded_pages import tiny_wheel

    return hashlib.sha256(tiny_wheel()).hexdigest()
