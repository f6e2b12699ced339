"""An OSV source that is an ecosystem directory URL (ending in ``/``) downloads only what
changed: ``all.zip`` once, then ``modified_id.csv`` (conditional) and the changed records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from packaging.utils import NormalizedName

from policies.osv_mirror import MAX_INCREMENTAL
from policies.osv_source import OsvSource, OsvSourceError, local_path
from tests.support.osv_bucket import OsvBucket, serve_bucket
from tests.support.osv_records import malicious, vulnerable


def at(record: dict[str, Any], modified: str) -> dict[str, Any]:
    return {**record, "modified": modified}


@pytest.fixture
async def bucket() -> AsyncIterator[OsvBucket]:
    async with serve_bucket() as served:
        served.publish(
            at(vulnerable("PYSEC-2099-1", "alpha", "1.0"), "2099-01-01T00:00:00Z"),
            at(vulnerable("PYSEC-2099-2", "beta", "1.0"), "2099-01-02T00:00:00Z"),
        )
        yield served


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def names(index: Any) -> set[str]:
    return set(index.projects())


async def test_first_load_takes_all_zip_then_only_the_changed_records(
    bucket: OsvBucket, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    source = OsvSource(bucket.url, data_dir=tmp_path, http=session)
    first = await source.load()
    assert first is not None
    assert names(first) == {"alpha", "beta"}
    assert bucket.hits == {"all.zip": 1}

    assert await source.load() is None  # the CSV: nothing newer than the zip's records
    assert await source.load() is None  # now a 304
    assert bucket.hits == {"all.zip": 1, "modified_id.csv": 2}

    bucket.publish(at(malicious("MAL-2099-3", "gamma"), "2099-02-01T00:00:00Z"))
    bucket.publish(at(vulnerable("PYSEC-2099-1", "alpha", "2.0"), "2099-02-02T00:00:00Z"))
    changed = await source.load()

    assert changed is not None
    assert names(changed) == {"alpha", "beta", "gamma"}
    assert changed.malicious_project(NormalizedName("gamma"))
    assert bucket.hits["MAL-2099-3.json"] == 1
    assert bucket.hits["PYSEC-2099-1.json"] == 1
    assert bucket.hits["PYSEC-2099-2.json"] == 0
    assert bucket.hits["all.zip"] == 1


async def test_a_restart_keeps_the_mirror_and_survives_a_down_server(
    bucket: OsvBucket, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    assert await OsvSource(bucket.url, data_dir=tmp_path, http=session).load() is not None
    restarted = OsvSource(bucket.url, data_dir=tmp_path, http=session)
    bucket.down = True

    index = await restarted.load()

    assert index is not None
    assert names(index) == {"alpha", "beta"}
    assert bucket.hits["all.zip"] == 1
    with pytest.raises(OsvSourceError, match="HTTP 503"):
        await restarted.load()  # after the first load a failure is the caller's to log
    assert local_path(bucket.url, tmp_path).is_dir()  # what pipgate impact reads


async def test_too_many_changes_take_a_fresh_all_zip(
    bucket: OsvBucket, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    source = OsvSource(bucket.url, data_dir=tmp_path, http=session)
    await source.load()
    bucket.publish(
        *(
            at(vulnerable(f"PYSEC-2100-{i}", f"p{i}", "1"), "2100-01-01T00:00:00Z")
            for i in range(MAX_INCREMENTAL + 1)
        )
    )
    index = await source.load()
    assert index is not None
    assert len(names(index)) == MAX_INCREMENTAL + 3
    assert bucket.hits["all.zip"] == 2
    assert not any(name.startswith("PYSEC-2100") for name in bucket.hits)


async def test_a_record_that_is_not_what_the_csv_named_fails_the_sync(
    bucket: OsvBucket, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    source = OsvSource(bucket.url, data_dir=tmp_path, http=session)
    await source.load()
    bucket.publish(at(vulnerable("PYSEC-2099-9", "delta", "1"), "2099-03-01T00:00:00Z"))
    bucket.records["PYSEC-2099-9"] = {**bucket.records["PYSEC-2099-9"], "id": "OTHER-1"}
    with pytest.raises(OsvSourceError, match="is not record PYSEC-2099-9"):
        await source.load()
    bucket.records["PYSEC-2099-9"]["id"] = "PYSEC-2099-9"
    fixed = await source.load()
    assert fixed is not None
    assert "delta" in names(fixed)


async def test_unsafe_ids_in_the_csv_are_skipped(
    bucket: OsvBucket, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    source = OsvSource(bucket.url, data_dir=tmp_path, http=session)
    await source.load()
    original = bucket.csv
    bucket.csv = lambda: original() + b"2099-12-01T00:00:00Z,../../etc/passwd\nnot-a-line\n"  # type: ignore[method-assign]
    assert await source.load() is None
    assert not any("passwd" in name for name in bucket.hits)
