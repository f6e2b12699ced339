"""OSV records to index: CVSS v3 scores, range evaluation, and what a load keeps."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_version
from packaging.version import Version

from policies.osv_db import IndexBuilder, OsvIndex
from policies.osv_ranges import compile_range, version_key, version_keys
from policies.osv_severity import Severity, cvss3_base_score
from policies.osv_source import OsvSourceError, read_index
from tests.support.osv import OSV_FIXTURES, build_zip


def ids(index: OsvIndex, name: str, version: str) -> list[str]:
    return [m.advisory.id for m in index.matches(NormalizedName(name), Version(version))]


@pytest.fixture(scope="module")
def index() -> OsvIndex:
    return read_index(OSV_FIXTURES)


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", 3.3),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O", 9.8),
    ],
)
def test_cvss3_base_score__matches_the_specification(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


@pytest.mark.parametrize(
    ("vector", "complaint"),
    [
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "prefix"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "missing base metrics A"),
        ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "unknown value for 'X'"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/AH", "not KEY:VALUE"),
    ],
)
def test_cvss3_base_score__rejects_malformed_vectors(vector: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        cvss3_base_score(vector)
    assert vector in str(caught.value)


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, Severity.NONE),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
    ],
)
def test_severity__from_score_uses_the_cvss_rating_scale(score: float, severity: Severity) -> None:
    assert Severity.from_score(score) is severity


def test_severity__labels_and_unknown_ranks_highest() -> None:
    assert Severity.from_label("MODERATE") is Severity.MEDIUM
    assert Severity.from_label("High") is Severity.HIGH
    assert Severity.from_label("urgent") is Severity.UNKNOWN
    assert max(Severity, key=lambda s: s.rank) is Severity.UNKNOWN


E = list[dict[str, str]]


@pytest.mark.parametrize(
    ("events", "affected", "unaffected"),
    [
        ([{"introduced": "0"}, {"fixed": "1.4.2"}], ["0.0.1", "1.4.1", "1.4.2rc1"], ["1.4.2"]),
        ([{"introduced": "0"}], ["0.0.0", "99!1"], []),
        ([{"introduced": "2.0"}, {"last_affected": "2.3"}], ["2.0", "2.3"], ["1.9", "2.3.1"]),
        ([{"introduced": "5.0"}, {"limit": "5.5"}], ["5.0", "5.4.9"], ["4.9", "5.5", "6"]),
        (
            [{"fixed": "3.2.5"}, {"introduced": "3.0.0"}, {"fixed": "1.0.2"}, {"introduced": "1"}],
            ["1.0.0", "1.0.1", "3.0", "3.2.4"],
            ["0.9", "1.0.2", "2.0", "3.2.5"],
        ),
        ([{"introduced": "1"}, {"introduced": "2"}, {"fixed": "3"}], ["1.5", "2.5"], ["3"]),
        ([{"introduced": "bogus"}, {"fixed": "1.0"}], [], ["0.5", "1.0"]),
        ([{"introduced": "1.0"}, {"fixed": "bogus"}], ["1.0", "9.9"], ["0.9"]),
        ([{"introduced": "1.0", "fixed": "2.0"}], [], ["1.5"]),
    ],
)
def test_compile_range__agrees_with_the_schema_evaluation(
    events: E, affected: list[str], unaffected: list[str]
) -> None:
    version_range = compile_range(events)
    assert [v for v in affected if Version(v) not in version_range] == []
    assert [v for v in unaffected if Version(v) in version_range] == []


def test_load__keeps_pypi_records_that_are_not_withdrawn(index: OsvIndex) -> None:
    # 10 files: withdrawn PYSEC-2099-4 and the npm record are dropped.
    assert index.records == 8
    names = ("example-pkg", "other-pkg", "third-pkg", "evil-pkg", "sneaky-pkg")
    assert [name for name in names if name not in index] == []
    assert len(index) == len(names)
    assert "Example.Pkg" not in index


def test_load__ranges_versions_and_names(index: OsvIndex) -> None:
    assert ids(index, "example-pkg", "1.4.1") == ["PYSEC-2099-1"]
    assert ids(index, "example-pkg", "1.4.2") == []  # the withdrawn record covered it
    assert ids(index, "example-pkg", "99") == []  # the npm record covered it
    assert ids(index, "example-pkg", "2.0") == ["PYSEC-2099-2"]  # "2.0.0" listed as Example.Pkg
    assert ids(index, "other-pkg", "2.3") == ["GHSA-2099-lstf-aff1"]
    assert ids(index, "other-pkg", "3.0.5") == ["PYSEC-2099-3"]  # SEMVER range
    assert ids(index, "other-pkg", "4.0") == []  # only the GIT range "covers" it
    assert ids(index, "other-pkg", "5.4") == ["PYSEC-2099-3"]
    assert ids(index, "other-pkg", "5.5") == []  # limit
    assert ids(index, "third-pkg", "0.5") == ["PYSEC-2099-5"]  # listed as third_pkg


def test_load__fixed_version_is_the_end_of_the_matching_interval(index: OsvIndex) -> None:
    (match,) = index.matches(NormalizedName("example-pkg"), Version("1.0"))
    assert match.fixed == Version("1.4.2")
    (match,) = index.matches(NormalizedName("other-pkg"), Version("5.1"))
    assert match.fixed is None  # limit is not a fix
    (match,) = index.matches(NormalizedName("other-pkg"), Version("2.1"))
    assert match.fixed is None  # last_affected is not a fix either


def test_load__severity_from_cvss_then_label(index: OsvIndex) -> None:
    def severity(name: str, version: str) -> Severity:
        (match,) = index.matches(NormalizedName(name), Version(version))
        return match.advisory.severity

    assert severity("example-pkg", "1.4.1") is Severity.HIGH
    assert severity("example-pkg", "2.0.1") is Severity.LOW
    assert severity("other-pkg", "3.0") is Severity.CRITICAL
    assert severity("other-pkg", "2.0") is Severity.MEDIUM  # vector 6.1 beats its LOW label
    assert severity("third-pkg", "1.0") is Severity.MEDIUM  # CVSS v4 only: MODERATE label
    assert severity("third-pkg", "0.1") is Severity.UNKNOWN


def test_load__malicious_projects_and_files(index: OsvIndex) -> None:
    (evil,) = index.malicious_project(NormalizedName("evil-pkg"))
    assert evil.id == "MAL-2099-7"
    assert evil.malicious
    assert index.malicious_project(NormalizedName("sneaky-pkg")) == ()
    assert [a.id for a in index.malicious_records(NormalizedName("sneaky-pkg"))] == ["MAL-2099-8"]
    assert ids(index, "sneaky-pkg", "0.3.1") == ["MAL-2099-8"]
    assert ids(index, "sneaky-pkg", "0.3.2") == []
    digest = "cbf00fb0388ac46d1b799df1c21f796196ba06db1e6f37af618d44d9142b81bd"
    found = index.malicious_file(digest.upper())
    assert found is not None
    assert found.id == "MAL-2099-8"
    assert index.malicious_file("0" * 64) is None


def test_load__zip_and_single_file_give_the_same_answers(tmp_path: Path, index: OsvIndex) -> None:
    from_zip = read_index(build_zip(tmp_path / "all.zip"))
    assert from_zip.records == index.records
    assert ids(from_zip, "other-pkg", "5.4") == ["PYSEC-2099-3"]
    single = read_index(OSV_FIXTURES / "malicious" / "pypi" / "evil-pkg" / "MAL-2099-7.json")
    assert single.records == 1
    assert "evil-pkg" in single


def test_load__a_list_of_records_in_one_document() -> None:
    builder = IndexBuilder()
    records: list[dict[str, Any]] = [
        json.loads((OSV_FIXTURES / "pypi" / name).read_text())
        for name in ("PYSEC-2099-1.json", "PYSEC-2099-3.json")
    ]
    builder.add(records)
    builder.add(
        {"id": "PYSEC-2099-9", "schema_version": "2.0.0", "affected": records[0]["affected"]}
    )
    builder.add("not a record")
    assert builder.build().records == 2


def test_load__skips_unreadable_records_in_a_tree(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = OSV_FIXTURES / "pypi" / "PYSEC-2099-1.json"
    (tmp_path / "good.json").write_bytes(good.read_bytes())
    (tmp_path / "broken.json").write_text("{ not json")
    with caplog.at_level(logging.WARNING):
        loaded = read_index(tmp_path)
    assert loaded.records == 1
    assert "skipped 1 unreadable OSV record(s)" in caplog.text
    assert "broken.json" in caplog.text


def test_load__a_broken_single_source_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "record.json"
    broken.write_text("{ not json")
    with pytest.raises(OsvSourceError, match="not valid JSON"):
        read_index(broken)
    with pytest.raises(OsvSourceError, match="cannot read OSV source"):
        read_index(tmp_path / "missing.zip")


@pytest.mark.parametrize(
    "raw",
    [
        "1",
        "1.0",
        "1.0.0",
        "0",
        "0.0",
        "10.0.1",
        "01.2",
        "1.0rc1",
        "1.0.post2",
        "2!1.0",
        "1+local.7",
    ],
)
def test_version_key__equal_exactly_for_pep440_equal_versions(raw: str) -> None:
    assert version_key(raw) == version_key(Version(raw))
    assert version_key(raw) == canonicalize_version(raw, strip_trailing_zero=True)


def test_version_key__not_a_version() -> None:
    assert version_key("not a version") is None
    assert version_keys(["1.0", "1.0.0", "bogus", 3]) == {"1": None}
