"""``pipgate check`` and ``pipgate policies``."""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import pytest

from proxy.cli_policies import add_policy_commands, run_check
from proxy.settings import Settings, load_settings
from tests.support.memory_upstream import MemoryUpstream

WORDS = ("acme", "data", "tool", "web", "py")
CONFIG = """
[[policy]]
use = "denylist"
projects = ["evil-*", "demo==0.9"]

[[policy]]
use = "files"
wheels_only = ["demo"]

[[policy]]
use = "denylist"
mode = "audit"
projects = ["shady"]
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "pipgate.toml"
    path.write_text(CONFIG)
    return load_settings(path, environ={})


@pytest.fixture
def upstream() -> MemoryUpstream:
    fake = MemoryUpstream()
    fake.add("demo", "demo-1.0.tar.gz", b"sdist")
    fake.add("demo", "demo-1.0-py3-none-any.whl", b"wheel")
    fake.add("demo", "demo-1.1.tar.gz", b"sdist")
    fake.add("demo", "demo-0.9-py3-none-any.whl", b"wheel")
    return fake


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pipgate")
    add_policy_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def check(
    settings: Settings, names: list[str], upstream: MemoryUpstream | None = None
) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    code = await run_check(settings, names, out, as_json=True, upstream=upstream)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


async def test_names__text_output_and_exit_code(settings: Settings) -> None:
    out = io.StringIO()
    code = await run_check(settings, ["requests", "Evil_Thing", "shady"], out, as_json=False)
    assert code == 1
    assert out.getvalue().splitlines() == [
        "allow  requests",
        "deny   evil-thing  denylist: evil-thing is on the denylist (entry 'evil-*'); remove the "
        "entry from the denylist policy if the project is needed",
        "warn   shady  denylist (audit: not enforced): shady is on the denylist (entry 'shady'); "
        "remove the entry from the denylist policy if the project is needed",
    ]


async def test_names__json_lines(settings: Settings) -> None:
    code, lines = await check(settings, ["requests", "evil-x", "not a name"])
    assert code == 1
    allow, deny, invalid = lines
    assert allow == {
        "name": "requests",
        "version": None,
        "verdict": "allow",
        "policy": None,
        "reason": None,
        "audit": False,
        "note": None,
        "verdicts": [],
    }
    assert (deny["name"], deny["verdict"], deny["policy"]) == ("evil-x", "deny", "denylist")
    assert (invalid["name"], invalid["verdict"], invalid["policy"]) == (
        "not a name",
        "deny",
        "pipgate",
    )


async def test_only_audit_and_allow_exit_zero(settings: Settings) -> None:
    code, lines = await check(settings, ["shady", "requests"])
    assert code == 0
    assert lines[0]["verdict"] == "warn"
    assert lines[0]["audit"] is True


async def test_versions__file_policies_on_the_upstream_page(
    settings: Settings, upstream: MemoryUpstream
) -> None:
    code, lines = await check(
        settings, ["demo==1.1", "demo==1.0", "demo==0.9", "demo==7"], upstream
    )
    assert code == 1
    only_sdist, mixed, pinned, missing = lines
    assert (only_sdist["verdict"], only_sdist["policy"]) == ("deny", "files")
    assert str(only_sdist["reason"]).startswith("demo-1.1.tar.gz is not a wheel")
    assert (mixed["verdict"], mixed["note"]) == ("warn", "1 of 2 files of demo 1.0 are denied")
    assert (pinned["verdict"], pinned["policy"], pinned["version"]) == ("deny", "denylist", "0.9")
    assert (missing["verdict"], missing["note"]) == (
        "allow",
        "no file of demo 7 is listed on the upstream",
    )


async def test_versions__unreachable_or_unknown_upstream_project(
    settings: Settings, upstream: MemoryUpstream
) -> None:
    _, (unknown,) = await check(settings, ["nothere==1.0"], upstream)
    assert unknown["note"] == "nothere is not on the upstream"
    upstream.down = True
    _, (down, denied) = await check(settings, ["demo==1.1", "evil-x==1.0"], upstream)
    assert down["verdict"] == "allow"
    assert down["note"] == (
        "upstream unreachable (fake upstream is down): evaluated project policies only"
    )
    assert denied["verdict"] == "deny"
    assert upstream.page_calls["evil-x"] == 0


def test_check_command__stdin(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("requests\n\n# a comment\nevil-a  # trailing\n"))
    args = parse(["check", "--config", str(settings.config_file), "--json", "-"])
    assert args.handler(args) == 1
    names = [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()]
    assert names == ["requests", "evil-a"]


def test_check_command__bad_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[policy]]\nuse = "nope"\n')
    args = parse(["check", "--config", str(path), "requests"])
    assert args.handler(args) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err


async def test_50000_names_well_under_a_minute_with_the_default_set(tmp_path: Path) -> None:
    names = [f"{word}-{i}" for i in range(10_000) for word in WORDS] + ["reqeusts"]
    out = io.StringIO()
    started = time.perf_counter()
    code = await run_check(Settings(data_dir=tmp_path), names, out, as_json=True)
    elapsed = time.perf_counter() - started
    lines = out.getvalue().splitlines()
    assert code == 1
    assert len(lines) == 50_001
    assert json.loads(lines[-1])["policy"] == "typosquat"
    # About 2 s on a laptop (start-up included); "well under a minute" with room for slow CI.
    assert elapsed < 30, f"50,000 names took {elapsed:.1f} s"


def test_policies_command(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["policies", "--config", str(settings.config_file)])
    assert args.handler(args) == 0
    text = capsys.readouterr().out
    assert "\nrelease_age\n  Hides and refuses files uploaded less than N days ago" in text
    assert '  missing_upload_time = "deny"\n' in text
    assert "  days = 7.0\n" in text
    assert f"Active policies, from {settings.config_file}:" in text
    assert "  denylist (mode=audit)" in text


def test_policies_command__json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[policy]]\nuse = "yanked"\nexempt = ["Acme_*"]\n')
    args = parse(["policies", "--json", "--config", str(path)])
    assert args.handler(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["active"] == [
        {
            "policy": "yanked",
            "mode": "enforce",
            "exempt": ["acme-*"],
            "waivable": True,
            "options": {},
        }
    ]
    files = next(p for p in document["available"] if p["policy"] == "files")
    assert [o["option"] for o in files["options"]] == ["wheels_only", "max_size", "missing_size"]
    assert files["options"][0]["default"] == []
