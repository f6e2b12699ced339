"""``pipgate scan`` on harmless archives the tests build."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from proxy.cli import main
from tests.support.scan_archives import sdist, wheel

HOOK = (
    "from setuptools import setup\nfrom setuptools.command.install import install\n"
    "import urllib.request\nclass Hook(install):\n    def run(self):\n"
    "        urllib.request.urlopen('http://127.0.0.1:9/')\n"
    "setup(name='demo', cmdclass={'install': Hook})\n"
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_clean_archives_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = write(tmp_path, "demo-1.0.tar.gz", sdist({}))
    assert main(["scan", str(clean)]) == 0
    assert capsys.readouterr().out.startswith("allow")


def test_json_and_exit_1_on_a_quarantined_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "demo-1.0.tar.gz", sdist({"setup.py": HOOK}))
    good = write(tmp_path, "demo-1.0-py3-none-any.whl", wheel({"demo/__init__.py": "X = 1\n"}))
    assert main(["scan", "--json", str(bad), str(good)]) == 1
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["path"] for d in documents] == [str(bad), str(good)]
    assert [d["verdict"] for d in documents] == ["quarantine", "allow"]
    assert {"rule", "severity", "file", "line", "excerpt", "why"} <= set(
        documents[0]["findings"][0]
    )
    assert set(documents[0]) == {"path", "verdict", "reason", "findings"}


def test_paths_from_stdin_and_unreadable_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = write(tmp_path, "demo-1.0.tar.gz", sdist({}))
    missing = tmp_path / "absent.whl"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{clean}\n# comment\n{missing}\n"))
    assert main(["scan", "-"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("allow")
    assert lines[1].startswith("quarantine")


def test_options_from_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "demo-1.0.tar.gz", sdist({"setup.py": HOOK}))
    config = tmp_path / "pipgate.toml"
    config.write_text('[[policy]]\nuse = "scan"\nthresholds = { high = "warn" }\n')
    assert main(["scan", "--config", str(config), str(bad)]) == 0
    config.write_text('[[policy]]\nuse = "scan"\nrules = ["nope"]\n')
    assert main(["scan", "--config", str(config), str(bad)]) == 2
    assert "unknown rule" in capsys.readouterr().err
