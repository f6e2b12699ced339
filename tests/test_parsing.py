"""Upstream JSON (PEP 691) and HTML (PEP 503) to the model, and every way it can be wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from proxy.errors import UpstreamProtocolError
from proxy.model import DistFile, ProjectPage, ProjectStatus
from proxy.parsing import parse_project_list, parse_project_page

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
PAGE_URL = "https://index.example/simple/holygrail/"
NAME: NormalizedName = canonicalize_name("holygrail")
SHA_A = "a" * 64
SHA_B = "b" * 64
WHEEL = "holygrail-1.0-py3-none-any.whl"
WHEEL_URL = f"https://files.example/packages/{WHEEL}"


def json_page(*files: object, **top: Any) -> bytes:
    document: dict[str, Any] = {"meta": {"api-version": "1.4"}, "name": "holygrail"}
    document["files"] = list(files)
    document.update(top)
    return json.dumps(document).encode()


def json_file(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"filename": WHEEL, "url": WHEEL_URL, "hashes": {"sha256": SHA_A}}
    entry.update(overrides)
    return {key: value for key, value in entry.items() if value is not _DROP}


_DROP = object()


def only_file(body: bytes, content_type: str = JSON_TYPE, url: str = PAGE_URL) -> DistFile:
    page = parse_project_page(body, content_type, url, NAME)
    assert len(page.files) == 1
    return page.files[0]


def html_page(*anchors: str, head: str = "") -> bytes:
    lines = "\n".join(f"{anchor}<br />" for anchor in anchors)
    return (
        f"<!DOCTYPE html>\n<html><head>{head}<title>Links for holygrail</title></head>"
        f"<body><h1>Links for holygrail</h1>\n{lines}\n</body></html>"
    ).encode()


def anchor(attrs: str = "", href: str = f"{WHEEL_URL}#sha256={SHA_A}", text: str = WHEEL) -> str:
    return f'<a href="{href}"{attrs}>{text}</a>'


# -- JSON -------------------------------------------------------------------------------


def test_json__full_page() -> None:
    body = json_page(
        json_file(
            **{
                "requires-python": ">=3.9",
                "size": 1337,
                "upload-time": "2026-01-02T03:04:05.123456Z",
                "yanked": False,
                "core-metadata": {"sha256": SHA_B},
                "gpg-sig": False,
                "provenance": "https://index.example/integrity/holygrail/1.0/x/provenance",
            }
        ),
        versions=["1.0"],
        **{"project-status": {"status": "archived", "reason": "moved"}},
        meta={"api-version": "1.4", "_last-serial": 42},
    )
    assert parse_project_page(body, JSON_TYPE, PAGE_URL, NAME) == ProjectPage(
        name=NAME,
        files=(
            DistFile(
                filename=WHEEL,
                url=WHEEL_URL,
                hashes={"sha256": SHA_A},
                requires_python=">=3.9",
                yanked=False,
                size=1337,
                upload_time="2026-01-02T03:04:05.123456Z",
                core_metadata={"sha256": SHA_B},
                gpg_sig=False,
                provenance="https://index.example/integrity/holygrail/1.0/x/provenance",
            ),
        ),
        versions=("1.0",),
        status=ProjectStatus("archived", "moved"),
        last_serial=42,
    )


def test_json__minimal_page_defaults() -> None:
    page = parse_project_page(json_page(json_file()), JSON_TYPE, PAGE_URL, NAME)
    assert page == ProjectPage(
        name=NAME, files=(DistFile(WHEEL, WHEEL_URL, {"sha256": SHA_A}),), versions=None
    )


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"yanked": True}, "yanked", True),
        ({"yanked": False}, "yanked", False),
        ({"yanked": "broken build"}, "yanked", "broken build"),
        ({"yanked": ""}, "yanked", True),
        ({"yanked": None}, "yanked", False),
        ({"requires-python": None}, "requires_python", None),
        ({"requires-python": ""}, "requires_python", None),
        ({"requires-python": ">=3.8, <4"}, "requires_python", ">=3.8, <4"),
        ({"size": 0}, "size", 0),
        ({"upload-time": "2024-06-06T18:39:05Z"}, "upload_time", "2024-06-06T18:39:05Z"),
        ({"core-metadata": True}, "core_metadata", True),
        ({"core-metadata": False}, "core_metadata", False),
        ({"core-metadata": {"SHA256": SHA_B.upper()}}, "core_metadata", {"sha256": SHA_B}),
        ({"dist-info-metadata": {"sha256": SHA_B}}, "core_metadata", {"sha256": SHA_B}),
        ({"data-dist-info-metadata": True}, "core_metadata", True),
        (
            {"core-metadata": {"sha256": SHA_B}, "dist-info-metadata": False},
            "core_metadata",
            {"sha256": SHA_B},
        ),
        ({"core-metadata": None, "dist-info-metadata": True}, "core_metadata", True),
        ({"gpg-sig": True}, "gpg_sig", True),
        ({"provenance": None}, "provenance", None),
        ({"hashes": {}}, "hashes", {}),
        ({"hashes": {"SHA256": SHA_A.upper(), "md5": "0f" * 16}}, "hashes", None),
        ({"url": f"{WHEEL_URL}#md5={'0f' * 16}"}, "hashes", None),
        ({"url": f"{WHEEL_URL}#egg=holygrail"}, "url", WHEEL_URL),
        ({"unknown-key": [1, 2], "_private": {}}, "filename", WHEEL),
    ],
)
def test_json__file_fields(overrides: dict[str, Any], field: str, expected: Any) -> None:
    dist = only_file(json_page(json_file(**overrides)))
    if field == "hashes" and expected is None:
        assert dist.hashes["sha256"] == SHA_A
        assert dist.hashes["md5"] == "0f" * 16
    else:
        assert getattr(dist, field) == expected


@pytest.mark.parametrize(
    ("page_url", "href", "expected"),
    [
        (PAGE_URL, "../../files/x.whl", "https://index.example/files/x.whl"),
        (PAGE_URL, "x.whl", "https://index.example/simple/holygrail/x.whl"),
        (PAGE_URL, "/abs/x.whl", "https://index.example/abs/x.whl"),
        (PAGE_URL, "//cdn.example/x.whl", "https://cdn.example/x.whl"),
        ("https://mirror.example/a/b/mirror/holygrail/", "../files/x.whl", None),
        ("https://index.example/simple/holygrail/index.json", "x.whl", None),
        (PAGE_URL, "http://plain.example/x.whl", "http://plain.example/x.whl"),
    ],
)
def test_json__relative_urls_resolve_against_final_url(
    page_url: str, href: str, expected: str | None
) -> None:
    from urllib.parse import urljoin

    dist = only_file(json_page(json_file(url=href, provenance=href)), url=page_url)
    assert dist.url == (expected or urljoin(page_url, href))
    assert dist.provenance == dist.url


@pytest.mark.parametrize(
    "content_type",
    [
        JSON_TYPE,
        "application/vnd.pypi.simple.latest+json",
        "Application/Vnd.Pypi.Simple.V1+Json; charset=utf-8",
    ],
)
def test_json__content_types(content_type: str) -> None:
    assert only_file(json_page(json_file()), content_type).filename == WHEEL


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.4", "1.99", " 1.3 "])
def test_json__api_version_1x_accepted(version: str) -> None:
    body = json_page(json_file(), meta={"api-version": version})
    assert only_file(body).filename == WHEEL


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (b"{not json", ["invalid JSON"]),
        (b"\xff\xfe\x00", ["invalid JSON"]),
        (b"[1, 2]", ["response", "an object", "[1, 2]"]),
        (json_page(meta={"api-version": "2.0"}), ["meta.api-version", "'2.0'"]),
        (json_page(meta={"api-version": "0.9"}), ["meta.api-version", "'0.9'"]),
        (json_page(meta={"api-version": 1.0}), ["meta.api-version", "1.0"]),
        (json_page(meta={}), ["meta.api-version", "missing"]),
        (json.dumps({"name": "holygrail", "files": []}).encode(), ["meta", "missing"]),
        (json_page(name="other"), ["name", "'other'"]),
        (json_page(files={"a": 1}), ["files", "a list"]),
        (json_page(**{"project-status": "active"}), ["project-status", "'active'"]),
        (json_page(**{"project-status": {}}), ["project-status.status", "missing"]),
        (json_page(**{"project-status": {"status": "x", "reason": 1}}), ["reason"]),
    ],
)
def test_json__malformed(body: bytes, fragments: list[str]) -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        parse_project_page(body, JSON_TYPE, PAGE_URL, NAME)
    message = str(caught.value)
    assert PAGE_URL in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("bad_file", "fragments"),
    [
        ("x.whl", ["files[1]", "an object"]),
        (json_file(filename=_DROP), ["files[1].filename", "missing"]),
        (json_file(url=3), ["files[1].url", "a string", "3"]),
        (json_file(hashes=_DROP), ["files[1].hashes", "missing"]),
        (json_file(hashes=["x"]), ["files[1].hashes", "['x']"]),
        (json_file(hashes={"sha256": "xyz"}), ["files[1].hashes.sha256", "'xyz'"]),
        (json_file(hashes={"sha256": 5}), ["files[1].hashes.sha256", "5"]),
        (json_file(url=f"{WHEEL_URL}#sha256=zz"), ["files[1].url", "#sha256=zz"]),
        (json_file(size="big"), ["files[1].size", "'big'"]),
        (json_file(size=-1), ["files[1].size", "-1"]),
        (json_file(size=True), ["files[1].size", "True"]),
        (json_file(yanked=1), ["files[1].yanked", "1"]),
        (json_file(**{"requires-python": 3}), ["files[1].requires-python", "3"]),
        (json_file(**{"upload-time": 17}), ["files[1].upload-time", "17"]),
        (json_file(**{"gpg-sig": "yes"}), ["files[1].gpg-sig", "'yes'"]),
        (json_file(provenance=["x"]), ["files[1].provenance", "['x']"]),
        (json_file(**{"core-metadata": "yes"}), ["files[1].core-metadata"]),
        (
            json_file(**{"dist-info-metadata": {"sha256": "no"}}),
            ["files[1].dist-info-metadata.sha256", "'no'"],
        ),
    ],
)
def test_json__malformed_file_entry_is_dropped_not_the_page(
    bad_file: Any, fragments: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    body = json_page(json_file(), bad_file, json_file(filename="holygrail-2.0.tar.gz"))
    page = parse_project_page(body, JSON_TYPE, PAGE_URL, NAME)
    assert [dist.filename for dist in page.files] == [WHEEL, "holygrail-2.0.tar.gz"]
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert PAGE_URL in record.getMessage()
    for fragment in fragments:
        assert fragment in record.getMessage()


def test_json__a_number_too_long_for_int_drops_only_its_entry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = json_page(json_file(), json_file(size="TOO-LONG")).replace(b'"TOO-LONG"', b"9" * 5000)
    assert only_file(body).filename == WHEEL
    assert "files[1].size" in caplog.text


@pytest.mark.parametrize("versions", ["1.0", [1]])
def test_json__malformed_versions_fall_back_to_the_files(
    versions: object, caplog: pytest.LogCaptureFixture
) -> None:
    page = parse_project_page(json_page(json_file(), versions=versions), JSON_TYPE, PAGE_URL, NAME)
    assert page.versions is None
    assert page.all_versions() == ("1.0",)
    assert "versions" in caplog.text


@pytest.mark.parametrize(
    ("serial", "expected"),
    [("37059094", 37059094), (" 9 ", 9), (12, 12), ("x", None), (True, None), (-1, None)],
)
def test_json__private_last_serial_is_read_when_it_can_be_and_never_refused(
    serial: object, expected: int | None
) -> None:
    body = json_page(json_file(), meta={"api-version": "1.1", "_last-serial": serial})
    assert parse_project_page(body, JSON_TYPE, PAGE_URL, NAME).last_serial == expected


def test_json__unknown_and_private_keys_are_ignored() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1", "_last-serial": "3", "_x": {"y": []}},
            "name": "holygrail",
            "files": [{**json.loads(json_page(json_file()))["files"][0], "_private": [1]}],
            "_top": None,
            "future-key": {"anything": True},
        }
    ).encode()
    assert only_file(body).filename == WHEEL


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.pypi.simple.v2+json",
        "application/vnd.pypi.simple.v2+html",
        "application/json",
        "text/plain",
        "",
    ],
)
def test_parse__unsupported_content_type(content_type: str) -> None:
    with pytest.raises(UpstreamProtocolError, match="Content-Type"):
        parse_project_page(json_page(), content_type, PAGE_URL, NAME)


def test_json__project_list() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.4", "_last-serial": 7},
            "projects": [{"name": "Holy.Grail", "_last-serial": 3}, {"name": "spam"}],
        }
    ).encode()
    project_list = parse_project_list(body, JSON_TYPE, "https://index.example/simple/")
    assert project_list.names == ("Holy.Grail", "spam")
    assert project_list.last_serial == 7


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"meta": {"api-version": "1.0"}, "projects": {}}, "projects: expected a list"),
        ({"meta": {"api-version": "3.0"}, "projects": []}, "meta.api-version"),
    ],
)
def test_json__project_list_malformed(document: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UpstreamProtocolError, match="invalid project list") as caught:
        parse_project_list(json.dumps(document).encode(), JSON_TYPE, "https://i.example/simple/")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "fragment"), [({"nom": "x"}, "projects[1].name"), ("x", "projects[1]: expected")]
)
def test_json__malformed_project_list_entry_is_dropped(
    entry: object, fragment: str, caplog: pytest.LogCaptureFixture
) -> None:
    document = {"meta": {"api-version": "1.0"}, "projects": [{"name": "a"}, entry, {"name": "b"}]}
    project_list = parse_project_list(
        json.dumps(document).encode(), JSON_TYPE, "https://i.example/simple/"
    )
    assert project_list.names == ("a", "b")
    assert fragment in caplog.text


# -- HTML -------------------------------------------------------------------------------


def test_html__pypi_shaped_page() -> None:
    provenance = "https://index.example/integrity/holygrail/1.0/x/provenance"
    body = (
        html_page(
            anchor(
                f' data-requires-python="&gt;=3.8,&lt;4" data-dist-info-metadata="sha256={SHA_B}"'
                f' data-core-metadata="sha256={SHA_B}" data-provenance="{provenance}"'
            ),
            anchor(
                ' data-yanked=""', text="holygrail-0.9.tar.gz", href="../../f/holygrail-0.9.tar.gz"
            ),
            head='<meta name="pypi:repository-version" content="1.4">'
            '<meta name="pypi:project-status" content="quarantined">',
        )
        + b"\n<!--SERIAL 1234-->"
    )
    page = parse_project_page(body, "text/html; charset=utf-8", PAGE_URL, NAME)
    assert page == ProjectPage(
        name=NAME,
        files=(
            DistFile(
                filename=WHEEL,
                url=WHEEL_URL,
                hashes={"sha256": SHA_A},
                requires_python=">=3.8,<4",
                core_metadata={"sha256": SHA_B},
                provenance=provenance,
            ),
            DistFile(
                filename="holygrail-0.9.tar.gz",
                url="https://index.example/f/holygrail-0.9.tar.gz",
                yanked=True,
            ),
        ),
        status=ProjectStatus("quarantined"),
        last_serial=1234,
    )


@pytest.mark.parametrize(
    ("tag", "field", "expected"),
    [
        (anchor(" data-yanked"), "yanked", True),
        (anchor(' data-yanked=""'), "yanked", True),
        (anchor(' data-yanked="bad &amp; &quot;broken&quot;"'), "yanked", 'bad & "broken"'),
        (anchor(), "yanked", False),
        (anchor(' data-requires-python="&gt;=3.6"'), "requires_python", ">=3.6"),
        (anchor(' data-requires-python=">=3.6"'), "requires_python", ">=3.6"),
        (anchor(' data-requires-python=""'), "requires_python", None),
        (anchor(), "requires_python", None),
        (anchor(' data-core-metadata="true"'), "core_metadata", True),
        (anchor(" data-core-metadata"), "core_metadata", True),
        (anchor(f' data-core-metadata="SHA256={SHA_B.upper()}"'), "core_metadata", None),
        (anchor(f' data-dist-info-metadata="sha256={SHA_B}"'), "core_metadata", None),
        (anchor(' data-dist-info-metadata="true"'), "core_metadata", True),
        (
            anchor(f' data-core-metadata="sha256={SHA_B}" data-dist-info-metadata="true"'),
            "core_metadata",
            None,
        ),
        (anchor(), "core_metadata", "absent"),
        (anchor(' data-gpg-sig="true"'), "gpg_sig", True),
        (anchor(' data-gpg-sig="false"'), "gpg_sig", False),
        (anchor(), "gpg_sig", "absent"),
        (anchor(' data-provenance="https://p.example/x"'), "provenance", "https://p.example/x"),
        (anchor(href=f"{WHEEL_URL}#MD5={'0F' * 16}"), "hashes", {"md5": "0f" * 16}),
        (anchor(href=f"{WHEEL_URL}#egg=holygrail"), "hashes", {}),
        (anchor(href=WHEEL_URL), "hashes", {}),
        (anchor(href=f"  {WHEEL_URL}  "), "url", WHEEL_URL),
        (anchor(text="  \n" + WHEEL + " "), "filename", WHEEL),
        (anchor(text="", href="../x/holygrail-1.0%2Blocal.tar.gz"), "filename", None),
        (anchor(text="holy&amp;grail.zip"), "filename", "holy&grail.zip"),
        (f"<A HREF='{WHEEL_URL}' DATA-YANKED=why>{WHEEL}</A>", "yanked", "why"),
        (f"<a href={WHEEL_URL} data-gpg-sig=false>{WHEEL}</a>", "gpg_sig", False),
        (f'<a\nhref="{WHEEL_URL}"\ndata-yanked>{WHEEL}</a>', "yanked", True),
    ],
)
def test_html__anchor_fields(tag: str, field: str, expected: Any) -> None:
    dist = only_file(html_page(tag), HTML_TYPE)
    if field == "core_metadata" and expected is None:
        assert dist.core_metadata == {"sha256": SHA_B}
    elif field == "filename" and expected is None:
        assert dist.filename == "holygrail-1.0+local.tar.gz"
    elif expected == "absent":
        assert getattr(dist, field) is None
    else:
        assert getattr(dist, field) == expected


@pytest.mark.parametrize(
    ("head", "href", "expected"),
    [
        ("", "../../files/x.whl", "https://index.example/files/x.whl"),
        ('<base href="https://cdn.example/pkgs/">', "x.whl", "https://cdn.example/pkgs/x.whl"),
        ('<base href="../../">', "files/x.whl", "https://index.example/files/x.whl"),
    ],
)
def test_html__relative_urls(head: str, href: str, expected: str) -> None:
    dist = only_file(html_page(anchor(href=href, text="x.whl"), head=head), HTML_TYPE)
    assert dist.url == expected


def test_html__skips_what_is_not_a_file_link() -> None:
    body = html_page(
        '<a name="top">top</a>',
        '<a href="../"> </a>',
        "<!-- <a href='hidden.whl'>hidden.whl</a> -->",
        anchor(),
        "<script>var s = \"<a href='js.whl'>js.whl</a>\";</script>",
    )
    page = parse_project_page(body, HTML_TYPE, PAGE_URL, NAME)
    assert [dist.filename for dist in page.files] == [WHEEL]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("", None),
        ('<meta name="pypi:project-status" content="deprecated">', ProjectStatus("deprecated")),
        (
            '<meta name="pypi:project-status" content="archived">'
            '<meta name="pypi:project-status-reason" content="see &lt;new&gt;">',
            ProjectStatus("archived", "see <new>"),
        ),
        ('<META NAME="PyPI:Project-Status" CONTENT="quarantined">', ProjectStatus("quarantined")),
    ],
)
def test_html__project_status(head: str, expected: ProjectStatus | None) -> None:
    page = parse_project_page(html_page(head=head), HTML_TYPE, PAGE_URL, NAME)
    assert page.status == expected
    assert page.files == ()


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            html_page(head='<meta name="pypi:repository-version" content="2.0">'),
            ["pypi:repository-version", "'2.0'"],
        ),
        (
            html_page(head='<meta name="pypi:repository-version" content="one">'),
            ["pypi:repository-version", "'one'"],
        ),
        ("<a href='x.whl'>\u00e9</a>".encode("latin-1"), ["not utf-8"]),
        (html_page(head='<base href="http://[broken/">'), ["<base>", "http://[broken/"]),
    ],
)
def test_html__malformed(body: bytes, fragments: list[str]) -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        parse_project_page(body, HTML_TYPE, PAGE_URL, NAME)
    message = str(caught.value)
    assert PAGE_URL in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("bad_anchor", "fragments"),
    [
        (anchor(' data-core-metadata="sha256=xyz"'), [WHEEL, "data-core-metadata"]),
        (anchor(' data-core-metadata="yes"'), [WHEEL, "'yes'"]),
        (anchor(' data-gpg-sig="maybe"'), [WHEEL, "data-gpg-sig", "'maybe'"]),
        (anchor(href=f"{WHEEL_URL}#sha256=nothex"), ["href", "#sha256=nothex"]),
        (anchor(href="https://[::1/x.whl"), ["<a> url", "https://[::1/x.whl"]),
    ],
)
def test_html__malformed_anchor_is_dropped_not_the_page(
    bad_anchor: str, fragments: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    good = anchor(text="holygrail-2.0.tar.gz", href="../../f/holygrail-2.0.tar.gz")
    page = parse_project_page(html_page(bad_anchor, good), HTML_TYPE, PAGE_URL, NAME)
    assert [dist.filename for dist in page.files] == ["holygrail-2.0.tar.gz"]
    assert PAGE_URL in caplog.text
    for fragment in fragments:
        assert fragment in caplog.text


def test_html__serial_comment_of_absurd_length_is_ignored() -> None:
    body = html_page(anchor()) + b"<!--SERIAL " + b"9" * 5000 + b"-->"
    assert parse_project_page(body, HTML_TYPE, PAGE_URL, NAME).last_serial is None


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("text/html; charset=ISO-8859-1", "latin-1"),
        ('text/html; charset="utf-8"', "utf-8"),
        ("text/html; charset=no-such-codec", "utf-8"),
        ("text/html; charset=base64", "utf-8"),
        ("text/html; charset=zlib_codec", "utf-8"),
        ("application/vnd.pypi.simple.v1+html", "utf-8"),
    ],
)
def test_html__charset(content_type: str, encoding: str) -> None:
    body = html_page(anchor(text="caf\u00e9-1.0.tar.gz")).decode().encode(encoding)
    assert only_file(body, content_type).filename == "caf\u00e9-1.0.tar.gz"


def test_html__project_list() -> None:
    body = (
        b"<!DOCTYPE html><html><body>\n"
        b'<a href="/simple/holy-grail/">Holy.Grail</a>\n'
        b'<a href="spam/">spam</a>\n'
        b'<a href="eggs-and-ham/"></a>\n'
        b"</body></html>\n<!--SERIAL 99-->"
    )
    project_list = parse_project_list(body, HTML_TYPE, "https://index.example/simple/")
    assert project_list.names == ("Holy.Grail", "spam", "eggs-and-ham")
    assert project_list.last_serial == 99
