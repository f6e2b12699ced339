"""What an OSV refresh changed: exactly the projects whose records differ, and for a served
file the advisories that deny it now and did not before; the policy announces both."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from policies.changes import InputChange
from policies.osv import OsvPolicy
from policies.osv_changes import OsvJudge, OsvUpdate, changed_projects
from policies.osv_db import IndexBuilder, OsvIndex
from policies.osv_severity import Severity
from policies.osv_source import OsvSource
from tests.support.osv_records import malicious, vulnerable, write_record

EVIL_SHA = "ab" * 32


def index(*records: dict[str, Any]) -> OsvIndex:
    builder = IndexBuilder()
    for record in records:
        builder.add(record)
    return builder.build()


BASE = (vulnerable("PYSEC-2099-10", "steady", "1.0", "1.5"), malicious("MAL-2099-10", "bad"))


def test_an_unchanged_index_changes_no_project() -> None:
    assert changed_projects(index(*BASE), index(*BASE)) == frozenset()


def test_a_new_record_changes_only_its_project() -> None:
    new = index(*BASE, vulnerable("PYSEC-2099-11", "Demo_Pkg", "2.0"))
    assert changed_projects(index(*BASE), new) == {"demo-pkg"}
    assert changed_projects(new, index(*BASE)) == {"demo-pkg"}  # withdrawn/removed too


def test_a_changed_range_changes_its_project() -> None:
    moved = (vulnerable("PYSEC-2099-10", "steady", "1.0", "1.6"), BASE[1])
    assert changed_projects(index(*BASE), index(*moved)) == {"steady"}


def test_a_hash_added_to_a_record_changes_the_project_it_names() -> None:
    old = index(malicious("MAL-2099-11", "sneaky", versions=["0.3"]))
    new = index(malicious("MAL-2099-11", "sneaky", versions=["0.3"], sha256s=[EVIL_SHA]))
    assert changed_projects(old, new) == {"sneaky"}


def test_newly_denying_lists_only_the_advisories_added() -> None:
    old = index(*BASE)
    new = index(*BASE, malicious("MAL-2099-12", "steady", versions=["1.2"]))
    update = OsvUpdate(old, new, OsvJudge(), "test")

    assert [a.id for a in update.newly_denying("steady", "1.2", None)] == ["MAL-2099-12"]
    assert update.newly_denying("steady", "1.3", None) == ()  # denied before, and still
    assert update.newly_denying("steady", "2.0", None) == ()
    assert update.newly_denying("other", "1.2", None) == ()


def test_the_judge_follows_the_policy_options() -> None:
    data = index(*BASE, malicious("MAL-2099-13", "x", versions=["1"], sha256s=[EVIL_SHA]))
    assert [a.id for a in OsvJudge().denying(data, "y", "9", EVIL_SHA)] == ["MAL-2099-13"]
    assert OsvJudge(malicious=False).denying(data, "x", "1", EVIL_SHA) == ()
    assert OsvJudge(vulnerable=False).denying(data, "steady", "1.2", None) == ()
    assert OsvJudge(ignore=frozenset({"CVE-0"})).denying(data, "steady", "1.2", None) != ()
    ignoring = OsvJudge(ignore=frozenset({"PYSEC-2099-10"}))
    assert ignoring.denying(data, "steady", "1.2", None) == ()
    above = OsvJudge(threshold=Severity.CRITICAL.rank + 1)
    assert above.denying(data, "steady", "1.2", None) == ()
    assert OsvJudge().denying(data, "steady", "not a version", None) == ()


async def test_a_refresh_announces_the_changed_projects_with_the_update(tmp_path: Path) -> None:
    records = tmp_path / "osv"
    for record in BASE:
        write_record(records, record)
    heard: list[InputChange] = []
    source = OsvSource(str(records), data_dir=tmp_path, http=None)
    policy = OsvPolicy(source, refresh=0, announce=heard.append)
    await policy.start()
    assert heard == []  # the first load changes nothing that was served

    assert not await policy.refresh()
    assert heard == []
    await asyncio.sleep(0.01)  # a distinct mtime for the new file
    write_record(records, malicious("MAL-2099-14", "demo"))
    assert await policy.refresh()

    (change,) = heard
    assert (change.source, change.projects) == ("osv", frozenset({"demo"}))
    assert isinstance(change.detail, OsvUpdate)
    assert [a.id for a in change.detail.newly_denying("demo", "1.0", None)] == ["MAL-2099-14"]
    await policy.aclose()
