"""The model to PEP 691 JSON / PEP 503 HTML, and ``localize`` pointing URLs at pipgate."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from proxy.model import API_VERSION, DistFile, ProjectList, ProjectPage, ProjectStatus
from proxy.negotiation import Format
from proxy.rendering import localize, render_project_list, render_project_page

NAME: NormalizedName = canonicalize_name("holygrail")
SHA_A = "a" * 64
SHA_B = "b" * 64
WHEEL = "holygrail-1.0-py3-none-any.whl"
SDIST = "holygrail-0.9.tar.gz"


def dist(filename: str = WHEEL, **fields: Any) -> DistFile:
    fields.setdefault("url", f"https://files.example/{filename}")
    fields.setdefault("hashes", {"sha256": SHA_A})
    return DistFile(filename=filename, **fields)


def page(*files: DistFile, **fields: Any) -> ProjectPage:
    return ProjectPage(name=NAME, files=files, **fields)


def rendered_json(value: ProjectPage) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render_project_page(value, Format.JSON))
    return document


class _Anchors(HTMLParser):
    """Reads rendered HTML with the stdlib parser, independently of pipgate's scanner."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "meta":
            values = dict(attrs)
            self.meta[values["name"] or ""] = values["content"]

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())


def rendered_html(value: ProjectPage | ProjectList) -> _Anchors:
    if isinstance(value, ProjectPage):
        body = render_project_page(value, Format.HTML)
    else:
        body = render_project_list(value, Format.HTML)
    parser = _Anchors()
    parser.feed(body.decode("utf-8"))
    parser.close()
    return parser


# -- JSON -------------------------------------------------------------------------------


def test_json__page_shape() -> None:
    document = rendered_json(page(dist(requires_python=">=3.9", size=10)))
    assert document == {
        "meta": {"api-version": "1.1"},
        "name": "holygrail",
        "files": [
            {
                "filename": WHEEL,
                "url": f"https://files.example/{WHEEL}",
                "hashes": {"sha256": SHA_A},
                "requires-python": ">=3.9",
                "yanked": False,
                "size": 10,
                "provenance": None,
            }
        ],
        "versions": ["1.0"],
    }


@pytest.mark.parametrize(
    ("fields", "key", "expected"),
    [
        ({}, "requires-python", None),
        ({"yanked": True}, "yanked", True),
        ({"yanked": "broken"}, "yanked", "broken"),
        ({"yanked": ""}, "yanked", True),
        ({}, "size", "absent"),
        ({"size": 0}, "size", 0),
        ({}, "upload-time", "absent"),
        ({"upload_time": "2026-01-02T03:04:05Z"}, "upload-time", "2026-01-02T03:04:05Z"),
        ({}, "core-metadata", "absent"),
        ({"core_metadata": True}, "core-metadata", True),
        ({"core_metadata": False}, "core-metadata", False),
        ({"core_metadata": {"sha256": SHA_B}}, "core-metadata", {"sha256": SHA_B}),
        ({}, "gpg-sig", "absent"),
        ({"gpg_sig": False}, "gpg-sig", False),
        ({}, "provenance", None),
        ({"provenance": "https://p.example/x"}, "provenance", "https://p.example/x"),
        ({"hashes": {}}, "hashes", {}),
    ],
)
def test_json__file_keys(fields: dict[str, Any], key: str, expected: Any) -> None:
    entry = rendered_json(page(dist(**fields)))["files"][0]
    if expected == "absent":
        assert key not in entry
    else:
        assert entry[key] == expected


