"""``pipgate impact``: the served files an advisory, a release or a hash names, and the
builds, users and clients that fetched them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from policies.osv_db import IndexBuilder, OsvIndex
from proxy.audit.impact import ImpactedFile, ImpactError, Target, impact_of, parse_target
from proxy.cli import main
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import T0, digest, fill_sqlite, make_record
from tests.support.osv_records import malicious, vulnerable, write_record

EVIL_SHA = digest("renamed_thing-0.1-py3-none-any.whl")


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


ROWS = (
    make_record("demo-1.0-py3-none-any.whl", build="ci-1", client="10.0.0.1", time=at(0)),
    make_record("demo-1.0-py3-none-any.whl", build="ci-2", user="alice", time=at(5)),
    make_record("demo-2.0-py3-none-any.whl", build="ci-3", time=at(10)),
    make_record("demo-1.0-py3-none-any.whl", build="ci-4", status=403, time=at(11)),
    make_record("demo-1.0-py3-none-any.whl", build="ci-5", kind="metadata", time=at(12)),
    make_record("renamed_thing-0.1-py3-none-any.whl", build="ci-6", time=at(15)),
    make_record("other-1.0-py3-none-any.whl", build="ci-7", time=at(20)),
)
RECORDS = (
    malicious("MAL-2099-50", "demo", versions=["1.0"], sha256s=[EVIL_SHA]),
    {**vulnerable("PYSEC-2099-50", "other", "0"), "aliases": ["CVE-2099-5000"]},
)


def index() -> OsvIndex:
    builder = IndexBuilder()
    for record in RECORDS:
        builder.add(record)
    return builder.build()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteFetchLog]:
    log = SqliteFetchLog(tmp_path / "fetchlog.sqlite3")
    await log.start()
    for row in ROWS:
        await log.append(row)
    yield log
    await log.aclose()


def builds(files: tuple[ImpactedFile, ...]) -> list[str]:
    return sorted({f.build for i in files for f in i.fetches if f.build})


def test_targets_are_told_apart() -> None:
    assert parse_target("MAL-2024-1234") == Target("advisory", "MAL-2024-1234")
    assert parse_target("GHSA-abcd-1234-efgh") == Target("advisory", "GHSA-abcd-1234-efgh")
    assert parse_target("Demo_Pkg") == Target("release", "demo-pkg")
    assert parse_target("demo==1.0") == Target("release", "demo", "1.0")
    assert parse_target(EVIL_SHA.upper()) == Target("sha256", EVIL_SHA)
    for bad in ("", "demo==", "../x", "a b", "==1.0"):
        with pytest.raises(ImpactError, match="expected an advisory id"):
            parse_target(bad)


async def test_an_advisory_names_its_versions_and_its_hashes_under_any_name(
    store: SqliteFetchLog,
) -> None:
    impact = await impact_of(store, Target("advisory", "MAL-2099-50"), index=index())

    assert [a.id for a in impact.advisories] == ["MAL-2099-50"]
    assert [f.filename for f in impact.files] == [
        "demo-1.0-py3-none-any.whl",
        "renamed_thing-0.1-py3-none-any.whl",
    ]
    assert impact.builds == ["ci-1", "ci-2", "ci-6"]  # not the 403, not the metadata file
    assert impact.users == ["alice"]
    assert "10.0.0.1" in impact.clients
    assert [f.time for f in impact.files[0].fetches] == [at(0), at(5)]


async def test_an_alias_finds_the_record(store: SqliteFetchLog) -> None:
    impact = await impact_of(store, Target("advisory", "CVE-2099-5000"), index=index())
    assert [a.id for a in impact.advisories] == ["PYSEC-2099-50"]
    assert impact.builds == ["ci-7"]


async def test_an_unknown_advisory_is_an_error(store: SqliteFetchLog) -> None:
    with pytest.raises(ImpactError, match="not in the loaded OSV data"):
        await impact_of(store, Target("advisory", "MAL-2099-99"), index=index())
    with pytest.raises(ImpactError, match="needs the OSV data"):
        await impact_of(store, Target("advisory", "MAL-2099-50"))


async def test_a_release_a_name_and_a_hash(store: SqliteFetchLog) -> None:
    release = await impact_of(store, parse_target("demo==1.0.0"))
    name = await impact_of(store, parse_target("demo"))
    by_hash = await impact_of(store, parse_target(digest("demo-2.0-py3-none-any.whl")))
    since = await impact_of(store, parse_target("demo"), since=at(6))
    assert builds(release.files) == ["ci-1", "ci-2"]
    assert builds(name.files) == ["ci-1", "ci-2", "ci-3"]
    assert builds(by_hash.files) == ["ci-3"]
    assert builds(since.files) == ["ci-3"]
    with pytest.raises(ImpactError, match="not a PEP 440 version"):
        await impact_of(store, Target("release", "demo", "not-a-version!"))


def test_the_cli_resolves_advisories_through_the_configured_osv_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    fill_sqlite(data, list(ROWS))
    for record in RECORDS:
        write_record(tmp_path / "osv", record)
    config = tmp_path / "pipgate.toml"
    config.write_text(
        f'[server]\ndata_dir = "{data}"\n[[policy]]\nuse = "osv"\nsource = "{tmp_path / "osv"}"\n'
    )

    assert main(["impact", "MAL-2099-50", "--config", str(config), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["builds"] == ["ci-1", "ci-2", "ci-6"]
    assert document["advisories"][0]["malicious"] is True

    assert main(["impact", "demo==2.0", "--data-dir", str(data)]) == 0
    text = capsys.readouterr().out
    assert "demo-2.0-py3-none-any.whl" in text
    assert "builds: ci-3" in text

    assert main(["impact", "MAL-2099-50", "--data-dir", str(data)]) == 2
    assert "no OSV data is configured" in capsys.readouterr().err
    assert main(["impact", "nope==", "--data-dir", str(data)]) == 2
