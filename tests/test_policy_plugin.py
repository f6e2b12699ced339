"""A third-party policy distribution, installed into a temporary environment with pip, is
found through the ``pipgate.policies.v1`` entry points and used from a config file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support.clients import isolated_env

PLUGIN = Path(__file__).parent / "plugin_dist"
REPO = Path(__file__).parent.parent

# The policy commands as proxy/cli.py wires them: `pipgate <command> --config F --json ...`.
CLI_SCRIPT = """
import argparse, sys
from proxy.cli_policies import add_policy_commands
parser = argparse.ArgumentParser(prog="pipgate")
add_policy_commands(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(source: Path, out: Path) -> Path:
    """A PEP 427 wheel of ``source`` (pure Python), written without any build backend."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    name, version = project["name"].replace("-", "_"), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    members: dict[str, bytes] = {
        str(path.relative_to(source)): path.read_bytes()
        for path in sorted(source.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
        for group, points in project["entry-points"].items()
    )
    members[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version}\n"
    ).encode()
    members[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pipgate-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    record = [_record_line(path, data) for path, data in members.items()]
    members[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return wheel


def plugin_env(home: Path, **extra: str) -> dict[str, str]:
    """The isolated client environment, without this machine's pipgate settings either."""
    env = {k: v for k, v in isolated_env(home).items() if not k.startswith("PIPGATE_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed by pip into a fresh target directory."""
    work = tmp_path_factory.mktemp("plugin")
    wheel = build_wheel(PLUGIN, work)
    site = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        env=plugin_env(work),
        timeout=120,
    )
    assert (site / "pipgate_name_length" / "__init__.py").is_file()
    return site


def run(site: Path, tmp_path: Path, config: str, *argv: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "pipgate.toml"
    path.write_text(config)
    env = plugin_env(tmp_path, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    return subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, argv[0], "--config", str(path), "--json", *argv[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_plugin_policy_is_used_from_a_config_file(plugin_site: Path, tmp_path: Path) -> None:
    config = '[[policy]]\nuse = "name_length"\nmax_length = 10\nexempt = ["extremely-long-*"]\n'
    names = ["short", "much-too-long-a-name", "extremely-long-but-exempt"]
    result = run(plugin_site, tmp_path, config, "check", *names)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["name"], line["verdict"]) for line in lines] == [
        ("short", "allow"),
        ("much-too-long-a-name", "deny"),
        ("extremely-long-but-exempt", "allow"),
    ]
    assert lines[1]["policy"] == "name_length"
    assert lines[1]["reason"] == (
        "much-too-long-a-name is 20 characters long, over name_length's 10; add it to exempt "
        "if it is genuine"
    )


def test_plugin_options_are_validated_like_built_ins(plugin_site: Path, tmp_path: Path) -> None:
    config = '[[policy]]\nuse = "name_length"\nmax_length = 0\nmax_lenght = 3\n'
    result = run(plugin_site, tmp_path, config, "check", "short")
    assert result.returncode == 2
    assert "(name_length): max_length = 0: expected a whole number of characters >= 1" in (
        result.stderr
    )
    assert "(name_length): unknown option 'max_lenght' (did you mean 'max_length'?)" in (
        result.stderr
    )


def test_plugin_is_listed_by_pipgate_policies(plugin_site: Path, tmp_path: Path) -> None:
    result = run(plugin_site, tmp_path, '[[policy]]\nuse = "name_length"\n', "policies")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    plugin = next(p for p in document["available"] if p["policy"] == "name_length")
    assert plugin["options"] == [
        {"option": "max_length", "default": 40, "help": "Longest name allowed, in characters."}
    ]
    assert document["active"][0]["options"] == {"max_length": 40}


def test_without_the_plugin_the_name_is_unknown(tmp_path: Path) -> None:
    result = run(
        tmp_path / "empty-site", tmp_path, '[[policy]]\nuse = "name_length"\n', "check", "x"
    )
    assert result.returncode == 2
    assert "unknown policy 'name_length'" in result.stderr