@pytest.mark.parametrize("metadata", [True, False, {"sha256": SHA_B}])
def test_json__never_emits_legacy_metadata_key(metadata: Any) -> None:
    body = render_project_page(page(dist(core_metadata=metadata)), Format.JSON)
    assert b'"dist-info-metadata"' not in body


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, "absent"),
        (ProjectStatus("archived"), {"status": "archived"}),
        (ProjectStatus("quarantined", "malware"), {"status": "quarantined", "reason": "malware"}),
    ],
)
def test_json__project_status(status: ProjectStatus | None, expected: Any) -> None:
    document = rendered_json(page(status=status))
    if expected == "absent":
        assert "project-status" not in document
    else:
        assert document["project-status"] == expected


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (None, ["0.9", "1.0"]),
        (("2.0", "1.0"), ["2.0", "1.0"]),
        ((), []),
    ],
)
def test_json__versions(versions: tuple[str, ...] | None, expected: list[str]) -> None:
    value = page(dist(), dist(SDIST), versions=versions)
    assert rendered_json(value)["versions"] == expected


def test_json__compact_and_deterministic() -> None:
    value = page(dist(hashes={"sha512": "c" * 128, "sha256": SHA_A, "md5": "d" * 32}))
    first = render_project_page(value, Format.JSON)
    assert first == render_project_page(value, Format.JSON)
    assert b", " not in first
    assert b'": ' not in first
    assert list(json.loads(first)["files"][0]["hashes"]) == ["md5", "sha256", "sha512"]


def test_json__name_is_canonical() -> None:
    value = ProjectPage(name=NormalizedName("Holy_Grail"))
    assert rendered_json(value)["name"] == "holy-grail"


def test_json__project_list() -> None:
    body = render_project_list(ProjectList(("Holy.Grail", "spam"), last_serial=3), Format.JSON)
    assert json.loads(body) == {
        "meta": {"api-version": "1.0"},
        "projects": [{"name": "Holy.Grail"}, {"name": "spam"}],
    }


# -- HTML -------------------------------------------------------------------------------


def test_html__page_shape() -> None:
    value = page(
        dist(
            requires_python=">=3.8,<4",
            yanked='bad "build" & more',
            core_metadata={"sha256": SHA_B},
            gpg_sig=False,
            provenance="https://p.example/a?b=1&c=2",
        ),
        status=ProjectStatus("archived", "moved <here>"),
    )
    html = render_project_page(value, Format.HTML).decode()
    assert html.startswith("<!DOCTYPE html>")
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in html
    assert 'data-yanked="bad &quot;build&quot; &amp; more"' in html
    parsed = rendered_html(value)
    assert parsed.meta == {
        "pypi:repository-version": API_VERSION,  # a project status is api-version 1.4
        "pypi:project-status": "archived",
        "pypi:project-status-reason": "moved <here>",
    }
    assert parsed.anchors == [
        {
            "href": f"https://files.example/{WHEEL}#sha256={SHA_A}",
            "data-requires-python": ">=3.8,<4",
            "data-yanked": 'bad "build" & more',
            "data-core-metadata": f"sha256={SHA_B}",
            "data-dist-info-metadata": f"sha256={SHA_B}",
            "data-gpg-sig": "false",
            "data-provenance": "https://p.example/a?b=1&c=2",
        }
    ]
    assert WHEEL in parsed.texts


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({}, "href", f"https://files.example/{WHEEL}#sha256={SHA_A}"),
        ({"hashes": {}}, "href", f"https://files.example/{WHEEL}"),
        ({"hashes": {"md5": "0f" * 16}}, "href", f"https://files.example/{WHEEL}#md5={'0f' * 16}"),
        ({"hashes": {"blake3": "ab"}}, "href", f"https://files.example/{WHEEL}"),
        ({"yanked": True}, "data-yanked", ""),
        ({}, "data-yanked", "absent"),
        ({}, "data-requires-python", "absent"),
        ({"core_metadata": True}, "data-core-metadata", "true"),
        ({"core_metadata": True}, "data-dist-info-metadata", "true"),
        ({"core_metadata": False}, "data-core-metadata", "absent"),
        ({"core_metadata": False}, "data-dist-info-metadata", "absent"),
        ({}, "data-core-metadata", "absent"),
        ({"gpg_sig": True}, "data-gpg-sig", "true"),
        ({}, "data-gpg-sig", "absent"),
        ({}, "data-provenance", "absent"),
    ],
)
def test_html__anchor_attributes(fields: dict[str, Any], attribute: str, expected: str) -> None:
    (attrs,) = rendered_html(page(dist(**fields))).anchors
    if expected == "absent":
        assert attribute not in attrs
    else:
        assert attrs[attribute] == expected


