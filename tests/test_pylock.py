"""The PEP 751 lock of a build, from fetch-log rows: what ``packaging.pylock`` reads back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib

import pytest
from packaging.pylock import Pylock

from proxy.audit.pylock import LockError, build_pylock, identity_table, select_locked
from proxy.audit.toml_text import value
from storage.base import FetchRecord
from tests.support.fetchlog_records import T0, digest, make_record

BASE = "http://gate.invalid:8080/"


def row(filename: str, minutes: int = 0, **changes: object) -> FetchRecord:
    defaults: dict[str, object] = {
        "sha256": digest(filename),
        "size": 1234,
        "upload_time": "2099-01-02T03:04:05.000000Z",
        "time": T0 + dt.timedelta(minutes=minutes),
        "build": "ci-1",
    }
    return make_record(filename, **(defaults | changes))


def lock(*records: FetchRecord) -> Pylock:
    text = build_pylock(select_locked(records).files, base_url=BASE, label="ci-1")
    return Pylock.from_dict(tomllib.loads(text))


def test_every_fetched_file_is_locked_with_url_hash_size_and_upload_time() -> None:
    locked = lock(
        row("demo-1.0-py3-none-any.whl"),
        row("demo-1.0.tar.gz", 1),
        row("other_lib-2.0-py3-none-any.whl", 2, project="other-lib"),
    )

    assert locked.created_by == "pipgate"
    demo, other = locked.packages
    assert (demo.name, str(demo.version), demo.index) == ("demo", "1.0", BASE + "simple/")
    assert demo.wheels is not None
    (wheel,) = demo.wheels
    assert wheel.name == "demo-1.0-py3-none-any.whl"
    assert wheel.url == BASE + "files/demo/demo-1.0-py3-none-any.whl"
    assert wheel.hashes == {"sha256": digest("demo-1.0-py3-none-any.whl")}
    assert wheel.size == 1234
    assert wheel.upload_time == dt.datetime(2099, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert demo.sdist is not None
    assert demo.sdist.url == BASE + "files/demo/demo-1.0.tar.gz"
    assert other.name == "other-lib"


def test_verified_publishers_become_attestation_identities() -> None:
    attested = "verified:github:acme/demo@release.yml, gitlab:group/proj@.gitlab-ci.yml"
    (package,) = lock(
        row("demo-1.0-py3-none-any.whl", attestation=attested),
        row("demo-1.0.tar.gz", 1, attestation="verified:github:acme/demo@release.yml"),
    ).packages
    assert package.attestation_identities == [
        {"kind": "GitHub", "repository": "acme/demo", "workflow": "release.yml"},
        {"kind": "GitLab", "repository": "group/proj", "workflow_filepath": ".gitlab-ci.yml"},
    ]
    (plain,) = lock(row("demo-1.0-py3-none-any.whl", attestation="absent")).packages
    assert plain.attestation_identities is None


def test_identity_tables_for_every_publisher_kind() -> None:
    assert identity_table("google:ci@example.invalid") == {
        "kind": "Google",
        "email": "ci@example.invalid",
    }
    assert identity_table("circleci:p-1/def-2") == {
        "kind": "CircleCI",
        "project_id": "p-1",
        "pipeline_definition_id": "def-2",
    }
    assert identity_table("github:acme/demo") == {"kind": "GitHub", "repository": "acme/demo"}
    assert identity_table("sourcehut:x") is None
    assert identity_table("github:") is None


def test_a_backtracked_older_version_is_not_locked_and_is_reported() -> None:
    selection = select_locked(
        [
            row("demo-2.0-py3-none-any.whl"),
            row("demo-1.0-py3-none-any.whl", 1),
            row("demo-1.0-py3-none-any.whl", 2),  # fetched twice: locked once
        ]
    )
    assert [f.filename for f in selection.files] == ["demo-1.0-py3-none-any.whl"]
    assert selection.notes == ["demo: fetched 2.0 before 1.0; locking 1.0"]


def test_probes_failures_and_legacy_files_are_left_out() -> None:
    selection = select_locked(
        [
            row("demo-1.0-py3-none-any.whl", status=206),
            row("demo-1.0-py3-none-any.whl", kind="dist-head"),
            row("demo-1.0-py3-none-any.whl", status=403),
            row("demo-1.0-py3-none-any.whl", sha256=None),
            row("old-1.0.tar.bz2"),
            row("demo-1.0-py3-none-any.whl", kind="metadata"),
        ]
    )
    assert selection.files == []
    assert selection.notes == ["old-1.0.tar.bz2: not a wheel or sdist; not locked"]
    with pytest.raises(LockError, match="fetched no distribution file"):
        build_pylock(selection.files, base_url=BASE, label="ci-1")


def test_missing_size_and_upload_time_are_omitted_not_invented() -> None:
    (package,) = lock(row("demo-1.0-py3-none-any.whl", size=None, upload_time=None)).packages
    assert package.wheels is not None
    assert (package.wheels[0].size, package.wheels[0].upload_time) == (None, None)


def test_toml_values_escape_what_needs_escaping() -> None:
    text = "key = " + value('a "quoted"\\ \n é') + "\n"
    assert tomllib.loads(text)["key"] == 'a "quoted"\\ \n é'
    moment = dt.datetime(2099, 1, 2, 3, 4, 5, 600, tzinfo=dt.UTC)
    assert tomllib.loads(f"t = {value(moment)}\n")["t"] == moment
    assert value({"a-b": [1, True]}) == "{a-b = [1, true]}"
    with pytest.raises(TypeError):
        value(object())


def test_a_record_changed_into_an_invalid_lock_is_refused() -> None:
    bad = dataclasses.replace(select_locked([row("demo-1.0-py3-none-any.whl")]).files[0])
    bad = dataclasses.replace(bad, sha256="not-hex", version="not a version")
    with pytest.raises(LockError, match="does not validate"):
        build_pylock([bad], base_url=BASE, label="ci-1")
