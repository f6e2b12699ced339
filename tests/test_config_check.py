"""The whole configuration checked at once: settings and policy problems in one list,
``policies = []`` against the default set, and ``pipgate serve`` exiting 2 with a clean
list instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from policies.engine import policy_tables
from proxy.config_check import ConfigError, check_startup, load_config
from proxy.settings import SettingsError, load_settings
from tests.support.pipgate_server import REPO

BROKEN = """
[server]
port = "eighty"
page_ttl = -1

[[policy]]
use = "typosqat"

[[policy]]
use = "release_age"
days = "soon"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipgate.toml"
    path.write_text(text)
    return path


def test_settings_and_policy_problems_come_in_one_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BROKEN), environ={"PIPGATE_WORKERS": "0"})
    problems = caught.value.problems
    assert problems == [
        "config 'port' = 'eighty': expected an integer from 0 to 65535",
        "config 'page_ttl' = -1: expected a number of seconds >= 0",
        "PIPGATE_WORKERS = '0': expected an integer of at least 1",
        "[[policy]] #1: unknown policy 'typosqat' (did you mean 'typosquat'?); valid: "
        "allowlist, attestations, denylist, dependency_confusion, files, osv, "
        "project_status, release_age, scan, typosquat, yanked",
        "[[policy]] #2 (release_age): days = 'soon': expected a number of days >= 0",
    ]
    report = caught.value.report()
    assert report.splitlines()[0] == "invalid configuration (5 problems):"
    assert all(line.startswith("  - ") for line in report.splitlines()[1:])


def test_a_config_with_settings_only_keeps_the_secure_default_set(tmp_path: Path) -> None:
    checked = load_config(write(tmp_path, "[server]\npage_ttl = 60\n"), environ={})
    assert checked.settings.policies is None
    default_set = ["typosquat", "project_status", "attestations"]
    assert [c.name for c in checked.policies] == default_set
    empty = load_config(write(tmp_path, ""), environ={})
    assert [c.name for c in empty.policies] == default_set


def test_osv_source_adds_osv_to_the_default_set(tmp_path: Path) -> None:
    config = write(tmp_path, f'[server]\nosv_source = "{tmp_path.as_posix()}"\n')
    checked = load_config(config, environ={})
    assert [c.name for c in checked.policies] == [
        "typosquat",
        "osv",
        "project_status",
        "attestations",
    ]


def test_policies_empty_list_turns_every_policy_off(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "policies = []\n[server]\nport = 9\n"), environ={})
    assert settings.policies == ()
    assert policy_tables(settings) == ()
    assert load_config(settings.config_file, environ={}).policies == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'policies = ["typosquat"]\n',
            "config: policies = ['typosquat']: only policies = [] (no policy at all) is "
            "accepted; enable policies with [[policy]] tables",
        ),
        (
            'policies = []\n[[policy]]\nuse = "yanked"\n',
            "config: policies = [] (no policy) contradicts the [[policy]] tables; remove one "
            "of them",
        ),
    ],
)
def test_policies_key_accepts_only_an_empty_list(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert caught.value.problems == [problem]


def test_access_log_setting(tmp_path: Path) -> None:
    assert load_settings(None, environ={}).access_log == "json"
    assert load_settings(None, environ={"PIPGATE_ACCESS_LOG": "KV"}).access_log == "kv"
    config = write(tmp_path, '[server]\naccess_log = "off"\n')
    assert load_settings(config, environ={}).access_log == "off"
    with pytest.raises(SettingsError) as caught:
        load_settings(None, environ={"PIPGATE_ACCESS_LOG": "yes"})
    assert caught.value.problems == [
        'PIPGATE_ACCESS_LOG = \'yes\': expected one of "json", "kv", "off"'
    ]


async def test_startup_check_reports_policy_creation_and_trust_root_together(
    tmp_path: Path,
) -> None:
    config = write(
        tmp_path,
        f'[server]\ntrust_root = "{(tmp_path / "missing.json").as_posix()}"\n'
        '[[policy]]\nuse = "osv"\n',
    )
    checked = load_config(config, environ={}, overrides={"data_dir": str(tmp_path / "d")})
    with pytest.raises(ConfigError) as caught:
        await check_startup(checked)
    assert caught.value.problems == [
        "[[policy]] #1 (osv): PolicyError: osv: option 'source' is required: a directory "
        "of OSV records, a .json file or an all.zip, as a path or an http(s) URL",
        f"trust_root {str(tmp_path / 'missing.json')!r} cannot be read: No such file or directory",
    ]


def run_pipgate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPGATE_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_prints_one_clean_list_and_exits_2(tmp_path: Path) -> None:
    result = run_pipgate("serve", "--config", str(write(tmp_path, BROKEN)), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "pipgate: invalid configuration (4 problems):"
    assert len(lines) == 5
    assert all(line.startswith("  - ") for line in lines[1:])
    assert "port" in lines[1]
    assert "typosqat" in lines[3]
    assert "release_age" in lines[4]
    assert not (tmp_path / "pipgate-data").exists(), "nothing started"


OSV_NO_SOURCE = '[[policy]]\nuse = "osv"\n'


def test_serve_reports_what_only_creating_the_policies_finds(tmp_path: Path) -> None:
    config = write(tmp_path, OSV_NO_SOURCE)
    result = run_pipgate("serve", "--config", str(config), "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pipgate: invalid configuration (1 problem):\n  - [[policy]] #1 (osv): " in (
        result.stderr
    )
    assert "option 'source' is required" in result.stderr


def test_check_and_policies_commands_list_every_problem_too(tmp_path: Path) -> None:
    config = str(write(tmp_path, BROKEN))
    for args in (("check", "--config", config, "requests"), ("policies", "--config", config)):
        result = run_pipgate(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.startswith("pipgate: invalid configuration (4 problems):\n")
        assert "Traceback" not in result.stderr


def test_check_reports_policy_creation_problems_in_the_same_form(tmp_path: Path) -> None:
    result = run_pipgate(
        "check", "--config", str(write(tmp_path, OSV_NO_SOURCE)), "x", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.startswith("pipgate: invalid configuration (1 problem):\n  - [[policy]]")
    assert "option 'source' is required" in result.stderr