def test_html__escapes_text_and_name() -> None:
    parsed = rendered_html(page(dist('x<y>&"z.zip', url="https://f.example/x?a=1&b=<2>")))
    assert parsed.texts[-1] == 'x<y>&"z.zip'
    assert parsed.anchors[0]["href"] == f"https://f.example/x?a=1&b=<2>#sha256={SHA_A}"


def test_html__no_status_tags_without_status() -> None:
    assert rendered_html(page()).meta == {"pypi:repository-version": "1.0"}


def test_html__project_list() -> None:
    value = ProjectList(("Holy.Grail", "A__b", "x<y"))
    parsed = rendered_html(value)
    assert [anchor["href"] for anchor in parsed.anchors] == ["holy-grail/", "a-b/", "x%3Cy/"]
    assert parsed.texts[-3:] == ["Holy.Grail", "A__b", "x<y"]
    assert parsed.meta == {"pypi:repository-version": "1.0"}


@pytest.mark.parametrize(
    ("value", "json_version", "html_version"),
    [
        (page(), "1.1", "1.0"),
        (page(dist(size=10)), "1.1", "1.0"),
        (page(dist(size=None)), "1.0", "1.0"),
        (page(dist(size=10, provenance="https://p.example/x")), "1.3", "1.3"),
        (page(dist(size=10), status=ProjectStatus("archived")), "1.4", "1.4"),
        # No sizes (an HTML-only upstream): nothing above 1.0 can be claimed in JSON.
        (page(dist(size=None), status=ProjectStatus("archived")), "1.0", "1.4"),
    ],
)
def test_api_version_claims_only_what_the_page_carries(
    value: ProjectPage, json_version: str, html_version: str
) -> None:
    assert rendered_json(value)["meta"]["api-version"] == json_version
    assert rendered_html(value).meta["pypi:repository-version"] == html_version


# -- localize ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "provenance", "provenance_base", "url", "expected_provenance"),
    [
        (WHEEL, None, "https://pg.example/p/holygrail/", f"../../files/holygrail/{WHEEL}", None),
        (
            WHEEL,
            "https://up.example/prov",
            "https://pg.example/p/holygrail/",
            f"../../files/holygrail/{WHEEL}",
            f"https://pg.example/p/holygrail/{WHEEL}.provenance",
        ),
        (WHEEL, "https://up.example/prov", None, f"../../files/holygrail/{WHEEL}", None),
        (
            "holygrail-1.0+local.tar.gz",
            "https://up.example/prov",
            "https://pg.example/p/",
            "../../files/holygrail/holygrail-1.0%2Blocal.tar.gz",
            "https://pg.example/p/holygrail-1.0%2Blocal.tar.gz.provenance",
        ),
        ("a b/c.zip", None, None, "../../files/holygrail/a%20b%2Fc.zip", None),
    ],
)
def test_localize(
    filename: str,
    provenance: str | None,
    provenance_base: str | None,
    url: str,
    expected_provenance: str | None,
) -> None:
    original = dist(filename, provenance=provenance, size=5, yanked="old", gpg_sig=True)
    value = page(original, versions=("1.0",), status=ProjectStatus("deprecated"), last_serial=8)
    localized = localize(value, "../../files/holygrail/", provenance_base)
    (moved,) = localized.files
    assert moved.url == url
    assert moved.provenance == expected_provenance
    assert (moved.filename, moved.hashes, moved.size, moved.yanked, moved.gpg_sig) == (
        original.filename,
        original.hashes,
        5,
        "old",
        True,
    )
    assert (localized.name, localized.versions, localized.status, localized.last_serial) == (
        value.name,
        value.versions,
        value.status,
        value.last_serial,
    )
