"""Opt-in, never in CI: the README's serve command, unchanged, against the real public index.

    .venv/bin/python -m pytest -m network -s tests/test_network_real_index.py

``pipgate serve`` on its embedded defaults (only a free ``--port`` and a temporary
``--data-dir``), then ``pip install requests django numpy pydantic`` and ``uv pip install
flask httpx rich`` into fresh venvs through it, cold and then warm. Every run uses its own
build URL (``/builds/<client>-<phase>/simple/``), so ``pipgate log --json --build`` shows
exactly the files that run fetched: every installed distribution must be there, and on the
warm run every one must be a cache hit. The timings are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.clients import isolated_env, make_venv, pip_install, uv_install
from tests.support.pipgate_server import PipgateProcess

pytestmark = pytest.mark.network

RUNS = {
    "pip": ("requests", "django", "numpy", "pydantic"),
    "uv": ("flask", "httpx", "rich"),
}
LOG_DEADLINE = 30.0
"""Seconds to wait for the fetch log's writer to store the last rows of a run."""


@pytest.fixture(autouse=True)
def _only_when_asked_for(request: pytest.FixtureRequest) -> None:
    # Broad selections such as -m "not redis" replace the default -m "not network": this
    # test reaches the internet only when the expression names the marker positively.
    expression = str(request.config.getoption("markexpr") or "")
    if "network" not in expression.replace("not network", ""):
        pytest.skip("reaches the real index; run with: pytest -m network")


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipgateProcess]:
    directory = tmp_path_factory.mktemp("network")
    script = shutil.which("pipgate", path=str(Path(sys.executable).parent))
    program = [script] if script else None
    with PipgateProcess(directory / "data", None, program=program) as process:
        yield process


def fetched_dists(gate: PipgateProcess, label: str) -> list[dict[str, object]]:
    """The whole (status 200) downloads of build ``label``, as ``pipgate log --json`` says."""
    data_dir = gate.args[gate.args.index("--data-dir") + 1]
    command = [sys.executable, "-m", "proxy", "log", "--json", "--limit", "0"]
    result = subprocess.run(
        [*command, "--build", label, "--data-dir", data_dir],
        env=gate.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [row for row in rows if row["kind"] == "dist" and row["status"] == 200]


def installed(venv: Path) -> set[tuple[str, Version]]:
    import importlib.metadata

    site = [str(p) for p in venv.glob("lib/python*/site-packages")]
    return {
        (canonicalize_name(d.metadata["Name"]), Version(d.version))
        for d in importlib.metadata.distributions(path=site)
    }


def wait_for_log(
    gate: PipgateProcess, label: str, wanted: set[tuple[str, Version]]
) -> list[dict[str, object]]:
    deadline = time.monotonic() + LOG_DEADLINE
    while True:
        rows = fetched_dists(gate, label)
        seen = {(canonicalize_name(str(r["project"])), Version(str(r["version"]))) for r in rows}
        if wanted <= seen or time.monotonic() > deadline:
            missing = wanted - seen
            assert not missing, f"{label}: installed but not fetched through pipgate: {missing}"
            return rows
        time.sleep(0.5)


def test_the_clients_are_isolated_from_this_machine(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["UV_NO_CONFIG"] == "1"
    leaked = [k for k in env if k.startswith(("PIP_INDEX", "PIP_EXTRA", "PIP_FIND", "UV_INDEX"))]
    assert not leaked, leaked
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # Only what isolated_env sets itself (":env:" lines); no file's global/user/site values.
    foreign = [line for line in result.stdout.splitlines() if not line.startswith(":env:")]
    assert not foreign, result.stdout
    assert "index" not in result.stdout
    assert "find-links" not in result.stdout


def test_readme_serve_command_installs_from_the_real_index(
    gate: PipgateProcess, tmp_path: Path
) -> None:
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    for phase in ("cold", "warm"):
        for name, projects in RUNS.items():
            label = f"{name}-{phase}"
            venv = make_venv(tmp_path / label)
            index = f"{gate.url}/builds/{label}/simple/"
            started = time.monotonic()
            run = pip_install if name == "pip" else uv_install
            result = run(venv, index, *projects)
            timings[label] = time.monotonic() - started
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-3000:]
            if name == "pip":
                # pip names every index and link source it reads: only pipgate.
                assert f"Looking in indexes: {index}" in output
                assert "Looking in links" not in output
            wanted = installed(venv)
            assert {canonicalize_name(p) for p in projects} <= {n for n, _ in wanted}
            rows = wait_for_log(gate, label, wanted)
            if phase == "warm":
                misses = [r["filename"] for r in rows if r["cache"] != "hit"]
                assert not misses, f"{label}: fetched from upstream again: {misses}"
            counts[label] = len(wanted)
    print("\nnetwork timings (s):", json.dumps(timings, indent=1))
    print("distributions installed per run:", json.dumps(counts))
