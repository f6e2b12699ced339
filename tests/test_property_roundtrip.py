"""Properties: render -> parse is lossless for what each format carries; the fast HTML
scanner agrees with ``html.parser``; the URL resolver agrees with ``urljoin``; names are
canonical everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import string
from urllib.parse import quote, urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name

from proxy.html_scan import scan_html, scan_html_reference
from proxy.model import DistFile, ProjectList, ProjectPage, ProjectStatus
from proxy.negotiation import Format
from proxy.parsing import parse_project_list, parse_project_page
from proxy.parsing_support import UrlResolver
from proxy.rendering import localize, render_project_list, render_project_page

FAST = settings(max_examples=200, deadline=None)
PAGE_URL = "https://index.example/simple/project/"

# Free text: anything printable, including the characters HTML must escape.
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
hex_digest = st.text("0123456789abcdef", min_size=32, max_size=64)
_ALNUM = string.ascii_letters + string.digits
filenames = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(_ALNUM),
        st.text(_ALNUM + "_.+!&<>'\"-", max_size=30),
        st.sampled_from([".whl", ".tar.gz", ".zip"]),
    ),
)
urls = st.builds(
    "https://{}.example/{}".format,
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
    st.text(_ALNUM + "_.%+/-", max_size=40),
)
project_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True)
hashes = st.dictionaries(st.sampled_from(["sha256", "md5", "sha512"]), hex_digest, max_size=3)
core_metadata = st.one_of(st.none(), st.booleans(), st.fixed_dictionaries({"sha256": hex_digest}))


@st.composite
def dist_files(draw: st.DrawFn) -> DistFile:
    return DistFile(
        filename=draw(filenames),
        url=draw(urls),
        hashes=draw(hashes),
        requires_python=draw(st.none() | text),
        yanked=draw(st.booleans() | text),
        size=draw(st.none() | st.integers(min_value=0, max_value=2**40)),
        upload_time=draw(st.none() | text),
        core_metadata=draw(core_metadata),
        gpg_sig=draw(st.none() | st.booleans()),
        provenance=draw(st.none() | urls),
    )


@st.composite
def pages(draw: st.DrawFn) -> ProjectPage:
    status = draw(st.none() | st.builds(ProjectStatus, text, st.none() | st.text(max_size=10)))
    return ProjectPage(
        name=canonicalize_name(draw(project_names)),
        files=tuple(draw(st.lists(dist_files(), max_size=5))),
        versions=draw(st.none() | st.lists(text, max_size=4).map(tuple)),
        status=status,
        last_serial=draw(st.none() | st.integers(min_value=0)),
    )


def json_view(page: ProjectPage) -> ProjectPage:
    """What the JSON form carries: everything but the private serial."""
    return dataclasses.replace(page, versions=page.all_versions(), last_serial=None)


def html_view(page: ProjectPage) -> ProjectPage:
    """What the HTML form carries: one hash per file, no PEP 700 fields, no ``False``."""
    return dataclasses.replace(
        page,
        files=tuple(_html_file(dist) for dist in page.files),
        versions=None,
        last_serial=None,
    )


def _html_file(dist: DistFile) -> DistFile:
    metadata = dist.core_metadata if dist.core_metadata else None
    return dataclasses.replace(
        dist,
        hashes=_one_hash(dist.hashes),
        size=None,
        upload_time=None,
        core_metadata=_one_hash(metadata) if isinstance(metadata, dict) else metadata,
    )


def _one_hash(hashes: dict[str, str] | object) -> dict[str, str]:
    assert isinstance(hashes, dict)
    if "sha256" in hashes:
        return {"sha256": hashes["sha256"]}
    return {name: hashes[name] for name in sorted(hashes)[:1]}


@FAST
@given(pages())
def test_json_round_trip(page: ProjectPage) -> None:
    body = render_project_page(page, Format.JSON)
    assert parse_project_page(body, Format.JSON.content_type, PAGE_URL, page.name) == json_view(
        page
    )


@FAST
@given(pages())
def test_html_round_trip(page: ProjectPage) -> None:
    body = render_project_page(page, Format.HTML)
    for content_type in ("text/html", Format.HTML.content_type):
        parsed = parse_project_page(body, content_type, PAGE_URL, page.name)
        assert parsed == html_view(page)


@FAST
@given(pages(), st.sampled_from(list(Format)))
def test_localized_round_trip_resolves_against_page_url(page: ProjectPage, fmt: Format) -> None:
    file_base = f"../../files/{page.name}/"
    localized = localize(page, file_base, "https://pg.example/provenance/")
    base = f"https://pg.example/builds/ci-7/simple/{page.name}/"
    parsed = parse_project_page(
        render_project_page(localized, fmt), fmt.content_type, base, page.name
    )
    for original, dist in zip(page.files, parsed.files, strict=True):
        quoted = quote(original.filename, safe="")
        assert dist.url == f"https://pg.example/builds/ci-7/files/{page.name}/{quoted}"
        assert dist.url == urljoin(base, file_base + quoted)
        if original.provenance is None:
            assert dist.provenance is None
        else:
            assert dist.provenance == f"https://pg.example/provenance/{quoted}.provenance"


@FAST
@given(st.lists(st.text(min_size=1, max_size=15).filter(str.strip), max_size=6))
def test_project_list_round_trip(names: list[str]) -> None:
    project_list = ProjectList(tuple(names))
    json_body = render_project_list(project_list, Format.JSON)
    assert parse_project_list(json_body, Format.JSON.content_type, PAGE_URL).names == tuple(names)
    html_body = render_project_list(project_list, Format.HTML)
    stripped = tuple(name.strip() for name in names)
    assert parse_project_list(html_body, "text/html", PAGE_URL).names == stripped


@FAST
@given(st.text(max_size=30))
def test_canonicalize_name_is_idempotent(name: str) -> None:
    assert canonicalize_name(canonicalize_name(name)) == canonicalize_name(name)


@FAST
@given(project_names)
def test_render_uses_canonical_names(name: str) -> None:
    canonical = canonicalize_name(name)
    html = render_project_list(ProjectList((name,)), Format.HTML).decode()
    assert f'<a href="{canonical}/">' in html
    document = json.loads(render_project_page(ProjectPage(NormalizedName(name)), Format.JSON))
    assert document["name"] == canonical


# -- the fast HTML scanner against html.parser -----------------------------------------

_attr_names = st.sampled_from(
    ["href", "HREF", "data-yanked", "data-requires-python", "Data-Core-Metadata", "name", "x"]
)
_attr_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_bare_value = st.from_regex(r"[A-Za-z0-9.:#=%-]{1,12}", fullmatch=True)
_space = st.sampled_from([" ", "  ", "\n", "\t", " \n "])


@st.composite
def _attribute(draw: st.DrawFn) -> str:
    name = draw(_attr_names)
    form = draw(st.sampled_from(["double", "single", "bare", "none", "entity"]))
    if form == "none":
        return name
    if form == "bare":
        return f"{name}={draw(_bare_value)}"
    value = draw(_attr_text)
    if form == "entity":
        value = draw(st.sampled_from(["&gt;=3.8", "&amp;amp;", "&#62;", "&lt", "a&b", "&nope;"]))
    quote_char = "'" if form == "single" else '"'
    value = value.replace(quote_char, "")
    equals = draw(st.sampled_from(["=", " = ", "=\n"]))
    return f"{name}{equals}{quote_char}{value}{quote_char}"


@st.composite
def _element(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["a", "a", "a", "meta", "base", "br", "comment", "text", "p"]))
    attrs = "".join(draw(_space) + a for a in draw(st.lists(_attribute(), max_size=4)))
    if kind == "a":
        tag = draw(st.sampled_from(["a", "A"]))
        inner = draw(st.sampled_from(["", "x.whl", "a &amp; b", " spaced ", "a<b>c</b>", "1 < 2"]))
        close = draw(st.sampled_from([f"</{tag}>", f"</{tag} >", ""]))
        slash = draw(st.sampled_from(["", "", "/", " /"]))
        return f"<{tag}{attrs}{slash}>{inner}{close}"
    if kind in ("meta", "base", "br", "p"):
        return f"<{kind}{attrs}>"
    if kind == "comment":
        return f"<!--{draw(st.sampled_from(['', ' SERIAL 12 ', '<a href=x>y</a>']))}-->"
    return draw(st.text(st.sampled_from("ab &;<>\n"), max_size=10))


@FAST
@given(st.lists(_element(), max_size=12))
def test_fast_html_scanner_agrees_with_html_parser(elements: list[str]) -> None:
    document = "<!DOCTYPE html>\n<html><body>" + "".join(elements) + "</body></html>"
    assert scan_html(document) == scan_html_reference(document)


# -- the URL resolver against urljoin ---------------------------------------------------

_ref = st.lists(
    st.sampled_from([*"ab./:?#%@ \t-", "..", "../", "//", "x.whl", "http:", "https://h/"]),
    max_size=8,
).map("".join)
_base = st.sampled_from(
    [
        "https://index.example/simple/project/",
        "https://index.example/simple/project/index.html",
        "https://index.example",
        "https://index.example/a/b?x=1",
        "http://127.0.0.1:8080/builds/ci/simple/p/",
    ]
)


@pytest.mark.parametrize("ref", ["http://", "https://", "http:///x", "http://?q", "https://#f"])
@pytest.mark.parametrize("base", ["https://index.example/simple/p/", "http://127.0.0.1:8080/s/"])
def test_url_resolver_absolute_urls_without_a_host(base: str, ref: str) -> None:
    # Found by the property below in some random runs: urljoin keeps the base's host here.
    assert UrlResolver(base)(ref) == urljoin(base, ref)


@FAST
@given(_base, st.lists(_ref, min_size=1, max_size=6))
def test_url_resolver_agrees_with_urljoin(base: str, refs: list[str]) -> None:
    resolve = UrlResolver(base)
    for ref in refs:
        assert resolve(ref) == urljoin(base, ref)
