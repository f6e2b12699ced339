"""Every recorded page (``tests/fixtures/pages``) through pipgate's parser and renderer, and
through a running pipgate in front of a loopback server that answers as the recorded one did.

The expected files come from ``page_oracle``, a plain reading of the recorded bytes. The
clients' view (pip, uv, installs) is in ``test_conformance_clients``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.errors import UpstreamProtocolError
from proxy.model import DistFile, ProjectPage
from proxy.negotiation import Format
from proxy.parsing import parse_project_list, parse_project_page
from proxy.rendering import render_project_list, render_project_page
from tests.support.conformance import GateFarm, is_simple_api, page_id, project_url
from tests.support.gate import probe
from tests.support.page_oracle import Listed, listed_files, listed_projects
from tests.support.page_server import RecordedIndex
from tests.support.recorded_pages import Origins, Response, all_pages, root_lists

# Not an address anyone can reach: these tests only parse, they never fetch.
OFFLINE = Origins(index="http://upstream.invalid", files="http://files.invalid")
PAGES = all_pages()
ROOTS = root_lists()
JSON_ACCEPT = {"Accept": Format.JSON.content_type}
HTML_ACCEPT = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def recorded() -> Iterator[RecordedIndex]:
    with RecordedIndex() as index:
        yield index


@pytest.fixture(scope="module")
def gates(recorded: RecordedIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateFarm]:
    with GateFarm(recorded, tmp_path_factory.mktemp("gates")) as farm:
        yield farm


def parse_recorded(page: Response) -> ProjectPage:
    body = page.body_for(OFFLINE)
    return parse_project_page(body, page.content_type, page.url_for(OFFLINE), page.name)


def assert_lists(files: tuple[DistFile, ...], expected: list[Listed], *, urls: bool) -> None:
    """``files`` are the ``expected`` ones, field by field (URLs only where not rewritten)."""
    assert [f.filename for f in files] == [e.filename for e in expected]
    for dist, listed in zip(files, expected, strict=True):
        seen = (dist.sha256, dist.requires_python, dist.is_yanked, dist.yank_reason)
        wanted = (listed.sha256, listed.requires_python, listed.yanked, listed.yank_reason)
        assert seen == wanted, dist.filename
        assert dist.has_metadata == listed.metadata, dist.filename
        if urls:
            assert dist.url == listed.url, dist.filename


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_parser_reads_every_file_the_page_lists(page: Response) -> None:
    body = page.body_for(OFFLINE)
    if not is_simple_api(page.content_type):
        # devpi answers an Accept of v1+html with "Content-Type: text_html": no client
        # may read that as a page, and the error must say why.
        with pytest.raises(UpstreamProtocolError, match=page.content_type):
            parse_recorded(page)
        return
    expected = listed_files(body, page.content_type, page.url_for(OFFLINE))
    assert expected, f"{page.id}: the oracle found no file; the fixture is broken"
    assert_lists(parse_recorded(page).files, expected, urls=True)


@pytest.mark.parametrize("page", [p for p in PAGES if is_simple_api(p.content_type)], ids=page_id)
@pytest.mark.parametrize("fmt", [Format.JSON, Format.HTML], ids=["json", "html"])
def test_rendered_page_reads_back_the_same(page: Response, fmt: Format) -> None:
    parsed = parse_recorded(page)
    body = render_project_page(parsed, fmt)
    again = parse_project_page(body, fmt.content_type, page.url_for(OFFLINE), page.name)
    assert [f.filename for f in again.files] == [f.filename for f in parsed.files]
    for before, after in zip(parsed.files, again.files, strict=True):
        # HTML carries no size or upload time (PEP 700 is JSON-only) and one hash per link.
        assert (after.url, after.sha256, after.requires_python) == (
            before.url,
            before.sha256,
            before.requires_python,
        )
        assert (after.yanked, after.has_metadata) == (before.yanked, before.has_metadata)
        if fmt is Format.JSON:
            assert after == before
    if fmt is Format.JSON:
        assert again.all_versions() == parsed.all_versions()


@pytest.mark.parametrize("root", ROOTS, ids=lambda r: r.id)
def test_root_lists_parse_to_the_listed_names(root: Response) -> None:
    body = root.body_for(OFFLINE)
    names = listed_projects(body, root.content_type)
    parsed = parse_project_list(body, root.content_type, root.url_for(OFFLINE))
    assert list(parsed.names) == names
    for fmt in (Format.JSON, Format.HTML):
        rendered = render_project_list(parsed, fmt)
        assert listed_projects(rendered, fmt.content_type) == names


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_pipgate_serves_the_files_the_page_lists(page: Response, gates: GateFarm) -> None:
    gate = gates.for_page(page)
    url = project_url(gate, page)
    answer = probe(url, headers=JSON_ACCEPT)
    if not is_simple_api(page.content_type):
        assert answer.status == 502, answer
        assert page.content_type in answer.body
        return
    assert answer.status == 200, answer
    upstream_body = page.body_for(OFFLINE)
    expected = listed_files(upstream_body, page.content_type, page.url_for(OFFLINE))
    for accept in (JSON_ACCEPT, HTML_ACCEPT):
        served = probe(url, headers=accept)
        assert served.status == 200, served
        content_type = served.headers["content-type"]
        seen = listed_files(served.body.encode(), content_type, url)
        files = tuple(_as_dist(listed) for listed in seen)
        assert_lists(files, expected, urls=False)
        for listed in seen:
            # Every file is fetched through pipgate, never straight from the upstream.
            assert listed.url.startswith(f"{gate.url}/files/"), listed.url


@pytest.mark.parametrize("root", ROOTS, ids=lambda r: r.id)
def test_pipgate_serves_the_root_list(root: Response, gates: GateFarm) -> None:
    names = listed_projects(root.body_for(OFFLINE), root.content_type)
    gate = gates.gate(root.source, root.variant)
    answer = probe(gate.index_url, headers=JSON_ACCEPT)
    assert answer.status == 200, answer
    assert listed_projects(answer.body.encode(), answer.headers["content-type"]) == names


def _as_dist(listed: Listed) -> DistFile:
    return DistFile(
        filename=listed.filename,
        url=listed.url,
        hashes={"sha256": listed.sha256} if listed.sha256 else {},
        requires_python=listed.requires_python,
        yanked=listed.yank_reason or listed.yanked,
        core_metadata=listed.metadata,
    )


def test_fixtures_hold_no_host_at_all() -> None:
    # The recorder replaced every origin by a token: a URL left behind would leak the
    # recording machine's view of a registry and could make a test reach the network.
    for page in [*PAGES, *ROOTS]:
        assert b"http://" not in page.raw_body, page.id
        assert b"https://" not in page.raw_body, page.id


def test_the_recorded_directory_stays_small() -> None:
    from tests.support.recorded_pages import PAGES as directory

    total = sum(path.stat().st_size for path in Path(directory).rglob("*") if path.is_file())
    assert total < 4 * 1024 * 1024, f"{total} bytes of page fixtures"
