"""``pipgate log``: filters, table and JSON-lines output, time arguments."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from proxy.cli_log import main, parse_time, record_json
from storage.base import FetchRecord
from tests.support.fetchlog_records import clean_environ, fill_sqlite, make_record, run_cli_log

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - dt.timedelta(seconds=90)),
        ("30m", NOW - dt.timedelta(minutes=30)),
        ("2h", NOW - dt.timedelta(hours=2)),
        ("7d", NOW - dt.timedelta(days=7)),
        ("2w", NOW - dt.timedelta(weeks=2)),
        ("2026-03-01", dt.datetime(2026, 3, 1, tzinfo=dt.UTC)),
        ("2026-03-01T10:30:00", dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)),
        ("2026-03-01T10:30:00+02:00", dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)),
        ("2026-03-01T10:30:00Z", dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)),
    ],
)
def test_parse_time(text: str, expected: dt.datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2x", "-2h", "2026-13-01", ""])
def test_parse_time_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected ISO 8601 date/datetime .* 30m, 2h, 7d, 2w"):
        parse_time(text, now=NOW)


STORED = dt.datetime.now(dt.UTC)  # "2h" and friends are relative to the real clock


def _recent() -> list[FetchRecord]:
    return [
        make_record("old-1.0.tar.gz", time=STORED - dt.timedelta(hours=5), build="A"),
        make_record(
            "Foo_Bar-1.0.tar.gz",
            project="foo-bar",
            time=STORED - dt.timedelta(hours=1),
            build="A",
            client="10.1.1.1",
        ),
        make_record(
            "new-1.0.tar.gz", time=STORED - dt.timedelta(minutes=5), build="B", user="alice"
        ),
    ]


@pytest.fixture(autouse=True)
def _no_pipgate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in set(os.environ) - set(clean_environ()):
        monkeypatch.delenv(key)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    fill_sqlite(tmp_path / "data", _recent())
    return tmp_path / "data"


def test_json_lines_round_trip_the_rows(data_dir: Path) -> None:
    result = run_cli_log("log", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        record_json(r) for r in _recent()
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--build", "A"], ["old-1.0.tar.gz", "Foo_Bar-1.0.tar.gz"]),
        (["--project", "FOO.BAR"], ["Foo_Bar-1.0.tar.gz"]),
        (["--client", "10.1.1.1"], ["Foo_Bar-1.0.tar.gz"]),
        (["--user", "alice"], ["new-1.0.tar.gz"]),
        (["--since", "2h"], ["Foo_Bar-1.0.tar.gz", "new-1.0.tar.gz"]),
        (["--until", "30m"], ["old-1.0.tar.gz", "Foo_Bar-1.0.tar.gz"]),
        (["--limit", "1"], ["new-1.0.tar.gz"]),
        (["--limit", "0"], ["old-1.0.tar.gz", "Foo_Bar-1.0.tar.gz", "new-1.0.tar.gz"]),
    ],
)
def test_filters(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    assert main(["log", "--data-dir", str(data_dir), "--json", *args]) == 0
    out = capsys.readouterr().out
    assert [json.loads(line)["filename"] for line in out.splitlines()] == expected


def test_table_output(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "--data-dir", str(data_dir), "--user", "alice"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "TIME", "CLIENT", "USER", "BUILD", "KIND", "STATUS", "CACHE", "PROJECT",
        "VERSION", "FILENAME", "ATTESTATION", "VERDICTS",
    ]  # fmt: skip
    cells = row.split()
    assert cells[1:] == [
        "127.0.0.1", "alice", "B", "dist", "200", "miss", "new",
        "1.0", "new-1.0.tar.gz", "-", "release-age:warn",
    ]  # fmt: skip
    assert cells[0].endswith("Z")


def test_hitting_the_limit_says_so(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "--data-dir", str(data_dir), "--limit", "2"]) == 0
    assert "showing the latest 2 rows; --limit 0 shows all" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "invalid time 'last tuesday'"),
        (["--data-dir", "x", "--config", "y.toml"], "not allowed with argument"),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["log", *args])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nfetchlog_url = "mysql://db/x"\n')
    assert main(["log", "--config", str(config)]) == 2
    assert "fetchlog_url" in capsys.readouterr().err
