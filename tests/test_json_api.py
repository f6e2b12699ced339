"""The legacy JSON API document built from a project page (``proxy.json_api``), and the
``vulnerabilities`` read from a loaded OSV index (``proxy.json_vulnerabilities``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from policies.base import PolicyEnvironment
from policies.config import Mode, PolicyConfig
from policies.globs import GlobSet
from policies.osv import OsvPolicy
from policies.policyset import ActivePolicy, PolicySet
from proxy.json_api import (
    Releases,
    Vulnerability,
    file_entry,
    package_type,
    project_document,
    release_document,
    render_document,
)
from proxy.json_vulnerabilities import vulnerability_lookup
from proxy.model import DistFile, ProjectPage
from storage.memory import MemoryKeyValueStore
from tests.support.osv import OSV_FIXTURES

NAME: NormalizedName = canonicalize_name("holygrail")


def dist(filename: str, **fields: Any) -> DistFile:
    fields.setdefault("url", f"https://gate.invalid/files/holygrail/{filename}")
    fields.setdefault("hashes", {"sha256": filename.encode().hex()[:64].ljust(64, "0")})
    return DistFile(filename=filename, **fields)


def wheel(version: str, **fields: Any) -> DistFile:
    return dist(f"holygrail-{version}-py3-none-any.whl", **fields)


def sdist(version: str, **fields: Any) -> DistFile:
    return dist(f"holygrail-{version}.tar.gz", **fields)


def page(*files: DistFile, **fields: Any) -> ProjectPage:
    return ProjectPage(name=NAME, files=files, **fields)


def project(value: ProjectPage, **kwargs: Any) -> dict[str, Any]:
    document = project_document(value, **kwargs)
    assert document is not None
    # Through the bytes, so that the test sees what a client parses.
    parsed: dict[str, Any] = json.loads(render_document(document))
    return parsed


def test_releases__keyed_by_normalised_version_in_pep440_order() -> None:
    files = (wheel("1.10"), sdist("1.2"), wheel("1.2"), wheel("1.0.0"), sdist("2.0rc1"))
    document = project(page(*files))
    assert list(document["releases"]) == ["1.0.0", "1.2", "1.10", "2.0rc1"]
    assert [f["filename"] for f in document["releases"]["1.2"]] == [
        "holygrail-1.2.tar.gz",
        "holygrail-1.2-py3-none-any.whl",
    ]
    # Non-normalised spellings in filenames are filed under str(Version): pip-compile's key.
    assert list(project(page(wheel("1.0.0A1"), wheel("1.0_POST2")))["releases"]) == [
        "1.0.0a1",
        "1.0.post2",
    ]


def test_info_version__highest_stable_not_yanked() -> None:
    files = (wheel("1.0"), wheel("1.5"), wheel("2.0", yanked="broken"), wheel("3.0b1"))
    document = project(page(*files))
    assert document["info"]["version"] == "1.5"
    assert [f["filename"] for f in document["urls"]] == ["holygrail-1.5-py3-none-any.whl"]
    assert document["info"]["yanked"] is False
    assert document["info"]["yanked_reason"] is None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param((wheel("1.0a1"), wheel("1.0a2")), "1.0a2", id="only-pre-releases"),
        pytest.param((wheel("1.0"), wheel("2.0.dev1")), "1.0", id="dev-release-is-pre"),
        pytest.param((wheel("1.0", yanked=True), wheel("0.9a1")), "0.9a1", id="live-pre"),
        pytest.param((wheel("1.0", yanked=True), wheel("2.0", yanked="")), "2.0", id="all-yanked"),
        # One live file keeps a release live: PEP 592 yanks files, a release is yanked
        # only when all of them are.
        pytest.param((wheel("2.0", yanked=True), sdist("2.0"), wheel("1.0")), "2.0", id="half"),
    ],
)
def test_info_version__falls_back_like_the_public_index(
    files: tuple[DistFile, ...], expected: str
) -> None:
    assert project(page(*files))["info"]["version"] == expected


def test_all_yanked_release__info_says_so_with_the_reason() -> None:
    document = project(page(wheel("1.0", yanked=True), sdist("1.0", yanked="CVE in setup.py")))
    assert document["info"]["yanked"] is True
    assert document["info"]["yanked_reason"] == "CVE in setup.py"
    assert [(f["yanked"], f["yanked_reason"]) for f in document["urls"]] == [
        (True, None),
        (True, "CVE in setup.py"),
    ]


def test_versions_without_files__listed_empty_never_chosen() -> None:
    document = project(page(wheel("1.0"), versions=("1.0", "2.0", "not a version")))
    assert document["releases"] == {"1.0": [document["urls"][0]], "2.0": []}
    assert document["info"]["version"] == "1.0"


def test_no_file_left__no_document() -> None:
    assert project_document(page()) is None
    assert project_document(page(versions=("1.0",))) is None
    # A file whose name carries no version cannot be pinned, so it cannot make a release.
    assert project_document(page(dist("holygrail.tar.gz"))) is None


def test_file_entry__fields_tools_read() -> None:
    entry = file_entry(
        wheel(
            "1.0",
            hashes={"sha256": "ab" * 32, "md5": "cd" * 16},
            requires_python=">=3.9",
            size=1234,
            upload_time="2024-05-06T07:08:09.123456Z",
            gpg_sig=False,
        )
    )
    assert entry == {
        "filename": "holygrail-1.0-py3-none-any.whl",
        "url": "https://gate.invalid/files/holygrail/holygrail-1.0-py3-none-any.whl",
        "digests": {"md5": "cd" * 16, "sha256": "ab" * 32},
        "packagetype": "bdist_wheel",
        "python_version": "py3",
        "requires_python": ">=3.9",
        "yanked": False,
        "yanked_reason": None,
        "has_sig": False,
        "size": 1234,
        "upload_time": "2024-05-06T07:08:09",
        "upload_time_iso_8601": "2024-05-06T07:08:09.123456Z",
    }


def test_file_entry__leaves_out_what_the_page_did_not_say() -> None:
    entry = file_entry(sdist("1.0", hashes={}, upload_time="yesterday"))
    assert entry["digests"] == {}
    assert entry["packagetype"] == "sdist"
    assert entry["python_version"] == "source"
    assert entry["requires_python"] is None
    for absent in ("size", "upload_time", "upload_time_iso_8601", "has_sig"):
        assert absent not in entry
    # A zone-less upload-time is read as UTC, and both forms say the same instant.
    naive = file_entry(sdist("1.0", upload_time="2024-05-06T07:08:09"))
    assert naive["upload_time_iso_8601"] == "2024-05-06T07:08:09.000000Z"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "bdist_wheel"),
        ("x-1.0.tar.gz", "sdist"),
        ("x-1.0.zip", "sdist"),
        ("x-1.0.tar.bz2", "sdist"),
        ("x-1.0-py2.7.egg", "bdist_egg"),
        ("x-1.0.win32.exe", "bdist_wininst"),
        ("x-1.0.tar.Z", None),
    ],
)
def test_package_type(filename: str, expected: str | None) -> None:
    assert package_type(filename) == expected


def test_info__requires_python_only_when_the_files_agree() -> None:
    agree = project(page(wheel("1.0", requires_python=">=3.8"), sdist("1.0")))
    assert agree["info"]["requires_python"] == ">=3.8"
    differ = page(wheel("1.0", requires_python=">=3.8"), sdist("1.0", requires_python=">=3"))
    assert project(differ)["info"]["requires_python"] is None
    assert project(page(wheel("1.0")))["info"]["name"] == "holygrail"


def test_last_serial__passed_through_when_known() -> None:
    assert project(page(wheel("1.0"), last_serial=42))["last_serial"] == 42
    assert "last_serial" not in project(page(wheel("1.0")))


def test_release_document__one_release_no_releases_key() -> None:
    value = page(wheel("1.0"), wheel("1.0.0.post1"), sdist("2.0"))
    found = release_document(value, "2.0")
    assert found is not None
    key, built = found
    assert key == "2.0"
    document = json.loads(render_document(built))
    assert "releases" not in document
    assert document["info"]["version"] == "2.0"
    assert [f["filename"] for f in document["urls"]] == ["holygrail-2.0.tar.gz"]


def test_release_document__equal_version_names_the_canonical_key() -> None:
    value = page(wheel("1.0"))
    found = release_document(value, "1.0.0")
    assert found is not None
    assert found[0] == "1.0"
    assert release_document(value, "1.1") is None
    assert release_document(value, "not-a-version") is None
    assert Releases.of(value).find("v1.0") == "1.0"  # PEP 440 allows the leading v


def test_vulnerabilities__of_the_documented_release() -> None:
    seen: list[Version] = []

    def lookup(version: Version) -> Sequence[Vulnerability]:
        seen.append(version)
        return (Vulnerability("PYSEC-1", ("CVE-1",), "bad", ("1.1",)),)

    document = project(page(wheel("1.0"), wheel("0.9")), vulnerabilities=lookup)
    assert seen == [Version("1.0")]
    assert document["vulnerabilities"] == [
        {
            "id": "PYSEC-1",
            "aliases": ["CVE-1"],
            "summary": "bad",
            "details": "bad",
            "fixed_in": ["1.1"],
            "source": "osv",
            "withdrawn": None,
        }
    ]
    assert project(page(wheel("1.0")))["vulnerabilities"] == []


def test_render__deterministic_ascii() -> None:
    value = page(wheel("1.0", yanked="caf\u00e9 \ud800"))
    document = project_document(value)
    assert document is not None
    body = render_document(document)
    assert body == render_document(project_document(value))  # type: ignore[arg-type]
    assert body.isascii()


# -- vulnerabilities from the loaded OSV data ---------------------------------------------


def _policy_set(*instances: OsvPolicy) -> PolicySet:
    return PolicySet(
        [
            ActivePolicy(PolicyConfig(i, "osv", OsvPolicy, Mode.ENFORCE, GlobSet(), {}), policy)
            for i, policy in enumerate(instances, start=1)
        ]
    )


async def _osv(tmp_path: Path, **raw: Any) -> OsvPolicy:
    raw |= {"source": str(OSV_FIXTURES), "refresh": 0}
    options = {
        o.name: o.parse(raw[o.name]) if o.name in raw else o.default for o in OsvPolicy.options
    }
    env = PolicyEnvironment(data_dir=tmp_path / "data", kv=MemoryKeyValueStore(), http=None)
    policy = OsvPolicy.create(options, env)
    await policy.start()
    return policy


async def test_vulnerability_lookup__every_advisory_known_even_ignored(tmp_path: Path) -> None:
    policy = await _osv(tmp_path, ignore=["CVE-2099-0001"], vulnerable=False)
    lookup = vulnerability_lookup(_policy_set(policy), NormalizedName("example-pkg"))
    found = lookup(Version("1.4.1"))
    assert [(v.id, v.aliases, v.fixed_in) for v in found] == [
        ("PYSEC-2099-1", ("CVE-2099-0001",), ("1.4.2",))
    ]
    assert found[0].summary == "Path traversal in example-pkg's archive extractor"
    assert lookup(Version("1.4.2")) == ()
    no_fix = [v for v in lookup(Version("2.0.0")) if v.id == "PYSEC-2099-2"]
    assert len(no_fix) == 1
    assert no_fix[0].fixed_in == ()


async def test_vulnerability_lookup__empty_without_osv_or_advisories(tmp_path: Path) -> None:
    nothing = vulnerability_lookup(PolicySet([]), NormalizedName("example-pkg"))
    assert nothing(Version("1.4.1")) == ()
    policy = await _osv(tmp_path)
    unknown = vulnerability_lookup(_policy_set(policy), NormalizedName("unknown-pkg"))
    assert unknown(Version("1.0")) == ()


async def test_vulnerability_lookup__two_sources_merge_by_id(tmp_path: Path) -> None:
    first, second = await _osv(tmp_path / "a"), await _osv(tmp_path / "b")
    policies = _policy_set(first, second)
    found = vulnerability_lookup(policies, NormalizedName("example-pkg"))(Version("1.0"))
    assert [v.id for v in found] == ["PYSEC-2099-1"]
