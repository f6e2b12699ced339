"""``pipgate sbom`` end to end on a filled SQLite fetch log, and ``sbom_for_query``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from proxy.cli_log import main, sbom_for_query
from storage.base import FetchQuery, FetchRecord
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import T0, clean_environ, fill_sqlite, make_record, run_cli_log

BUILD_A = ["alpha-1.0-py3-none-any.whl", "beta-2.0.tar.gz"]
BUILD_B = ["gamma-3.0-py3-none-any.whl", "alpha-1.1-py3-none-any.whl"]


def two_builds() -> list[FetchRecord]:
    rows = [make_record(f, build="A", client="10.0.0.1", user="ci") for f in BUILD_A]
    rows += [make_record(f, build="B", client="10.0.0.2", user="dev") for f in BUILD_B]
    rows.append(make_record("alpha-1.0-py3-none-any.whl", build="A", kind="metadata"))
    rows.append(dataclasses.replace(rows[0], kind="page", filename=None, sha256=None))
    return [dataclasses.replace(r, time=T0 + dt.timedelta(minutes=i)) for i, r in enumerate(rows)]


@pytest.fixture(autouse=True)
def _no_pipgate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in set(os.environ) - set(clean_environ()):
        monkeypatch.delenv(key)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    fill_sqlite(tmp_path / "data", two_builds())
    return tmp_path / "data"


def cyclonedx_files(text: str) -> list[str]:
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    components = json.loads(text).get("components", [])
    return sorted(c["purl"].split("file_name=", 1)[1] for c in components)


def test_each_build_gets_exactly_its_own_files(data_dir: Path) -> None:
    for build, files in (("A", BUILD_A), ("B", BUILD_B)):
        result = run_cli_log(
            "sbom", "--data-dir", str(data_dir), "--build", build, "--format", "cyclonedx"
        )
        assert result.returncode == 0, result.stderr
        assert cyclonedx_files(result.stdout) == sorted(files)
        assert json.loads(result.stdout)["metadata"]["component"]["name"] == build


def test_spdx_to_a_file_through_the_config_file(data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "pipgate.toml"
    config.write_text(f"[server]\ndata_dir = {json.dumps(str(data_dir))}\n")
    out = tmp_path / "sbom.spdx.json"
    result = run_cli_log(
        "sbom", "--config", str(config), "--build", "B", "--format", "spdx", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "wrote 2 component(s)" in result.stderr
    document = parse_file(str(out))
    assert validate_full_spdx_document(document) == []
    assert sorted(p.file_name for p in document.packages if p.file_name) == sorted(BUILD_B)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--client", "10.0.0.2"], BUILD_B),
        (["--user", "ci"], BUILD_A),
        (
            [
                "--since",
                (T0 + dt.timedelta(minutes=1)).isoformat(),
                "--until",
                (T0 + dt.timedelta(minutes=3)).isoformat(),
            ],
            [BUILD_A[1], BUILD_B[0]],
        ),
        ([], BUILD_A + BUILD_B),
    ],
)
def test_slices_other_than_builds(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    assert main(["sbom", "--data-dir", str(data_dir), "--format", "cyclonedx", *args]) == 0
    assert cyclonedx_files(capsys.readouterr().out) == sorted(expected)


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_an_empty_slice_is_a_valid_sbom_and_a_warning(
    data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "empty.json"
    assert (
        main(
            [
                "sbom",
                "--data-dir",
                str(data_dir),
                "--build",
                "typo",
                "--format",
                fmt,
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (
        "warning: no distribution file was served in this slice (typo)" in capsys.readouterr().err
    )
    if fmt == "cyclonedx":
        assert cyclonedx_files(out.read_text()) == []
    else:
        assert validate_full_spdx_document(parse_file(str(out))) == []


def test_a_missing_fetch_log_is_an_error_not_an_empty_sbom(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", "--data-dir", str(tmp_path / "nowhere"), "--format", "spdx"]) == 1
    assert "no fetch log at" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_format_is_required_and_checked(data_dir: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["sbom", "--data-dir", str(data_dir), "--format", "swid"])
    assert caught.value.code == 2


async def test_sbom_for_query_includes_rows_still_queued(tmp_path: Path) -> None:
    store = SqliteFetchLog(tmp_path / "fetchlog.sqlite3")
    await store.start()
    try:
        for name in BUILD_A:
            await store.append(make_record(name, build="A"))
        text = await sbom_for_query(store, FetchQuery(build="A"), "cyclonedx")
        assert cyclonedx_files(text) == sorted(BUILD_A)
        spdx = json.loads(await sbom_for_query(store, FetchQuery(build="A"), "spdx"))
        assert spdx["documentNamespace"].startswith("https://spdx.pipgate.invalid/sbom/A-")
        with pytest.raises(ValueError, match="unknown SBOM format 'xml'"):
            await sbom_for_query(store, FetchQuery(build="A"), "xml")
    finally:
        await store.aclose()
