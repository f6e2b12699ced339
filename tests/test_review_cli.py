"""``pipgate waiver`` and ``pipgate quarantine`` on a data directory: what they print, their
JSON lines, and their exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.workflow.review import Hold, Reviewer
from proxy.workflow.runtime import Workflow
from storage.filesystem_kv import FilesystemKeyValueStore


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_waiver_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ("--data-dir", str(tmp_path))
    code, out, _ = run(
        capsys, "waiver", "add", "Demo==1.0", "--policy", "denylist", "--expires", "7d",
        "--reason", "needed this week", "--by", "alice", *where,
    )  # fmt: skip
    assert code == 0
    assert out.startswith("waiver 1: demo==1.0, policy denylist, until ")

    code, out, _ = run(capsys, "waiver", "list", "--json", *where)
    row = json.loads(out)
    assert code == 0
    assert (row["id"], row["status"], row["creator"], row["version"]) == (
        1,
        "active",
        "cli:alice",
        "1.0",
    )

    assert run(capsys, "waiver", "remove", "1", "--reason", "done", *where)[0] == 0
    code, _, err = run(capsys, "waiver", "remove", "1", "--reason", "again", *where)
    assert code == 2
    assert "already removed" in err
    code, _, err = run(capsys, "waiver", "remove", "7", "--reason", "x", *where)
    assert code == 1
    assert "no waiver with id 7" in err
    assert run(capsys, "waiver", "list", *where)[1].startswith("no active waivers")
    assert "removed" in run(capsys, "waiver", "list", "--all", *where)[1]


def test_bad_waiver_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ("--data-dir", str(tmp_path))
    for args, message in [
        (("demo", "--expires", "2y", "--reason", "x"), "expected a duration"),
        (("demo", "--expires", "400d", "--reason", "x"), "at most 366 days"),
        (("demo", "--expires", "1d", "--reason", " "), "a reason is required"),
        (("../x", "--expires", "1d", "--reason", "x"), "expected PROJECT"),
    ]:
        code, _, err = run(capsys, "waiver", "add", *args, *where)
        assert code == 2, err
        assert message in err


def test_quarantine_list_release_reject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def hold() -> None:
        workflow = Workflow(FilesystemKeyValueStore(tmp_path / "state"))
        review = Reviewer("demo", (), {})
        review.new_holds.append(Hold("demo", "demo-1.0.tar.gz", "1.0", None, "scan", "odd"))
        await workflow.record_holds(review)

    asyncio.run(hold())
    where = ("--data-dir", str(tmp_path))

    code, out, _ = run(capsys, "quarantine", "list", "--json", *where)
    assert code == 0
    assert json.loads(out)["subject"] == "demo-1.0.tar.gz"
    code, out, _ = run(capsys, "quarantine", "release", "1", "--reason", "benign", *where)
    assert code == 0
    assert "quarantine item 1 (demo-1.0.tar.gz) released" in out
    assert run(capsys, "quarantine", "list", *where)[1].startswith("nothing held")
    code, out, _ = run(capsys, "quarantine", "reject", "1", "--reason", "second look", *where)
    assert code == 0
    listed = json.loads(run(capsys, "quarantine", "list", "--all", "--json", *where)[1])
    assert (listed["state"], listed["decision_reason"]) == ("rejected", "second look")
    assert run(capsys, "quarantine", "release", "9", "--reason", "x", *where)[0] == 1
